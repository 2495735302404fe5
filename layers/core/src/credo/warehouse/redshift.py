"""RedshiftWarehouse: the Warehouse on Redshift Serverless, through the Redshift Data API.

The Data API is asynchronous: a statement is submitted, then described until its status is
final, with an injected poll interval, deadline, clock and sleep (tests never sleep). moto cannot
run SQL, so tests check the exact calls made here and DuckDB checks the SQL itself.
"""

import json
import re
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Final

import pyarrow as pa
from botocore.exceptions import ClientError

from credo.adapters import aws_client
from credo.adapters.s3 import S3Store, split_s3_uri
from credo.warehouse.protocol import (
    StatementAbortedError,
    StatementFailedError,
    StatementTimeoutError,
    WarehouseError,
)
from credo.warehouse.sql import (
    Statement,
    check_params,
    merge_script,
    plain_identifier,
    split_statements,
    sql_literal,
)

# Statement status sets of DescribeStatement.
FINISHED: Final = frozenset({"FINISHED"})
FAILED: Final = frozenset({"FAILED"})
ABORTED: Final = frozenset({"ABORTED"})
RUNNING: Final = frozenset({"SUBMITTED", "PICKED", "STARTED"})

MAX_BATCH_STATEMENTS: Final = 40  # BatchExecuteStatement's limit on Sqls
DEFAULT_POLL_INTERVAL: Final = 0.5
DEFAULT_TIMEOUT: Final = 600.0  # seconds a statement may take; below Lambda's 15-minute ceiling
MANIFEST_NAME: Final = "manifest"  # UNLOAD … MANIFEST writes <prefix>manifest
_ROLE_ARN: Final = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:role/[A-Za-z0-9+=,.@_/-]+")

