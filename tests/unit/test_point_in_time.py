"""Point-in-time correctness: whatever happens after the snapshot T, features_as_of(T) stay the same.

Every source row is modelled as an entity with a history of versions (the time each became true).
Mining at time M puts into the lake what the source showed at M: each entity's latest version
with time <= M. The lake accumulates minings; the warehouse loads them in order, as in production.
A warehouse mined at T (or a little after) and the same warehouse mined again later must give the
same features as of T; labels may change, features must not.
"""

import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from credo.features import FEATURE_NAMES
from credo.warehouse import TABLE_KEYS, build_features, create_tables
from credo.warehouse.duckdb import DuckDBWarehouse
from tests.warehouse_rows import load_rows, registration_row

T = date(2024, 6, 1)
MIDNIGHT = datetime(2024, 6, 1)
Row = dict[str, Any]


def at(day: float) -> datetime:
    """The moment `day` days after the snapshot's midnight (negative: before it)."""
    return MIDNIGHT + timedelta(days=day)


@dataclass
class Entity:
    """One source row over time: (moment it became true, the row as the source then showed it)."""

    table: str
    versions: list[tuple[datetime, Row]] = field(default_factory=list)

    def as_of(self, moment: datetime) -> Row | None:
        shown = [row for since, row in self.versions if since <= moment]
        return shown[-1] if shown else None


def mine(entities: Iterable[Entity], moment: datetime) -> dict[str, list[Row]]:
    """What the miners write to the lake at `moment`, per warehouse table."""
    lake: dict[str, list[Row]] = {}
    for entity in entities:
        row = entity.as_of(moment)
        if row is not None:
            lake.setdefault(entity.table, []).append(row)
    return lake


def features_after_each_mining(entities: Sequence[Entity], minings: Sequence[datetime]) -> list[list[Row]]:
    """Load each mining in turn into one warehouse; the features (no labels) as of T after each load."""
    snapshots = []
    with tempfile.TemporaryDirectory() as scratch, DuckDBWarehouse() as warehouse:
        create_tables(warehouse)
        for moment in minings:
            for table, rows in mine(entities, moment).items():
                load_rows(warehouse, Path(scratch), table, rows)
            features = build_features(warehouse, T).select(["token", "snapshot_date", *FEATURE_NAMES])
            snapshots.append(features.to_pylist())
    return snapshots


# Entity builders. Days are relative to T's midnight.


def registration(token: str, registered: float, *changes: tuple[float, Row]) -> Entity:
    base: Row = registration_row(token, at(registered))
    entity = Entity("registrations", [(at(registered), base)])
    for day, overrides in changes:
        previous = entity.versions[-1][1]
        entity.versions.append((at(day), {**previous, **overrides, "updated_at": at(day)}))
    return entity


def postpaid(day: float, limit: float = 20_000.0) -> Row:
    return {"is_postpaid": True, "postpaid_opened_at": at(day), "postpaid_limit": limit}


def order(
    order_id: str,
    token: str,
    placed: float,
    method: str,
    *statuses: tuple[float, str],
    amount: float = 1000.0,
    category: str = "fashion",
) -> Entity:
    row: Row = {
        "order_id": order_id,
        "token": token,
        "placed_at": at(placed),
        "updated_at": at(placed),
        "category": category,
        "item_count": 1,
        "amount": amount,
        "payment_method": method,
        "status": "placed",
        "delivery_city_tier": 2,
        "emi_tenure_months": 6 if method == "emi" else None,
    }
    entity = Entity("orders", [(at(placed), row)])
    for day, status in statuses:
        entity.versions.append((at(day), {**row, "status": status, "updated_at": at(day)}))
    return entity


def bill(
    bill_id: str,
    token: str,
    stated: int,
    paid: float | None,
    *,
    account: str = "postpaid",
    amount: float = 900.0,
) -> Entity:
    """A statement dated `stated` (whole days; it exists from that midnight), due 14 days later."""
    row: Row = {
        "bill_id": bill_id,
        "token": token,
        "account_type": account,
        "order_id": None,
        "statement_date": at(stated).date(),
        "due_date": at(stated + 14).date(),
        "amount_due": amount,
        "amount_paid": 0.0,
        "paid_at": None,
        "days_past_due": 0,
        "outstanding_balance": amount,
        "updated_at": at(stated),
    }
    entity = Entity("payments", [(at(stated), row)])
    if paid is not None:
        paid_row = {**row, "amount_paid": amount, "paid_at": at(paid), "outstanding_balance": 0.0}
        entity.versions.append((at(paid), {**paid_row, "updated_at": at(paid)}))
    return entity


