"""The warehouse: tables, loading the lake into them (staging → MERGE) and the feature SQL."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from functools import cache
from typing import Final

import pyarrow as pa
import sqlglot
from sqlglot import exp

from credo import constants as c
from credo.features import FEATURE_NAMES, LABEL_BUYING_COD_ORDERS, LABEL_BUYING_FAILED_ORDERS, LABEL_CREDIT
from credo.warehouse.protocol import Warehouse
from credo.warehouse.sql import FEATURES_SQL, SCHEMA_SQL, read_sql


@dataclass(frozen=True)
class SourceTable:
    """Where a mined source lands in the warehouse, and the columns that identify one of its rows."""

    table: str
    key: tuple[str, ...]


# Each mined source (raw/<source>/ in the lake) → its warehouse table and natural key. Keys with
# updated_at keep history: every version or lookup stays, and the feature SQL picks the one
# current at each snapshot.
SOURCE_TABLES: Final[dict[str, SourceTable]] = {
    "registrations": SourceTable("registrations", ("token", "updated_at")),
    "orders": SourceTable("orders", ("order_id",)),
    "payments": SourceTable("payments", ("bill_id",)),
    "marketing": SourceTable("ad_events", ("event_id",)),
    "reference": SourceTable("reference_matches", ("token", "registry", "updated_at")),
    "bureau": SourceTable("bureau_reports", ("token", "updated_at")),
}

# Natural key of each warehouse table.
TABLE_KEYS: Final[dict[str, tuple[str, ...]]] = {t.table: t.key for t in SOURCE_TABLES.values()}

FEATURE_TABLE_COLUMNS: Final[tuple[str, ...]] = (
    "token",
    "snapshot_date",
    *FEATURE_NAMES,
    LABEL_CREDIT,
    LABEL_BUYING_COD_ORDERS,
    LABEL_BUYING_FAILED_ORDERS,
    "in_credit_population",
    "in_buying_population",
)

# schema.sql column types (sqlglot's names) → the Arrow types the miners write to Parquet.
_ARROW_TYPES: Final[dict[str, pa.DataType]] = {
    "VARCHAR": pa.string(),
    "TIMESTAMP": pa.timestamp("us"),
    "DATE": pa.date32(),
    "INT": pa.int32(),
    "DOUBLE": pa.float64(),
    "BOOLEAN": pa.bool_(),
}


@dataclass(frozen=True)
class LoadResult:
    source: str
    table: str
    rows_staged: int
    rows_in_table: int


def create_tables(warehouse: Warehouse) -> None:
    """Create the warehouse tables if they are missing."""
    warehouse.execute(read_sql(SCHEMA_SQL))


def load_source(warehouse: Warehouse, *, source: str, lake_bucket: str) -> LoadResult:
    """Load every raw Parquet part of `source` into its table; loading twice changes nothing."""
    try:
        target = SOURCE_TABLES[source]
    except KeyError:
        raise ValueError(f"unknown source {source!r}; known: {', '.join(SOURCE_TABLES)}") from None
    staging = f"stage_{target.table}"
    # like=: Redshift creates the staging table from the target's columns before COPY
    staged = warehouse.load_parquet(
        staging, [f"s3://{lake_bucket}/{c.RAW_PREFIX}/{source}/"], like=target.table
    )
    if staged:
        warehouse.merge(target.table, staging, target.key)
    return LoadResult(
        source=source,
        table=target.table,
        rows_staged=staged,
        rows_in_table=count_rows(warehouse, target.table),
    )


def load_lake(warehouse: Warehouse, *, lake_bucket: str) -> list[LoadResult]:
    """Create the tables and load every source.

    A source not mined yet (no raw data, empty table) loads nothing and is left out of the result.
    """
    create_tables(warehouse)
    results = [load_source(warehouse, source=source, lake_bucket=lake_bucket) for source in SOURCE_TABLES]
    return [r for r in results if r.rows_staged or r.rows_in_table]


def count_rows(warehouse: Warehouse, table: str) -> int:
    if table not in TABLE_KEYS:
        raise ValueError(f"unknown warehouse table {table!r}")
    result = warehouse.query(f"SELECT COUNT(*) AS n FROM {table}")
    return int(result.column("n")[0].as_py())


@cache
def table_schema(table: str) -> pa.Schema:
    """The Arrow schema of a warehouse table as schema.sql declares it: what its Parquet must look like."""
    for statement in sqlglot.parse(read_sql(SCHEMA_SQL), read="redshift"):
        target = statement.find(exp.Table) if isinstance(statement, exp.Create) else None
        if statement is None or target is None or target.name != table:
            continue
        return pa.schema(
            pa.field(
                column.name,
                _ARROW_TYPES[column.kind.this.name] if column.kind else pa.null(),
                nullable=not any(isinstance(k.kind, exp.NotNullColumnConstraint) for k in column.constraints),
            )
            for column in statement.find_all(exp.ColumnDef)
        )
    raise KeyError(f"no table {table!r} in {SCHEMA_SQL}")


def build_features(warehouse: Warehouse, as_of: date) -> pa.Table:
    """Features and labels of every customer registered before `as_of`, one row each, point in time."""
    table = warehouse.query(read_sql(FEATURES_SQL), {"as_of": as_of})
    if tuple(table.column_names) != FEATURE_TABLE_COLUMNS:
        raise RuntimeError(f"feature SQL columns {table.column_names} differ from {FEATURE_TABLE_COLUMNS}")
    return table


def build_training_set(warehouse: Warehouse, snapshots: Sequence[date]) -> pa.Table:
    """Features and labels at several snapshot dates, stacked: one row per customer and snapshot."""
    if not snapshots:
        raise ValueError("a training set needs at least one snapshot date")
    return pa.concat_tables([build_features(warehouse, as_of) for as_of in sorted(set(snapshots))])


LABEL_COLUMNS: Final[tuple[str, ...]] = FEATURE_TABLE_COLUMNS[-5:]  # labels and their populations


def export_features(warehouse: Warehouse, snapshots: Sequence[date], *, labels: bool = False) -> pa.Table:
    """The features (and with `labels`, the labels) at each snapshot date, for `credo features`."""
    table = build_training_set(warehouse, snapshots)
    return table if labels else table.drop_columns(list(LABEL_COLUMNS))


__all__ = [
    "FEATURE_TABLE_COLUMNS",
    "LABEL_COLUMNS",
    "SOURCE_TABLES",
    "TABLE_KEYS",
    "LoadResult",
    "SourceTable",
    "Warehouse",
    "build_features",
    "build_training_set",
    "count_rows",
    "create_tables",
    "export_features",
    "load_lake",
    "load_source",
    "table_schema",
]
