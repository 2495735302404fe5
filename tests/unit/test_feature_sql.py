"""The warehouse SQL on DuckDB with hand-made rows whose answers are known.

Snapshot 2024-06-01 throughout (T − 30 days = 05-02, T − 90 days = 03-03, T − 180 days = 2023-12-04,
T − 6 months = 2023-12-01, T − 12 months = 2023-06-01). Rows are in the warehouse's (already
pseudonymised) shape.
"""

import math
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from credo.features import FEATURE_NAMES, FEATURES, NEVER_MISSING
from credo.sources import SOURCES
from credo.warehouse import (
    FEATURE_TABLE_COLUMNS,
    SOURCE_TABLES,
    build_features,
    build_training_set,
    count_rows,
    create_tables,
    load_lake,
    table_schema,
)
from credo.warehouse.duckdb import DuckDBWarehouse
from credo.warehouse.sql import FEATURES_SQL, ambiguous_divisions, read_sql
from tests.warehouse_rows import load_rows, registration_row

AS_OF = date(2024, 6, 1)


@pytest.fixture
def warehouse() -> Iterator[DuckDBWarehouse]:
    with DuckDBWarehouse() as wh:
        create_tables(wh)
        yield wh


def person(token: str, **overrides: Any) -> dict[str, Any]:
    row = registration_row(token, datetime(2022, 6, 15, 10))
    if overrides.get("postpaid_opened_at") is not None:
        row.update(is_postpaid=True, postpaid_limit=10_000.0)
    return {**row, **overrides}


def order(
    order_id: str,
    token: str,
    placed: str,
    updated: str,
    method: str,
    status: str,
    amount: float = 1000.0,
    category: str = "fashion",
) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "token": token,
        "placed_at": datetime.fromisoformat(placed),
        "updated_at": datetime.fromisoformat(updated),
        "category": category,
        "item_count": 1,
        "amount": amount,
        "payment_method": method,
        "status": status,
        "delivery_city_tier": 2,
        "emi_tenure_months": 6 if method == "emi" else None,
    }


def bill(
    bill_id: str,
    token: str,
    due: str,
    paid: str | None,
    *,
    account: str = "postpaid",
    amount: float = 1000.0,
    statement: str | None = None,
) -> dict[str, Any]:
    due_date = date.fromisoformat(due)
    return {
        "bill_id": bill_id,
        "token": token,
        "account_type": account,
        "order_id": "O-emi" if account == "emi" else None,
        "statement_date": date.fromisoformat(statement) if statement else due_date.replace(day=1),
        "due_date": due_date,
        "amount_due": amount,
        "amount_paid": amount if paid else 0.0,
        "paid_at": datetime.fromisoformat(paid) if paid else None,
        "days_past_due": 0,
        "outstanding_balance": 0.0,
        "updated_at": datetime.fromisoformat(paid) if paid else datetime(2024, 12, 31),
    }


def ad(
    event_id: str, token: str, sent: str, clicked: str | None = None, purchased: str | None = None
) -> dict[str, Any]:
    clicked_at = datetime.fromisoformat(clicked) if clicked else None
    sent_at = datetime.fromisoformat(sent)
    return {
        "event_id": event_id,
        "token": token,
        "campaign_id": "C1",
        "channel": "email",
        "sent_at": sent_at,
        "clicked_at": clicked_at,
        "purchased_order_id": purchased,
        "updated_at": clicked_at or sent_at,
    }


def match(
    token: str,
    registry: str,
    computed: str,
    confidence: float,
    *,
    turnover: str | None = None,
    registered_on: str | None = None,
) -> dict[str, Any]:
    matched = confidence > 0
    return {
        "token": token,
        "registry": registry,
        "matched": matched,
        "match_confidence": confidence,
        "candidates": 3 if matched else 0,
        "category": "retail" if matched else None,
        "turnover_band": turnover if matched else None,
        "registered_on": date.fromisoformat(registered_on) if registered_on else None,
        "updated_at": datetime.fromisoformat(computed),
    }


def report(token: str, looked_up: str, status: str, score: int | None = None) -> dict[str, Any]:
    hit = status == "hit"
    return {
        "token": token,
        "status": status,
        "bureau_score": score if hit else None,
        "score_band": "B" if hit else None,
        "tradelines": 3 if hit else None,
        "enquiries_6m": 1 if hit else None,
        "max_dpd_24m": 0 if hit else None,
        "updated_at": datetime.fromisoformat(looked_up),
    }


