"""Mining + warehouse load + features, end to end, for 100k and 1M customers.

Run: .venv/bin/python bench/bench_mining.py [--sizes 100000 1000000] [--workers 2]

For each size: a synthetic world (cached under .bench/worlds/, generated once and not timed),
a moto server for S3 / DynamoDB / Secrets Manager and a fake bureau on loopback (as in
`make demo`); then the six miners' first (backfill) run at the world's end, `--workers` miners at
a time in separate processes (in AWS each miner is its own Lambda); then the lake is loaded into
a DuckDB warehouse and point-in-time features are built for the last snapshots.
"""

import argparse
import json
import multiprocessing
import os
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from record import record

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".bench" / "worlds"
WORLD_MONTHS = 24  # `credo world`'s default length
SNAPSHOTS = 3
# The fake bureau allows this; a real bureau's contracted rate (CREDO_BUREAU_RATE_LIMIT, default
# 50 requests/s of 100 keys) caps lookups at 5,000 keys/s.
BENCH_BUREAU_RATE = "1000"
MINER_ORDER = ("orders", "marketing", "payments", "reference", "registrations", "bureau")
# The first load of the biggest source is cut into slices mined side by side (in AWS: one Lambda
# each), so that no single miner is the whole critical path.
ORDERS_SLICES = 2
LARGEST_MINER_NOTE = (
    "The largest miner's peak is the payments miner's: every bill still unpaid at the world's end carries"
    " that moment as `updated_at`, and a batch is cut only where `updated_at` changes (the watermark is one"
    " timestamp, never a raw key), so those bills form one large batch. The other miners stay near"
    " 1.1-1.6 GB."
)
# Longest first, so that the workers finish together.
SCHEDULE = ("orders", "payments", "marketing", "bureau", "reference", "registrations")


def world_for(customers: int, seed: int, months: int = WORLD_MONTHS) -> Path:
    """The world of this size, generated once (in its own process, so its memory is not counted)."""
    out = CACHE / world_name(customers, seed, months)
    if not (out / "world.json").exists() or _truth_is_older(out / "world.json"):
        print(f"  generating a world of {customers:,} customers (cached in {out}) …", flush=True)
        shutil.rmtree(out, ignore_errors=True)
        credo = Path(sys.executable).with_name("credo")
        command = [str(credo), "world", "--customers", str(customers), "--seed", str(seed), "--out", str(out)]
        command += ["--months", str(months)]
        subprocess.run(command, check=True)
    return out


def _truth_is_older(summary: Path) -> bool:
    """A world cached before the per-COD-order truth: generated again (its records come out the same)."""
    return "buying_bad_per_cod_order_6m" not in json.loads(summary.read_text())["realism"]


def world_tag(months: int) -> str:
    """The suffix of a world's cache names: none for the default length, so old caches still count."""
    return "" if months == WORLD_MONTHS else f"-{months}m"


def world_name(customers: int, seed: int, months: int = WORLD_MONTHS) -> str:
    """The name a world and everything cached from it go by under .bench/."""
    return f"{customers}-seed{seed}{world_tag(months)}"


def peak_rss_mb() -> int:
    """This process's own peak RSS (VmHWM). ru_maxrss would carry the parent's peak across fork/exec."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def mine_one(source: str, when: str, bounds: tuple[str | None, str | None] | None = None) -> dict[str, Any]:
    """One miner's first run, or one slice of it, in a worker process (boto3 points at the moto server)."""
    from credo.miners import MiningDependencies, run_miner
    from credo.mining import mine_slice
    from credo.observability import logger
    from credo.settings import CredoSettings

    logger.setLevel("WARNING")
    started = time.perf_counter()
    deps = MiningDependencies(CredoSettings())
    now = datetime.fromisoformat(when)
    if bounds is None:
        result = run_miner(source, deps, now=now)
    else:
        result = mine_slice(
            source, after=bounds[0], through=bounds[1], db=deps.db, s3=deps.s3, key=deps.key, now=now,
            lake_bucket=deps.settings.lake_bucket,
        )  # fmt: skip
    seconds = time.perf_counter() - started
    return {
        "source": source
        if bounds is None
        else f"{source} slice {bounds[0] or 'start'} to {bounds[1] or 'end'}",
        "result": result,
        "rows": result.good + result.quarantined,
        "seconds": round(seconds, 1),
        "rows_per_s": round((result.good + result.quarantined) / max(seconds, 1e-9)),
        "peak_rss_mb": peak_rss_mb(),
        "details": result.details,
    }


def backfill_side_by_side(
    sources: Sequence[str], settings: Any, when: datetime, workers: int
) -> list[dict[str, Any]]:
    """The first run of each source at `when`, `workers` at a time in separate processes; the orders
    backfill is cut into ORDERS_SLICES slices and finished once every slice is in. Figures per run."""
    from credo.adapters.dynamodb import WatermarkStore
    from credo.mining import backfill_slices, finish_backfill
    from credo.sources import open_source_database

    db = open_source_database(settings.source_db_url)
    slices = backfill_slices("orders", db, ORDERS_SLICES)
    db.close()
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = [
            pool.submit(mine_one, source, when.isoformat(), bounds)
            for source in sources
            for bounds in (slices if source == "orders" else [None])
        ]
        miners = [future.result() for future in as_completed(futures)]
    orders = [m.pop("result") for m in miners if m["source"].startswith("orders")]
    for m in miners:
        m.pop("result", None)
    if orders:
        finish_backfill(
            "orders", orders, watermarks=WatermarkStore.create(settings.watermark_table), now=when
        )
    return miners


