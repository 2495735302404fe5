"""The miners on moto with a hand-built SQLite source, the handlers, and loading into DuckDB."""

import io
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import pyarrow.parquet as pq
import pytest

from credo import constants as c
from credo.adapters.dynamodb import ensure_table
from credo.adapters.ssm import ParameterStore
from credo.local import load_handler
from credo.mining import MineResult, mine
from credo.privacy import tokenize, tokenize_key
from credo.sources import open_source_database
from credo.warehouse import count_rows, load_lake
from credo.warehouse.duckdb import DuckDBWarehouse

# Fixture types live in conftest modules, which are not importable: name them loosely.
Aws = Any
OperationalDb = Any

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2024, 6, 1, 2, 0, tzinfo=UTC)
PII_COLUMNS = {"full_name", "email", "phone", "street_address", "date_of_birth", "customer_id"}

PEOPLE: list[dict[str, Any]] = [
    {},
    {
        "customer_id": "C000002",
        "full_name": "Ravi Shankar Iyer",
        "email": "ravi.iyer@gmail.com",
        "phone": "+919900112233",
        "street_address": "4 Lake View Road",
        "city": "Kurnool",
        "pincode": "518001",
        "date_of_birth": "1985-11-03",
        "device": "android",
        "is_postpaid": 0,
        "postpaid_opened_at": None,
        "postpaid_limit": 0.0,
        "updated_at": "2023-02-01 08:00:00",
    },
    # breaks its contract: the email is malformed
    {
        "customer_id": "C000003",
        "full_name": "Meera Nair",
        "email": "meera.nair.at.example",
        "phone": "+919700000003",
        "street_address": "7 Temple Street",
        "updated_at": "2023-02-02 08:00:00",
    },
]
ORDERS: list[dict[str, Any]] = [
    {"order_id": "O1", "updated_at": "2023-04-05 12:00:00"},
    {
        "order_id": "O2",
        "customer_id": "C000002",
        "payment_method": "upi",
        "updated_at": "2023-04-06 12:00:00",
    },
    {"order_id": "O3", "status": "lost", "updated_at": "2023-04-07 12:00:00"},  # unknown status
    {
        "order_id": "O4",
        "placed_at": "2024-05-30 10:00:00",
        "updated_at": "2024-05-30 10:00:00",
        "status": "placed",
    },
]
PAYMENTS: list[dict[str, Any]] = [
    {},
    {
        "bill_id": "B2",
        "due_date": "2023-05-15",
        "statement_date": "2023-05-01",
        "paid_at": None,
        "amount_paid": 0.0,
        "days_past_due": 30,
        "updated_at": "2023-06-14 00:00:00",
    },
]


@pytest.fixture
def people(make_registration: Callable[..., dict[str, Any]]) -> list[dict[str, Any]]:
    return [make_registration(**overrides) for overrides in PEOPLE]


@pytest.fixture
def source(
    operational_db: Callable[..., OperationalDb],
    people: list[dict[str, Any]],
    make_order: Callable[..., dict[str, Any]],
    make_payment: Callable[..., dict[str, Any]],
) -> OperationalDb:
    return operational_db(
        registrations=people,
        orders=[make_order(**overrides) for overrides in ORDERS],
        payments=[make_payment(**overrides) for overrides in PAYMENTS],
    )


def raw_pii_values(people: list[dict[str, Any]]) -> list[str]:
    return [
        value
        for row in people
        for name, value in row.items()
        if name in PII_COLUMNS and isinstance(value, str)
    ]


def run(aws: Aws, source: OperationalDb, name: str, **kwargs: Any) -> MineResult:
    db = open_source_database(source.url)
    try:
        options: dict[str, Any] = {"now": NOW, **kwargs}
        return mine(
            name,
            db=db,
            s3=aws.s3,
            watermarks=aws.watermarks,
            key=aws.key,
            lake_bucket=aws.lake_bucket,
            **options,
        )
    finally:
        db.close()


def order_tokens(aws: Aws, *order_ids: str) -> list[str]:
    return [tokenize_key("order_id", order_id, aws.key) for order_id in order_ids]


def read_parquet(aws: Aws, key: str) -> list[dict[str, Any]]:
    return pq.read_table(io.BytesIO(aws.s3.get_bytes(aws.lake_bucket, key))).to_pylist()


