"""Would more history close the gap to the oracle? The feature ceiling with longer-history summaries added.

Run: .venv/bin/python bench/bench_history_ceiling.py [--sizes 100000] [--months 24 36]

Credo's features look back at most 24 months (repayment and most order counts at most 12), and the
selected models sit within 0.003 AUC of the feature ceiling (bench_training.py). This asks whether
the gap between that ceiling and the oracle is one of feature engineering: it adds, per customer and
snapshot, summaries of what the warehouse knew at the snapshot, over its last 24 months or over all
of it — COD orders and their failures, all orders, the mean log value of COD orders, bills due and
how many were late or by how many days — and fits the same ceiling regression with and without
them (training snapshots and holdout as in bench_training.py, whose cached warehouse and features
it reuses).
"""

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_mining import ROOT, WORLD_MONTHS, world_name, world_tag
from bench_training import PER_CUSTOMER_TARGETS, feature_ceiling, features_for, training_and_holdout
from record import record

from credo.features import FEATURE_NAMES

# Point in time: an order counts when placed before the snapshot, its failure only when known by
# then (updated_at); a bill when due before the snapshot, late when paid after its due date or
# still unpaid at the snapshot.
HISTORY_SQL = """
with orders_known as (
    select o.token, s.snapshot_date,
        count(*) filter (where payment_method = 'cod') as cod_orders_ever,
        count(*) filter (where payment_method = 'cod' and status in ('rto', 'cancelled_after_dispatch')
                         and updated_at < s.snapshot_date) as cod_failed_ever,
        count(*) filter (where payment_method = 'cod' and status in ('delivered', 'returned', 'rto',
                         'cancelled_after_dispatch') and updated_at < s.snapshot_date) as cod_resolved_ever,
        count(*) as orders_ever,
        avg(ln(amount)) filter (where payment_method = 'cod') as cod_mean_log_value_ever
    from orders o join snapshots s on o.placed_at < s.snapshot_date {orders_since}
    group by all
), bills_known as (
    select p.token, s.snapshot_date,
        count(*) as bills_due_ever,
        count(*) filter (where paid_at is null or paid_at >= s.snapshot_date
                         or paid_at > due_date + interval 1 day) as bills_late_ever,
        sum(greatest(0, date_diff('day', due_date,
            least(coalesce(paid_at, s.snapshot_date), s.snapshot_date)))) as days_past_due_ever
    from payments p join snapshots s on p.due_date < s.snapshot_date {bills_since}
    group by all
)
select coalesce(o.token, b.token) as token, cast(coalesce(o.snapshot_date, b.snapshot_date) as date) as day,
    o.* exclude (token, snapshot_date), b.* exclude (token, snapshot_date)
from orders_known o full join bills_known b using (token, snapshot_date)
"""
HISTORIES = {"24_months": 730, "whole": None}  # days looked back; None: all the warehouse knew
HISTORY = [
    "cod_orders_ever", "cod_failed_ever", "cod_resolved_ever", "orders_ever", "cod_mean_log_value_ever",
    "cod_failure_rate_ever", "bills_due_ever", "bills_late_ever", "days_past_due_ever", "late_rate_ever",
]  # fmt: skip


def with_history(table: pd.DataFrame, warehouse_file: Path, days: int | None) -> pd.DataFrame:
    """The table with the summaries over the `days` before each snapshot (None: the whole history)."""
    snapshots = pd.DataFrame({"snapshot_date": pd.to_datetime(sorted(table["snapshot_date"].unique()))})
    since = "" if days is None else f"and {{}} >= s.snapshot_date - interval {int(days)} day"
    sql = HISTORY_SQL.format(orders_since=since.format("o.placed_at"), bills_since=since.format("p.due_date"))
    with duckdb.connect(str(warehouse_file), read_only=True) as connection:
        connection.register("snapshots", snapshots)
        history = connection.sql(sql).df()
    history["snapshot_date"] = history.pop("day").astype(str)
    table = table.merge(history, on=["token", "snapshot_date"], how="left")
    counts = ["cod_orders_ever", "cod_failed_ever", "cod_resolved_ever", "orders_ever"]
    counts += ["bills_due_ever", "bills_late_ever", "days_past_due_ever"]
    table[counts] = table[counts].fillna(0)  # no order or no bill before the snapshot
    # smoothed rates, so that one failure in one order is not a certainty
    table["cod_failure_rate_ever"] = (table["cod_failed_ever"] + 0.6) / (table["cod_resolved_ever"] + 3)
    table["late_rate_ever"] = (table["bills_late_ever"] + 0.5) / (table["bills_due_ever"] + 2)
    return table