def measure(customers: int, seed: int, workers: int) -> dict[str, Any]:
    from credo import constants as c
    from credo.adapters.s3 import S3Store
    from credo.local import bootstrap, drop_world_files, local_aws, local_bureau, local_settings_env
    from credo.settings import CredoSettings
    from credo.warehouse import build_features, load_lake
    from credo.warehouse.duckdb import DuckDBWarehouse

    world = world_for(customers, seed)
    summary = json.loads((world / "world.json").read_text())
    when = datetime.combine(date.fromisoformat(summary["config"]["end"]), datetime.min.time(), UTC)
    scratch = ROOT / ".bench" / f"warehouse-{customers}.duckdb"
    scratch.unlink(missing_ok=True)
    env = {
        **local_settings_env(source_db=world / "operational.sqlite"),
        c.ENV_BUREAU_RATE_LIMIT: BENCH_BUREAU_RATE,
    }
    figures: dict[str, Any] = {"customers": customers, "orders": summary["counts"]["orders"]}
    with local_aws(env):
        settings = CredoSettings()
        bootstrap(settings)
        drop_world_files(world, settings)
        with local_bureau(world, settings):
            started = time.perf_counter()
            miners = backfill_side_by_side(SCHEDULE, settings, when, workers)
            figures["mining_s"] = round(time.perf_counter() - started, 1)
        for miner in sorted(miners, key=lambda m: MINER_ORDER.index(m["source"].split()[0])):
            print(f"  {json.dumps(miner)}", flush=True)
        figures["miners"] = miners
        started = time.perf_counter()
        with DuckDBWarehouse(scratch, s3=S3Store.create()) as warehouse:
            loaded = load_lake(warehouse, lake_bucket=settings.lake_bucket)
            figures["load_s"] = round(time.perf_counter() - started, 1)
            figures["warehouse_rows"] = sum(r.rows_in_table for r in loaded)
            started = time.perf_counter()
            snapshots = [date.fromisoformat(s) for s in summary["snapshots"][-SNAPSHOTS:]]
            figures["feature_rows"] = sum(build_features(warehouse, s).num_rows for s in snapshots)
            figures["features_s"] = round(time.perf_counter() - started, 1)
    scratch.unlink(missing_ok=True)
    figures["total_s"] = round(figures["mining_s"] + figures["load_s"] + figures["features_s"], 1)
    figures["parent_peak_rss_mb"] = peak_rss_mb()  # the moto server holding the lake, and DuckDB
    figures["worker_peak_rss_mb"] = max(m["peak_rss_mb"] for m in miners)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    args = parser.parse_args()
    results = []
    for customers in sorted(args.sizes):
        print(f"{customers:,} customers:", flush=True)
        figures = measure(customers, args.seed, args.workers)
        print(json.dumps({k: v for k, v in figures.items() if k != "miners"}), flush=True)
        results.append(figures)
    lines = [
        f"Command: `.venv/bin/python bench/bench_mining.py --workers {args.workers}`: the six miners' first"
        f" run (a backfill of the whole world) at the world's end, {args.workers} miners at a time in"
        f" separate processes (the orders backfill cut into {ORDERS_SLICES} slices, credo.mining.mine_slice)"
        " against a moto server and the fake bureau (rate limit raised to"
        f" {BENCH_BUREAU_RATE} requests/s), then loading the lake into DuckDB and building point-in-time"
        f" features for the last {SNAPSHOTS} monthly snapshots. World generation is not included. Peak RSS is"
        " each process's own (VmHWM): the bench process holds the moto server (the whole lake in memory)"
        " and DuckDB; each miner runs in its own process.",
        "",
        "| customers | orders | mining (s) | load (s) | features (s) | total (s) | warehouse rows |"
        " feature rows | peak RSS: stand-ins + DuckDB / largest miner (MB) |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    lines += [
        f"| {r['customers']:,} | {r['orders']:,} | {r['mining_s']} | {r['load_s']} | {r['features_s']} "
        f"| {r['total_s']} | {r['warehouse_rows']:,} | {r['feature_rows']:,} "
        f"| {r['parent_peak_rss_mb']:,} / {r['worker_peak_rss_mb']:,} |"
        for r in results
    ]
    lines += ["", LARGEST_MINER_NOTE]
    lines += ["", "Per miner (rows/s is one process):", "", "| customers | miner | rows | seconds | rows/s |"]
    lines += ["| ---: | --- | ---: | ---: | ---: |"]
    lines += [
        f"| {r['customers']:,} | {m['source']} | {m['rows']:,} | {m['seconds']} | {m['rows_per_s']:,} |"
        for r in results
        for m in sorted(r["miners"], key=lambda m: MINER_ORDER.index(m["source"].split()[0]))
    ]
    record("Mining, load and features", "\n".join(lines))


if __name__ == "__main__":
    main()
