"""SQL written once in the Redshift dialect (warehouse/sql/*.sql), and its DuckDB translation.

sqlglot translates; FIELD-NOTES lists what it gets wrong. to_duckdb repairs the two silent ones it
can (integer division of typed operands, LISTAGG(DISTINCT …)); ambiguous_divisions finds the
divisions it cannot (operands whose types only the database knows). Every MERGE names its insert
columns. Scripts are split and `:name` placeholders found on sqlglot's tokens, so the text sent to
Redshift is the text written, comments and all.
"""

import itertools
import math
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cache
from importlib.resources import files
from typing import Any, Final

import sqlglot
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ErrorLevel
from sqlglot.optimizer.annotate_types import annotate_types
from sqlglot.tokens import Token, TokenType

SCHEMA_SQL: Final = "schema.sql"
FEATURES_SQL: Final = "features.sql"
CURSOR_COLUMN: Final = "updated_at"

_IDENTIFIER: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_QUOTED_TOKENS: Final = frozenset(
    {TokenType.STRING, TokenType.IDENTIFIER, TokenType.NATIONAL_STRING, TokenType.RAW_STRING}
)


@dataclass(frozen=True)
class Placeholder:
    """A `:name` in a statement's text, at text[start:end]."""

    name: str
    start: int
    end: int


@dataclass(frozen=True)
class Statement:
    """One statement of a script, exactly as written (without its semicolon)."""

    text: str
    keyword: str
    placeholders: tuple[Placeholder, ...]

    @property
    def names(self) -> tuple[str, ...]:
        """The parameter names it binds, first use first."""
        return tuple(dict.fromkeys(p.name for p in self.placeholders))

    def inline(self, params: Mapping[str, Any], only: Collection[str] | None = None) -> str:
        """The text with placeholders (those named in `only`, or all) replaced by sql_literal values."""
        names = self.names if only is None else tuple(name for name in self.names if name in only)
        check_params(names, params)
        text = self.text
        for placeholder in reversed(self.placeholders):  # from the end, so earlier offsets hold
            if placeholder.name in names:
                literal = sql_literal(params[placeholder.name])
                text = text[: placeholder.start] + literal + text[placeholder.end :]
        return text


@cache
def split_statements(sql: str) -> tuple[Statement, ...]:
    """The statements of a Redshift script; comments-only pieces are dropped."""
    tokens = Dialect.get_or_raise("redshift").tokenize(sql)
    statements: list[Statement] = []
    piece: list[Token] = []
    for token in [*tokens, None]:
        if token is not None and token.token_type != TokenType.SEMICOLON:
            piece.append(token)
            continue
        if piece:
            statements.append(_statement(sql, piece))
        piece = []
    return tuple(statements)


def _statement(sql: str, tokens: list[Token]) -> Statement:
    start = tokens[0].start
    placeholders = []
    for colon, name in itertools.pairwise(tokens):
        raw_name = sql[name.start : name.end + 1]
        if (
            colon.token_type == TokenType.COLON
            and name.start == colon.end + 1
            and name.token_type not in _QUOTED_TOKENS
            and _IDENTIFIER.fullmatch(raw_name)
        ):
            placeholders.append(Placeholder(raw_name, colon.start - start, name.end + 1 - start))
    return Statement(sql[start : tokens[-1].end + 1], tokens[0].text.upper(), tuple(placeholders))


def check_params(names: Sequence[str], params: Mapping[str, Any] | None) -> None:
    """Refuse a statement whose placeholders lack values (naming them, never the values)."""
    missing = [name for name in names if name not in (params or {})]
    if missing:
        raise KeyError(f"missing SQL parameters: {', '.join(missing)}")


def sql_literal(value: Any) -> str:
    """A Redshift literal for a None/bool/number/date/datetime/str value, safe to put in SQL text.

    Strings have their quotes doubled and must not hold a backslash or NUL (Redshift reads
    backslash escapes in literals, and UNLOAD quotes its query once more): refused, not escaped.
    Aware datetimes are written in UTC.
    """
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | Decimal | float):
        if isinstance(value, float | Decimal) and not math.isfinite(value):
            raise ValueError("only finite numbers can be SQL literals")
        text = str(value)
        return f"({text})" if text.startswith("-") else text  # `a-:x` must not become a `--` comment
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return f"TIMESTAMP '{value.isoformat(sep=' ')}'"
    if isinstance(value, date):
        return f"DATE '{value.isoformat()}'"
    if isinstance(value, str):
        if "\\" in value or "\x00" in value:
            raise ValueError("a string SQL literal cannot hold a backslash or NUL")
        return "'" + value.replace("'", "''") + "'"
    raise TypeError(f"no SQL literal for a {type(value).__name__}")


def plain_identifier(name: str) -> str:
    """`name` if it is a plain unquoted SQL identifier (it goes into SQL text), else ValueError."""
    if not _IDENTIFIER.fullmatch(name):
        raise ValueError(f"not a plain SQL identifier: {name!r}")
    return name


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
        statement = _repair_listagg(statement)
        # Types let sqlglot keep Redshift's integer division (7 / 2 = 3) where operands are typed.
        statement = annotate_types(statement, dialect="redshift")
        # DISTKEY/SORTKEY mean nothing to DuckDB: dropping them is expected, not a warning.
        text = statement.sql(dialect="duckdb", unsupported_level=ErrorLevel.IGNORE)
        translated.append((text, names))
    return tuple(translated)


def _repair_listagg(statement: exp.Expr) -> exp.Expr:
    """LISTAGG as Redshift means it: the delimiter outside DISTINCT, and none by default.

    sqlglot reads `LISTAGG(DISTINCT x, ',')` as DISTINCT over (x, ','); DuckDB's default
    delimiter is ',' where Redshift's is none.
    """

    def repair(node: exp.Expr) -> exp.Expr:
        if not isinstance(node, exp.GroupConcat) or node.args.get("separator") is not None:
            return node
        value, separator = node.this, exp.Literal.string("")
        if isinstance(value, exp.Distinct) and len(value.expressions) == 2:
            value = exp.Distinct(expressions=[value.expressions[0].copy()])
            separator = node.this.expressions[1].copy()
        return exp.GroupConcat(this=value.copy(), separator=separator)

    return statement.transform(repair)


def ambiguous_divisions(sql: str) -> list[str]:
    """Divisions whose integer-or-not result differs by engine because sqlglot cannot see the types.

    Redshift truncates INT / INT; DuckDB does not. A division is safe when one operand is a known
    non-integer (e.g. CAST(x AS DOUBLE PRECISION)) or both are known integers (then to_duckdb
    truncates). Column operands have no type here: cast them.
    """
    found = []
    for statement in sqlglot.parse(sql, read="redshift"):
        if statement is None:
            continue
        for division in annotate_types(statement, dialect="redshift").find_all(exp.Div):
            left, right = division.left, division.right
            real = left.is_type(*exp.DataType.REAL_TYPES) or right.is_type(*exp.DataType.REAL_TYPES)
            integer = left.is_type(*exp.DataType.INTEGER_TYPES) and right.is_type(*exp.DataType.INTEGER_TYPES)
            if not (real or integer):
                found.append(division.sql(dialect="redshift"))
    return found


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
