"""SQL written once in the Redshift dialect (warehouse/sql/*.sql), and its DuckDB translation.

sqlglot translates; FIELD-NOTES lists what it gets wrong, so the SQL here avoids integer
division and LISTAGG(DISTINCT …), and every MERGE names its insert columns.
"""

from collections.abc import Sequence
from functools import cache
from importlib.resources import files
from typing import Final

import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel

SCHEMA_SQL: Final = "schema.sql"
FEATURES_SQL: Final = "features.sql"
CURSOR_COLUMN: Final = "updated_at"


@cache
def read_sql(name: str) -> str:
    """The text of warehouse/sql/<name> (Redshift dialect)."""
    return (files("credo.warehouse") / "sql" / name).read_text(encoding="utf-8")


@cache
def to_duckdb(sql: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Each statement of a Redshift script in DuckDB's dialect, with the :names it binds."""
    translated = []
    for statement in sqlglot.parse(sql, read="redshift"):
        if statement is None:
            continue
        names = tuple(dict.fromkeys(node.name for node in statement.find_all(exp.Placeholder) if node.name))
        # DISTKEY/SORTKEY mean nothing to DuckDB: dropping them is expected, not a warning.
        text = statement.sql(dialect="duckdb", unsupported_level=ErrorLevel.IGNORE)
        translated.append((text, names))
    return tuple(translated)


@cache
def table_columns(table: str) -> tuple[str, ...]:
    """Column names of a warehouse table, in order, as schema.sql declares them."""
    for statement in sqlglot.parse(read_sql(SCHEMA_SQL), read="redshift"):
        if isinstance(statement, exp.Create) and statement.find(exp.Table).name == table:  # type: ignore[union-attr]
            return tuple(column.name for column in statement.find_all(exp.ColumnDef))
    raise KeyError(f"no table {table!r} in {SCHEMA_SQL}")


def merge_script(table: str, staging: str, key: str | Sequence[str]) -> str:
    """Redshift SQL that upserts the newest staged version of each key into `table`.

    `key` is the table's natural key: one column or several. Redshift's MERGE takes only a table
    as its source (no subquery) and has no `WHEN MATCHED AND …`, so the newest row per key goes
    to a table first, and staged rows older than what the warehouse already holds are removed
    before merging.
    """
    keys = (key,) if isinstance(key, str) else tuple(key)
    columns = table_columns(table)
    latest = f"{staging}_latest"
    column_list = ", ".join(columns)
    key_list = ", ".join(keys)
    same_key = " AND ".join(f"{latest}.{k} = {table}.{k}" for k in keys)
    on = " AND ".join(f"{table}.{k} = s.{k}" for k in keys)
    updates = ", ".join(f"{name} = s.{name}" for name in columns if name not in keys)
    values = ", ".join(f"s.{name}" for name in columns)
    return f"""
DROP TABLE IF EXISTS {latest};
CREATE TABLE {latest} AS
SELECT {column_list} FROM {staging}
QUALIFY ROW_NUMBER() OVER (PARTITION BY {key_list} ORDER BY {CURSOR_COLUMN} DESC) = 1;
DELETE FROM {latest} USING {table}
WHERE {same_key} AND {latest}.{CURSOR_COLUMN} < {table}.{CURSOR_COLUMN};
MERGE INTO {table} USING {latest} AS s ON {on}
WHEN MATCHED THEN UPDATE SET {updates}
WHEN NOT MATCHED THEN INSERT ({column_list}) VALUES ({values});
DROP TABLE IF EXISTS {latest};
DROP TABLE IF EXISTS {staging};
"""
