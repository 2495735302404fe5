"""Generate a whole synthetic world, chunk by chunk, deterministic for a seed."""

import json
import time
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from tqdm import tqdm

from credo.labels import order_copies
from credo.synthetic import commerce as com
from credo.synthetic.arrays import padded, strcat
from credo.synthetic.calendar import WorldCalendar
from credo.synthetic.credit import LABEL_MONTHS, Distress, Ledger, build_ledger, credit_truth, draw_distress
from credo.synthetic.marketing import AdEvents, draw_ads
from credo.synthetic.people import CITY_NAMES, TRAITS, Identity, People, draw_identity, draw_people
from credo.synthetic.registries import BUREAU_COLUMNS, bureau_rows, registry_rows
from credo.synthetic.writer import CsvAppender, OperationalDatabase, ParquetAppender

CHUNK_CUSTOMERS = 50_000  # part of the seed's meaning: changing it changes the world
HISTORY_MONTHS = 6  # features look back at least this far from the first snapshot


@dataclass(frozen=True)
class WorldConfig:
    customers: int = 20_000
    seed: int = 7
    start: date = date(2024, 10, 1)
    months: int = 24

    def calendar(self) -> WorldCalendar:
        return WorldCalendar(self.start, self.months)

    def snapshot_months(self) -> range:
        """Months t whose full 6-month label window (and its order outcomes) lies inside the world."""
        return range(HISTORY_MONTHS, self.months - LABEL_MONTHS)


@dataclass
class _Realism:
    credit: dict[int, list[tuple[NDArray[np.float64], NDArray[np.bool_]]]] = field(default_factory=dict)
    buying: dict[int, list[tuple[NDArray[np.float64], NDArray[np.bool_]]]] = field(default_factory=dict)
    # per COD order, kept per customer (probability, COD orders, failed) until the summary expands it
    buying_orders: dict[int, list[tuple[NDArray[np.float64], NDArray[np.int64], NDArray[np.int64]]]] = field(
        default_factory=dict
    )
    cod_orders: int = 0
    cod_failed: int = 0
    value_sample: list[NDArray[np.float64]] = field(default_factory=list)
    orders_per_customer: list[NDArray[np.int64]] = field(default_factory=list)


def generate_world(config: WorldConfig, out: Path, *, progress: bool = True) -> dict[str, Any]:
    """Write every source of the world under `out` and return its summary (also in out/world.json)."""
    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    cal = config.calendar()
    sinks = _Sinks(out, cal)
    realism = _Realism()
    counts = dict.fromkeys(
        ("customers", "orders", "bills", "ad_events", "bureau_records", "registry_records"), 0
    )
    bar = tqdm(total=config.customers, unit="customer", desc="world", disable=not progress)
    for chunk, first in enumerate(range(0, config.customers, CHUNK_CUSTOMERS)):
        rng = np.random.default_rng([config.seed, chunk])
        n = min(CHUNK_CUSTOMERS, config.customers - first)
        people = draw_people(rng, first, n, cal)
        who = draw_identity(rng, people, cal)
        distress = draw_distress(rng, people, cal)
        orders = com.draw_orders(rng, people, distress, cal)
        ledger = _ledger(rng, people, distress, orders, cal)
        ads = draw_ads(rng, people, orders, cal)
        sinks.write_chunk(rng, people, who, orders, ledger, ads)
        _record_truth(sinks, realism, config, cal, people, distress, orders, ledger)
        realism.cod_orders += int((orders.method == com.COD).sum())
        realism.cod_failed += int(
            ((orders.method == com.COD) & np.isin(orders.outcome, (com.CANCELLED_AFTER, com.RTO))).sum()
        )
        realism.value_sample.append(rng.choice(orders.amount, min(orders.size, 20_000), replace=False))
        realism.orders_per_customer.append(np.bincount(orders.customer, minlength=n))
        for key, value in (
            ("customers", n),
            ("orders", orders.size),
            ("bills", ledger.size),
            ("ad_events", ads.size),
        ):
            counts[key] += value
        bar.update(n)
    bar.set_description("world: indexing")
    counts["bureau_records"], counts["registry_records"] = sinks.bureau_count, sinks.registry_count
    sinks.close()
    bar.close()
    summary = {
        "config": {**asdict(config), "start": config.start.isoformat(), "end": cal.end.isoformat()},
        "snapshots": [cal.month_date(t).isoformat() for t in config.snapshot_months()],
        "counts": counts,
        "realism": _realism_summary(realism, cal),
        "seconds": round(time.perf_counter() - started, 1),
    }
    (out / "world.json").write_text(json.dumps(summary, indent=2))
    return summary


