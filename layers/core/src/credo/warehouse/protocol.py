"""The Warehouse interface: Redshift in AWS, DuckDB on a laptop. SQL passed in is Redshift's."""

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import pyarrow as pa


class Warehouse(Protocol):
    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        """Run a Redshift-dialect script (one or more statements); `:name` binds params[name]."""
        ...

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> pa.Table:
        """Run one Redshift-dialect SELECT and return its rows."""
        ...

    def load_parquet(self, table: str, sources: Sequence[str]) -> int:
        """(Re)create staging `table` from Parquet: s3:// objects or prefixes ending in '/', or local paths.

        Returns the rows staged; no sources (or an empty prefix) stage nothing and return 0.
        """
        ...

    def merge(self, table: str, staging: str, key: str | Sequence[str]) -> None:
        """Upsert the newest staged row per natural key (one column or several) into `table`.

        Drops the staging table afterwards.
        """
        ...
