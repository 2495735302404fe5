"""World generation: wall time and peak memory of `credo world` for 100k and 1M customers.

Run: .venv/bin/python bench/bench_world.py [--sizes 100000 1000000]
Each size runs in its own process, so its peak RSS is its own.
"""

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from record import record

CREDO = Path(sys.executable).with_name("credo")


def measure(customers: int, seed: int) -> dict[str, float]:
    out = Path(tempfile.mkdtemp(prefix=f"credo-world-{customers}-"))
    try:
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        started = time.perf_counter()
        cmd = [
            str(CREDO),
            "world",
            "--customers",
            str(customers),
            "--seed",
            str(seed),
            "--out",
            str(out),
            "--quiet",
        ]
        subprocess.run(cmd, check=True)
        seconds = time.perf_counter() - started
        peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        summary = json.loads((out / "world.json").read_text())
        size_mb = sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) / 1e6
        return {
            "customers": customers,
            "seconds": round(seconds, 1),
            # ru_maxrss of children is a running maximum: sizes run in increasing order
            "peak_rss_mb": round(max(peak_kib, before) / 1024, 0),
            "orders": summary["counts"]["orders"],
            "bills": summary["counts"]["bills"],
            "ad_events": summary["counts"]["ad_events"],
            "output_mb": round(size_mb, 0),
        }
    finally:
        shutil.rmtree(out, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rows = []
    for customers in sorted(args.sizes):
        print(f"generating {customers:,} customers …", flush=True)
        row = measure(customers, args.seed)
        print(json.dumps(row), flush=True)
        rows.append(row)
    lines = [
        "Command: `.venv/bin/python bench/bench_world.py`"
        " (runs `credo world --customers N --seed 7 --quiet`).",
        "",
        "| customers | orders | bills | ad events | wall time (s) | peak RSS (MB) | output (MB) |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    lines += [
        f"| {r['customers']:,} | {r['orders']:,} | {r['bills']:,} | {r['ad_events']:,} | {r['seconds']} "
        f"| {r['peak_rss_mb']:.0f} | {r['output_mb']:.0f} |"
        for r in rows
    ]
    record("World generation", "\n".join(lines))


if __name__ == "__main__":
    main()