def _ledger(
    rng: np.random.Generator, people: People, distress: Distress, orders: com.Orders, cal: WorldCalendar
) -> Ledger:
    delivered = orders.outcome == com.DELIVERED
    postpaid = (orders.method == com.POSTPAID) & delivered
    spend = np.zeros((people.size, cal.months))
    np.add.at(spend, (orders.customer[postpaid], orders.month[postpaid]), orders.amount[postpaid])
    emi = (orders.method == com.EMI) & delivered
    return build_ledger(
        rng,
        people,
        distress,
        cal,
        postpaid_spend=spend,
        emi_customer=orders.customer[emi],
        emi_order=np.nonzero(emi)[0],
        emi_month=orders.month[emi],
        emi_amount=orders.amount[emi],
        emi_tenure=orders.emi_tenure[emi],
    )


def _record_truth(
    sinks: "_Sinks",
    realism: _Realism,
    config: WorldConfig,
    cal: WorldCalendar,
    people: People,
    distress: Distress,
    orders: com.Orders,
    ledger: Ledger,
) -> None:
    """Evaluation-only truth: the true probability of each bad outcome per snapshot."""
    ids = people.customer_id
    expectations = com.cod_expectations(people)
    for t in config.snapshot_months():
        registered = people.registered_day < cal.month_start[t]
        credit = credit_truth(people, distress, ledger, cal, t)
        buying = com.buying_truth(people, distress, orders, expectations, cal, t)
        credit_pop, buying_pop = credit.in_population & registered, buying.in_population & registered
        realism.credit.setdefault(t, []).append((credit.probability[credit_pop], credit.bad[credit_pop]))
        realism.buying.setdefault(t, []).append((buying.probability[buying_pop], buying.bad[buying_pop]))
        realism.buying_orders.setdefault(t, []).append(
            (
                buying.order_probability[buying_pop],
                buying.cod_orders[buying_pop],
                buying.failed_orders[buying_pop],
            )
        )
        sinks.oracle.append(
            {
                "customer_id": ids[registered],
                "snapshot_date": np.full(int(registered.sum()), cal.month_date(t).isoformat()),
                "p_credit_bad": credit.probability[registered],
                "in_credit_population": credit_pop[registered],
                "credit_bad": credit.bad[registered],
                "p_buying_bad": buying.probability[registered],
                "in_buying_population": buying_pop[registered],
                "buying_bad": buying.bad[registered],
                "p_cod_order_failed": buying.order_probability[registered],
                "buying_cod_orders": buying.cod_orders[registered],
                "buying_failed_orders": buying.failed_orders[registered],
            }
        )
    sinks.traits.append(
        {
            "customer_id": ids,
            **{t: getattr(people, t) for t in TRAITS},
            "order_rate": people.order_rate,
            "distress_onset_month": distress.onset_month,
        }
    )


