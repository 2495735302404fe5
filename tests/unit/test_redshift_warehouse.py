"""RedshiftWarehouse: the exact Redshift Data API calls it makes, on a botocore Stubber.

moto's redshift-data never finishes a statement, so the Data API is stubbed; a fake clock moves
only when the warehouse sleeps, so no test waits. What the SQL means is tested on DuckDB.
"""

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import botocore.session
import pyarrow as pa
import pytest
from botocore.stub import Stubber

from credo.warehouse.protocol import (
    StatementAbortedError,
    StatementFailedError,
    StatementTimeoutError,
    WarehouseError,
)
from credo.warehouse.redshift import RedshiftWarehouse
from credo.warehouse.sql import split_statements, sql_literal
from tests.fakes import FakeClock

WORKGROUP = "credo-wg"
DATABASE = "credo"
ROLE = "arn:aws:iam::123456789012:role/credo-redshift-s3"
TARGET = {"WorkgroupName": WORKGROUP, "Database": DATABASE}
POLL = 2.0
TIMEOUT = 5.0


@dataclass
class FakeS3:
    """Just the S3Store calls the warehouse makes: listing a prefix and reading the manifest."""

    objects: dict[tuple[str, str], bytes] = field(default_factory=dict)

    def list_keys(self, bucket: str, prefix: str) -> Iterator[str]:
        return iter(sorted(key for b, key in self.objects if b == bucket and key.startswith(prefix)))

    def get_bytes(self, bucket: str, key: str) -> bytes:
        return self.objects[(bucket, key)]


@dataclass
class Rig:
    client: Any
    warehouse: RedshiftWarehouse
    stub: Stubber
    clock: FakeClock
    s3: FakeS3

    def submitted(self, statement_id: str, sql: str, parameters: list[dict[str, str]] | None = None) -> None:
        expected: dict[str, Any] = {"Sql": sql, **TARGET}
        if parameters:
            expected["Parameters"] = parameters
        self.stub.add_response("execute_statement", {"Id": statement_id}, expected)

    def batch_submitted(self, statement_id: str, sqls: list[str]) -> None:
        self.stub.add_response("batch_execute_statement", {"Id": statement_id}, {"Sqls": sqls, **TARGET})

    def described(self, statement_id: str, status: str, **extra: Any) -> None:
        self.stub.add_response(
            "describe_statement", {"Id": statement_id, "Status": status, **extra}, {"Id": statement_id}
        )


@pytest.fixture
def rig() -> Iterator[Rig]:
    client = botocore.session.get_session().create_client(
        "redshift-data", region_name="ap-south-1", aws_access_key_id="x", aws_secret_access_key="y"
    )
    clock, s3 = FakeClock(), FakeS3()
    warehouse = RedshiftWarehouse(
        client,
        workgroup=WORKGROUP,
        database=DATABASE,
        copy_role_arn=ROLE,
        s3=s3,  # type: ignore[arg-type]
        poll_interval=POLL,
        timeout=TIMEOUT,
        clock=clock,
        sleep=clock.sleep,
    )
    with Stubber(client) as stub:
        yield Rig(client, warehouse, stub, clock, s3)
        stub.assert_no_pending_responses()


# --- execute -----------------------------------------------------------------------------------


def test_given_one_statement_with_params_when_executed_then_execute_statement_binds_them(rig: Rig) -> None:
    sql = "DELETE FROM orders WHERE placed_at < :before AND status = :status"
    rig.submitted(
        "s-1",
        sql,
        [{"name": "before", "value": "2024-06-01 10:30:00"}, {"name": "status", "value": "rto"}],
    )
    rig.described("s-1", "FINISHED")

    rig.warehouse.execute(sql, {"before": datetime(2024, 6, 1, 10, 30), "status": "rto", "unused": 1})

    assert rig.clock.sleeps == []


def test_given_null_and_empty_params_when_executed_then_they_are_inlined_as_literals(rig: Rig) -> None:
    # The Data API takes only non-empty string values: NULL and '' go into the text.
    rig.submitted(
        "s-1",
        "UPDATE orders SET emi_tenure_months = NULL, category = '' WHERE token = :token",
        [{"name": "token", "value": "t1"}],
    )
    rig.described("s-1", "FINISHED")

    rig.warehouse.execute(
        "UPDATE orders SET emi_tenure_months = :tenure, category = :category WHERE token = :token",
        {"tenure": None, "category": "", "token": "t1"},
    )