PEOPLE = [
    person("t_buyer", device="ios", email_domain_type="corporate"),
    person("t_late", registered_at=datetime(2022, 5, 1), postpaid_opened_at=datetime(2023, 1, 1)),
    person("t_overdue", postpaid_opened_at=datetime(2023, 1, 1)),
    person("t_emi"),
    person("t_emi_short"),
    person("t_good", postpaid_opened_at=datetime(2024, 1, 1)),
    person("t_pp_later", postpaid_opened_at=datetime(2024, 7, 1)),
    person("t_new", registered_at=datetime(2024, 6, 2)),
    # three versions: the one from January is current at the snapshot
    person("t_versions", updated_at=datetime(2022, 6, 15, 10)),
    person("t_versions", updated_at=datetime(2024, 1, 10), is_premium_member=True),
    person("t_versions", updated_at=datetime(2024, 7, 1), is_auto_billing=True),
    # registered before the snapshot but first mined after it: the earliest version
    person("t_mined_late", updated_at=datetime(2024, 8, 1), is_premium_member=True),
    person("t_mined_late", updated_at=datetime(2024, 9, 1)),
]

CAD, CBD = "cancelled_after_dispatch", "cancelled_before_dispatch"
ORDERS = [
    # id, token, placed, status set, method, status, amount, category
    # two COD orders refused 30 days before the snapshot
    ("O1", "t_buyer", "2024-04-25 10:00", "2024-05-02 10:00", "cod", "rto", 500.0, "fashion"),
    ("O2", "t_buyer", "2024-04-26 10:00", "2024-05-02 11:00", "cod", CAD, 700.0, "fashion"),
    # placed before, refused after the snapshot: at the snapshot it was still in transit
    ("O3", "t_buyer", "2024-05-20 10:00", "2024-06-05 10:00", "cod", "rto", 900.0, "fashion"),
    ("O4", "t_buyer", "2024-03-01 10:00", "2024-03-10 10:00", "wallet", "returned", 1200.0, "books"),
    ("O5", "t_buyer", "2024-05-10 10:00", "2024-05-11 10:00", "card", CBD, 300.0, "home"),
    # more than 6 months before; then in the label window, after it, and a card order after T
    ("O6", "t_buyer", "2023-10-01 10:00", "2023-10-05 10:00", "card", "delivered", 5000.0, "fashion"),
    ("O7", "t_buyer", "2024-07-01 10:00", "2024-07-05 10:00", "cod", "rto", 1000.0, "fashion"),
    ("O12", "t_buyer", "2024-09-10 10:00", "2024-09-14 10:00", "cod", "delivered", 800.0, "fashion"),
    ("O8", "t_good", "2024-08-01 10:00", "2024-08-03 10:00", "cod", "delivered", 1000.0, "fashion"),
    ("O9", "t_good", "2024-12-05 10:00", "2024-12-09 10:00", "cod", "rto", 1000.0, "fashion"),
    ("O11", "t_buyer", "2024-06-03 10:00", "2024-06-06 10:00", "card", "delivered", 1000.0, "fashion"),
    # a COD refusal 15 months before the snapshot: only the 24-month window sees it
    ("O14", "t_late", "2023-03-01 10:00", "2023-03-10 10:00", "cod", "rto", 800.0, "fashion"),
    # a COD order 26 months before the snapshot: outside every order window
    ("O13", "t_late", "2022-04-01 10:00", "2022-04-05 10:00", "cod", "delivered", 600.0, "fashion"),
    # EMI plans: running, finished, and undone before the snapshot
    ("E-run", "t_emi", "2024-03-15 10:00", "2024-03-20 10:00", "emi", "delivered", 9000.0, "mobiles"),
    ("E-done", "t_emi", "2023-01-15 10:00", "2023-01-20 10:00", "emi", "delivered", 9000.0, "mobiles"),
    ("E-undone", "t_emi", "2024-05-01 10:00", "2024-05-01 12:00", "emi", CBD, 1.0, "home"),
]

