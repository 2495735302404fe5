"""`credo materialize`: the features as of a snapshot, from the warehouse into the DynamoDB online store.

The pipeline runs it after the features are built; `credo serve` runs it on the demo's warehouse.
The scoring Lambda then reads one item per customer token (credo.online_store).
"""

from datetime import date
from pathlib import Path

from credo.online_store import OnlineFeatureStore
from credo.warehouse import build_features
from credo.warehouse.protocol import Warehouse


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


def materialize(warehouse_path: Path, as_of: date | None, table: str) -> int:
    """Materialise a DuckDB warehouse's features (as of its latest snapshot when `as_of` is None)."""
    from credo.warehouse.duckdb import DuckDBWarehouse

    with DuckDBWarehouse(warehouse_path) as warehouse:
        snapshot = as_of or latest_snapshot(warehouse)
        return materialize_features(warehouse, snapshot, OnlineFeatureStore.for_table(table))
