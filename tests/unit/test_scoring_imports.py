"""The scoring Lambda carries onnxruntime and numpy, not the training stack."""

import json
import subprocess
import sys

TRAINING_ONLY = ("sklearn", "skl2onnx", "pandas", "pyarrow", "duckdb", "scipy", "sqlalchemy")


def test_given_the_scoring_modules_when_imported_then_no_training_library_comes_with_them() -> None:
    probe = (
        "import json, sys\n"
        "import credo.scoring.api, credo.scoring.service, credo.scoring.reasons\n"
        f"print(json.dumps([m for m in {TRAINING_ONLY!r} if m in sys.modules]))\n"
    )

    loaded = json.loads(
        subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    )

    assert loaded == []
