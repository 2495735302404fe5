"""The training job's memory: peak RSS of the SageMaker entrypoint, phase by phase, on the synthetic world.

Run: .venv/bin/python bench/bench_training_memory.py [--sizes 1000000] [--targets buying]
     [--models logistic_regression ...] [--search-seconds 0]

The job (training/train.py) runs as a child process, as SageMaker runs it: its channel holds the
labelled feature table of bench_training.py's world (cached there; the oracle's columns dropped),
its hyperparameters name the targets, the models and the search budget. This process reads the
child's resident memory every 0.2 s from /proc and charges it to the phase the child's log last
announced: reading and splitting the table, building a target's rows, searching a model's settings,
a model's final calibrated fit and its measures, then selection and export. The instance a shop
needs is the peak; the phase that holds it is where to look first.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_mining import ROOT, WORLD_MONTHS
from bench_training import CUSTOMER_BUYING_LABEL, TRUTH, features_for
from record import record

from credo.training import zoo

SAMPLE_SECONDS = 0.2
# Runs the job's own main() with the hyperparameters file moved out of /opt/ml.
JOB = (
    "import sys; from pathlib import Path; sys.path.insert(0, {training!r}); import train; "
    "train.HYPERPARAMETERS_FILE = Path({hyperparameters!r}); sys.exit(train.main())"
)
ORACLE_COLUMNS = [*TRUTH.values(), "p_buying_bad", CUSTOMER_BUYING_LABEL]


def rss_mb(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) // 1024
    except FileNotFoundError:
        return None
    return None


def phase_of(line: str, current: str) -> str:
    """The phase the job's log line starts (or `current` when the line starts none)."""
    if "building its rows" in line:
        return f"{line.split(':')[0]}: building its rows"
    if " training rows" in line and " holdout rows" in line:
        return f"{line.split(':')[0]}: its features as the models take them, searching the first model"
    if "final calibrated fit on" in line:
        target, model = line.split(":")[0], line.split(":")[1].split()[0]
        return f"{target}: {model} final fit and measures"
    if "fitted in" in line and "out-of-time AUC" in line:
        return f"{line.split(':')[0]}: searching the next model, or selecting and exporting"
    if ": selected " in line:
        return "writing the report"
    return current


def measure(customers: int, targets: list[str], models: list[str], search_seconds: float) -> dict[str, Any]:
    table, _, _ = features_for(customers, 7, 2, months=WORLD_MONTHS)
    with tempfile.TemporaryDirectory(prefix="credo-memory-") as scratch:
        channel, model_dir = Path(scratch) / "train", Path(scratch) / "model"
        channel.mkdir()
        table.drop(columns=[c for c in ORACLE_COLUMNS if c in table.columns]).to_parquet(
            channel / "features.parquet"
        )
        del table
        hyperparameters = Path(scratch) / "hyperparameters.json"
        settings = {"targets": ",".join(targets), "seed": "7", "n_threads": "2"}
        settings |= {"search_seconds": str(search_seconds)} | ({"models": ",".join(models)} if models else {})
        hyperparameters.write_text(json.dumps(settings))
        # unbuffered: each log line must arrive as the phase it announces starts
        env = os.environ | {
            "SM_CHANNEL_TRAIN": str(channel), "SM_MODEL_DIR": str(model_dir), "PYTHONUNBUFFERED": "1"
        }  # fmt: skip
        code = JOB.format(training=str(ROOT / "training"), hyperparameters=str(hyperparameters))
        started = time.perf_counter()
        child = subprocess.Popen(
            [sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        phase = ["reading and splitting the table"]
        peaks: dict[str, int] = {}

        def sample() -> None:
            while child.poll() is None:
                now = rss_mb(child.pid)
                if now is not None:
                    peaks[phase[0]] = max(peaks.get(phase[0], 0), now)
                time.sleep(SAMPLE_SECONDS)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        assert child.stdout is not None
        for line in child.stdout:
            print(f"    {line.rstrip()}", flush=True)
            phase[0] = phase_of(line.strip(), phase[0])
        sampler.join()
        if child.wait() != 0:
            raise SystemExit(f"the training job failed (exit {child.returncode}); its log is above")
    seconds = time.perf_counter() - started
    print(f"  peak {max(peaks.values()):,} MB in {seconds:.0f} s", flush=True)
    return {
        "customers": customers,
        "targets": targets,
        "models": models or [spec.name for spec in zoo.ZOO],
        "search_seconds": search_seconds,
        "seconds": round(seconds),
        "phases": peaks,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--targets", nargs="+", choices=list(TRUTH), default=["buying"])
    parser.add_argument(
        "--models", nargs="+", choices=[spec.name for spec in zoo.ZOO], default=[],
        help="zoo models to compare (default: all seven)",
    )  # fmt: skip
    parser.add_argument("--search-seconds", type=float, default=0.0, help="search budget per target")
    args = parser.parse_args()
    results = []
    for customers in args.sizes:
        print(f"{customers:,} customers:", flush=True)
        results.append(measure(customers, args.targets, args.models, args.search_seconds))
    record("Training: the job's memory", _markdown(results))


def _markdown(results: list[dict[str, Any]]) -> str:
    lines = [
        "`.venv/bin/python bench/bench_training_memory.py` — the SageMaker entrypoint (training/train.py) "
        "as a child process on the synthetic world's labelled feature table (24-month world, 3 training "
        f"snapshots and the holdout); its resident memory sampled every {SAMPLE_SECONDS} s and charged "
        "to the phase its log last announced. Buying is fitted on weighted rows (a customer "
        "snapshot's failed and good COD orders, each row weighted by its orders; credo.labels); its "
        "holdout is one row per COD order.",
    ]
    for r in results:
        lines += [
            "",
            f"{r['customers']:,} customers, {', '.join(r['targets'])}; models: {', '.join(r['models'])}; "
            f"search budget {r['search_seconds']:g} s per target; {r['seconds']:,} s in all.",
            "",
            "| phase | peak RSS (MB) |",
            "| --- | ---: |",
            *(f"| {phase} | {peak:,} |" for phase, peak in r["phases"].items()),
            f"| **the job's peak** | **{max(r['phases'].values()):,}** |",
        ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
