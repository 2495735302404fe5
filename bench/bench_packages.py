"""Measure what each Lambda function deploys, unzipped (code + layers), against Lambda's 250 MB limit.

    .venv/bin/python bench/bench_packages.py

Builds the layers when their inputs changed (python -m infra.build_layers), measures every layer and
every function of infra.build_layers.FUNCTION_LAYERS, prints the tables and writes them to
docs/benchmarks.md ("Lambda packages"). Zipped sizes are measured too: they are what is uploaded.
"""

import io
import sys
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from record import record

from infra.build_layers import (
    FUNCTIONS_DIR,
    LAMBDA_UNZIPPED_LIMIT_BYTES,
    build_all,
    format_function_sizes,
    function_sizes,
)

MB = 2**20


def zipped_bytes(directory: Path) -> int:
    """The size of the directory as a deflated zip, as CDK uploads an asset."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(directory.rglob("*")):
            if file.is_file() and "__pycache__" not in file.parts:
                archive.write(file, file.relative_to(directory).as_posix())
    return buffer.tell()


def main() -> int:
    builds = build_all()
    sizes = function_sizes(builds)
    print(format_function_sizes(sizes.values()))
    layer_rows = [
        f"| {name} | {build.size_bytes / MB:.1f} | {zipped_bytes(build.directory) / MB:.1f} |"
        for name, build in builds.items()
    ]
    function_rows = [
        f"| {size.name} | {'+'.join(size.layers)} | {size.code_bytes / 1024:.1f} KB | "
        f"{size.total_bytes / MB:.1f} | {size.share:.1%} |"
        for size in sizes.values()
    ]
    largest = max(size.total_bytes for size in sizes.values())
    body = "\n".join(
        [
            "Command: `.venv/bin/python bench/bench_packages.py`: the layers as `make build` makes them "
            "(arm64 wheels for Python 3.12, no Docker) and each function's code directory "
            f"(`{FUNCTIONS_DIR.name}/<name>`). Lambda's limit is "
            f"{LAMBDA_UNZIPPED_LIMIT_BYTES / MB:.0f} MB unzipped for a function and all its layers; "
            "`make build` fails naming the function that passes it.",
            "",
            "| layer | unzipped (MB) | zipped (MB) |",
            "| --- | ---: | ---: |",
            *layer_rows,
            "",
            "| function | layers | code | unzipped total (MB) | share of 250 MB |",
            "| --- | --- | ---: | ---: | ---: |",
            *function_rows,
            "",
            f"The largest function takes {largest / MB:.1f} MB, "
            f"{largest / LAMBDA_UNZIPPED_LIMIT_BYTES:.0%} of the limit; the functions on the data layer "
            "(pyarrow for Parquet, numpy, SQLAlchemy with the PostgreSQL and MySQL drivers, sqlglot) are "
            "the large ones. No function takes both the runtime layer (onnxruntime) and the data layer: "
            "together they would not fit.",
        ]
    )
    record("Lambda packages", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
