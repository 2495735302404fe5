"""Loading hand-built rows into a warehouse the way the lake is loaded, for the feature SQL tests."""

import itertools
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from credo.warehouse import TABLE_KEYS, table_schema
from credo.warehouse.protocol import Warehouse

_parts = itertools.count()


def load_rows(warehouse: Warehouse, directory: Path, table: str, rows: list[dict[str, Any]]) -> None:
    """Stage rows through a Parquet file and MERGE them on the table's natural key."""
    path = directory / f"{table}-{next(_parts)}.parquet"
    pq.write_table(pa.Table.from_pylist(rows, schema=table_schema(table)), path)
    warehouse.load_parquet(f"stage_{table}", [str(path)])
    warehouse.merge(table, f"stage_{table}", TABLE_KEYS[table])


def registration_row(token: str, registered_at: datetime) -> dict[str, Any]:
    """A registrations row as the miner writes it: a 30-year-old, tier-2, webmail, no postpaid."""
    return {
        "token": token,
        "registered_at": registered_at,
        "updated_at": registered_at,
        "age_at_registration": 30,
        "city_tier": 2,
        "email_domain_type": "webmail",
        "device": "android",
        "phone_verified": True,
        "is_premium_member": False,
        "is_auto_billing": False,
        "is_postpaid": False,
        "postpaid_opened_at": None,
        "postpaid_limit": 0.0,
    }