BILLS = [
    bill("B1", "t_late", "2024-01-15", "2024-02-24 10:00"),  # 40 days late
    bill("B2", "t_late", "2024-02-15", "2024-02-14 10:00"),
    bill("B3", "t_late", "2024-06-15", None, amount=3000.0),  # stated on 06-01, unpaid → 90 dpd in window
    bill("B4", "t_late", "2024-05-15", "2024-05-20 10:00"),  # 5 days late
    bill("B5", "t_late", "2023-05-15", "2023-07-01 10:00"),  # 47 days late, but > 12 months ago
    bill("B7", "t_late", "2022-05-15", "2022-07-30 10:00"),  # 76 days late, but > 24 months ago
    bill("B6", "t_overdue", "2024-05-15", None, amount=800.0),
    *(bill(f"E{m}", "t_emi", f"2024-{m:02d}-15", f"2024-{m:02d}-10 09:00", account="emi") for m in (6, 7, 8)),
    *(
        bill(f"S{m}", "t_emi_short", f"2024-{m:02d}-15", f"2024-{m:02d}-10 09:00", account="emi")
        for m in (6, 7)
    ),
    bill("G1", "t_good", "2024-07-15", "2024-08-01 10:00"),  # late, but far from 90 days
    bill("G2", "t_good", "2024-10-15", None),  # reaches 90 dpd on 2025-01-13, after the window
]

ADS = [
    ad("A1", "t_buyer", "2024-05-01 09:00", "2024-05-01 12:00", purchased="O5"),
    ad("A2", "t_buyer", "2024-05-30 09:00", "2024-05-31 10:00", purchased="O11"),  # bought after T
    ad("A3", "t_buyer", "2024-05-25 09:00", "2024-06-02 09:00"),  # clicked after T
    ad("A4", "t_buyer", "2024-05-28 09:00"),
    ad("A5", "t_buyer", "2023-10-01 09:00", "2023-10-01 10:00"),  # before the 180 days
    ad("A6", "t_buyer", "2024-06-05 09:00"),  # sent after T
    ad("A7", "t_late", "2024-05-10 09:00"),
    ad("A8", "t_good", "2023-09-01 09:00"),
    ad("A9", "t_pp_later", "2024-06-10 09:00", "2024-06-10 10:00"),
    ad("A10", "t_late", "2023-04-01 09:00", "2023-04-02 10:00"),  # clicked more than 12 months ago
]

MATCHES = [
    match("t_buyer", "business", "2024-01-10 00:00", 0.92, turnover="small", registered_on="2020-06-01"),
    match("t_buyer", "business", "2024-07-01 00:00", 0.99, turnover="large", registered_on="2020-06-01"),
    match("t_buyer", "professional", "2024-01-10 00:00", 0.0),
    match("t_late", "business", "2023-06-01 00:00", 0.7, turnover="medium", registered_on="2019-01-01"),
    match("t_late", "business", "2024-02-01 00:00", 0.0),
    match("t_good", "business", "2024-06-05 00:00", 0.8, turnover="micro"),
]

REPORTS = [
    report("t_buyer", "2024-02-01 10:00", "hit", 720),
    report("t_buyer", "2024-05-01 10:00", "unavailable"),
    report("t_buyer", "2024-06-10 10:00", "hit", 650),
    report("t_late", "2024-03-01 10:00", "no_hit"),
    report("t_overdue", "2024-01-01 10:00", "hit", 600),
    report("t_overdue", "2024-04-01 10:00", "no_hit"),
    report("t_good", "2024-05-01 10:00", "unavailable"),
]


@pytest.fixture
def world(warehouse: DuckDBWarehouse, tmp_path: Path) -> dict[str, dict[str, Any]]:
    tables = {
        "registrations": PEOPLE,
        "orders": [order(*row) for row in ORDERS],
        "payments": BILLS,
        "ad_events": ADS,
        "reference_matches": MATCHES,
        "bureau_reports": REPORTS,
    }
    for table, rows in tables.items():
        load_rows(warehouse, tmp_path, table, rows)
    return {row["token"]: row for row in build_features(warehouse, AS_OF).to_pylist()}


def test_given_snapshot_when_features_built_then_columns_are_exactly_the_contract(
    warehouse: DuckDBWarehouse,
) -> None:
    table = build_features(warehouse, AS_OF)

    assert table.column_names == [
        "token",
        "snapshot_date",
        *FEATURE_NAMES,
        "label_credit_bad",
        "label_buying_cod_orders",
        "label_buying_failed_orders",
        "in_credit_population",
        "in_buying_population",
    ]
    assert tuple(table.column_names) == FEATURE_TABLE_COLUMNS


def test_given_customer_registered_after_snapshot_then_no_row(world: dict[str, dict[str, Any]]) -> None:
    assert "t_new" not in world
    assert len(world) == 9
    assert {row["snapshot_date"] for row in world.values()} == {AS_OF}


