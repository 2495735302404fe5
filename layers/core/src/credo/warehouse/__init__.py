"""The warehouse: tables, loading the lake into them (staging → MERGE) and the feature SQL."""

from dataclasses import dataclass
from datetime import date
from typing import Final

import pyarrow as pa

from credo import constants as c
from credo.features import FEATURE_NAMES, LABEL_BUYING, LABEL_CREDIT
from credo.warehouse.protocol import Warehouse
from credo.warehouse.sql import FEATURES_SQL, SCHEMA_SQL, read_sql

# Natural key of each warehouse table (= each mined source).
TABLE_KEYS: Final[dict[str, str]] = {"registrations": "token", "orders": "order_id", "payments": "bill_id"}

FEATURE_TABLE_COLUMNS: Final[tuple[str, ...]] = (
    "token",
    "snapshot_date",
    *FEATURE_NAMES,
    LABEL_CREDIT,
    LABEL_BUYING,
    "in_credit_population",
    "in_buying_population",
)


@dataclass(frozen=True)
class LoadResult:
    table: str
    rows_staged: int
    rows_in_table: int


def create_tables(warehouse: Warehouse) -> None:
    """Create the warehouse tables if they are missing."""
    warehouse.execute(read_sql(SCHEMA_SQL))


def load_source(warehouse: Warehouse, *, source: str, lake_bucket: str) -> LoadResult:
    """Load every raw Parquet part of `source` and upsert it; loading twice changes nothing."""
    key = TABLE_KEYS[source]
    staging = f"stage_{source}"
    staged = warehouse.load_parquet(staging, [f"s3://{lake_bucket}/{c.RAW_PREFIX}/{source}/"])
    if staged:
        warehouse.merge(source, staging, key)
    return LoadResult(table=source, rows_staged=staged, rows_in_table=count_rows(warehouse, source))


def load_lake(warehouse: Warehouse, *, lake_bucket: str) -> list[LoadResult]:
    """Create the tables and load every source."""
    create_tables(warehouse)
    return [load_source(warehouse, source=source, lake_bucket=lake_bucket) for source in TABLE_KEYS]


def count_rows(warehouse: Warehouse, table: str) -> int:
    if table not in TABLE_KEYS:
        raise ValueError(f"unknown warehouse table {table!r}")
    result = warehouse.query(f"SELECT COUNT(*) AS n FROM {table}")
    return int(result.column("n")[0].as_py())


def build_features(warehouse: Warehouse, as_of: date) -> pa.Table:
    """Features and labels of every customer registered before `as_of`, one row each, point in time."""
    table = warehouse.query(read_sql(FEATURES_SQL), {"as_of": as_of})
    if tuple(table.column_names) != FEATURE_TABLE_COLUMNS:
        raise RuntimeError(f"feature SQL columns {table.column_names} differ from {FEATURE_TABLE_COLUMNS}")
    return table


__all__ = [
    "FEATURE_TABLE_COLUMNS",
    "TABLE_KEYS",
    "LoadResult",
    "Warehouse",
    "build_features",
    "count_rows",
    "create_tables",
    "load_lake",
    "load_source",
]
