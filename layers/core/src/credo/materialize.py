"""`credo materialize`: the features as of a snapshot, from the warehouse into the DynamoDB online store.

The pipeline runs it after the features are built; `credo serve` runs it on the demo's warehouse.
The scoring Lambda then reads one item per customer token (credo.online_store).
"""

import io
from datetime import date
from pathlib import Path
from typing import Final

import pyarrow.parquet as pq

from credo.adapters.s3 import S3Store, split_s3_uri
from credo.online_store import OnlineFeatureStore
from credo.warehouse import FEATURE_TABLE_COLUMNS, build_features
from credo.warehouse.protocol import Warehouse
from credo.warehouse.sql import FEATURES_SQL, read_sql

# Rows handed to DynamoDB's batch writer at a time: a bounded slice of one Parquet part in memory.
MATERIALISE_BATCH_ROWS: Final = 10_000


class NoOrdersError(ValueError):
    """The warehouse holds no orders, so it supports no snapshot yet."""


def latest_snapshot(warehouse: Warehouse) -> date:
    """The first of the month after the latest order placed: the newest snapshot the data covers.

    Snapshots are month starts (the miners run at 02:00 on the 1st); a world that ends on
    2026-10-01 has orders until 2026-09-30 and gives 2026-10-01, the date `make demo` materialises.
    """
    latest = warehouse.query("SELECT MAX(placed_at) AS latest FROM orders").column("latest")[0].as_py()
    if latest is None:
        raise NoOrdersError("the warehouse holds no orders yet: load the lake first")
    return date(latest.year + latest.month // 12, latest.month % 12 + 1, 1)


def materialize_features(warehouse: Warehouse, as_of: date, store: OnlineFeatureStore) -> int:
    """Build every customer's point-in-time features as of `as_of` and write them; return the items."""
    rows = build_features(warehouse, as_of).to_pylist()  # labels and populations ride along, ignored
    return store.materialise(rows, as_of=as_of)


def materialize_through_s3(
    warehouse: Warehouse, as_of: date, store: OnlineFeatureStore, *, s3: S3Store, staging: str
) -> int:
    """Like materialize_features, for any number of customers: UNLOAD the features to `staging` (an
    s3:// prefix) and write them part by part, a bounded batch of rows at a time.

    Reading a whole snapshot back through the Redshift Data API would stop at its 100 MB result
    limit (about a few hundred thousand customers); Parquet in the lake has no such limit.
    """
    parts = warehouse.unload_parquet(read_sql(FEATURES_SQL), {"as_of": as_of}, staging)
    written = 0
    for uri in parts:
        part = pq.ParquetFile(io.BytesIO(s3.get_bytes(*split_s3_uri(uri))))
        if tuple(part.schema_arrow.names) != FEATURE_TABLE_COLUMNS:
            raise RuntimeError(
                f"{uri}: columns {part.schema_arrow.names} differ from {FEATURE_TABLE_COLUMNS}"
            )
        for batch in part.iter_batches(batch_size=MATERIALISE_BATCH_ROWS):
            written += store.materialise(batch.to_pylist(), as_of=as_of)
    return written


def materialize(warehouse_path: Path, as_of: date | None, table: str) -> int:
    """Materialise a DuckDB warehouse's features (as of its latest snapshot when `as_of` is None)."""
    from credo.warehouse.duckdb import DuckDBWarehouse

    with DuckDBWarehouse(warehouse_path) as warehouse:
        snapshot = as_of or latest_snapshot(warehouse)
        return materialize_features(warehouse, snapshot, OnlineFeatureStore.for_table(table))