def test_given_script_with_comments_when_executed_then_one_batch_of_its_statements(rig: Rig) -> None:
    script = """
    -- a comment; with a semicolon
    DROP TABLE IF EXISTS t;  /* block ; comment */
    CREATE TABLE t (note VARCHAR(8));
    INSERT INTO t VALUES ('a;b');
    -- trailing comment only;
    """
    rig.batch_submitted(
        "b-1", ["DROP TABLE IF EXISTS t", "CREATE TABLE t (note VARCHAR(8))", "INSERT INTO t VALUES ('a;b')"]
    )
    rig.described("b-1", "FINISHED")

    rig.warehouse.execute(script)


def test_given_more_statements_than_a_batch_holds_then_refused_before_any_call(rig: Rig) -> None:
    with pytest.raises(ValueError, match="at most 40"):
        rig.warehouse.execute(";".join(["SELECT 1"] * 41))


def test_given_a_missing_param_then_refused_by_name_before_any_call(rig: Rig) -> None:
    with pytest.raises(KeyError, match="as_of"):
        rig.warehouse.execute("SELECT CAST(:as_of AS DATE)", {})


# --- polling and typed errors ---------------------------------------------------------------------


def test_given_statement_submitted_then_started_then_finished_it_polls_at_the_injected_interval(
    rig: Rig,
) -> None:
    rig.submitted("s-1", "ANALYZE orders")
    for status in ("SUBMITTED", "STARTED", "FINISHED"):
        rig.described("s-1", status)

    rig.warehouse.execute("ANALYZE orders")

    assert rig.clock.sleeps == [POLL, POLL]


def test_given_statement_failed_then_typed_error_carries_redshift_text_and_id_not_values(rig: Rig) -> None:
    rig.submitted("s-9", "SELECT CAST(:token AS INTEGER)", [{"name": "token", "value": "tok_secret"}])
    rig.described("s-9", "STARTED")
    rig.described("s-9", "FAILED", Error="ERROR: invalid input syntax for integer")

    with pytest.raises(StatementFailedError) as failure:
        rig.warehouse.execute("SELECT CAST(:token AS INTEGER)", {"token": "tok_secret"})

    assert failure.value.statement_id == "s-9"
    assert failure.value.error == "ERROR: invalid input syntax for integer"
    assert "s-9" in str(failure.value) and "invalid input syntax" in str(failure.value)
    assert "tok_secret" not in str(failure.value)


def test_given_batch_failed_without_top_level_text_then_the_failing_sub_statement_is_named(rig: Rig) -> None:
    rig.batch_submitted("b-1", ["SELECT 1", "SELECT x"])
    rig.described(
        "b-1",
        "FAILED",
        SubStatements=[
            {"Id": "b-1:1", "Status": "FINISHED"},
            {"Id": "b-1:2", "Status": "FAILED", "Error": 'column "x" does not exist'},
        ],
    )

    with pytest.raises(StatementFailedError, match=r'b-1:2: column "x" does not exist'):
        rig.warehouse.execute("SELECT 1; SELECT x")


def test_given_statement_aborted_then_aborted_error(rig: Rig) -> None:
    rig.submitted("s-1", "VACUUM orders")
    rig.described("s-1", "ABORTED")

    with pytest.raises(StatementAbortedError) as aborted:
        rig.warehouse.execute("VACUUM orders")
    assert aborted.value.statement_id == "s-1"
    assert isinstance(aborted.value, WarehouseError)


def test_given_statement_still_running_at_the_deadline_then_cancelled_and_timeout_error(rig: Rig) -> None:
    rig.submitted("s-1", "VACUUM orders")
    for _ in range(4):  # t = 0, 2, 4, 5
        rig.described("s-1", "STARTED")
    rig.stub.add_response("cancel_statement", {"Status": True}, {"Id": "s-1"})

    with pytest.raises(StatementTimeoutError) as timeout:
        rig.warehouse.execute("VACUUM orders")

    assert timeout.value.statement_id == "s-1"
    assert timeout.value.timeout_seconds == TIMEOUT
    assert rig.clock.sleeps == [POLL, POLL, 1.0]  # the last sleep stops at the deadline
    assert rig.clock.now == TIMEOUT


