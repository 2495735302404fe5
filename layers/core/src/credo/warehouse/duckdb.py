"""DuckDBWarehouse: the laptop stand-in for Redshift, on one DuckDB file.

S3 objects are downloaded through the S3 adapter to a temporary directory and read with
read_parquet, and unloads are uploaded through it: the simplest honest path (no DuckDB httpfs
credentials to keep in step with moto).
"""

import io
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Final

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from credo.adapters.s3 import S3Store, split_s3_uri
from credo.warehouse.protocol import StatementFailedError, WarehouseError
from credo.warehouse.sql import check_params, merge_script, plain_identifier, split_statements, to_duckdb

# Redshift names its first UNLOAD part like this; one DuckDB unload writes just that part.
UNLOAD_PART_NAME: Final = "0000_part_00.parquet"


class DuckDBWarehouse:
    """A Warehouse on a DuckDB database file (":memory:" for tests)."""

    def __init__(self, path: str | Path = ":memory:", *, s3: S3Store | None = None) -> None:
        self.path = str(path)
        self._s3 = s3
        self._connection = duckdb.connect(self.path)

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        for text, names in to_duckdb(sql):
            self._run(text, _bind(names, params))

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> pa.Table:
        statements = to_duckdb(sql)
        if len(statements) != 1:
            raise ValueError(f"query() takes one statement, got {len(statements)}")
        text, names = statements[0]
        bound = _bind(names, params)
        try:
            return self._connection.sql(text, params=bound).to_arrow_table()
        except duckdb.Error as error:
            raise StatementFailedError(str(error)) from error

    def load_parquet(self, table: str, sources: Sequence[str], *, like: str | None = None) -> int:
        staging = plain_identifier(table)
        with tempfile.TemporaryDirectory(prefix="credo-load-") as scratch:
            paths = self._local_paths(sources, Path(scratch))
            if not paths:
                return 0
            # union_by_name: parts written by different schema versions may order columns differently.
            # No hive_partitioning: COPY does not turn dt=… folders into a column, so neither may this.
            self._run(
                f"CREATE OR REPLACE TABLE {staging} AS "
                "SELECT * FROM read_parquet($paths, union_by_name = true, hive_partitioning = false)",
                {"paths": [str(path) for path in paths]},
            )
        if like is not None:
            self._check_columns(staging, plain_identifier(like))
        row = self._connection.execute(f"SELECT COUNT(*) FROM {staging}").fetchone()
        return int(row[0]) if row else 0

    def merge(self, table: str, staging: str, key: str | Sequence[str]) -> None:
        keys = [key] if isinstance(key, str) else list(key)
        self.execute(
            merge_script(
                plain_identifier(table), plain_identifier(staging), [plain_identifier(k) for k in keys]
            )
        )

    def unload_parquet(self, sql: str, params: Mapping[str, Any] | None, destination: str) -> list[str]:
        """Write the SELECT's rows as one Parquet part under an s3:// prefix or a local directory."""
        statements = split_statements(sql)
        if len(statements) != 1 or statements[0].keyword not in ("SELECT", "WITH"):
            raise ValueError("unload_parquet takes one SELECT")
        # DuckDB binds; Redshift's UNLOAD inlines. Refuse what inlining would, so laptop and AWS agree.
        statements[0].inline(params or {})
        table = self.query(sql, params)
        if destination.startswith("s3://"):
            return [self._upload(table, destination)]
        directory = Path(destination)
        directory.mkdir(parents=True, exist_ok=True)
        for stale in directory.glob("*_part_*.parquet"):  # what an earlier unload left, like CLEANPATH
            stale.unlink()
        path = directory / UNLOAD_PART_NAME
        pq.write_table(table, path)
        return [str(path)]

    def close(self) -> None:
        self._connection.close()

    def __enter__(self) -> "DuckDBWarehouse":
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def _run(self, text: str, params: Mapping[str, Any] | None = None) -> None:
        try:
            self._connection.execute(text, params)
        except duckdb.Error as error:
            raise StatementFailedError(str(error)) from error

    def _check_columns(self, staging: str, like: str) -> None:
        """Staged columns must be the target's, in order: Redshift's COPY matches Parquet by position."""
        staged, target = self._column_names(staging), self._column_names(like)
        if staged != target:
            raise WarehouseError(f"staged columns {list(staged)} differ from {like}'s {list(target)}")

    def _column_names(self, table: str) -> tuple[str, ...]:
        try:
            relation = self._connection.sql(f"SELECT * FROM {table} LIMIT 0")
        except duckdb.Error as error:
            raise StatementFailedError(str(error)) from error
        return tuple(relation.columns)

    def _upload(self, table: pa.Table, destination: str) -> str:
        if self._s3 is None:
            raise ValueError("DuckDBWarehouse needs an S3Store to unload to s3://")
        bucket, prefix = split_s3_uri(destination)
        if not prefix.endswith("/") or prefix == "/":
            raise ValueError("unload destination must be an s3:// prefix ending in '/' below the bucket")
        buffer = io.BytesIO()
        pq.write_table(table, buffer)
        key = prefix + UNLOAD_PART_NAME
        self._s3.put_bytes(bucket, key, buffer.getvalue())
        return f"s3://{bucket}/{key}"

    def _local_paths(self, sources: Sequence[str], scratch: Path) -> list[Path]:
        paths: list[Path] = []
        for source in sources:
            if source.startswith("s3://"):
                paths.extend(self._download(source, scratch))
            elif Path(source).is_dir():
                paths.extend(sorted(Path(source).rglob("*.parquet")))
            else:
                paths.append(Path(source))
        return paths

    def _download(self, uri: str, scratch: Path) -> list[Path]:
        if self._s3 is None:
            raise ValueError("DuckDBWarehouse needs an S3Store to load s3:// sources")
        bucket, key = split_s3_uri(uri)
        keys = (
            [k for k in self._s3.list_keys(bucket, key) if k.endswith(".parquet")]
            if key.endswith("/")
            else [key]
        )
        return [self._s3.download(bucket, k, scratch / bucket / k) for k in keys]


def _bind(names: Sequence[str], params: Mapping[str, Any] | None) -> dict[str, Any]:
    """Only the parameters a statement uses: DuckDB rejects unused named parameters."""
    check_params(names, params)
    return {name: (params or {})[name] for name in names}