def test_given_profile_then_age_and_tenure_are_point_in_time(world: dict[str, dict[str, Any]]) -> None:
    buyer, late = world["t_buyer"], world["t_late"]
    assert buyer["age"] == 31  # 30 at registration 2022-06-15; second anniversary not reached
    assert late["age"] == 32  # registered 2022-05-01: two anniversaries passed
    assert buyer["tenure_days"] == (AS_OF - date(2022, 6, 15)).days
    assert (buyer["device_ios"], buyer["email_corporate"], buyer["city_tier"]) == (1, 1, 2)
    assert (buyer["phone_verified"], buyer["is_premium_member"], buyer["is_auto_billing"]) == (1, 0, 0)


def test_given_cod_orders_refused_before_snapshot_then_counted_and_later_refusal_is_not(
    world: dict[str, dict[str, Any]],
) -> None:
    buyer = world["t_buyer"]
    assert buyer["cod_refused_in_6months"] == 2
    assert buyer["orders_placed_in_6months"] == 5
    assert buyer["orders_cod_in_6months"] == 3
    assert buyer["orders_placed_in_6months_via_epay"] == 1
    assert buyer["order_value_in_6months"] == pytest.approx(500 + 700 + 900 + 1200 + 300)
    assert buyer["orders_cancelled_in_6months"] == 2  # O2 after dispatch, O5 before
    assert buyer["orders_returned_in_6months"] == 1


def test_given_bills_then_repayment_features_use_only_the_last_12_months(
    world: dict[str, dict[str, Any]],
) -> None:
    late = world["t_late"]
    assert late["max_dpd_in_12months"] == 40
    assert late["bills_late_in_12months"] == 2
    assert late["postpaid_outstanding"] == pytest.approx(3000.0)
    assert late["is_postpaid"] == 1


def test_given_unpaid_overdue_bill_then_dpd_runs_to_snapshot(world: dict[str, dict[str, Any]]) -> None:
    overdue = world["t_overdue"]
    assert overdue["max_dpd_in_12months"] == (AS_OF - date(2024, 5, 15)).days
    assert overdue["postpaid_outstanding"] == pytest.approx(800.0)


def test_given_credit_population_rules_then_membership_is_as_specified(
    world: dict[str, dict[str, Any]],
) -> None:
    population = {token: row["in_credit_population"] for token, row in world.items()}
    assert population == {
        "t_buyer": False,  # no credit line
        "t_late": True,  # open postpaid, nothing overdue at the snapshot
        "t_overdue": False,  # a bill overdue and unpaid at the snapshot
        "t_emi": True,  # EMI due in June, July and August
        "t_emi_short": False,  # EMI due in two of the three months
        "t_good": True,
        "t_pp_later": False,  # postpaid opens after the snapshot
        "t_versions": False,
        "t_mined_late": False,
    }
    assert world["t_pp_later"]["is_postpaid"] == 0


def test_given_credit_outcomes_then_label_is_90_dpd_within_6_months(world: dict[str, dict[str, Any]]) -> None:
    assert world["t_late"]["label_credit_bad"] == 1
    assert world["t_good"]["label_credit_bad"] == 0  # paid 17 days late; 90 dpd falls after the window
    assert world["t_emi"]["label_credit_bad"] == 0
    assert world["t_overdue"]["label_credit_bad"] is None  # outside the population
    assert world["t_buyer"]["label_credit_bad"] is None


def test_given_future_cod_orders_then_buying_counts_them_and_the_failed_ones(
    world: dict[str, dict[str, Any]],
) -> None:
    def buying(token: str) -> tuple[bool, int | None, int | None]:
        row = world[token]
        return row["in_buying_population"], row["label_buying_cod_orders"], row["label_buying_failed_orders"]

    assert buying("t_buyer") == (True, 2, 1)  # O7 returned to origin, O12 delivered; O1–O3 before T
    assert buying("t_good") == (True, 1, 0)  # O8 delivered; O9's refusal falls after the 6 months
    assert buying("t_late") == (False, None, None)


