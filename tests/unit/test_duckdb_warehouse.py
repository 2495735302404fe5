"""DuckDBWarehouse for real: loads from local files and moto S3, MERGE, UNLOAD, and the SQL translation."""

import itertools
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from moto import mock_aws

from credo.adapters.s3 import S3Store
from credo.warehouse import create_tables
from credo.warehouse.duckdb import UNLOAD_PART_NAME, DuckDBWarehouse
from credo.warehouse.protocol import StatementFailedError, WarehouseError
from credo.warehouse.sql import FEATURES_SQL, SCHEMA_SQL, ambiguous_divisions, read_sql, split_statements

BUCKET = "credo-lake-unit"
_parts = itertools.count()


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[S3Store]:
    """In-process moto S3 with one bucket."""
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ap-south-1")
    with mock_aws():
        store = S3Store.create()
        store.ensure_bucket(BUCKET)
        yield store


@pytest.fixture
def warehouse(s3: S3Store) -> Iterator[DuckDBWarehouse]:
    with DuckDBWarehouse(s3=s3) as wh:
        create_tables(wh)
        yield wh


def order(
    order_id: str, token: str, updated: str, status: str = "delivered", amount: float = 100.0
) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "token": token,
        "placed_at": datetime(2024, 1, 1, 10),
        "updated_at": datetime.fromisoformat(updated),
        "category": "fashion",
        "item_count": 1,
        "amount": amount,
        "payment_method": "cod",
        "status": status,
        "delivery_city_tier": 2,
        "emi_tenure_months": None,
    }


def orders_parquet(warehouse: DuckDBWarehouse, rows: list[dict[str, Any]]) -> bytes:
    """Rows as Parquet in the orders table's own column order and types (what the miners write)."""
    schema = warehouse.query("SELECT * FROM orders WHERE 1 = 0").schema
    sink = pa.BufferOutputStream()
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), sink)
    return bytes(sink.getvalue().to_pybytes())


def write_local(directory: Path, data: bytes) -> Path:
    path = directory / f"orders-{next(_parts)}.parquet"
    path.write_bytes(data)
    return path


def load_and_merge(
    warehouse: DuckDBWarehouse, sources: list[str], key: str | tuple[str, ...] = "order_id"
) -> int:
    staged = warehouse.load_parquet("stage_orders", sources, like="orders")
    warehouse.merge("orders", "stage_orders", key)
    return staged


def rows_of(warehouse: DuckDBWarehouse) -> list[dict[str, Any]]:
    return warehouse.query("SELECT order_id, token, status FROM orders ORDER BY order_id, token").to_pylist()


# --- load_parquet --------------------------------------------------------------------------------


def test_given_local_files_and_a_directory_when_loaded_then_every_row_is_staged(
    warehouse: DuckDBWarehouse, tmp_path: Path
) -> None:
    one = write_local(tmp_path, orders_parquet(warehouse, [order("O1", "t1", "2024-01-02 10:00")]))
    folder = tmp_path / "more"
    folder.mkdir()
    write_local(folder, orders_parquet(warehouse, [order("O2", "t1", "2024-01-02 10:00")] * 2))

    staged = warehouse.load_parquet("stage_orders", [str(one), str(folder)], like="orders")

    assert staged == 3


def test_given_parts_under_an_s3_prefix_when_loaded_then_staged_from_moto(
    warehouse: DuckDBWarehouse, s3: S3Store
) -> None:
    for day, order_id in (("2024-01-01", "O1"), ("2024-01-02", "O2")):
        data = orders_parquet(warehouse, [order(order_id, "t1", f"{day} 10:00")])
        s3.put_bytes(BUCKET, f"raw/orders/dt={day}/part-0.parquet", data)
    s3.put_bytes(BUCKET, "raw/orders/_SUCCESS", b"")  # not Parquet: skipped

    staged = load_and_merge(warehouse, [f"s3://{BUCKET}/raw/orders/"])

    assert staged == 2
    assert [row["order_id"] for row in rows_of(warehouse)] == ["O1", "O2"]


def test_given_an_empty_prefix_or_no_sources_when_loaded_then_nothing_is_staged(
    warehouse: DuckDBWarehouse,
) -> None:
    assert warehouse.load_parquet("stage_orders", [f"s3://{BUCKET}/raw/orders/"], like="orders") == 0
    assert warehouse.load_parquet("stage_orders", [], like="orders") == 0