def test_given_cancel_refused_at_the_deadline_then_still_a_timeout_error(rig: Rig) -> None:
    rig.submitted("s-1", "VACUUM orders")
    for _ in range(4):
        rig.described("s-1", "STARTED")
    rig.stub.add_client_error("cancel_statement", "ValidationException", "Could not cancel a query")

    with pytest.raises(StatementTimeoutError):
        rig.warehouse.execute("VACUUM orders")


# --- query results -------------------------------------------------------------------------------

COLUMNS = [
    {"name": "n", "typeName": "int8"},
    {"name": "small", "typeName": "int2"},
    {"name": "amount", "typeName": "float8"},
    {"name": "ratio", "typeName": "numeric"},
    {"name": "flag", "typeName": "bool"},
    {"name": "token", "typeName": "varchar"},
    {"name": "day", "typeName": "date"},
    {"name": "at", "typeName": "timestamp"},
]


def test_given_result_over_two_pages_when_queried_then_one_typed_table_with_nulls(rig: Rig) -> None:
    sql = "SELECT * FROM facts WHERE day < :as_of"
    rig.submitted("q-1", sql, [{"name": "as_of", "value": "2024-06-01"}])
    rig.described("q-1", "FINISHED", HasResultSet=True)
    first = [
        [
            {"longValue": 1},
            {"longValue": 2},
            {"doubleValue": 10.5},
            {"stringValue": "0.25"},
            {"booleanValue": True},
            {"stringValue": "t1"},
            {"stringValue": "2024-05-31"},
            {"stringValue": "2024-05-31 23:59:59.5"},
        ]
    ]
    second = [[{"isNull": True}] * len(COLUMNS)]
    rig.stub.add_response(
        "get_statement_result",
        {"Records": first, "ColumnMetadata": COLUMNS, "TotalNumRows": 2, "NextToken": "page-2"},
        {"Id": "q-1"},
    )
    rig.stub.add_response(
        "get_statement_result",
        {"Records": second, "ColumnMetadata": COLUMNS, "TotalNumRows": 2},
        {"Id": "q-1", "NextToken": "page-2"},
    )

    table = rig.warehouse.query(sql, {"as_of": date(2024, 6, 1)})

    assert table.schema == pa.schema(
        [
            ("n", pa.int64()),
            ("small", pa.int16()),
            ("amount", pa.float64()),
            ("ratio", pa.float64()),
            ("flag", pa.bool_()),
            ("token", pa.string()),
            ("day", pa.date32()),
            ("at", pa.timestamp("us")),
        ]
    )
    assert table.to_pylist() == [
        {
            "n": 1,
            "small": 2,
            "amount": 10.5,
            "ratio": 0.25,
            "flag": True,
            "token": "t1",
            "day": date(2024, 5, 31),
            "at": datetime(2024, 5, 31, 23, 59, 59, 500000),
        },
        dict.fromkeys((c["name"] for c in COLUMNS), None),
    ]


def test_given_statement_without_result_set_when_queried_then_empty_table(rig: Rig) -> None:
    rig.submitted("q-1", "SELECT 1 WHERE FALSE")
    rig.described("q-1", "FINISHED", HasResultSet=False)

    assert rig.warehouse.query("SELECT 1 WHERE FALSE").num_rows == 0


def test_given_two_statements_when_queried_then_refused(rig: Rig) -> None:
    with pytest.raises(ValueError, match="one statement"):
        rig.warehouse.query("SELECT 1; SELECT 2")


# --- load (COPY), merge, unload ----------------------------------------------------------------


def count_result(rig: Rig, statement_id: str, sql: str, n: int) -> None:
    rig.submitted(statement_id, sql)
    rig.described(statement_id, "FINISHED", HasResultSet=True)
    rig.stub.add_response(
        "get_statement_result",
        {"Records": [[{"longValue": n}]], "ColumnMetadata": [{"name": "n", "typeName": "int8"}]},
        {"Id": statement_id},
    )


