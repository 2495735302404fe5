"""Which buying label fits the COD decision: per customer or per COD order? The training job's zoo on each.

Run: .venv/bin/python bench/bench_buying_label.py [--sizes 100000] [--months 24 36]

The design first labelled buying per customer: 1 when any COD order the customer places in the
6 months after the snapshot fails (refused at the door, returned to origin, cancelled after
dispatch). The checkout decides one order at a time, and this bench's figures made the training
job label buying per COD order (credo.labels). It builds both labels from the same orders: per
order, one row per COD order placed in those 6 months, 1 when that order failed, with the
customer's features as of the snapshot. On the same training snapshots and holdout as
bench_training.py (whose cached worlds and features it reuses) it measures, per label:

- the bad rate of each snapshot (the per-customer one moves with how many orders the season brings);
- the oracle: the world's true probability (per customer, of any failure; per order, that order's
  own failure probability from `outcome_logits`, knowing the customer's COD reliability and the
  order's value and category, which the training job's per-order oracle averages over);
- the feature ceiling (a regression of the oracle's probability on Credo's features), also with
  bench_history_ceiling.py's summaries of the 24 months before the snapshot added (COD orders and
  failures, orders, bills and lateness), which make the per-customer label's calibration worse
  on the 36-month world;
- the training job's zoo comparison (`compare_zoo`, 120 s search) on each label, its selected
  model's AUC and calibration error;
- on the holdout, by the number of COD orders a customer placed in the 6 months: the share of
  customers with a failure and the share of orders that failed.
"""

import json
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_history_ceiling import HISTORIES, HISTORY, measure_each_world, with_history
from bench_mining import ROOT, world_for, world_name
from bench_oracle_gap import OutcomeEquation, customer_index, read_orders
from bench_training import PER_CUSTOMER_TARGETS, feature_ceiling, features_for, training_and_holdout

from credo.features import FEATURE_NAMES, LABEL_HORIZON_MONTHS
from credo.synthetic import commerce as com

ORDER_LABEL = "label_cod_order_failed"
# This order's own failure probability (knowing its category and value); not the oracle table's
# p_cod_order_failed, the customer's mean over its next order, which the training job's rows carry.
ORDER_TRUTH = "p_this_cod_order_failed"
FAILED = ("rto", "cancelled_after_dispatch")  # as features.sql's upcoming_cod
SEARCH_SECONDS = 120.0  # as bench_training.py
ORDER_BANDS = [0, 1, 2, 4, 8, np.inf]  # COD orders a customer placed in the 6 months


def cod_orders_ahead(
    orders: pd.DataFrame, people: pd.DataFrame, world: Path, snapshots: list[date]
) -> pd.DataFrame:
    """Each COD order placed in the 6 months after each snapshot: its outcome and true failure probability."""
    cod = orders[orders["payment_method"] == "cod"].reset_index(drop=True)
    traits = pd.read_parquet(world / "evaluation" / "traits.parquet").set_index("customer_id")
    true_reliability = traits.loc[cod["customer_id"], "cod_reliability"].to_numpy()
    cod[ORDER_TRUTH] = com.cod_failure_probability(OutcomeEquation(cod, people).logits(true_reliability))
    cod[ORDER_LABEL] = cod["status"].isin(FAILED).astype(int)
    parts = []
    for snapshot in snapshots:
        start = pd.Timestamp(snapshot)
        ahead = cod[
            (cod["placed"] >= start) & (cod["placed"] < start + pd.DateOffset(months=LABEL_HORIZON_MONTHS))
        ]
        parts.append(
            ahead[["customer_id", ORDER_LABEL, ORDER_TRUTH]].assign(snapshot_date=snapshot.isoformat())
        )
    ahead = pd.concat(parts).merge(people[["customer_id", "token"]], on="customer_id")
    return ahead.drop(columns="customer_id")


