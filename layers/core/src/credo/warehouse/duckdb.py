"""DuckDBWarehouse: the laptop stand-in for Redshift, on one DuckDB file.

S3 objects are downloaded through the S3 adapter to a temporary directory and read with
read_parquet: the simplest honest path (no DuckDB httpfs credentials to keep in step with moto).
"""

import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import duckdb
import pyarrow as pa

from credo.adapters.s3 import S3Store, split_s3_uri
from credo.warehouse.sql import merge_script, to_duckdb


class DuckDBWarehouse:
    """A Warehouse on a DuckDB database file (":memory:" for tests)."""

    def __init__(self, path: str | Path = ":memory:", *, s3: S3Store | None = None) -> None:
        self.path = str(path)
        self._s3 = s3
        self._connection = duckdb.connect(self.path)

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        for text, names in to_duckdb(sql):
            self._connection.execute(text, _bind(names, params))

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> pa.Table:
        statements = to_duckdb(sql)
        if len(statements) != 1:
            raise ValueError(f"query() takes one statement, got {len(statements)}")
        text, names = statements[0]
        return self._connection.sql(text, params=_bind(names, params)).to_arrow_table()

    def load_parquet(self, table: str, sources: Sequence[str]) -> int:
        with tempfile.TemporaryDirectory(prefix="credo-load-") as scratch:
            paths = self._local_paths(sources, Path(scratch))
            if not paths:
                return 0
            # union_by_name: parts written by different schema versions may order columns differently
            self._connection.execute(
                f"CREATE OR REPLACE TABLE {_identifier(table)} AS "
                "SELECT * FROM read_parquet($paths, union_by_name = true)",
                {"paths": [str(path) for path in paths]},
            )
        row = self._connection.execute(f"SELECT COUNT(*) FROM {_identifier(table)}").fetchone()
        return int(row[0]) if row else 0

    def merge(self, table: str, staging: str, key: str | Sequence[str]) -> None:
        keys = [key] if isinstance(key, str) else list(key)
        self.execute(merge_script(_identifier(table), _identifier(staging), [_identifier(k) for k in keys]))

    def close(self) -> None:
        self._connection.close()

    def __enter__(self) -> "DuckDBWarehouse":
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

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
    params = params or {}
    missing = [name for name in names if name not in params]
    if missing:
        raise KeyError(f"missing SQL parameters: {', '.join(missing)}")
    return {name: params[name] for name in names}


def _identifier(name: str) -> str:
    if not name.replace("_", "").isalnum():
        raise ValueError(f"not a plain SQL identifier: {name!r}")
    return name