def test_given_s3_sources_when_loaded_then_staging_is_created_like_the_target_and_copied_with_the_role(
    rig: Rig,
) -> None:
    rig.s3.objects[("lake", "raw/orders/dt=2024-06-01/part-0.parquet")] = b"PAR1"
    rig.batch_submitted(
        "b-1",
        [
            "DROP TABLE IF EXISTS stage_orders",
            "CREATE TABLE stage_orders (LIKE orders)",
            f"COPY stage_orders FROM 's3://lake/raw/orders/' IAM_ROLE '{ROLE}' FORMAT AS PARQUET",
            f"COPY stage_orders FROM 's3://lake/late/part-9.parquet' IAM_ROLE '{ROLE}' FORMAT AS PARQUET",
        ],
    )
    rig.described("b-1", "FINISHED")
    count_result(rig, "q-1", "SELECT COUNT(*) AS n FROM stage_orders", 3)

    staged = rig.warehouse.load_parquet(
        "stage_orders", ["s3://lake/raw/orders/", "s3://lake/late/part-9.parquet"], like="orders"
    )

    assert staged == 3


def test_given_only_empty_prefixes_when_loaded_then_nothing_is_staged_and_redshift_is_not_called(
    rig: Rig,
) -> None:
    assert rig.warehouse.load_parquet("stage_orders", ["s3://lake/raw/orders/"], like="orders") == 0