_ARROW_TYPES: Final[dict[str, pa.DataType]] = {
    "int2": pa.int16(),
    "int4": pa.int32(),
    "int8": pa.int64(),
    "float4": pa.float32(),
    "float8": pa.float64(),
    "numeric": pa.float64(),  # features are floats downstream; DECIMAL precision is not needed
    "bool": pa.bool_(),
    "varchar": pa.string(),
    "bpchar": pa.string(),
    "char": pa.string(),
    "text": pa.string(),
    "name": pa.string(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us"),
    "timestamptz": pa.timestamp("us", tz="UTC"),
}


class RedshiftWarehouse:
    """A Warehouse on a Redshift Serverless workgroup, over an injected `redshift-data` client."""

    def __init__(
        self,
        client: Any,
        *,
        workgroup: str,
        database: str,
        copy_role_arn: str,
        unload_role_arn: str | None = None,
        secret_arn: str | None = None,
        s3: S3Store | None = None,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        timeout: float = DEFAULT_TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if poll_interval <= 0 or timeout <= 0:
            raise ValueError("poll_interval and timeout must be positive")
        self._client = client
        self._target: dict[str, str] = {"WorkgroupName": workgroup, "Database": database}
        if secret_arn:
            self._target["SecretArn"] = secret_arn
        self._copy_role = _role_arn(copy_role_arn)
        self._unload_role = _role_arn(unload_role_arn or copy_role_arn)
        self._s3 = s3
        self._poll_interval = poll_interval
        self._timeout = timeout
        self._clock = clock
        self._sleep = sleep

    @classmethod
    def create(
        cls,
        workgroup: str,
        database: str,
        copy_role_arn: str,
        *,
        unload_role_arn: str | None = None,
        secret_arn: str | None = None,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> "RedshiftWarehouse":
        return cls(
            aws_client("redshift-data"),
            workgroup=workgroup,
            database=database,
            copy_role_arn=copy_role_arn,
            unload_role_arn=unload_role_arn,
            secret_arn=secret_arn,
            s3=S3Store.create(),
            poll_interval=poll_interval,
            timeout=timeout,
        )

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        """One statement → ExecuteStatement; several → BatchExecuteStatement (one transaction)."""
        self._run(split_statements(sql), params)

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> pa.Table:
        statements = split_statements(sql)
        if len(statements) != 1:
            raise ValueError(f"query() takes one statement, got {len(statements)}")
        statement_id = self._submit(statements, params)
        if not self._wait(statement_id).get("HasResultSet"):
            return pa.table({})
        return self._fetch(statement_id)

    def load_parquet(self, table: str, sources: Sequence[str], *, like: str | None = None) -> int:
        """DROP, CREATE TABLE … (LIKE target), one COPY per source in one transaction; rows staged."""
        if like is None:
            raise ValueError("RedshiftWarehouse.load_parquet needs like=<the target table>")
        staging, target = plain_identifier(table), plain_identifier(like)
        for source in sources:
            if not source.startswith("s3://"):
                raise ValueError(f"Redshift COPY reads only s3:// sources, not {source!r}")
        # COPY fails on a prefix with no objects; an empty prefix stages nothing instead.
        uris = [uri for uri in sources if self._has_objects(uri)]
        if not uris:
            return 0
        role = sql_literal(self._copy_role)
        copies = [f"COPY {staging} FROM {sql_literal(uri)} IAM_ROLE {role} FORMAT AS PARQUET" for uri in uris]
        self._run_texts(
            [f"DROP TABLE IF EXISTS {staging}", f"CREATE TABLE {staging} (LIKE {target})", *copies]
        )
        staged = self.query(f"SELECT COUNT(*) AS n FROM {staging}")
        return int(staged.column("n")[0].as_py())

    def merge(self, table: str, staging: str, key: str | Sequence[str]) -> None:
        keys = [key] if isinstance(key, str) else list(key)
        script = merge_script(
            plain_identifier(table), plain_identifier(staging), [plain_identifier(k) for k in keys]
        )
        self.execute(script)

    def unload_parquet(self, sql: str, params: Mapping[str, Any] | None, destination: str) -> list[str]:
        """UNLOAD … FORMAT AS PARQUET MANIFEST CLEANPATH ENCRYPTED AUTO; the part URIs in the manifest.

        ENCRYPTED AUTO writes with the bucket's default encryption (the lake's KMS key); without it
        UNLOAD writes SSE-S3 and the training set would sit in the lake under another key.
        """
        statements = split_statements(sql)
        if len(statements) != 1 or statements[0].keyword not in ("SELECT", "WITH"):
            raise ValueError("unload_parquet takes one SELECT")
        if self._s3 is None:
            raise ValueError("RedshiftWarehouse needs an S3Store to read the UNLOAD manifest")
        bucket, prefix = split_s3_uri(destination)
        if not prefix.endswith("/") or prefix == "/":
            raise ValueError("unload destination must be an s3:// prefix ending in '/' below the bucket")
        select = statements[0].inline(params or {})  # UNLOAD binds no parameters
        # The SELECT becomes a string literal: Redshift reads '' and \\ in it as ' and \.
        quoted = "'" + select.replace("\\", "\\\\").replace("'", "''") + "'"
        self._run_texts(
            [
                f"UNLOAD ({quoted}) TO {sql_literal(destination)} IAM_ROLE {sql_literal(self._unload_role)} "
                "FORMAT AS PARQUET MANIFEST CLEANPATH ENCRYPTED AUTO"
            ]
        )
        manifest = json.loads(self._s3.get_bytes(bucket, prefix + MANIFEST_NAME))
        return [str(entry["url"]) for entry in manifest.get("entries", [])]

    def _run(self, statements: Sequence[Statement], params: Mapping[str, Any] | None) -> None:
        if statements:
            self._wait(self._submit(statements, params))

    def _run_texts(self, texts: Sequence[str]) -> None:
        """Run SQL this module wrote (no placeholders, values already literals)."""
        self._run([Statement(text, text.split(None, 1)[0].upper(), ()) for text in texts], None)

    def _submit(self, statements: Sequence[Statement], params: Mapping[str, Any] | None) -> str:
        texts, parameters = _bind(statements, params)
        request: dict[str, Any] = dict(self._target)
        if parameters:
            request["Parameters"] = parameters
        if len(texts) == 1:
            response = self._client.execute_statement(Sql=texts[0], **request)
        elif len(texts) <= MAX_BATCH_STATEMENTS:
            response = self._client.batch_execute_statement(Sqls=texts, **request)
        else:
            raise ValueError(f"a batch holds at most {MAX_BATCH_STATEMENTS} statements, got {len(texts)}")
        return str(response["Id"])

    def _wait(self, statement_id: str) -> dict[str, Any]:
        """Describe the statement until it is final; cancel it at the deadline."""
        deadline = self._clock() + self._timeout
        while True:
            description: dict[str, Any] = self._client.describe_statement(Id=statement_id)
            status = description["Status"]
            if status in FINISHED:
                return description
            if status in FAILED:
                raise StatementFailedError(_error_text(description), statement_id=statement_id)
            if status in ABORTED:
                raise StatementAbortedError(statement_id=statement_id)
            if status not in RUNNING:
                raise WarehouseError(f"statement {statement_id}: unexpected status {status!r}")
            remaining = deadline - self._clock()
            if remaining <= 0:
                timeout = StatementTimeoutError(self._timeout, statement_id=statement_id)
                try:
                    self._client.cancel_statement(Id=statement_id)
                except ClientError as error:  # it may have ended meanwhile; the timeout still stands
                    raise timeout from error
                raise timeout
            self._sleep(min(self._poll_interval, remaining))

    def _fetch(self, statement_id: str) -> pa.Table:
        """Every page of the result (NextToken), as one Arrow table."""
        columns: list[dict[str, Any]] = []
        records: list[list[dict[str, Any]]] = []
        request: dict[str, Any] = {"Id": statement_id}
        while True:
            page = self._client.get_statement_result(**request)
            columns = columns or page.get("ColumnMetadata", [])
            records.extend(page.get("Records", []))
            if not page.get("NextToken"):
                return result_table(columns, records)
            request["NextToken"] = page["NextToken"]

    def _has_objects(self, uri: str) -> bool:
        if self._s3 is None or not uri.endswith("/"):
            return True  # without S3 access, let COPY decide
        bucket, prefix = split_s3_uri(uri)
        return next(iter(self._s3.list_keys(bucket, prefix)), None) is not None


def result_table(
    columns: Sequence[Mapping[str, Any]], records: Sequence[Sequence[Mapping[str, Any]]]
) -> pa.Table:
    """Data API records as an Arrow table: names from ColumnMetadata, types from typeName."""
    arrays = []
    for index, column in enumerate(columns):
        arrow_type = _ARROW_TYPES.get(str(column.get("typeName", "")).lower(), pa.string())
        values = [_field_value(record[index], arrow_type) for record in records]
        arrays.append(pa.array(values, type=arrow_type))
    return pa.Table.from_arrays(arrays, names=[str(column["name"]) for column in columns])


def _field_value(field: Mapping[str, Any], arrow_type: pa.DataType) -> Any:
    if field.get("isNull"):
        return None
    value = next(v for k, v in field.items() if k != "isNull")
    if pa.types.is_integer(arrow_type):
        return int(value)
    if pa.types.is_floating(arrow_type):
        return float(value)  # numeric arrives as a string
    if pa.types.is_boolean(arrow_type):
        return bool(value)
    if pa.types.is_date(arrow_type):
        return date.fromisoformat(value)
    if pa.types.is_timestamp(arrow_type):
        return datetime.fromisoformat(value)
    return str(value)


def _bind(
    statements: Sequence[Statement], params: Mapping[str, Any] | None
) -> tuple[list[str], list[dict[str, str]]]:
    """Statement texts and the Data API Parameters they use.

    Parameters are non-empty strings; NULL and '' cannot be sent, so they go into the text as
    literals (no caller value reaches the text that way).
    """
    values = params or {}
    names = list(dict.fromkeys(name for statement in statements for name in statement.names))
    check_params(names, values)
    inlined = {name for name in names if values[name] is None or values[name] == ""}
    texts = [statement.inline(values, only=inlined) for statement in statements]
    parameters = [
        {"name": name, "value": parameter_value(values[name])} for name in names if name not in inlined
    ]
    return texts, parameters


def parameter_value(value: Any) -> str:
    """A Data API parameter value: Redshift casts the string where the statement uses it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal):
        return str(value)
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        return value
    raise TypeError(f"no Data API parameter for a {type(value).__name__}")


def _error_text(description: Mapping[str, Any]) -> str:
    """Redshift's error text; for a batch, the failing sub-statement's if the batch has none."""
    if description.get("Error"):
        return str(description["Error"])
    for sub in description.get("SubStatements", []):
        if sub.get("Status") in FAILED and sub.get("Error"):
            return f"{sub.get('Id', '?')}: {sub['Error']}"
    return "no error text from Redshift"


def _role_arn(arn: str) -> str:
    """An IAM role ARN, checked because it goes into COPY/UNLOAD text."""
    if not _ROLE_ARN.fullmatch(arn):
        raise ValueError(f"not an IAM role ARN: {arn!r}")
    return arn
