"""The operational databases the table miners read, through SQLAlchemy Core: one code path for all.

Locally the source is an SQLite file; in AWS it is PostgreSQL or MySQL on RDS. The same query is
built for each (SQLAlchemy quotes identifiers and binds parameters per dialect), and the database
credentials come from an RDS-style Secrets Manager secret, never from the URL in the environment:

    CREDO_SOURCE_DB_URL=sqlite:///abs/path/operational.sqlite        (local)
    CREDO_SOURCE_DB_URL=secret:credo/orders-db                       (AWS: the secret names host, user, …)

The RDS secret is the JSON that RDS itself writes: {"engine": "postgres" | "mysql" | …, "host",
"port", "username", "password", "dbname"}.
"""

import json
from collections.abc import Generator, Sequence
from pathlib import Path
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url

from credo.privacy import SecretReader
from credo.sources.common import CURSOR_COLUMN, SourceDatabase, parse_timestamp

SECRET_SCHEME: Final = "secret:"
FETCH_ROWS: Final = 5_000
# RDS "engine" → the SQLAlchemy driver Credo uses for it (installed in the mining layer).
DRIVERS: Final[dict[str, str]] = {
    "postgres": "postgresql+psycopg",
    "postgresql": "postgresql+psycopg",
    "aurora-postgresql": "postgresql+psycopg",
    "mysql": "mysql+pymysql",
    "mariadb": "mysql+pymysql",
    "aurora-mysql": "mysql+pymysql",
}


class SqlDatabase:
    """A read-only view of one operational database, reading changed rows in (updated_at, key) order."""

    def __init__(self, url: str | URL) -> None:
        url = make_url(url)
        if url.get_backend_name() == "sqlite":
            url = _read_only_sqlite(url)
        self.dialect = url.get_backend_name()
        self._engine = sa.create_engine(url)

    def read_changes(
        self, table: str, columns: Sequence[str], *, key_column: str, after: str | None
    ) -> Generator[dict[str, Any], None, None]:
        """Rows whose updated_at is after `after` (all rows when None), ordered by (updated_at, key)."""
        after_value = None if after is None else self._cursor_value(after)
        query = changes_query(table, columns, key_column=key_column, after=after_value)
        with self._engine.connect() as connection:
            result = connection.execution_options(stream_results=True, yield_per=FETCH_ROWS).execute(query)
            for rows in result.partitions():
                for row in rows:
                    yield dict(zip(columns, row, strict=True))

    def cursor_cuts(self, table: str, parts: int) -> list[str]:
        """updated_at values at the 1/parts, 2/parts, … quantiles of the rows (distinct, ascending)."""
        if parts < 1:
            raise ValueError("parts must be positive")
        cursor: sa.ColumnClause[Any] = sa.column(_identifier(CURSOR_COLUMN))
        source = sa.table(_identifier(table), cursor)
        with self._engine.connect() as connection:
            rows = connection.execute(sa.select(sa.func.count()).select_from(source)).scalar_one()
            cuts = []
            for k in range(1, parts):
                at = sa.select(cursor).select_from(source).order_by(cursor).limit(1).offset(rows * k // parts)
                value = connection.execute(at).scalar()
                if value is not None:
                    cuts.append(str(value))
        return sorted(set(cuts))

    def close(self) -> None:
        self._engine.dispose()

    def _cursor_value(self, after: str) -> Any:
        # SQLite keeps timestamps as ISO text and compares them as text; typed databases compare
        # timestamps, so they get one.
        return after if self.dialect == "sqlite" else parse_timestamp(after) or after


def changes_query(table: str, columns: Sequence[str], *, key_column: str, after: Any) -> sa.Select[Any]:
    """SELECT columns FROM table [WHERE updated_at > :after] ORDER BY updated_at, key — in any dialect."""
    names = dict.fromkeys([*columns, key_column, CURSOR_COLUMN])
    source = sa.table(_identifier(table), *(sa.column(_identifier(name)) for name in names))
    query = sa.select(*(source.c[name] for name in columns)).order_by(
        source.c[CURSOR_COLUMN], source.c[key_column]
    )
    return query if after is None else query.where(source.c[CURSOR_COLUMN] > after)


def _read_only_sqlite(url: URL) -> URL:
    path = Path(url.database or "")
    if not path.is_file():
        raise FileNotFoundError(f"source database not found: {path}")
    return make_url(f"sqlite:///file:{path.resolve()}?mode=ro&uri=true")


def url_from_rds_secret(secret_json: str) -> URL:
    """The SQLAlchemy URL of the database an RDS secret describes; an error names a missing field."""
    try:
        secret = json.loads(secret_json)
    except json.JSONDecodeError:
        raise ValueError("source database secret is not JSON") from None
    if not isinstance(secret, dict):
        raise ValueError("source database secret must be a JSON object")
    missing = [name for name in ("engine", "host", "username", "password", "dbname") if not secret.get(name)]
    if missing:
        raise ValueError(f"source database secret lacks {', '.join(missing)}")
    engine = str(secret["engine"]).lower()
    if engine not in DRIVERS:
        raise ValueError(f"source database engine {engine!r} is not supported; known: {', '.join(DRIVERS)}")
    return URL.create(
        DRIVERS[engine],
        username=str(secret["username"]),
        password=str(secret["password"]),
        host=str(secret["host"]),
        port=int(secret["port"]) if secret.get("port") else None,
        database=str(secret["dbname"]),
    )


def open_source_database(url: str, secrets: SecretReader | None = None) -> SourceDatabase:
    """`sqlite:///abs/path.sqlite` (or a plain file path), or `secret:<name>` of an RDS secret."""
    if url.startswith(SECRET_SCHEME):
        if secrets is None:
            raise ValueError("a secret: source database URL needs Secrets Manager")
        return SqlDatabase(url_from_rds_secret(secrets.get_string(url[len(SECRET_SCHEME) :])))
    if url.startswith("sqlite:"):
        return SqlDatabase(url)
    if url and "://" not in url:
        return SqlDatabase(URL.create("sqlite", database=url))
    raise ValueError(
        "source database URL must be sqlite:///PATH or secret:NAME (credentials stay in Secrets Manager)"
    )


def _identifier(name: str) -> str:
    if not name.replace("_", "").isalnum():
        raise ValueError(f"not a plain SQL identifier: {name!r}")
    return name