@pytest.mark.parametrize(
    ("sources", "like", "message"),
    [
        (["s3://lake/raw/orders/"], None, "like="),
        (["/tmp/orders.parquet"], "orders", "only s3://"),
        (["s3://lake/raw/orders/"], "orders; DROP TABLE x", "identifier"),
    ],
)
def test_given_bad_load_arguments_then_refused_before_any_call(
    rig: Rig, sources: list[str], like: str | None, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        rig.warehouse.load_parquet("stage_orders", sources, like=like)


def test_given_composite_key_when_merged_then_one_batch_matching_on_every_key_column(rig: Rig) -> None:
    captured: list[list[str]] = []
    rig.client.meta.events.register(
        "provide-client-params.redshift-data.BatchExecuteStatement",
        lambda params, **_: captured.append(params["Sqls"]),
    )
    rig.stub.add_response("batch_execute_statement", {"Id": "b-1"})
    rig.described("b-1", "FINISHED")

    rig.warehouse.merge("orders", "stage_orders", ("order_id", "token"))

    [sqls] = captured
    assert [sql.split()[0] for sql in sqls] == ["DROP", "CREATE", "DELETE", "MERGE", "DROP", "DROP"]
    assert sqls[1].endswith(
        "QUALIFY ROW_NUMBER() OVER (PARTITION BY order_id, token ORDER BY updated_at DESC) = 1"
    )
    assert sqls[3].startswith(
        "MERGE INTO orders USING stage_orders_latest AS s "
        "ON orders.order_id = s.order_id AND orders.token = s.token"
    )
    assert sqls[5] == "DROP TABLE IF EXISTS stage_orders"


def test_given_select_with_params_when_unloaded_then_unload_text_is_quoted_and_manifest_uris_returned(
    rig: Rig,
) -> None:
    sql = """
    -- features for the snapshot
    SELECT token, 'it''s' AS note FROM features
    WHERE snapshot_date = :as_of AND payment_method = :method AND score > :floor;
    """
    inner = (
        "SELECT token, ''it''''s'' AS note FROM features\n"
        "    WHERE snapshot_date = DATE ''2024-06-01'' AND payment_method = ''cod'' AND score > (-1.5)"
    )
    rig.submitted(
        "u-1",
        f"UNLOAD ('{inner}') TO 's3://lake/features/dt=2024-06-01/' IAM_ROLE '{ROLE}' "
        "FORMAT AS PARQUET MANIFEST CLEANPATH ENCRYPTED AUTO",
    )
    rig.described("u-1", "FINISHED")
    parts = [f"s3://lake/features/dt=2024-06-01/000{i}_part_00.parquet" for i in (0, 1)]
    manifest = {"entries": [{"url": url, "meta": {"content_length": 10}} for url in parts]}
    rig.s3.objects[("lake", "features/dt=2024-06-01/manifest")] = json.dumps(manifest).encode()

    written = rig.warehouse.unload_parquet(
        sql, {"as_of": date(2024, 6, 1), "method": "cod", "floor": -1.5}, "s3://lake/features/dt=2024-06-01/"
    )

    assert written == parts


def test_given_backslash_in_the_select_when_unloaded_then_it_is_escaped_for_the_outer_literal(
    rig: Rig,
) -> None:
    rig.submitted(
        "u-1",
        "UNLOAD ('SELECT REGEXP_REPLACE(token, ''\\\\d'', '''') AS t FROM x') TO 's3://lake/out/' "
        f"IAM_ROLE '{ROLE}' FORMAT AS PARQUET MANIFEST CLEANPATH ENCRYPTED AUTO",
    )
    rig.described("u-1", "FINISHED")
    rig.s3.objects[("lake", "out/manifest")] = b'{"entries": []}'

    assert (
        rig.warehouse.unload_parquet(
            "SELECT REGEXP_REPLACE(token, '\\d', '') AS t FROM x", None, "s3://lake/out/"
        )
        == []
    )


@pytest.mark.parametrize(
    ("sql", "params", "destination", "error"),
    [
        ("SELECT 1 AS a", None, "s3://lake/out", ValueError),  # a name prefix, not a folder
        ("SELECT 1 AS a", None, "s3://lake/", ValueError),  # CLEANPATH would empty the bucket
        ("SELECT 1 AS a", None, "/tmp/out/", ValueError),
        ("DELETE FROM t", None, "s3://lake/out/", ValueError),
        ("SELECT :v AS a", {"v": "a\\'; DROP TABLE t; --"}, "s3://lake/out/", ValueError),
        ("SELECT :v AS a", {"v": object()}, "s3://lake/out/", TypeError),
    ],
)
def test_given_unsafe_unload_then_refused_before_any_call(
    rig: Rig, sql: str, params: dict[str, Any] | None, destination: str, error: type[Exception]
) -> None:
    with pytest.raises(error):
        rig.warehouse.unload_parquet(sql, params, destination)


def test_given_a_role_that_is_not_an_iam_role_arn_then_refused() -> None:
    with pytest.raises(ValueError, match="IAM role ARN"):
        RedshiftWarehouse(object(), workgroup=WORKGROUP, database=DATABASE, copy_role_arn="x' --")


def test_given_secret_arn_then_every_call_carries_it() -> None:
    client = botocore.session.get_session().create_client(
        "redshift-data", region_name="ap-south-1", aws_access_key_id="x", aws_secret_access_key="y"
    )
    secret = "arn:aws:secretsmanager:ap-south-1:123456789012:secret:credo-redshift-AbCdEf"
    warehouse = RedshiftWarehouse(
        client, workgroup=WORKGROUP, database=DATABASE, copy_role_arn=ROLE, secret_arn=secret
    )
    with Stubber(client) as stub:
        stub.add_response(
            "execute_statement", {"Id": "s-1"}, {"Sql": "SELECT 1", **TARGET, "SecretArn": secret}
        )
        stub.add_response("describe_statement", {"Id": "s-1", "Status": "FINISHED"}, {"Id": "s-1"})
        warehouse.execute("SELECT 1")
        stub.assert_no_pending_responses()


# --- statement splitting and literals (shared with DuckDB) --------------------------------------


def test_given_placeholders_in_strings_casts_and_comments_then_only_real_ones_are_found() -> None:
    [statement] = split_statements(
        "SELECT ':no', x::int, a-:delta /* :nor */ FROM t WHERE d = :as_of -- :not"
    )

    assert statement.names == ("delta", "as_of")
    assert statement.inline({"delta": -1, "as_of": date(2024, 6, 1)}) == (
        "SELECT ':no', x::int, a-(-1) /* :nor */ FROM t WHERE d = DATE '2024-06-01'"
    )


@pytest.mark.parametrize(
    ("value", "literal"),
    [
        (None, "NULL"),
        (True, "TRUE"),
        (42, "42"),
        (-1.5, "(-1.5)"),
        ("O'Brien", "'O''Brien'"),
        (date(2024, 6, 1), "DATE '2024-06-01'"),
        (datetime(2024, 6, 1, 9, 5), "TIMESTAMP '2024-06-01 09:05:00'"),
    ],
)
def test_given_a_value_then_its_sql_literal(value: Any, literal: str) -> None:
    assert sql_literal(value) == literal


@pytest.mark.parametrize("value", ["a\\b", "a\x00b", float("nan"), b"bytes"])
def test_given_a_value_that_cannot_be_a_safe_literal_then_refused(value: Any) -> None:
    with pytest.raises((ValueError, TypeError)):
        sql_literal(value)