def test_given_sources_when_mined_then_lake_holds_no_pii_anywhere(
    aws: Aws, source: OperationalDb, people: list[dict[str, Any]]
) -> None:
    raw_values = raw_pii_values(people)
    assert len(raw_values) == 18
    for name in ("registrations", "orders", "payments"):
        run(aws, source, name)

    objects = aws.lake_objects()
    parquet_keys = [key for key in objects if key.endswith(".parquet")]
    assert len(parquet_keys) == 3
    for key in parquet_keys:
        columns = set(pq.read_schema(io.BytesIO(objects[key])).names)
        assert not PII_COLUMNS & columns, key
    for key, data in objects.items():
        for value in raw_values:
            assert value.encode() not in data, f"{value!r} leaked into {key}"
    watermark_items = [aws.watermarks.get(name) for name in ("registrations", "orders", "payments")]
    for value in raw_values:
        assert value not in json.dumps(watermark_items, default=str)


def test_given_a_bad_record_when_mined_then_it_is_quarantined_and_good_rows_are_kept(
    aws: Aws, source: OperationalDb
) -> None:
    result = run(aws, source, "orders")

    assert (result.good, result.quarantined) == (3, 1)
    (batch,) = result.batches
    assert batch.part_key is not None and batch.quarantine_key is not None
    assert batch.part_key.startswith(f"{c.RAW_PREFIX}/orders/dt=2024-05-30/part-")
    assert [row["order_id"] for row in read_parquet(aws, batch.part_key)] == order_tokens(
        aws, "O1", "O2", "O4"
    )
    (bad,) = [
        json.loads(line) for line in aws.s3.get_bytes(aws.lake_bucket, batch.quarantine_key).splitlines()
    ]
    assert bad["record_key"] == tokenize_key("order_id", "O3", aws.key)
    assert bad["token"] == tokenize("C000001", aws.key)
    assert bad["reasons"] and bad["reasons"][0].startswith("status:")
    assert "lost" not in json.dumps(bad)
    manifest = json.loads(aws.s3.get_bytes(aws.lake_bucket, batch.manifest_key))
    assert manifest["good_rows"] == 3 and manifest["quarantined_rows"] == 1
    assert manifest["window"] == {"after": None, "through": "2024-05-30 10:00:00"}
    assert manifest["schema_version"] == "1"


def test_given_a_bad_registration_then_quarantine_names_its_token_only(
    aws: Aws, source: OperationalDb
) -> None:
    result = run(aws, source, "registrations")

    assert (result.good, result.quarantined) == (2, 1)
    key = result.batches[0].quarantine_key
    assert key is not None
    (bad,) = [json.loads(line) for line in aws.s3.get_bytes(aws.lake_bucket, key).splitlines()]
    assert bad["record_key"] is None
    assert bad["token"] == tokenize("C000003", aws.key)
    assert bad["reasons"][0].startswith("email:")


def test_given_a_finished_run_when_run_again_then_nothing_new_is_written(
    aws: Aws, source: OperationalDb
) -> None:
    first = run(aws, source, "orders")
    keys_after_first = set(aws.lake_objects())

    again = run(aws, source, "orders")

    assert (again.good, again.quarantined, again.batches) == (0, 0, [])
    assert again.watermark == first.watermark
    assert set(aws.lake_objects()) == keys_after_first


def test_given_watermark_reset_when_the_window_is_mined_again_then_the_same_keys_are_rewritten(
    aws: Aws, source: OperationalDb
) -> None:
    first = run(aws, source, "payments", batch_rows=1)
    objects = aws.lake_objects()
    aws.watermarks.delete("payments")

    second = run(aws, source, "payments", batch_rows=1)

    assert [b.part_key for b in second.batches] == [b.part_key for b in first.batches]
    assert len(first.batches) == 2
    assert set(aws.lake_objects()) == set(objects)
    for batch in second.batches:
        assert batch.part_key is not None
        assert (
            read_parquet(aws, batch.part_key)
            == pq.read_table(io.BytesIO(objects[batch.part_key])).to_pylist()
        )


def test_given_new_changes_when_mined_then_watermark_moves_and_only_changes_are_written(
    aws: Aws, source: OperationalDb
) -> None:
    run(aws, source, "orders")
    assert aws.watermarks.get("orders")["updated_at"] == "2024-05-30 10:00:00"
    source.update("orders", "O4", status="delivered", updated_at="2024-05-31 18:00:00")

    result = run(aws, source, "orders")

    assert result.good == 1
    assert result.watermark == "2024-05-31 18:00:00"
    (batch,) = result.batches
    assert batch.part_key is not None
    assert [(r["order_id"], r["status"]) for r in read_parquet(aws, batch.part_key)] == [
        (*order_tokens(aws, "O4"), "delivered")
    ]
    state = aws.watermarks.get("orders")
    assert state is not None and state["updated_at"] == "2024-05-31 18:00:00" and int(state["rows"]) == 5


