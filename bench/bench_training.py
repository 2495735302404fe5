"""Model quality against the oracle, calibration and fit time per zoo model, for 100k and 1M customers.

Run: .venv/bin/python bench/bench_training.py [--sizes 100000 1000000] [--search-seconds 120] [--months 24]
     [--targets credit buying]

For each size: the synthetic world, mined, loaded and featurised as in bench_mining.py (the warehouse
is cached under .bench/training/, built once and not timed here); then, per target, the zoo
comparison the training job runs (credo.training.compare.compare_zoo): a hyperparameter search
within the stated budget, cross-validated on the training snapshots, each model's final fit, and
the out-of-time holdout (the world's last snapshot). The training snapshots are the 3 latest whose
6-month label windows close before the holdout, as in `make demo`.

The rows are the training job's (credo.labels): a customer at a snapshot for credit, a COD order
for buying. Beside each model's AUC: the oracle's AUC on the very same holdout rows (the world's
true probability, which knows the hidden traits), and an estimate of the best these features allow
(a gradient-boosting regression of the oracle's probability on the features, fitted on the
training rows — the noise-free version of the label, so it approaches E[bad | features]).

`--targets` measures some targets only (at 1M customers each takes an hour or more); a size's
other targets keep their earlier figures, each marked with when and on which feature schema it
was measured.
"""

import argparse
import json
import os
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_mining import (
    BENCH_BUREAU_RATE,
    ROOT,
    WORLD_MONTHS,
    backfill_side_by_side,
    peak_rss_mb,
    world_for,
    world_name,
    world_tag,
)
from record import marked, record

TRAINING_SNAPSHOTS = 3
# The training job's rows (credo.labels): per customer for credit, per COD order for buying; the
# oracle's probability of each row's label (evaluation/oracle.parquet).
TRUTH = {"credit": "p_credit_bad", "buying": "p_cod_order_failed"}
# The per-customer buying label the design first had (any COD order in the 6 months failed), which
# bench_history_ceiling.py, bench_oracle_gap.py and bench_buying_label.py analyse: label, population, truth.
CUSTOMER_BUYING_LABEL = "label_buying_any_order_failed"
PER_CUSTOMER_TARGETS = {
    "credit": ("label_credit_bad", "in_credit_population", "p_credit_bad"),
    "buying": (CUSTOMER_BUYING_LABEL, "in_buying_population", "p_buying_bad"),
}
QUALITY_GAP = 0.02  # the bar: selected model within 0.02 AUC of the oracle
CALIBRATION_BAR = 0.02


def features_for(
    customers: int,
    seed: int,
    workers: int,
    training_snapshots: int = TRAINING_SNAPSHOTS,
    months: int = WORLD_MONTHS,
) -> tuple[pd.DataFrame, date, list[date]]:
    """Labelled features of the training snapshots and the holdout, with the oracle's probabilities."""
    from credo.features import FEATURE_NAMES, LABEL_HORIZON_MONTHS
    from credo.privacy import tokenize

    cache = ROOT / ".bench" / "training" / world_name(customers, seed, months)
    table_file = cache / f"features-{training_snapshots}-training-snapshots.parquet"
    world = world_for(customers, seed, months)
    summary = json.loads((world / "world.json").read_text())
    snapshots = [date.fromisoformat(s) for s in summary["snapshots"]]
    holdout = snapshots[-1]
    closed = [
        s
        for s in snapshots
        if (pd.Timestamp(s) + pd.DateOffset(months=LABEL_HORIZON_MONTHS)).date() <= holdout
    ]
    training = closed[-training_snapshots:]
    if not table_file.exists() or not _has_columns(
        table_file, [CUSTOMER_BUYING_LABEL, *TRUTH.values(), *FEATURE_NAMES]
    ):
        warehouse_file = cache / "warehouse.duckdb"
        if not warehouse_file.with_suffix(".mined").exists():
            print(f"  mining {customers:,} customers into {warehouse_file} (cached) …", flush=True)
            mine_for_training(world, warehouse_file, workers)
        from credo.warehouse import export_features
        from credo.warehouse.duckdb import DuckDBWarehouse

        with DuckDBWarehouse(warehouse_file) as warehouse:
            table = export_features(warehouse, [*training, holdout], labels=True).to_pandas()
        key = bytes.fromhex(warehouse_file.with_suffix(".key").read_text())
        oracle = pd.read_parquet(world / "evaluation" / "oracle.parquet")
        oracle = oracle[oracle["snapshot_date"].isin({d.isoformat() for d in [*training, holdout]})]
        oracle["token"] = [tokenize(customer, key) for customer in oracle["customer_id"]]
        table["snapshot_date"] = pd.to_datetime(table["snapshot_date"]).dt.date.astype(str)
        table = table.merge(
            oracle[["token", "snapshot_date", "p_credit_bad", "p_buying_bad", "p_cod_order_failed"]],
            on=["token", "snapshot_date"],
            how="left",
        )
        failed = table["label_buying_failed_orders"]
        table[CUSTOMER_BUYING_LABEL] = (failed > 0).astype("float64").where(failed.notna())
        table.to_parquet(table_file)
    return pd.read_parquet(table_file), holdout, training


