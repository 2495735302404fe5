"""The Warehouse interface: Redshift in AWS, DuckDB on a laptop. SQL passed in is Redshift's.

Errors a warehouse raises while running SQL are WarehouseErrors; mistakes in the call itself
(a missing parameter, a local path given to Redshift, an unsafe literal) are KeyError/ValueError.
"""

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import pyarrow as pa


class WarehouseError(Exception):
    """The warehouse could not run a statement, or its result is not what the caller needs."""


class StatementError(WarehouseError):
    """A statement ended without success; `statement_id` is Redshift's id (None on DuckDB)."""

    def __init__(self, message: str, *, statement_id: str | None = None) -> None:
        super().__init__(message if statement_id is None else f"statement {statement_id}: {message}")
        self.statement_id = statement_id


class StatementFailedError(StatementError):
    """The database reported an error; `error` is its text (never the parameters' values)."""

    def __init__(self, error: str, *, statement_id: str | None = None) -> None:
        super().__init__(f"failed: {error}", statement_id=statement_id)
        self.error = error


class StatementAbortedError(StatementError):
    """The statement was cancelled by someone else (a user, or Redshift itself)."""

    def __init__(self, *, statement_id: str | None = None) -> None:
        super().__init__("aborted", statement_id=statement_id)


class StatementTimeoutError(StatementError):
    """The statement did not finish before its deadline and was cancelled."""

    def __init__(self, timeout_seconds: float, *, statement_id: str | None = None) -> None:
        super().__init__(f"not finished after {timeout_seconds:g} s; cancelled", statement_id=statement_id)
        self.timeout_seconds = timeout_seconds


class Warehouse(Protocol):
    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        """Run a Redshift-dialect script (one or more statements); `:name` binds params[name]."""
        ...

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> pa.Table:
        """Run one Redshift-dialect SELECT and return its rows."""
        ...

    def load_parquet(self, table: str, sources: Sequence[str], *, like: str | None = None) -> int:
        """(Re)create staging `table` from Parquet: s3:// objects or prefixes ending in '/', or local paths.

        `like` names the warehouse table the staging table mirrors: Redshift needs it (CREATE
        TABLE … (LIKE …), COPY matches Parquet columns by position); DuckDB checks the columns
        against it. Returns the rows staged; no sources (or only empty prefixes) stage nothing
        and return 0.
        """
        ...

    def merge(self, table: str, staging: str, key: str | Sequence[str]) -> None:
        """Upsert the newest staged row per natural key (one column or several) into `table`.

        Drops the staging table afterwards.
        """
        ...

    def unload_parquet(self, sql: str, params: Mapping[str, Any] | None, destination: str) -> list[str]:
        """Write one Redshift-dialect SELECT's rows as Parquet under `destination`; return the files.

        `destination` is an s3:// prefix ending in '/' (DuckDB also takes a local directory);
        whatever an earlier unload left there is replaced. Parameters are inlined as literals
        (UNLOAD binds none): only None, bool, numbers, dates, datetimes and plain strings.
        """
        ...
