"""Operational databases through SQLAlchemy: the RDS secret, and the query each dialect receives."""

import json
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.engine import URL

from credo.sources import database, source_spec
from credo.sources.database import changes_query, open_source_database, url_from_rds_secret

RDS_SECRET = {
    "engine": "postgres", "host": "orders.cluster-x.ap-south-1.rds.amazonaws.com", "port": 5432,
    "username": "credo_miner", "password": "s3cr3t/with@chars", "dbname": "orders",
}  # fmt: skip


class Secrets:
    def __init__(self, values: dict[str, str]) -> None:
        self.values = values

    def get_string(self, name: str) -> str:
        return self.values[name]


def test_given_an_rds_secret_then_the_url_names_the_driver_host_and_database_with_the_password_escaped() -> (
    None
):
    url = url_from_rds_secret(json.dumps(RDS_SECRET))

    assert url.drivername == "postgresql+psycopg"
    assert (url.host, url.port, url.database, url.username) == (
        RDS_SECRET["host"],
        5432,
        "orders",
        "credo_miner",
    )
    assert url.password == "s3cr3t/with@chars"
    assert "s3cr3t" not in str(url)  # the URL's text form hides the password


@pytest.mark.parametrize("engine", ["mysql", "aurora-mysql", "mariadb"])
def test_given_a_mysql_family_secret_then_pymysql_is_the_driver(engine: str) -> None:
    assert url_from_rds_secret(json.dumps({**RDS_SECRET, "engine": engine})).drivername == "mysql+pymysql"


@pytest.mark.parametrize(
    ("secret", "message"),
    [
        ("not json", "not JSON"),
        (json.dumps({**RDS_SECRET, "password": ""}), "lacks password"),
        (
            json.dumps({k: v for k, v in RDS_SECRET.items() if k not in ("host", "dbname")}),
            "lacks host, dbname",
        ),
        (json.dumps({**RDS_SECRET, "engine": "oracle"}), "not supported"),
    ],
)
def test_given_a_broken_secret_then_the_error_names_what_is_wrong_and_not_the_password(
    secret: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message) as caught:
        url_from_rds_secret(secret)
    assert "s3cr3t" not in str(caught.value)


def test_given_a_secret_url_when_opened_then_the_engine_is_built_from_the_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    engines: list[URL] = []
    # The PostgreSQL driver ships in the mining layer, not in tests: record the engine's URL instead.
    monkeypatch.setattr(database.sa, "create_engine", engines.append)

    db = open_source_database("secret:credo/orders-db", Secrets({"credo/orders-db": json.dumps(RDS_SECRET)}))

    assert isinstance(db, database.SqlDatabase) and db.dialect == "postgresql"
    assert engines == [url_from_rds_secret(json.dumps(RDS_SECRET))]


@pytest.mark.parametrize(
    ("dialect", "after", "where"),
    [
        # typed databases compare timestamps; SQLite compares the ISO text it stores
        (postgresql.dialect(), datetime(2024, 1, 1), "%(updated_at_1)s::TIMESTAMP WITHOUT TIME ZONE"),
        (mysql.dialect(), datetime(2024, 1, 1), "%s"),
        (sqlite.dialect(), "2024-01-01T00:00:00", "?"),
    ],
)
def test_given_each_dialect_then_the_changes_query_is_the_same_incremental_read(
    dialect: Any, after: Any, where: str
) -> None:
    query = changes_query("orders", ["order_id", "updated_at"], key_column="order_id", after=after)

    assert " ".join(str(query.compile(dialect=dialect)).split()) == (
        f"SELECT orders.order_id, orders.updated_at FROM orders WHERE orders.updated_at > {where} "
        "ORDER BY orders.updated_at, orders.order_id"
    )


def test_given_a_reserved_word_column_then_it_is_quoted_per_dialect() -> None:
    query = changes_query("orders", ["order"], key_column="order", after=None)

    assert '"order"' in str(query.compile(dialect=postgresql.dialect()))
    assert "`order`" in str(query.compile(dialect=mysql.dialect()))


def test_given_an_identifier_that_is_not_plain_then_it_is_refused() -> None:
    with pytest.raises(ValueError, match="plain SQL identifier"):
        changes_query(
            "orders; DROP TABLE orders", source_spec("orders").columns, key_column="order_id", after=None
        )