def _has_columns(parquet_file: Path, columns: list[str]) -> bool:
    """Whether a cached table has these columns (one cached before a label or feature change has not)."""
    import pyarrow.parquet as pq

    return set(columns) <= set(pq.read_schema(parquet_file).names)


def mine_for_training(world: Path, warehouse_file: Path, workers: int) -> None:
    """Mine the world as the schedule would have, as far as point-in-time features can tell.

    The bureau and the registries are consulted when a customer is first mined, and what they said
    counts from that moment on: so registrations, reference and bureau run month by month, as the
    scheduler runs them (a backfill at the world's end would leave every earlier snapshot without
    bureau or registry data). Orders, payments and ad events carry their own timestamps, so their
    first load runs once at the end, side by side in worker processes, as in bench_mining.py.
    """
    from datetime import UTC, datetime

    from credo import constants as c
    from credo.adapters.s3 import S3Store
    from credo.adapters.secrets import SecretStore
    from credo.local import bootstrap, drop_world_files, local_aws, local_bureau, local_settings_env
    from credo.miners import MiningDependencies, run_miner
    from credo.observability import logger
    from credo.privacy import load_hmac_key
    from credo.settings import CredoSettings
    from credo.warehouse import load_lake
    from credo.warehouse.duckdb import DuckDBWarehouse

    logger.setLevel("WARNING")
    config = json.loads((world / "world.json").read_text())["config"]
    start = date.fromisoformat(config["start"])
    months = [(pd.Timestamp(start) + pd.DateOffset(months=m)).date() for m in range(1, config["months"] + 1)]
    env = {
        **local_settings_env(source_db=world / "operational.sqlite"),
        c.ENV_BUREAU_RATE_LIMIT: BENCH_BUREAU_RATE,
    }
    warehouse_file.parent.mkdir(parents=True, exist_ok=True)
    warehouse_file.unlink(missing_ok=True)
    with local_aws(env):
        settings = CredoSettings()
        bootstrap(settings)
        warehouse_file.with_suffix(".key").write_text(
            load_hmac_key(SecretStore.create(), settings.hmac_secret_name).hex()
        )
        drop_world_files(world, settings)
        with local_bureau(world, settings):
            deps = MiningDependencies(settings)
            started = time.perf_counter()
            for month in months:
                when = datetime.combine(month, datetime.min.time(), UTC).replace(hour=2)
                for source in ("registrations", "reference", "bureau"):
                    run_miner(source, deps, now=when)
            print(f"  registrations, reference, bureau month by month: {time.perf_counter() - started:.0f} s")
            end = datetime.combine(date.fromisoformat(config["end"]), datetime.min.time(), UTC)
            backfill_side_by_side(("orders", "payments", "marketing"), settings, end, workers)
            print(f"  orders, payments, ad events backfilled: {time.perf_counter() - started:.0f} s in all")
        with DuckDBWarehouse(warehouse_file, s3=S3Store.create()) as warehouse:
            load_lake(warehouse, lake_bucket=settings.lake_bucket)
    warehouse_file.with_suffix(".mined").touch()  # a later run featurises again without mining


