"""The warehouse SQL on DuckDB with hand-made rows whose answers are known.

Snapshot 2024-06-01 throughout. Rows are in the warehouse's (already pseudonymised) shape.
"""

import itertools
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from credo.features import FEATURE_NAMES
from credo.sources import SOURCES
from credo.warehouse import FEATURE_TABLE_COLUMNS, TABLE_KEYS, build_features, count_rows, create_tables
from credo.warehouse.duckdb import DuckDBWarehouse
from credo.warehouse.sql import table_columns

AS_OF = date(2024, 6, 1)
_files = itertools.count()


@pytest.fixture
def warehouse() -> Iterator[DuckDBWarehouse]:
    with DuckDBWarehouse() as wh:
        create_tables(wh)
        yield wh


def load(warehouse: DuckDBWarehouse, directory: Path, table: str, rows: list[dict[str, Any]]) -> None:
    """Stage rows through a Parquet file and MERGE them, the way the lake is loaded."""
    path = directory / f"{table}-{next(_files)}.parquet"
    pq.write_table(pa.Table.from_pylist(rows, schema=SOURCES[table].schema), path)
    warehouse.load_parquet(f"stage_{table}", [str(path)])
    warehouse.merge(table, f"stage_{table}", TABLE_KEYS[table])


def person(token: str, **overrides: Any) -> dict[str, Any]:
    row = {
        "token": token,
        "registered_at": datetime(2022, 6, 15, 10),
        "updated_at": datetime(2022, 6, 15, 10),
        "age_at_registration": 30,
        "city_tier": 2,
        "email_domain_type": "webmail",
        "device": "android",
        "phone_verified": True,
        "is_premium_member": False,
        "is_auto_billing": False,
        "is_postpaid": False,
        "postpaid_opened_at": None,
        "postpaid_limit": 0.0,
    }
    if overrides.get("postpaid_opened_at") is not None:
        row.update(is_postpaid=True, postpaid_limit=10_000.0)
    return {**row, **overrides}


def order(
    order_id: str, token: str, placed: str, updated: str, method: str, status: str, amount: float = 1000.0
) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "token": token,
        "placed_at": datetime.fromisoformat(placed),
        "updated_at": datetime.fromisoformat(updated),
        "category": "fashion",
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


@pytest.fixture
def world(warehouse: DuckDBWarehouse, tmp_path: Path) -> dict[str, dict[str, Any]]:
    load(
        warehouse,
        tmp_path,
        "registrations",
        [
            person("t_buyer", device="ios", email_domain_type="corporate"),
            person("t_late", registered_at=datetime(2022, 5, 1), postpaid_opened_at=datetime(2023, 1, 1)),
            person("t_overdue", postpaid_opened_at=datetime(2023, 1, 1)),
            person("t_emi"),
            person("t_emi_short"),
            person("t_good", postpaid_opened_at=datetime(2024, 1, 1)),
            person("t_pp_later", postpaid_opened_at=datetime(2024, 7, 1)),
            person("t_new", registered_at=datetime(2024, 6, 2)),
        ],
    )
    load(
        warehouse,
        tmp_path,
        "orders",
        [
            # two COD orders refused 30 days before the snapshot
            order("O1", "t_buyer", "2024-04-25 10:00", "2024-05-02 10:00", "cod", "rto", 500.0),
            order(
                "O2",
                "t_buyer",
                "2024-04-26 10:00",
                "2024-05-02 11:00",
                "cod",
                "cancelled_after_dispatch",
                700.0,
            ),
            # placed before, refused after the snapshot: at the snapshot it was still in transit
            order("O3", "t_buyer", "2024-05-20 10:00", "2024-06-05 10:00", "cod", "rto", 900.0),
            order("O4", "t_buyer", "2024-03-01 10:00", "2024-03-10 10:00", "wallet", "returned", 1200.0),
            order(
                "O5",
                "t_buyer",
                "2024-05-10 10:00",
                "2024-05-11 10:00",
                "card",
                "cancelled_before_dispatch",
                300.0,
            ),
            order(
                "O6", "t_buyer", "2023-10-01 10:00", "2023-10-05 10:00", "card", "delivered", 5000.0
            ),  # > 6 months
            order("O7", "t_buyer", "2024-07-01 10:00", "2024-07-05 10:00", "cod", "rto"),  # label window
            order("O8", "t_good", "2024-08-01 10:00", "2024-08-03 10:00", "cod", "delivered"),
            order(
                "O9", "t_good", "2024-12-05 10:00", "2024-12-09 10:00", "cod", "rto"
            ),  # after the label window
        ],
    )
    load(
        warehouse,
        tmp_path,
        "payments",
        [
            bill("B1", "t_late", "2024-01-15", "2024-02-24 10:00"),  # 40 days late
            bill("B2", "t_late", "2024-02-15", "2024-02-14 10:00"),
            bill(
                "B3", "t_late", "2024-06-15", None, amount=3000.0
            ),  # stated on 06-01, unpaid → 90 dpd in window
            bill("B4", "t_late", "2024-05-15", "2024-05-20 10:00"),  # 5 days late
            bill("B5", "t_late", "2023-05-15", "2023-07-01 10:00"),  # 47 days late, but > 12 months ago
            bill("B6", "t_overdue", "2024-05-15", None, amount=800.0),
            *(
                bill(f"E{m}", "t_emi", f"2024-{m:02d}-15", f"2024-{m:02d}-10 09:00", account="emi")
                for m in (6, 7, 8)
            ),
            *(
                bill(f"S{m}", "t_emi_short", f"2024-{m:02d}-15", f"2024-{m:02d}-10 09:00", account="emi")
                for m in (6, 7)
            ),
            bill("G1", "t_good", "2024-07-15", "2024-08-01 10:00"),  # late, but far from 90 days
            bill("G2", "t_good", "2024-10-15", None),  # reaches 90 dpd on 2025-01-13, after the window
        ],
    )
    table = build_features(warehouse, AS_OF)
    return {row["token"]: row for row in table.to_pylist()}