def test_given_same_rows_loaded_twice_then_tables_do_not_change(
    warehouse: DuckDBWarehouse, tmp_path: Path
) -> None:
    rows = [
        order("O1", "t1", "2024-01-01 10:00", "2024-01-02 10:00", "cod", "delivered"),
        order("O2", "t1", "2024-01-03 10:00", "2024-01-04 10:00", "upi", "delivered"),
    ]

    load_rows(warehouse, tmp_path, "orders", rows)
    load_rows(warehouse, tmp_path, "orders", rows)

    assert count_rows(warehouse, "orders") == 2


def test_given_newer_and_older_versions_then_the_newest_wins(
    warehouse: DuckDBWarehouse, tmp_path: Path
) -> None:
    placed = order("O1", "t1", "2024-01-01 10:00", "2024-01-01 10:00", "cod", "placed")
    delivered = order("O1", "t1", "2024-01-01 10:00", "2024-01-03 10:00", "cod", "delivered")

    load_rows(warehouse, tmp_path, "orders", [placed, delivered])  # both versions in one load
    load_rows(warehouse, tmp_path, "orders", [placed])  # a stale version arriving late

    statuses = warehouse.query("SELECT order_id, status FROM orders").to_pylist()
    assert statuses == [{"order_id": "O1", "status": "delivered"}]


def test_given_schema_sql_then_tables_match_the_parquet_the_miners_write() -> None:
    for name, spec in SOURCES.items():
        schema = table_schema(SOURCE_TABLES[name].table)
        assert schema.equals(spec.schema), (name, schema, spec.schema)


def test_given_params_then_missing_ones_are_refused(warehouse: DuckDBWarehouse) -> None:
    with pytest.raises(KeyError, match="as_of"):
        warehouse.query("SELECT CAST(:as_of AS DATE) AS d")
    assert (
        warehouse.query("SELECT CAST(:as_of AS DATE) AS d", {"as_of": AS_OF}).column("d")[0].as_py() == AS_OF
    )


def test_given_registration_versions_then_the_one_current_at_the_snapshot_is_used(
    world: dict[str, dict[str, Any]],
) -> None:
    versions, mined_late = world["t_versions"], world["t_mined_late"]
    # the January version: premium; the July one (auto-billing) is after the snapshot
    assert (versions["is_premium_member"], versions["is_auto_billing"]) == (1, 0)
    # no version from before the snapshot: the earliest one, and the customer is not lost
    assert mined_late["is_premium_member"] == 1


def test_given_orders_then_outcome_rates_over_30_90_180_days_are_as_computed_by_hand(
    world: dict[str, dict[str, Any]],
) -> None:
    buyer = world["t_buyer"]
    # before T: O1 04-25 COD rto, O2 04-26 COD cancelled after dispatch, O3 05-20 COD still in
    # transit at T, O4 03-01 returned, O5 05-10 cancelled before dispatch, O6 2023-10-01 delivered
    assert (buyer["orders_placed_in_30days"], buyer["orders_placed_in_90days"]) == (2, 4)  # O3 O5; + O1 O2
    assert buyer["orders_placed_in_12months"] == 6  # O6 is 8 months old
    assert (buyer["orders_cod_in_12months"], buyer["cod_refused_in_12months"]) == (3, 2)  # O1-O3; O1 O2
    assert buyer["orders_cancelled_before_dispatch_in_6months"] == 1
    assert buyer["orders_cancelled_after_dispatch_in_6months"] == 1
    assert buyer["cancellation_rate_in_30days"] == pytest.approx(1 / 2)
    assert buyer["cancellation_rate_in_90days"] == pytest.approx(2 / 4)
    assert buyer["cancellation_rate_in_180days"] == pytest.approx(2 / 5)
    # O3's refusal came after T: a COD order in the 30 days, none refused yet → 0.0, not missing
    assert buyer["cod_refusal_rate_in_30days"] == 0.0
    assert buyer["cod_refusal_rate_in_90days"] == pytest.approx(2 / 3)
    assert buyer["cod_refusal_rate_in_180days"] == pytest.approx(2 / 3)
    assert buyer["return_rate_in_180days"] == pytest.approx(1 / 5)
    assert buyer["cod_share_in_180days"] == pytest.approx(3 / 5)