def measure(customers: int, seed: int, months: int, workers: int) -> dict[str, Any]:
    from sklearn.metrics import roc_auc_score

    table, holdout_day, _ = features_for(customers, seed, workers, months=months)
    warehouse_file = ROOT / ".bench" / "training" / world_name(customers, seed, months) / "warehouse.duckdb"
    tables = {days_name: with_history(table, warehouse_file, days) for days_name, days in HISTORIES.items()}
    figures: dict[str, Any] = {"customers": customers, "months": months, "targets": {}}
    for target, (label, population, truth) in PER_CUSTOMER_TARGETS.items():
        train, test = training_and_holdout(table, population, label, holdout_day)
        scored = test[test[truth].notna()]
        oracle = float(roc_auc_score(scored[label].astype(int), scored[truth]))
        ceilings = {"features": feature_ceiling(train, test, truth, label)}
        for history, extended in tables.items():
            train, test = training_and_holdout(extended, population, label, holdout_day)
            ceilings[history] = feature_ceiling(train, test, truth, label, [*FEATURE_NAMES, *HISTORY])
        figures["targets"][target] = {"oracle_auc": round(oracle, 4)} | {
            f"{name}_{figure}": round(value, 4)
            for name, ceiling in ceilings.items()
            for figure, value in ceiling.items()
        }
        print(f"  {target}: {json.dumps(figures['targets'][target])}", flush=True)
    return figures


def main() -> None:
    measure_each_world(
        __doc__.splitlines()[0],
        "history-ceiling",
        "Training: the feature ceiling with longer history",
        measure,
        _markdown,
    )


def measure_each_world(
    description: str,
    results_prefix: str,
    section: str,
    measure: Callable[[int, int, int, int], dict[str, Any]],
    markdown: Callable[[list[dict[str, Any]]], str],
) -> None:
    """A bench's command line over bench_training.py's worlds: measure each, keep its JSON, record all."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--months", type=int, nargs="+", default=[WORLD_MONTHS])
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    args = parser.parse_args()
    results_dir = ROOT / ".bench" / "training"
    for months in args.months:
        for customers in sorted(args.sizes):
            print(f"{customers:,} customers, {months}-month world:", flush=True)
            figures = measure(customers, args.seed, months, args.workers)
            name = f"{results_prefix}-{customers}-seed{args.seed}{world_tag(months)}.json"
            (results_dir / name).write_text(json.dumps(figures, indent=2))
    found = [json.loads(p.read_text()) for p in results_dir.glob(f"{results_prefix}-*-seed{args.seed}*.json")]
    record(section, markdown(found))


def _markdown(results: list[dict[str, Any]]) -> str:
    lines = [
        "`.venv/bin/python bench/bench_history_ceiling.py --months 24 36` — the feature ceiling (a "
        "regression of the oracle's probability, fitted on the training snapshots) on the "
        f"{len(FEATURE_NAMES)} features, and on them plus summaries of orders, COD failures and "
        "repayment over the 24 months before the snapshot, or over the whole history; holdout ROC-AUC "
        "and calibration error.",
        "",
        "| customers | world | target | oracle AUC | ceiling AUC | + 24 months | + whole history "
        "| ceiling cal. | + 24 months | + whole history |",
        "| ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in sorted(results, key=lambda r: (r["months"], r["customers"])):
        for target, t in r["targets"].items():
            cells = [t[f"{name}_{figure}"] for figure in ("auc", "calibration_error")
                     for name in ("features", "24_months", "whole")]  # fmt: skip
            lines.append(
                f"| {r['customers']:,} | {r['months']} months | {target} | {t['oracle_auc']:.4f} | "
                + " | ".join(f"{c:.4f}" for c in cells)
                + " |"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