def test_given_parquet_columns_in_another_order_when_loaded_like_the_target_then_refused(
    warehouse: DuckDBWarehouse, tmp_path: Path
) -> None:
    # Redshift's COPY matches Parquet columns by position: DuckDB must not hide a reordering.
    table = pq.read_table(pa.BufferReader(orders_parquet(warehouse, [order("O1", "t1", "2024-01-02 10:00")])))
    path = tmp_path / "reordered.parquet"
    pq.write_table(table.select(list(reversed(table.column_names))), path)

    with pytest.raises(WarehouseError, match="differ from orders"):
        warehouse.load_parquet("stage_orders", [str(path)], like="orders")
    assert warehouse.load_parquet("stage_plain", [str(path)]) == 1  # without `like`, no check


def test_given_a_missing_file_when_loaded_then_a_typed_statement_error(
    warehouse: DuckDBWarehouse, tmp_path: Path
) -> None:
    with pytest.raises(StatementFailedError):
        warehouse.load_parquet("stage_orders", [str(tmp_path / "absent.parquet")])


# --- merge ---------------------------------------------------------------------------------------


def test_given_the_same_parts_merged_twice_then_the_table_does_not_change(
    warehouse: DuckDBWarehouse, tmp_path: Path
) -> None:
    data = orders_parquet(
        warehouse,
        [
            order("O1", "t1", "2024-01-02 10:00", "placed"),
            order("O1", "t1", "2024-01-03 10:00", "delivered"),
            order("O2", "t2", "2024-01-02 10:00", "rto"),
        ],
    )
    path = write_local(tmp_path, data)

    load_and_merge(warehouse, [str(path)])
    first = rows_of(warehouse)
    load_and_merge(warehouse, [str(path)])

    assert (
        rows_of(warehouse)
        == first
        == [
            {"order_id": "O1", "token": "t1", "status": "delivered"},
            {"order_id": "O2", "token": "t2", "status": "rto"},
        ]
    )


def test_given_a_composite_key_when_merged_then_rows_differing_in_any_key_column_stay_apart(
    warehouse: DuckDBWarehouse, tmp_path: Path
) -> None:
    rows = [
        order("O1", "t1", "2024-01-02 10:00", "placed"),
        order("O1", "t2", "2024-01-02 10:00", "placed"),
        order("O1", "t2", "2024-01-04 10:00", "rto"),
    ]
    path = write_local(tmp_path, orders_parquet(warehouse, rows))

    load_and_merge(warehouse, [str(path)], key=("order_id", "token"))
    load_and_merge(warehouse, [str(path)], key=("order_id", "token"))

    assert rows_of(warehouse) == [
        {"order_id": "O1", "token": "t1", "status": "placed"},
        {"order_id": "O1", "token": "t2", "status": "rto"},
    ]


# --- unload_parquet ------------------------------------------------------------------------------

UNLOAD_SQL = """
-- orders placed before a moment, for a token
SELECT order_id, amount FROM orders
WHERE updated_at < :before AND token = :token
ORDER BY order_id;
"""


@pytest.fixture
def loaded(warehouse: DuckDBWarehouse, tmp_path: Path) -> DuckDBWarehouse:
    rows = [
        order("O1", "t1", "2024-01-02 10:00", amount=10.0),
        order("O2", "t1", "2024-01-05 10:00", amount=20.0),
        order("O3", "t2", "2024-01-02 10:00", amount=30.0),
    ]
    load_and_merge(warehouse, [str(write_local(tmp_path, orders_parquet(warehouse, rows)))])
    return warehouse


PARAMS = {"before": datetime(2024, 1, 3), "token": "t1"}


def test_given_a_select_when_unloaded_to_s3_then_the_parquet_holds_its_rows(
    loaded: DuckDBWarehouse, s3: S3Store
) -> None:
    written = loaded.unload_parquet(UNLOAD_SQL, PARAMS, f"s3://{BUCKET}/features/dt=2024-01-03/")

    assert written == [f"s3://{BUCKET}/features/dt=2024-01-03/{UNLOAD_PART_NAME}"]
    data = s3.get_bytes(BUCKET, f"features/dt=2024-01-03/{UNLOAD_PART_NAME}")
    assert pq.read_table(pa.BufferReader(data)).to_pylist() == [{"order_id": "O1", "amount": 10.0}]