def test_given_cod_orders_over_two_years_then_the_24_month_window_counts_only_its_own(
    world: dict[str, dict[str, Any]],
) -> None:
    buyer, late = world["t_buyer"], world["t_late"]
    # t_buyer: O1-O3 before T, O1 and O2 refused by then (O3's refusal came after T)
    assert (buyer["orders_cod_in_24months"], buyer["cod_refused_in_24months"]) == (3, 2)
    assert buyer["cod_refusal_rate_in_24months"] == pytest.approx(2 / 3)
    # t_late: O14 (15 months back) counts; O13 (26 months back) does not; 12 months see neither
    assert (late["orders_cod_in_12months"], late["cod_refused_in_12months"]) == (0, 0)
    assert (late["orders_cod_in_24months"], late["cod_refused_in_24months"]) == (1, 1)
    assert late["cod_refusal_rate_in_24months"] == 1.0
    assert world["t_emi"]["cod_refusal_rate_in_24months"] is None  # no COD order: missing, not 0


def test_given_orders_then_spend_recency_and_breadth_are_as_computed_by_hand(
    world: dict[str, dict[str, Any]],
) -> None:
    buyer = world["t_buyer"]
    assert buyer["order_value_mean_in_180days"] == pytest.approx((500 + 700 + 900 + 1200 + 300) / 5)
    assert buyer["order_value_max_in_180days"] == pytest.approx(1200.0)
    assert buyer["days_since_last_order"] == 12  # O3, 05-20
    assert buyer["days_since_last_cod_refusal"] == 30  # O2's status set on 05-02
    assert buyer["categories_in_180days"] == 3  # fashion, books, home
    late = world["t_late"]  # one COD order, refused 15 months before the snapshot: out of every window
    assert (late["orders_placed_in_12months"], late["orders_cod_in_12months"]) == (0, 0)
    assert late["cod_refused_in_12months"] == 0
    assert (late["days_since_last_order"], late["days_since_last_cod_refusal"]) == (None, None)


def test_given_orders_in_several_categories_then_value_is_read_against_its_category_over_12_months(
    world: dict[str, dict[str, Any]],
) -> None:
    """Categories' typical values come from every customer's orders placed in the 12 months (rounded to 1e-6).

    fashion is O1 O2 O3 O6 and books O4, all t_buyer's: their deviations sum to 0. home is O5 (300) and
    E-undone (1.0); mobiles is E-run alone. O11 (after T), O13 and O14 (over 12 months back) are out.
    """
    home_typical = (math.log(300) + math.log(1.0)) / 2
    # t_buyer: six orders, five of them at their category's typical log value in sum, O5 above it
    assert world["t_buyer"]["order_value_vs_category_in_12months"] == pytest.approx(
        (math.log(300) - home_typical) / 6, abs=1e-6
    )
    assert world["t_emi"]["order_value_vs_category_in_12months"] == pytest.approx(
        (0 + math.log(1.0) - home_typical) / 2, abs=1e-6
    )
    assert world["t_late"]["order_value_vs_category_in_12months"] is None  # no order in the 12 months


def test_given_emi_orders_then_only_running_plans_count(world: dict[str, dict[str, Any]]) -> None:
    assert world["t_emi"]["emi_plans_active"] == 1  # E-run; E-done ended, E-undone was cancelled
    assert world["t_buyer"]["emi_plans_active"] == 0


def test_given_bills_then_repayment_history_and_utilisation_are_as_computed_by_hand(
    world: dict[str, dict[str, Any]],
) -> None:
    late = world["t_late"]
    assert late["bills_due_in_12months"] == 3  # B1 B2 B4; B3 not due yet, B5 too old
    assert late["late_payment_rate_in_12months"] == pytest.approx(2 / 3)
    assert late["bills_30dpd_in_12months"] == 1  # B1, 40 days
    assert late["max_dpd_in_24months"] == 47  # B5, outside the 12 months; B7 is outside the 24
    assert (late["bills_due_in_24months"], late["bills_late_in_24months"]) == (4, 3)  # and B5; not B7
    assert late["late_payment_rate_in_24months"] == pytest.approx(3 / 4)
    assert late["postpaid_limit"] == pytest.approx(10_000.0)
    assert late["postpaid_utilisation"] == pytest.approx(3000.0 / 10_000.0)
    assert late["postpaid_account_age_days"] == (AS_OF - date(2023, 1, 1)).days
    overdue = world["t_overdue"]
    assert (overdue["bills_due_in_12months"], overdue["late_payment_rate_in_12months"]) == (1, 1.0)
    assert overdue["bills_30dpd_in_12months"] == 0  # 17 days past due at T
    assert (overdue["bills_due_in_24months"], overdue["late_payment_rate_in_24months"]) == (1, 1.0)


