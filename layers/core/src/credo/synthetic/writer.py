"""Writes a world in the forms the miners read: SQLite tables, CSV/Parquet drops, a bureau fixture."""

import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

SCHEMA = """
CREATE TABLE registrations (
    customer_id TEXT PRIMARY KEY, registered_at TEXT NOT NULL, updated_at TEXT NOT NULL,
    full_name TEXT NOT NULL, email TEXT NOT NULL, phone TEXT NOT NULL, street_address TEXT NOT NULL,
    city TEXT NOT NULL, pincode TEXT NOT NULL, date_of_birth TEXT NOT NULL, device TEXT NOT NULL,
    phone_verified INTEGER NOT NULL, is_premium_member INTEGER NOT NULL, is_auto_billing INTEGER NOT NULL,
    is_postpaid INTEGER NOT NULL, postpaid_opened_at TEXT, postpaid_limit REAL NOT NULL
);
CREATE TABLE orders (
    order_id TEXT PRIMARY KEY, customer_id TEXT NOT NULL, placed_at TEXT NOT NULL, updated_at TEXT NOT NULL,
    category TEXT NOT NULL, item_count INTEGER NOT NULL, amount REAL NOT NULL, payment_method TEXT NOT NULL,
    status TEXT NOT NULL, delivery_pincode TEXT NOT NULL, emi_tenure_months INTEGER
);
CREATE TABLE payments (
    bill_id TEXT PRIMARY KEY, customer_id TEXT NOT NULL, account_type TEXT NOT NULL, order_id TEXT,
    statement_date TEXT NOT NULL, due_date TEXT NOT NULL, amount_due REAL NOT NULL, amount_paid REAL NOT NULL,
    paid_at TEXT, days_past_due INTEGER NOT NULL, outstanding_balance REAL NOT NULL, updated_at TEXT NOT NULL
);
"""
# Indexes the miners' incremental reads use (they read in (updated_at, key) order, so the key is
# in the index and no sort is needed); built after the bulk load, which is faster.
INDEXES = """
CREATE INDEX orders_updated_at ON orders (updated_at, order_id);
CREATE INDEX payments_updated_at ON payments (updated_at, bill_id);
CREATE INDEX registrations_updated_at ON registrations (updated_at, customer_id);
"""

Column = np.ndarray[Any, Any] | Sequence[Any]
Columns = Mapping[str, Column]


class OperationalDatabase:
    """The SQLite operational database, written in bulk chunk by chunk."""

    def __init__(self, path: Path) -> None:
        path.unlink(missing_ok=True)
        self._conn = sqlite3.connect(path)
        # A bulk load of a fresh file: durability per statement is not needed.
        self._conn.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;" + SCHEMA)

    def insert(self, table: str, columns: Columns) -> None:
        names = list(columns)
        sql = f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"
        self._conn.executemany(sql, _rows([columns[name] for name in names]))

    def close(self) -> None:
        self._conn.executescript(INDEXES)
        self._conn.commit()
        self._conn.close()


def _rows(columns: list[Column]) -> Iterator[tuple[Any, ...]]:
    as_lists = [c.tolist() if isinstance(c, np.ndarray) else list(c) for c in columns]
    return zip(*as_lists, strict=True)


class ParquetAppender:
    """One Parquet file written in row groups as chunks arrive."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._path = path
        self._writer: pq.ParquetWriter | None = None

    def append(self, columns: Columns) -> None:
        table = pa.table({k: pa.array(v) for k, v in columns.items()})
        if self._writer is None:
            self._writer = pq.ParquetWriter(self._path, table.schema, compression="zstd")
        self._writer.write_table(table.cast(self._writer.schema))

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


class CsvAppender:
    """One CSV file (with a header once) written as chunks arrive."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = path.open("wb")
        self._header = True

    def append(self, columns: Columns) -> None:
        table = pa.table({k: pa.array(v) for k, v in columns.items()})
        pacsv.write_csv(table, self._file, pacsv.WriteOptions(include_header=self._header))
        self._header = False

    def close(self) -> None:
        self._file.close()