def ad(
    event_id: str,
    token: str,
    sent: float,
    clicked: float | None = None,
    bought: tuple[str, float] | None = None,
) -> Entity:
    """An ad; `bought` = (order id, day it was placed): the ad system learns of it then."""
    row: Row = {
        "event_id": event_id,
        "token": token,
        "campaign_id": "C1",
        "channel": "push",
        "sent_at": at(sent),
        "clicked_at": None,
        "purchased_order_id": None,
        "updated_at": at(sent),
    }
    entity = Entity("ad_events", [(at(sent), row)])
    if clicked is not None:
        row = {**row, "clicked_at": at(clicked), "updated_at": at(clicked)}
        entity.versions.append((at(clicked), row))
        if bought is not None:
            entity.versions.append((at(bought[1]), {**row, "purchased_order_id": bought[0]}))
    return entity


def match(token: str, registry: str, computed: float, confidence: float) -> Entity:
    matched = confidence > 0
    row: Row = {
        "token": token,
        "registry": registry,
        "matched": matched,
        "match_confidence": confidence,
        "candidates": 2 if matched else 0,
        "category": "retail" if matched else None,
        "turnover_band": "medium" if matched else None,
        "registered_on": date(2019, 4, 1) if matched else None,
        "updated_at": at(computed),
    }
    return Entity("reference_matches", [(at(computed), row)])


def report(token: str, looked_up: float, status: str, score: int = 700) -> Entity:
    hit = status == "hit"
    row: Row = {
        "token": token,
        "status": status,
        "bureau_score": score if hit else None,
        "score_band": "B" if hit else None,
        "tradelines": 4 if hit else None,
        "enquiries_6m": 2 if hit else None,
        "max_dpd_24m": 30 if hit else None,
        "updated_at": at(looked_up),
    }
    return Entity("bureau_reports", [(at(looked_up), row)])


# A history before T with something still open at T in every source.
BEFORE_T: list[Entity] = [
    registration("t_a", -400, (-200, postpaid(-200))),
    registration("t_b", -300),
    order("O1", "t_a", -20, "cod", (-12, "rto"), amount=700.0),
    order("O2", "t_a", -50, "card", (-45, "delivered"), category="books"),
    order("O3", "t_a", -3, "cod"),  # in transit at T
    order("O4", "t_b", -10, "emi", (-6, "delivered"), amount=9000.0),
    order("O5", "t_b", -90, "wallet", (-80, "delivered")),
    bill("B1", "t_a", -45, -28),
    bill("B2", "t_a", -15, None),  # stated before T, unpaid at T
    ad("A1", "t_a", -30, -29.5, ("O1", -20)),
    ad("A2", "t_b", -5),  # not clicked at T
    match("t_a", "business", -60, 0.9),
    report("t_a", -100, "hit", 710),
    report("t_b", -100, "no_hit"),
]

# Each kind of change after T, as entities (or extra versions of the entities above) dated after T.
AFTER_T: dict[str, list[Entity]] = {
    "orders placed after T": [
        order("O6", "t_a", 2, "cod", (9, "rto")),
        order("O7", "t_b", 0, "card"),  # exactly at T is not before it
    ],
    "status updates after T": [
        order("O3", "t_a", -3, "cod", (4, "rto")),
        order("O2", "t_a", -50, "card", (-45, "delivered"), (20, "returned"), category="books"),
        order("O4", "t_b", -10, "emi", (-6, "delivered"), (15, "returned"), amount=9000.0),
    ],
    "bills stated, due and paid after T": [
        bill("B2", "t_a", -15, 40),
        bill("B3", "t_a", 16, None),
        bill("B4", "t_b", 5, 6, account="emi"),
    ],
    "ad sends and clicks after T": [
        ad("A2", "t_b", -5, 1, ("O8", 2)),
        ad("A3", "t_a", 3, 3.5),
        order("O8", "t_b", 2, "upi"),
    ],
    "bureau reports after T": [report("t_a", 10, "no_hit"), report("t_b", 20, "hit", 800)],
    "reference matches after T": [match("t_a", "business", 30, 0.0), match("t_b", "professional", 1, 0.8)],
    "registration versions after T": [
        registration(
            "t_a", -400, (-200, postpaid(-200)), (40, {"is_premium_member": True, "postpaid_limit": 5.0})
        ),
        registration("t_b", -300, (1, postpaid(1))),
        registration("t_c", 3),  # registers after T
    ],
}

MINED_AT_T_AND_LATER = (at(0), at(200))


def with_changes(changes: list[Entity]) -> list[Entity]:
    """BEFORE_T with the changed entities replacing their earlier selves (same table and key)."""

    def key(entity: Entity) -> tuple[Any, ...]:
        row = entity.versions[0][1]
        return (entity.table, *(row[k] for k in TABLE_KEYS[entity.table] if k != "updated_at"))

    replaced = {key(e) for e in changes if e.table in ("orders", "payments", "ad_events", "registrations")}
    return [e for e in BEFORE_T if key(e) not in replaced] + changes


@pytest.fixture(scope="module")
def features_mined_at_t() -> list[Row]:
    (features,) = features_after_each_mining(BEFORE_T, [at(0)])
    return features