def test_given_ads_then_engagement_counts_clicks_and_purchases_known_before_the_snapshot(
    world: dict[str, dict[str, Any]],
) -> None:
    buyer = world["t_buyer"]
    assert buyer["ads_received_in_180days"] == 4  # A1-A4; A5 too old, A6 after T
    assert buyer["ad_clicks_in_180days"] == 2  # A1, A2; A3's click came after T
    assert buyer["ad_click_rate_in_180days"] == pytest.approx(2 / 4)
    assert buyer["purchase_after_click_rate_in_180days"] == pytest.approx(1 / 2)  # O11 was after T
    assert buyer["days_since_last_ad_click"] == 1
    late = world["t_late"]
    assert (
        late["ads_received_in_180days"],
        late["ad_clicks_in_180days"],
        late["ad_click_rate_in_180days"],
    ) == (
        1,
        0,
        0.0,
    )
    assert late["purchase_after_click_rate_in_180days"] is None  # no click: no denominator
    assert late["days_since_last_ad_click"] is None  # A10's click is more than 12 months old
    good = world["t_good"]  # an ad long ago: known to marketing, nothing in the 180 days
    assert (good["ads_received_in_180days"], good["ad_click_rate_in_180days"]) == (0, None)


def test_given_reference_matches_then_the_latest_before_the_snapshot_is_used(
    world: dict[str, dict[str, Any]],
) -> None:
    buyer = world["t_buyer"]
    assert (buyer["business_match"], buyer["business_match_confidence"]) == (1, pytest.approx(0.92))
    assert buyer["business_turnover_band"] == 2  # small; 'large' was computed after T
    assert buyer["business_years_registered"] == pytest.approx((AS_OF - date(2020, 6, 1)).days / 365.25)
    assert (buyer["professional_match"], buyer["professional_match_confidence"]) == (0, 0.0)
    late = world["t_late"]  # matched in 2023, unmatched by the latest run before T
    assert (late["business_match"], late["business_match_confidence"]) == (0, 0.0)
    assert (late["business_turnover_band"], late["business_years_registered"]) == (None, None)
    assert late["professional_match"] is None  # never run against that registry
    assert world["t_good"]["business_match"] is None  # only matched after T


def test_given_bureau_reports_then_the_latest_answered_lookup_before_the_snapshot_is_used(
    world: dict[str, dict[str, Any]],
) -> None:
    buyer = world["t_buyer"]  # the 'unavailable' lookup in May is ignored; June's is after T
    assert (buyer["bureau_hit"], buyer["bureau_score"], buyer["bureau_tradelines"]) == (1, 720, 3)
    assert (buyer["bureau_enquiries_6m"], buyer["bureau_max_dpd_24m"]) == (1, 0)
    assert (world["t_late"]["bureau_hit"], world["t_late"]["bureau_score"]) == (0, None)
    assert (world["t_overdue"]["bureau_hit"], world["t_overdue"]["bureau_score"]) == (0, None)
    assert world["t_good"]["bureau_hit"] is None  # only an unavailable lookup
    assert world["t_emi"]["bureau_hit"] is None


def test_given_a_customer_without_events_before_the_snapshot_then_exactly_the_documented_features_are_missing(
    world: dict[str, dict[str, Any]],
) -> None:
    """Explicit missing: NULL where features.py says a value can be missing, a real 0 elsewhere."""
    quiet = world["t_pp_later"]  # postpaid, an ad and everything else only after the snapshot
    missing = {name for name in FEATURE_NAMES if quiet[name] is None}
    assert missing == {f.name for f in FEATURES if f.missing != NEVER_MISSING}
    counts = {
        "orders_placed_in_12months", "orders_placed_in_6months", "bills_due_in_12months",
        "bills_due_in_24months", "emi_plans_active",
    }  # fmt: skip
    assert all(quiet[name] == 0 for name in counts)
    assert quiet["postpaid_limit"] == 0.0


def test_given_any_customer_then_features_documented_as_never_missing_are_never_null(
    world: dict[str, dict[str, Any]],
) -> None:
    never_missing = [f.name for f in FEATURES if f.missing == NEVER_MISSING]
    nulls = {(token, name) for token, row in world.items() for name in never_missing if row[name] is None}
    assert nulls == set()