def test_given_a_local_directory_when_unloaded_twice_then_the_last_result_replaces_the_first(
    loaded: DuckDBWarehouse, tmp_path: Path
) -> None:
    out = tmp_path / "features"
    loaded.unload_parquet(UNLOAD_SQL, PARAMS, str(out))
    (out / "0001_part_00.parquet").write_bytes(b"left by an earlier, larger unload")
    (out / "notes.txt").write_text("not an unload part")

    written = loaded.unload_parquet(UNLOAD_SQL, {**PARAMS, "before": datetime(2024, 1, 6)}, str(out))

    assert written == [str(out / UNLOAD_PART_NAME)]
    assert sorted(p.name for p in out.iterdir()) == [UNLOAD_PART_NAME, "notes.txt"]
    assert pq.read_table(written[0]).column("order_id").to_pylist() == ["O1", "O2"]


@pytest.mark.parametrize(
    ("sql", "params", "destination"),
    [
        ("DELETE FROM orders", None, "s3://{bucket}/out/"),
        ("SELECT 1 AS a; SELECT 2 AS b", None, "s3://{bucket}/out/"),
        ("SELECT 1 AS a", None, "s3://{bucket}/out"),
        ("SELECT :v AS a", {"v": "a\\b"}, "s3://{bucket}/out/"),  # Redshift could not inline it either
    ],
)
def test_given_what_redshift_would_refuse_when_unloaded_then_refused_too(
    loaded: DuckDBWarehouse, sql: str, params: dict[str, Any] | None, destination: str
) -> None:
    with pytest.raises(ValueError):
        loaded.unload_parquet(sql, params, destination.format(bucket=BUCKET))


# --- the Redshift → DuckDB translation ----------------------------------------------------------


def test_given_integer_division_of_typed_operands_then_redshift_truncation_is_kept(
    warehouse: DuckDBWarehouse,
) -> None:
    row = warehouse.query(
        "SELECT 7 / 2 AS q, CAST(-7 AS INTEGER) / 2 AS negative, COUNT(*) / 2 AS counted, 7.0 / 2 AS real"
    ).to_pylist()

    assert row == [{"q": 3, "negative": -3, "counted": 0, "real": 3.5}]


def test_given_division_by_a_column_then_it_is_reported_as_ambiguous() -> None:
    sql = "SELECT item_count / 2 AS a, CAST(item_count AS DOUBLE PRECISION) / 2 AS b, 7 / 2 AS c FROM orders"

    assert ambiguous_divisions(sql) == ["item_count / 2"]


def test_given_the_warehouse_sql_files_then_no_division_depends_on_the_engine() -> None:
    assert ambiguous_divisions(read_sql(SCHEMA_SQL)) == []
    assert ambiguous_divisions(read_sql(FEATURES_SQL)) == []


def test_given_listagg_distinct_and_default_delimiter_then_redshift_results(
    warehouse: DuckDBWarehouse, tmp_path: Path
) -> None:
    rows = [
        order("O1", "t1", "2024-01-02 10:00", "rto"),
        order("O2", "t1", "2024-01-02 10:00", "delivered"),
        order("O3", "t1", "2024-01-02 10:00", "rto"),
    ]
    load_and_merge(warehouse, [str(write_local(tmp_path, orders_parquet(warehouse, rows)))])

    result = warehouse.query(
        "SELECT LISTAGG(DISTINCT status, ',') WITHIN GROUP (ORDER BY status) AS distinct_statuses, "
        "LISTAGG(order_id) WITHIN GROUP (ORDER BY order_id) AS ids FROM orders"
    ).to_pylist()

    assert result == [{"distinct_statuses": "delivered,rto", "ids": "O1O2O3"}]


def test_given_a_failing_statement_then_a_typed_error(warehouse: DuckDBWarehouse) -> None:
    with pytest.raises(StatementFailedError, match="no_such_table"):
        warehouse.execute("DELETE FROM no_such_table")


# Any text but backslash and NUL (refused by design) and lone surrogates (not encodable as UTF-8).
@settings(max_examples=200, deadline=None)
@given(text=st.text(alphabet=st.characters(exclude_categories=("Cs",), exclude_characters="\\\x00")))
def test_given_any_string_inlined_as_a_literal_then_the_database_reads_back_exactly_it(text: str) -> None:
    [statement] = split_statements("SELECT :v AS v, 1 AS after")
    with DuckDBWarehouse() as wh:
        assert wh.query(statement.inline({"v": text})).to_pylist() == [{"v": text, "after": 1}]