def roc_auc(score: NDArray[np.float64], label: NDArray[np.bool_]) -> float:
    """Area under the ROC curve by the rank-sum (Mann–Whitney) statistic, ties averaged."""
    order = np.argsort(score, kind="mergesort")
    sorted_score = score[order]
    ranks = np.empty(len(score))
    _, first, counts = np.unique(sorted_score, return_index=True, return_counts=True)
    ranks[order] = np.repeat(first + (counts + 1) / 2, counts)
    positives = int(label.sum())
    negatives = len(label) - positives
    if positives == 0 or negatives == 0:
        return float("nan")
    return float((ranks[label].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def _per_cod_order(
    probability: NDArray[np.float64], cod_orders: NDArray[np.int64], failed_orders: NDArray[np.int64]
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """Per-customer counts as one (probability, failed) pair per COD order, as training's rows are made."""
    source, failed = order_copies(cod_orders, failed_orders)
    return probability[source], failed


def _realism_summary(realism: _Realism, cal: WorldCalendar) -> dict[str, Any]:
    def per_snapshot(parts: dict[int, list[tuple[NDArray[np.float64], NDArray[np.bool_]]]]) -> dict[str, Any]:
        out = {}
        for t, pieces in parts.items():
            p = np.concatenate([a for a, _ in pieces])
            y = np.concatenate([b for _, b in pieces])
            out[cal.month_date(t).isoformat()] = {
                "population": len(y),
                "bad_rate": round(float(y.mean()), 4) if len(y) else None,
                "oracle_auc": round(roc_auc(p, y), 4),
            }
        return out

    per_customer = np.concatenate(realism.orders_per_customer)
    values = np.concatenate(realism.value_sample)
    top = np.sort(per_customer)[::-1]
    return {
        "credit_bad_90dpd_6m": per_snapshot(realism.credit),
        "buying_bad_cod_failure_6m": per_snapshot(realism.buying),
        "buying_bad_per_cod_order_6m": per_snapshot(
            {t: [_per_cod_order(*counts) for counts in parts] for t, parts in realism.buying_orders.items()}
        ),
        "cod_order_failure_rate": round(realism.cod_failed / max(realism.cod_orders, 1), 4),
        "orders_per_customer": {
            "mean": round(float(per_customer.mean()), 2),
            "p50": float(np.percentile(per_customer, 50)),
            "p99": float(np.percentile(per_customer, 99)),
            "top_1pct_share_of_orders": round(
                float(top[: max(len(top) // 100, 1)].sum()) / max(int(top.sum()), 1), 4
            ),
        },
        "order_value_inr": {
            "p50": round(float(np.percentile(values, 50)), 2),
            "p90": round(float(np.percentile(values, 90)), 2),
            "p99": round(float(np.percentile(values, 99)), 2),
        },
    }


class _Sinks:
    """Every file of the world, appended chunk by chunk."""

    def __init__(self, out: Path, cal: WorldCalendar) -> None:
        self.cal = cal
        self.db = OperationalDatabase(out / "operational.sqlite")
        drops = out / "drops"
        self.ads = [
            CsvAppender(drops / "ads" / f"ad_events_{cal.month_date(m):%Y-%m}.csv") for m in range(cal.months)
        ]
        self.business = ParquetAppender(drops / "reference" / "business_registry.parquet")
        self.professional = CsvAppender(drops / "reference" / "professional_registry.csv")
        self.bureau = ParquetAppender(out / "bureau" / "bureau_fixture.parquet")
        evaluation = out / "evaluation"
        self.oracle = ParquetAppender(evaluation / "oracle.parquet")
        self.traits = ParquetAppender(evaluation / "traits.parquet")
        self.links = ParquetAppender(evaluation / "registry_links.parquet")
        self.bureau_count = 0
        self.registry_count = 0

    def write_chunk(
        self,
        rng: np.random.Generator,
        people: People,
        who: Identity,
        orders: com.Orders,
        ledger: Ledger,
        ads: AdEvents,
    ) -> None:
        cal, ids = self.cal, people.customer_id
        updated = np.where(
            people.is_postpaid,
            np.maximum(people.registered_day, people.postpaid_open_day),
            people.registered_day,
        )
        self.db.insert(
            "registrations",
            {
                "customer_id": ids,
                "registered_at": cal.to_iso(people.registered_day),
                "updated_at": cal.to_iso(updated),
                "full_name": who.full_name,
                "email": who.email,
                "phone": who.phone,
                "street_address": who.street_address,
                "city": CITY_NAMES[people.city],
                "pincode": who.pincode,
                "date_of_birth": who.date_of_birth,
                "device": people.device,
                "phone_verified": people.phone_verified.astype(int),
                "is_premium_member": people.is_premium.astype(int),
                "is_auto_billing": people.is_auto_billing.astype(int),
                "is_postpaid": people.is_postpaid.astype(int),
                "postpaid_opened_at": _nullable(
                    cal.to_iso(np.where(people.is_postpaid, people.postpaid_open_day, 0)), people.is_postpaid
                ),
                "postpaid_limit": people.postpaid_limit,
            },
        )
        order_ids = strcat(padded(people.index[orders.customer], 8, "ORD"), "-", padded(orders.sequence, 5))
        resolved = np.isfinite(orders.resolved_day)
        # same 3-digit prefix, another delivery area
        other_pincode = strcat(
            who.pincode[orders.customer].astype("<U3"), padded(rng.integers(0, 1000, orders.size), 3)
        )
        self.db.insert(
            "orders",
            {
                "order_id": order_ids,
                "customer_id": ids[orders.customer],
                "placed_at": cal.to_iso(orders.placed_day),
                "updated_at": cal.to_iso(np.where(resolved, orders.resolved_day, orders.placed_day)),
                "category": com.CATEGORIES[orders.category],
                "item_count": orders.item_count,
                "amount": orders.amount,
                "payment_method": com.METHODS[orders.method],
                "status": np.where(resolved, com.OUTCOMES[orders.outcome], "placed"),
                "delivery_pincode": np.where(
                    rng.random(orders.size) < 0.1, other_pincode, who.pincode[orders.customer]
                ),
                "emi_tenure_months": _nullable(orders.emi_tenure, orders.emi_tenure > 0),
            },
        )
        paid = np.isfinite(ledger.paid_day)
        month_tag = np.array([f"{cal.month_date(m):%Y%m}" for m in range(cal.months)])[ledger.month]
        emi_order_ids = order_ids[np.maximum(ledger.order, 0)]
        bill_ids = np.where(
            ledger.is_emi,
            strcat("EMI-", emi_order_ids, "-", padded(ledger.instalment_number, 2)),
            strcat("PP-", ids[ledger.customer], "-", month_tag),
        )
        dpd = np.floor(np.where(paid, ledger.paid_day, cal.end_day) - ledger.due_day).clip(0)
        self.db.insert(
            "payments",
            {
                "bill_id": bill_ids,
                "customer_id": ids[ledger.customer],
                "account_type": np.where(ledger.is_emi, "emi", "postpaid"),
                "order_id": _nullable(emi_order_ids, ledger.is_emi),
                "statement_date": cal.to_iso_date(ledger.statement_day),
                "due_date": cal.to_iso_date(ledger.due_day),
                "amount_due": ledger.amount_due,
                "amount_paid": np.where(paid, ledger.amount_due, 0.0),
                "paid_at": _nullable(cal.to_iso(np.where(paid, ledger.paid_day, 0)), paid),
                "days_past_due": dpd.astype(np.int64),
                "outstanding_balance": ledger.outstanding,
                "updated_at": cal.to_iso(np.where(paid, ledger.paid_day, cal.end_day)),
            },
        )
        self._write_ads(people, ads, order_ids)
        for registry, sink in (("business", self.business), ("professional", self.professional)):
            rows = registry_rows(rng, people, who, cal, registry=registry)
            if rows.links or rows.columns["record_id"]:
                sink.append(rows.columns)
                self.registry_count += len(rows.columns["record_id"])
            if rows.links:
                record_ids, customer_ids = zip(*rows.links, strict=True)
                self.links.append({"record_id": list(record_ids), "customer_id": list(customer_ids)})
        bureau = bureau_rows(rng, people, who)
        self.bureau.append({k: bureau[k] for k in BUREAU_COLUMNS})
        self.bureau_count += len(bureau["bureau_id"])

    def _write_ads(self, people: People, ads: AdEvents, order_ids: NDArray[np.str_]) -> None:
        cal = self.cal
        clicked = np.isfinite(ads.clicked_day)
        bought = ads.purchased_order >= 0
        month_tag = np.array([f"{cal.month_date(m):%Y-%m}" for m in range(cal.months)])
        event_ids = strcat(padded(people.index[ads.customer], 8, "AD"), "-", padded(ads.sequence, 5))
        for m in range(cal.months):
            rows = ads.month == m
            if not rows.any():
                continue
            self.ads[m].append(
                {
                    "event_id": event_ids[rows],
                    "customer_id": people.customer_id[ads.customer[rows]],
                    "campaign_id": strcat(f"CMP-{month_tag[m]}-", ads.campaign[rows].astype(str)),
                    "channel": ads.channel[rows],
                    "sent_at": cal.to_iso(ads.sent_day[rows]),
                    "clicked_at": _nullable(
                        cal.to_iso(np.where(clicked, ads.clicked_day, 0)[rows]), clicked[rows]
                    ),
                    "purchased_order_id": _nullable(
                        order_ids[np.maximum(ads.purchased_order[rows], 0)], bought[rows]
                    ),
                }
            )

    def close(self) -> None:
        self.db.close()
        sinks: list[CsvAppender | ParquetAppender] = [
            *self.ads,
            self.business,
            self.professional,
            self.bureau,
            self.oracle,
            self.traits,
            self.links,
        ]
        for sink in sinks:
            sink.close()


def _nullable(values: NDArray[Any], present: NDArray[np.bool_]) -> NDArray[np.object_]:
    out = values.astype(object)
    out[~present] = None
    return out