def test_given_feature_types_then_money_rates_and_years_are_doubles_and_everything_else_integers(
    warehouse: DuckDBWarehouse,
) -> None:
    schema = build_features(warehouse, AS_OF).schema
    money = {"postpaid_outstanding", "postpaid_limit"}
    fractions = ("_rate_", "_share_", "_value_", "_confidence", "_utilisation", "_years_")
    for name in FEATURE_NAMES:
        is_double = name in money or any(part in name for part in fractions)
        assert schema.field(name).type == (pa.float64() if is_double else pa.int32()), name


def test_given_the_feature_sql_then_no_division_is_engine_dependent() -> None:
    assert ambiguous_divisions(read_sql(FEATURES_SQL)) == []


def test_given_several_snapshots_then_the_training_set_stacks_one_row_per_customer_and_snapshot(
    warehouse: DuckDBWarehouse, world: dict[str, dict[str, Any]]
) -> None:
    snapshots = [date(2024, 3, 1), AS_OF]
    table = build_training_set(warehouse, snapshots)
    rows = table.to_pylist()
    by_snapshot = {s: {r["token"] for r in rows if r["snapshot_date"] == s} for s in snapshots}
    assert by_snapshot[AS_OF] == set(world)
    assert "t_new" not in by_snapshot[date(2024, 3, 1)]
    assert len(rows) == sum(len(tokens) for tokens in by_snapshot.values())
    march = next(r for r in rows if r["token"] == "t_buyer" and r["snapshot_date"] == date(2024, 3, 1))
    assert march["orders_placed_in_12months"] == 1  # only O6 (2023-10-01) was placed before March
    with pytest.raises(ValueError, match="snapshot"):
        build_training_set(warehouse, [])


def test_given_registration_versions_when_loaded_twice_then_every_version_is_kept_once(
    warehouse: DuckDBWarehouse, tmp_path: Path
) -> None:
    versions = [
        person("t1", updated_at=datetime(2024, 1, 1)),
        person("t1", updated_at=datetime(2024, 2, 1), is_premium_member=True),
    ]
    load_rows(warehouse, tmp_path, "registrations", versions)
    load_rows(warehouse, tmp_path, "registrations", versions)
    assert count_rows(warehouse, "registrations") == 2


def test_given_every_source_then_it_has_a_table_and_a_key_of_its_columns() -> None:
    assert set(SOURCE_TABLES) == {"registrations", "orders", "payments", "marketing", "reference", "bureau"}
    assert set(SOURCES) <= set(SOURCE_TABLES)
    for target in SOURCE_TABLES.values():
        assert set(target.key) <= set(table_schema(target.table).names), target


class RecordingWarehouse:
    """A fake Warehouse: raw data exists only for `mined` sources; records staging loads and merges."""

    def __init__(self, mined: set[str]) -> None:
        self.mined = mined
        self.loads: list[tuple[str, ...]] = []
        self.merges: list[tuple[str, str, tuple[str, ...]]] = []
        self.merged_tables: set[str] = set()

    def execute(self, sql: str, params: Any = None) -> None:
        pass

    def query(self, sql: str, params: Any = None) -> pa.Table:
        table = sql.rsplit(" ", 1)[-1]  # SELECT COUNT(*) AS n FROM <table>
        return pa.table({"n": [3 if table in self.merged_tables else 0]})

    def load_parquet(self, table: str, sources: list[str], *, like: str | None = None) -> int:
        assert like is not None and table == f"stage_{like}"  # Redshift needs the target's columns
        self.loads.append((table, *sources))
        return 3 if any(f"/raw/{source}/" in sources[0] for source in self.mined) else 0

    def merge(self, table: str, staging: str, key: Any) -> None:
        self.merges.append((table, staging, tuple(key)))
        self.merged_tables.add(table)


def test_given_some_sources_mined_when_the_lake_is_loaded_then_each_merges_into_its_table_by_key() -> None:
    warehouse = RecordingWarehouse(mined={"registrations", "marketing"})

    results = load_lake(warehouse, lake_bucket="lake")

    assert len(warehouse.loads) == len(SOURCE_TABLES)  # every source is looked for
    assert ("stage_ad_events", "s3://lake/raw/marketing/") in warehouse.loads
    assert warehouse.merges == [
        ("registrations", "stage_registrations", ("token", "updated_at")),
        ("ad_events", "stage_ad_events", ("event_id",)),
    ]
    # sources with no raw data and an empty table are left out of the result
    assert [(r.source, r.table, r.rows_staged, r.rows_in_table) for r in results] == [
        ("registrations", "registrations", 3, 3),
        ("marketing", "ad_events", 3, 3),
    ]