def test_given_the_history_before_t_then_features_see_it(features_mined_at_t: list[Row]) -> None:
    rows = {row["token"]: row for row in features_mined_at_t}
    assert set(rows) == {"t_a", "t_b"}
    assert rows["t_a"]["orders_placed_in_12months"] == 3
    assert rows["t_a"]["cod_refused_in_6months"] == 1
    assert rows["t_a"]["postpaid_outstanding"] == 900.0  # B2
    assert rows["t_a"]["purchase_after_click_rate_in_180days"] is not None


@pytest.mark.parametrize("kind", [*AFTER_T, "everything at once"])
def test_given_data_changed_after_t_when_features_rebuilt_then_features_as_of_t_are_unchanged(
    kind: str, features_mined_at_t: list[Row]
) -> None:
    changes = (
        [e for entities in AFTER_T.values() for e in entities]
        if kind == "everything at once"
        else AFTER_T[kind]
    )

    at_t, later = features_after_each_mining(with_changes(changes), MINED_AT_T_AND_LATER)

    assert at_t == features_mined_at_t
    assert later == features_mined_at_t


def test_given_data_from_before_t_arriving_late_then_features_change(features_mined_at_t: list[Row]) -> None:
    """The control: the comparison above does notice a difference when the past itself differs."""
    late_news = [order("O9", "t_b", -2, "cod", (-1, "cancelled_after_dispatch"))]

    (rebuilt,) = features_after_each_mining(with_changes(late_news), [at(200)])

    assert rebuilt != features_mined_at_t


# Generated histories: random events around T, mined once at or after T, then again later.

days = st.floats(min_value=-400, max_value=120, allow_nan=False).map(lambda d: round(d * 4) / 4)
delays = st.floats(min_value=0, max_value=40, allow_nan=False).map(lambda d: round(d * 4) / 4)


@st.composite
def histories(draw: st.DrawFn) -> list[Entity]:
    entities: list[Entity] = []
    for n in range(draw(st.integers(1, 3))):
        token = f"t{n}"
        registered = draw(st.floats(-500, 30).map(round))
        changes = [
            (registered + draw(delays) + 1, {"is_premium_member": draw(st.booleans())}) for _ in range(2)
        ]
        if draw(st.booleans()):
            changes.append((registered + draw(delays) + 1, postpaid(registered + 1)))
        entities.append(registration(token, registered, *sorted(changes, key=lambda c: c[0])))
        placed_days = []
        for i in range(draw(st.integers(0, 4))):
            placed = draw(days)
            resolved = placed + draw(delays)
            outcome = draw(
                st.sampled_from(["delivered", "rto", "cancelled_after_dispatch", "returned", None])
            )
            statuses = (
                [] if outcome is None else [(resolved, "delivered" if outcome == "returned" else outcome)]
            )
            if outcome == "returned":
                statuses.append((resolved + draw(delays) + 0.25, "returned"))
            method = draw(st.sampled_from(["cod", "card", "emi", "wallet"]))
            entities.append(order(f"{token}-O{i}", token, placed, method, *statuses, amount=100.0 * (i + 1)))
            placed_days.append((f"{token}-O{i}", placed))
        for i in range(draw(st.integers(0, 3))):
            stated = draw(st.integers(-400, 100))
            paid = draw(st.none() | delays.map(lambda d, s=stated: s + 14 + d - 10))
            entities.append(
                bill(f"{token}-B{i}", token, stated, paid, account=draw(st.sampled_from(["postpaid", "emi"])))
            )
        for i in range(draw(st.integers(0, 3))):
            sent = draw(days)
            clicked = draw(st.none() | delays.map(lambda d, s=sent: s + d / 10))
            later_orders = [o for o in placed_days if clicked is not None and clicked < o[1] <= clicked + 7]
            entities.append(
                ad(f"{token}-A{i}", token, sent, clicked, later_orders[0] if later_orders else None)
            )
        # one row per natural key: (token, registry, updated_at) and (token, updated_at)
        for registry in ("business", "professional"):
            for computed in draw(st.lists(days, max_size=2, unique=True)):
                entities.append(match(token, registry, computed, draw(st.sampled_from([0.0, 0.6, 0.95]))))
        for looked_up in draw(st.lists(days, max_size=3, unique=True)):
            status = draw(st.sampled_from(["hit", "no_hit", "unavailable"]))
            entities.append(report(token, looked_up, status, draw(st.integers(300, 900))))
    return entities


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(history=histories(), first=st.integers(0, 60), second=st.integers(1, 300))
def test_given_generated_histories_when_mined_again_later_then_features_as_of_t_are_unchanged(
    history: list[Entity], first: int, second: int
) -> None:
    mined_once, mined_again = features_after_each_mining(history, [at(first), at(first + second)])

    assert mined_again == mined_once