def measure(customers: int, seed: int, months: int, workers: int) -> dict[str, Any]:
    from sklearn.metrics import roc_auc_score
    from threadpoolctl import threadpool_limits

    from credo.training.compare import compare_zoo
    from credo.training.metrics import expected_calibration_error

    table, holdout_day, training = features_for(customers, seed, workers, months=months)
    world = world_for(customers, seed, months)
    cache = ROOT / ".bench" / "training" / world_name(customers, seed, months)
    people = customer_index(world, bytes.fromhex((cache / "warehouse.key").read_text()))
    table = with_history(table, cache / "warehouse.duckdb", HISTORIES["24_months"])
    label, population, truth = PER_CUSTOMER_TARGETS["buying"]
    train, test = training_and_holdout(table, population, label, holdout_day)
    ahead = cod_orders_ahead(read_orders(world), people, world, [*training, holdout_day])
    features = table.drop(columns=[c for c in table.columns if c.startswith(("label_", "p_", "in_"))])
    order_train = ahead.merge(features, on=["token", "snapshot_date"])
    order_test = order_train[order_train["snapshot_date"] == holdout_day.isoformat()]
    order_train = order_train[order_train["snapshot_date"] != holdout_day.isoformat()]
    print(f"  per order: {len(order_train):,} training rows, {len(order_test):,} holdout rows", flush=True)

    def zoo_on(train: pd.DataFrame, test: pd.DataFrame, truth: str, label: str) -> dict[str, Any]:
        """The training job's comparison on these rows, beside the oracle and the feature ceiling."""
        started = time.perf_counter()
        with threadpool_limits(limits=workers):
            comparison = compare_zoo(
                train, test, "buying", label, seed=7, search_seconds=SEARCH_SECONDS,
                progress=lambda line: print(f"    {line}", flush=True),
            )  # fmt: skip
        selected = next(r for r in comparison.table if r["selected"])
        ceiling = feature_ceiling(train, test, truth, label)
        return {
            "rows": [len(train), len(test)],
            "bad_rate": _bad_rates(pd.concat([train, test]), label),
            "oracle_auc": round(float(roc_auc_score(test[label], test[truth])), 4),
            "oracle_calibration_error": round(expected_calibration_error(test[label], test[truth]), 4),
            "ceiling_auc": round(ceiling["auc"], 4),
            "ceiling_calibration_error": round(ceiling["calibration_error"], 4),
            "selected": selected["model"],
            "selected_auc": round(selected["roc_auc"], 4),
            "selected_calibration_error": round(selected["calibration_error"], 4),
            "compare_seconds": round(time.perf_counter() - started, 1),
            "models": {
                r["model"]: {
                    "roc_auc": round(r["roc_auc"], 4),
                    "calibration_error": round(r["calibration_error"], 4),
                }
                for r in comparison.table
            },
        }

    labels = {
        "per_customer": zoo_on(train, test, truth, label),
        "per_order": zoo_on(order_train, order_test, ORDER_TRUTH, ORDER_LABEL),
    }
    with_24_months = [*FEATURE_NAMES, *HISTORY]
    history_ceilings = {
        "per_customer": feature_ceiling(train, test, truth, label, with_24_months),
        "per_order": feature_ceiling(order_train, order_test, ORDER_TRUTH, ORDER_LABEL, with_24_months),
    }
    for name, figures in labels.items():
        figures["ceiling_with_24_months_auc"] = round(history_ceilings[name]["auc"], 4)
        figures["ceiling_with_24_months_calibration_error"] = round(
            history_ceilings[name]["calibration_error"], 4
        )
        print(f"  {name}: {json.dumps({k: v for k, v in figures.items() if k != 'models'})}", flush=True)
    return {
        "customers": customers,
        "months": months,
        "holdout": holdout_day.isoformat(),
        "labels": labels,
        "by_orders_ahead": _by_orders_ahead(order_test),
    }


def _bad_rates(rows: pd.DataFrame, label: str) -> dict[str, float]:
    return {day: round(float(rate), 4) for day, rate in rows.groupby("snapshot_date")[label].mean().items()}