def training_and_holdout(
    table: pd.DataFrame, population: str, label: str, holdout_day: date
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A target's labelled population, split into the training snapshots and the holdout snapshot."""
    rows = table[table[population].fillna(False).astype(bool) & table[label].notna()]
    return split_at(rows, holdout_day)


def split_at(rows: pd.DataFrame, holdout_day: date) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The rows of the training snapshots and those of the holdout snapshot."""
    holdout = rows["snapshot_date"] == holdout_day.isoformat()
    return rows[~holdout], rows[holdout]


def feature_ceiling(
    train: pd.DataFrame, holdout: pd.DataFrame, truth: str, label: str, columns: list[str] | None = None
) -> dict[str, float]:
    """A regression of the oracle's probability on the features (or `columns`), fitted on the training rows.

    Its AUC on the holdout estimates the best ranking these features allow; its calibration error
    there, how well any function of them learnt from these snapshots can match the holdout's bad rates.
    """
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.metrics import roc_auc_score

    from credo.features import FEATURE_NAMES
    from credo.training.metrics import expected_calibration_error

    columns = columns or list(FEATURE_NAMES)
    known = train[train[truth].notna()]
    regression = HistGradientBoostingRegressor(
        max_iter=400, learning_rate=0.05, max_leaf_nodes=31, random_state=0
    )
    regression.fit(known[columns].astype("float64"), known[truth])
    estimate = np.clip(regression.predict(holdout[columns].astype("float64")), 0.0, 1.0)
    labels = holdout[label].astype(int).to_numpy()
    return {
        "auc": float(roc_auc_score(labels, estimate)),
        "calibration_error": expected_calibration_error(labels, estimate),
    }


def measure_quality(
    customers: int,
    seed: int,
    workers: int,
    search_seconds: float,
    months: int = WORLD_MONTHS,
    targets: tuple[str, ...] = tuple(TRUTH),
) -> dict[str, Any]:
    from sklearn.metrics import roc_auc_score
    from threadpoolctl import threadpool_limits

    from credo.features import FEATURE_SCHEMA_VERSION
    from credo.labels import LABEL_OF_TARGET, ROW_UNIT, labelled_rows
    from credo.training.compare import compare_zoo
    from credo.training.metrics import expected_calibration_error

    table, holdout_day, _ = features_for(customers, seed, workers, months=months)
    figures: dict[str, Any] = {"customers": customers, "holdout": holdout_day.isoformat(), "targets": {}}
    for target in targets:
        truth, label = TRUTH[target], LABEL_OF_TARGET[target]
        train, test = split_at(labelled_rows(table, target), holdout_day)
        # the training job fits on weighted rows (buying: one per outcome and customer snapshot)
        fitted, _ = split_at(labelled_rows(table, target, weighted=True), holdout_day)
        print(
            f"  {target}: {len(train):,} training rows ({len(fitted):,} fitted), {len(test):,} holdout rows",
            flush=True,
        )
        started = time.perf_counter()
        with threadpool_limits(limits=workers):
            comparison = compare_zoo(
                fitted, test, target, label, seed=7, search_seconds=search_seconds,
                progress=lambda line: print(f"    {line}", flush=True),
            )  # fmt: skip
        seconds = time.perf_counter() - started
        scored = test[test[truth].notna()]
        oracle_auc = float(roc_auc_score(scored[label].astype(int), scored[truth]))
        ceiling = feature_ceiling(train, test, truth, label)
        selected = next(r for r in comparison.table if r["selected"])
        figures["targets"][target] = {
            "measured_on": date.today().isoformat(),
            "feature_schema_version": FEATURE_SCHEMA_VERSION,
            "peak_rss_mb": peak_rss_mb(),  # the process's peak so far: this target and those before it
            "row": ROW_UNIT[target],
            "training_rows": len(train),
            "fitted_rows": len(fitted),
            "holdout_rows": len(test),
            "holdout_bad_rate": round(float(test[label].mean()), 4),
            "oracle_auc": round(oracle_auc, 4),
            "oracle_coverage": round(len(scored) / max(len(test), 1), 4),
            "oracle_calibration_error": round(
                expected_calibration_error(scored[label].astype(int), scored[truth]), 4
            ),
            "feature_ceiling_auc": round(ceiling["auc"], 4),
            "feature_ceiling_calibration_error": round(ceiling["calibration_error"], 4),
            "selected": selected["model"],
            "selected_auc": round(selected["roc_auc"], 4),
            "gap_to_oracle": round(oracle_auc - selected["roc_auc"], 4),
            "selected_calibration_error": round(selected["calibration_error"], 4),
            "compare_seconds": round(seconds, 1),
            "models": {
                r["model"]: {
                    "roc_auc": round(r["roc_auc"], 4),
                    "cv_auc": round(r["cv_auc"], 4),
                    "calibration_error": round(r["calibration_error"], 4),
                    "fit_seconds": round(r["fit_seconds"], 1),
                    "search_seconds": round(r["search_seconds"], 1),
                    "candidates_tried": r["candidates_tried"],
                    "onnx_kb": round(r["onnx_bytes"] / 1024),
                    "one_row_ms": round(r["one_row_latency_p50_ms"], 4),
                }
                for r in comparison.table
            },
        }
        headline = {k: v for k, v in figures["targets"][target].items() if k != "models"}
        print(f"  {target}: {json.dumps(headline)}", flush=True)
    figures["peak_rss_mb"] = peak_rss_mb()
    return figures


def merge_results(earlier: dict[str, Any] | None, measured: dict[str, Any]) -> dict[str, Any]:
    """A size's figures: the targets just measured, and the earlier run's others, each keeping its note."""
    if earlier is None:
        return measured
    targets = dict(measured["targets"])
    for target, figures in earlier["targets"].items():
        if target not in targets:
            targets[target] = {"peak_rss_mb": earlier["peak_rss_mb"]} | figures
    ordered = {t: targets[t] for t in TRUTH if t in targets}
    merged = measured | {"targets": ordered}
    merged["peak_rss_mb"] = max(t.get("peak_rss_mb", 0) for t in ordered.values())
    return merged


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--search-seconds", type=float, default=120.0, help="search budget per target")
    parser.add_argument(
        "--targets",
        nargs="+",
        choices=list(TRUTH),
        default=list(TRUTH),
        help="measure these targets only; a size's others keep their earlier figures, marked",
    )
    parser.add_argument(
        "--months",
        type=int,
        default=WORLD_MONTHS,
        help=f"the world's length (default {WORLD_MONTHS}); another length is recorded in its own section",
    )
    args = parser.parse_args()
    results_dir = ROOT / ".bench" / "training"
    tag = f"seed{args.seed}{world_tag(args.months)}"
    for customers in sorted(args.sizes):
        print(f"{customers:,} customers:", flush=True)
        figures = measure_quality(
            customers, args.seed, args.workers, args.search_seconds, args.months, tuple(args.targets)
        )
        results_file = results_dir / f"results-{customers}-{tag}.json"
        earlier = json.loads(results_file.read_text()) if results_file.exists() else None
        results_file.write_text(json.dumps(merge_results(earlier, figures), indent=2))
    # every size measured so far, so that a run of one size keeps the other's figures in the table
    found = [json.loads(p.read_text()) for p in results_dir.glob(f"results-*-{tag}.json")]
    results = sorted(found, key=lambda r: r["customers"])
    section = "Training: quality against the oracle, calibration, fit time"
    if args.months != WORLD_MONTHS:
        section += f" ({args.months}-month world)"
    record(section, _markdown(results, args))


def _markdown(results: list[dict[str, Any]], args: argparse.Namespace) -> str:
    from credo.features import FEATURE_NAMES

    lines = [
        f"Command: `.venv/bin/python bench/bench_training.py --search-seconds {args.search_seconds:g}"
        + ("" if args.months == WORLD_MONTHS else f" --months {args.months}")
        + "`."
        f" Per target, the training job's zoo comparison: a hyperparameter search within"
        f" {args.search_seconds:g} s (cross-validated on the {TRAINING_SNAPSHOTS} training snapshots,"
        " time-ordered folds, each fit on at most 200k rows), then each model's final calibrated fit"
        f" on every training row, measured out of time on the world's last snapshot; {args.workers} threads."
        " Rows: a customer at a snapshot for credit, one COD order placed in the 6 months after it for"
        " buying (credo.labels). Oracle AUC: the world's true probability on the same holdout rows (it"
        " knows the hidden traits; for buying, that one of the customer's COD orders fails)."
        " Feature ceiling: a regression of the oracle's probability on Credo's"
        f" {len(FEATURE_NAMES)} features, fitted on the training rows: its AUC estimates the best ranking"
        " these features allow, its calibration error how close any function of them learnt from these"
        " snapshots can come to the holdout's bad rates. Calibration error: 10 equal-count bins; the"
        " oracle's own is the sampling noise on this many rows.",
        "",
        "| customers | target | training / holdout rows | selected | out-of-time AUC | oracle AUC | gap"
        f" (asked ≤ {QUALITY_GAP}) | feature ceiling AUC | calibration error (asked ≤ {CALIBRATION_BAR})"
        " | feature ceiling's calibration error | oracle's calibration error |",
        "| ---: | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        for target, t in r["targets"].items():
            lines.append(
                f"| {r['customers']:,} | {target} | {t['training_rows']:,} / {t['holdout_rows']:,}"
                f" {t.get('row', 'customer')}s"
                f" | {t['selected']} | {t['selected_auc']} | {t['oracle_auc']} | {t['gap_to_oracle']}"
                f" | {t['feature_ceiling_auc']} | {t['selected_calibration_error']}"
                f" | {t.get('feature_ceiling_calibration_error', '—')}"
                f" | {t.get('oracle_calibration_error', '—')} |"
            )
    lines += marked(
        (f"{r['customers']:,} customers, {target}", t.get("note"))
        for r in results
        for target, t in r["targets"].items()
    )
    lines += [
        "",
        "Per model (fit: the final calibrated fit, which is 4 fits: 3 folds for the sigmoid and the model"
        " itself; search: the time its settings search took):",
        "",
        "| customers | target | model | out-of-time AUC | cv AUC | calibration error | fit (s) | search (s) |"
        " settings tried | ONNX KB | one row (ms) |",
        "| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        for target, t in r["targets"].items():
            for name, m in t["models"].items():
                lines.append(
                    f"| {r['customers']:,} | {target} | {name} | {m['roc_auc']} | {m['cv_auc']}"
                    f" | {m['calibration_error']} | {m['fit_seconds']} | {m['search_seconds']}"
                    f" | {m['candidates_tried']} | {m['onnx_kb']} | {m['one_row_ms']} |"
                )
    lines += [
        "",
        "Peak RSS of the bench process (per target: its peak when that target was done): "
        + ", ".join(_peaks(r) for r in results),
    ]
    return "\n".join(lines)


def _peaks(result: dict[str, Any]) -> str:
    """One size's peak RSS: per target (the process's peak when that target was done) once recorded so."""
    peaks = {target: t.get("peak_rss_mb") for target, t in result["targets"].items()}
    if None in peaks.values():  # measured before peaks were kept per target
        return f"{result['customers']:,}: {result['peak_rss_mb']:,} MB"
    return f"{result['customers']:,}: " + ", ".join(f"{target} {mb:,} MB" for target, mb in peaks.items())


if __name__ == "__main__":
    main()