def test_given_snapshot_when_features_built_then_columns_are_exactly_the_contract(
    warehouse: DuckDBWarehouse,
) -> None:
    table = build_features(warehouse, AS_OF)

    assert table.column_names == [
        "token",
        "snapshot_date",
        *FEATURE_NAMES,
        "label_credit_bad",
        "label_buying_bad",
        "in_credit_population",
        "in_buying_population",
    ]
    assert tuple(table.column_names) == FEATURE_TABLE_COLUMNS


def test_given_customer_registered_after_snapshot_then_no_row(world: dict[str, dict[str, Any]]) -> None:
    assert "t_new" not in world
    assert len(world) == 7
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
    }
    assert world["t_pp_later"]["is_postpaid"] == 0


def test_given_credit_outcomes_then_label_is_90_dpd_within_6_months(world: dict[str, dict[str, Any]]) -> None:
    assert world["t_late"]["label_credit_bad"] == 1
    assert world["t_good"]["label_credit_bad"] == 0  # paid 17 days late; 90 dpd falls after the window
    assert world["t_emi"]["label_credit_bad"] == 0
    assert world["t_overdue"]["label_credit_bad"] is None  # outside the population
    assert world["t_buyer"]["label_credit_bad"] is None


def test_given_future_cod_orders_then_buying_label_and_population(world: dict[str, dict[str, Any]]) -> None:
    assert (world["t_buyer"]["in_buying_population"], world["t_buyer"]["label_buying_bad"]) == (True, 1)
    assert (world["t_good"]["in_buying_population"], world["t_good"]["label_buying_bad"]) == (True, 0)
    assert (world["t_late"]["in_buying_population"], world["t_late"]["label_buying_bad"]) == (False, None)


def test_given_same_rows_loaded_twice_then_tables_do_not_change(
    warehouse: DuckDBWarehouse, tmp_path: Path
) -> None:
    rows = [
        order("O1", "t1", "2024-01-01 10:00", "2024-01-02 10:00", "cod", "delivered"),
        order("O2", "t1", "2024-01-03 10:00", "2024-01-04 10:00", "upi", "delivered"),
    ]

    load(warehouse, tmp_path, "orders", rows)
    load(warehouse, tmp_path, "orders", rows)

    assert count_rows(warehouse, "orders") == 2


def test_given_newer_and_older_versions_then_the_newest_wins(
    warehouse: DuckDBWarehouse, tmp_path: Path
) -> None:
    placed = order("O1", "t1", "2024-01-01 10:00", "2024-01-01 10:00", "cod", "placed")
    delivered = order("O1", "t1", "2024-01-01 10:00", "2024-01-03 10:00", "cod", "delivered")

    load(warehouse, tmp_path, "orders", [placed, delivered])  # both versions in one load
    load(warehouse, tmp_path, "orders", [placed])  # a stale version arriving late

    statuses = warehouse.query("SELECT order_id, status FROM orders").to_pylist()
    assert statuses == [{"order_id": "O1", "status": "delivered"}]


def test_given_schema_sql_then_columns_match_the_parquet_the_miners_write() -> None:
    for name, spec in SOURCES.items():
        assert table_columns(name) == tuple(spec.schema.names)


def test_given_params_then_missing_ones_are_refused(warehouse: DuckDBWarehouse) -> None:
    with pytest.raises(KeyError, match="as_of"):
        warehouse.query("SELECT CAST(:as_of AS DATE) AS d")
    assert (
        warehouse.query("SELECT CAST(:as_of AS DATE) AS d", {"as_of": AS_OF}).column("d")[0].as_py() == AS_OF
    )