def test_given_changes_after_now_then_they_wait_for_a_later_run(aws: Aws, source: OperationalDb) -> None:
    result = run(aws, source, "orders", now=datetime(2024, 1, 1, tzinfo=UTC))

    assert result.good + result.quarantined == 3
    assert result.watermark == "2023-04-07 12:00:00"


def test_given_time_budget_runs_out_then_run_stops_after_a_batch_and_the_next_resumes(
    aws: Aws, source: OperationalDb
) -> None:
    first = run(aws, source, "orders", batch_rows=2, should_stop=lambda: True)
    rest = run(aws, source, "orders", batch_rows=2)

    assert not first.complete and len(first.batches) == 1
    assert rest.complete
    assert first.good + first.quarantined + rest.good + rest.quarantined == len(ORDERS)


def test_given_write_fails_then_watermark_does_not_move(aws: Aws, source: OperationalDb) -> None:
    class BrokenS3:
        def put_bytes(self, *args: Any, **kwargs: Any) -> None:
            raise ConnectionError("S3 unavailable")

    db = open_source_database(source.url)
    with pytest.raises(ConnectionError):
        mine(
            "orders",
            db=db,
            s3=cast(Any, BrokenS3()),
            watermarks=aws.watermarks,
            key=aws.key,
            now=NOW,
            lake_bucket=aws.lake_bucket,
        )
    db.close()

    assert aws.watermarks.get("orders") is None


@pytest.mark.parametrize(
    ("function", "expected"),
    [("mine_registrations", (2, 1)), ("mine_orders", (3, 1)), ("mine_payments", (2, 0))],
)
def test_given_scheduled_event_when_handler_runs_then_source_is_mined(
    aws: Aws,
    source: OperationalDb,
    monkeypatch: pytest.MonkeyPatch,
    lambda_context: Any,
    function: str,
    expected: tuple[int, int],
) -> None:
    monkeypatch.setenv(c.ENV_SOURCE_DB_URL, source.url)
    event = json.loads((ROOT / "tests" / "events" / "eventbridge_scheduled.json").read_text())
    handler = load_handler(function)

    response = handler.handler(event, lambda_context)

    assert (response["good"], response["quarantined"]) == expected
    assert response["complete"] is True


def test_given_mined_lake_when_loaded_twice_then_warehouse_row_counts_do_not_change(
    aws: Aws, source: OperationalDb
) -> None:
    for name in ("registrations", "orders", "payments"):
        run(aws, source, name)
    source.update("orders", "O4", status="delivered", updated_at="2024-05-31 18:00:00")
    run(aws, source, "orders")

    with DuckDBWarehouse(s3=aws.s3) as warehouse:
        first = load_lake(warehouse, lake_bucket=aws.lake_bucket)
        second = load_lake(warehouse, lake_bucket=aws.lake_bucket)
        status = (
            warehouse.query(
                "SELECT status FROM orders WHERE order_id = :o4", {"o4": order_tokens(aws, "O4")[0]}
            )
            .column("status")
            .to_pylist()
        )
        assert count_rows(warehouse, "orders") == 3

    assert [r.rows_in_table for r in first] == [2, 3, 2]
    assert [r.rows_in_table for r in second] == [2, 3, 2]
    assert status == ["delivered"]


def test_given_local_setup_helpers_when_run_twice_then_resources_are_reused(aws: Aws) -> None:
    secret = aws.secrets.ensure_random_hex("credo/another-key")

    assert aws.secrets.ensure_random_hex("credo/another-key") == secret
    assert len(bytes.fromhex(secret)) == 32
    aws.s3.ensure_bucket(aws.lake_bucket)  # already there: no error
    ensure_table("credo-watermarks-test")


def test_given_parameter_when_put_twice_then_latest_value_and_version_come_back(aws: Aws) -> None:
    parameters = ParameterStore.create()

    assert parameters.put("/credo/test-policy", '{"v": 1}') == 1
    assert parameters.put("/credo/test-policy", '{"v": 2}') == 2
    assert parameters.get("/credo/test-policy") == '{"v": 2}'


def test_given_a_watermark_when_asked_to_move_backwards_then_it_stays(aws: Aws) -> None:
    assert aws.watermarks.advance("orders", "2024-01-02 00:00:00", {"rows": 10})
    assert aws.watermarks.advance("orders", "2024-01-02 00:00:00", {"rows": 10})  # same point: a re-run

    moved = aws.watermarks.advance("orders", "2024-01-01 00:00:00", {"rows": 5})

    assert moved is False
    state = aws.watermarks.get("orders")
    assert state is not None and state["updated_at"] == "2024-01-02 00:00:00" and int(state["rows"]) == 10