def _by_orders_ahead(order_test: pd.DataFrame) -> list[dict[str, Any]]:
    """Holdout customers by COD orders placed in the 6 months: who had a failure, how many orders failed."""
    per_customer = order_test.groupby("token").agg(
        orders=(ORDER_LABEL, "size"), failed=(ORDER_LABEL, "sum"), truth=(ORDER_TRUTH, "mean")
    )
    band = pd.cut(per_customer["orders"], ORDER_BANDS)
    rows = []
    for interval, group in per_customer.groupby(band, observed=True):
        rows.append(
            {
                "orders": _band_name(interval),
                "customers": len(group),
                "customers_with_a_failure": round(float((group["failed"] > 0).mean()), 3),
                "orders_failed": round(float(group["failed"].sum() / group["orders"].sum()), 3),
                "true_order_failure_probability": round(float(group["truth"].mean()), 3),
            }
        )
    return rows


def _band_name(interval: pd.Interval) -> str:
    low, high = int(interval.left) + 1, interval.right
    if np.isinf(high):
        return f"{low} or more"
    return str(low) if low == int(high) else f"{low}–{int(high)}"


def main() -> None:
    measure_each_world(
        __doc__.splitlines()[0],
        "buying-label",
        "Training: the buying label per customer or per order",
        measure,
        _markdown,
    )


def _markdown(results: list[dict[str, Any]]) -> str:
    lines = [
        "`.venv/bin/python bench/bench_buying_label.py --months 24 36` — the buying label the design "
        "first had (per customer: any COD order in the 6 months fails) and the training job's (per COD "
        "order: each COD order in the 6 months, 1 when it fails), on the same training snapshots and "
        f"holdout as bench_training.py. The training job's zoo comparison ({SEARCH_SECONDS:g} s search) "
        "on each, out of time. This bench's per-order oracle knows the customer's COD reliability and "
        "the order's value and category (the training job's averages over the order's).",
        "",
        "| customers | world | label | training / holdout rows | bad rate, training snapshots → holdout "
        "| oracle AUC | ceiling AUC | selected | AUC | gap to oracle | calibration error (asked ≤ 0.02) "
        "| ceiling's | oracle's | ceiling with 24 months' history: AUC | its calibration error |",
        "| ---: | ---: | --- " + "| ---: " * 4 + "| --- " + "| ---: " * 7 + "|",
    ]
    names = {"per_customer": "per customer (first design)", "per_order": "per COD order"}
    for r in sorted(results, key=lambda r: (r["months"], r["customers"])):
        for name, t in r["labels"].items():
            rates = [rate for _, rate in sorted(t["bad_rate"].items())]
            lines.append(
                f"| {r['customers']:,} | {r['months']} months | {names[name]} "
                f"| {t['rows'][0]:,} / {t['rows'][1]:,} "
                f"| {' '.join(f'{x:.3f}' for x in rates[:-1])} → {rates[-1]:.3f} "
                f"| {t['oracle_auc']:.4f} | {t['ceiling_auc']:.4f} | {t['selected']} "
                f"| {t['selected_auc']:.4f} "
                f"| {t['oracle_auc'] - t['selected_auc']:.4f} | {t['selected_calibration_error']:.4f} "
                f"| {t['ceiling_calibration_error']:.4f} | {t['oracle_calibration_error']:.4f} "
                f"| {t['ceiling_with_24_months_auc']:.4f} "
                f"| {t['ceiling_with_24_months_calibration_error']:.4f} |"
            )
    lines += [
        "",
        "Holdout customers by the COD orders they placed in the 6 months after the snapshot:",
        "",
        "| customers | world | COD orders in the 6 months | customers "
        "| with a failed COD order (the per-customer label) "
        "| COD orders that failed | true failure probability of their orders |",
        "| ---: | ---: | --- | ---: | ---: | ---: | ---: |",
    ]
    for r in sorted(results, key=lambda r: (r["months"], r["customers"])):
        for band in r["by_orders_ahead"]:
            lines.append(
                f"| {r['customers']:,} | {r['months']} months | {band['orders']} | {band['customers']:,} "
                f"| {band['customers_with_a_failure']:.3f} | {band['orders_failed']:.3f} "
                f"| {band['true_order_failure_probability']:.3f} |"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
