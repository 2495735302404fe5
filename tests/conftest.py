"""Fixtures for every tier: a Lambda context, and tiny operational SQLite databases built by hand.

The SQLite tables follow docs/data-contracts.md (text timestamps, 0/1 booleans), so tests do not
depend on the synthetic world generator.
"""

import sqlite3
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from credo.local import LocalLambdaContext
from credo.models.sources import OrderRecord, PaymentRecord, RegistrationRecord

Row = dict[str, Any]


@pytest.fixture
def lambda_context() -> LocalLambdaContext:
    """What Lambda passes as `context` (the same class local runs use)."""
    return LocalLambdaContext(function_name="credo-test", timeout_millis=600_000)


SQLITE_TABLES: dict[str, tuple[str, type[BaseModel]]] = {
    "registrations": ("customer_id", RegistrationRecord),
    "orders": ("order_id", OrderRecord),
    "payments": ("bill_id", PaymentRecord),
}


class OperationalDb:
    """A hand-built operational.sqlite with the three contract tables."""

    def __init__(self, path: Path) -> None:
        self.path = path
        with sqlite3.connect(path) as connection:
            for table, (key, contract) in SQLITE_TABLES.items():
                columns = ", ".join(
                    f"{name} TEXT PRIMARY KEY" if name == key else f"{name}" for name in contract.model_fields
                )
                connection.execute(f"CREATE TABLE {table} ({columns})")
                connection.execute(f"CREATE INDEX {table}_updated ON {table} (updated_at, {key})")
        connection.close()

    @property
    def url(self) -> str:
        return f"sqlite:///{self.path}"

    def insert(self, table: str, rows: Iterable[Row]) -> None:
        with sqlite3.connect(self.path) as connection:
            for row in rows:
                names = ", ".join(row)
                marks = ", ".join("?" for _ in row)
                connection.execute(f"INSERT INTO {table} ({names}) VALUES ({marks})", tuple(row.values()))
        connection.close()

    def update(self, table: str, key_value: str, **values: Any) -> None:
        key = SQLITE_TABLES[table][0]
        assignments = ", ".join(f"{name} = ?" for name in values)
        with sqlite3.connect(self.path) as connection:
            connection.execute(
                f"UPDATE {table} SET {assignments} WHERE {key} = ?", (*values.values(), key_value)
            )
        connection.close()


@pytest.fixture
def operational_db(tmp_path: Path) -> Callable[..., OperationalDb]:
    """Factory: operational_db(registrations=[...], orders=[...], payments=[...]) → OperationalDb."""

    def build(
        registrations: Iterable[Row] = (), orders: Iterable[Row] = (), payments: Iterable[Row] = ()
    ) -> OperationalDb:
        db = OperationalDb(tmp_path / "operational.sqlite")
        db.insert("registrations", registrations)
        db.insert("orders", orders)
        db.insert("payments", payments)
        return db

    return build


def registration_row(**overrides: Any) -> Row:
    """A valid registrations row as SQLite returns it (carries PII, like the real source)."""
    row: Row = {
        "customer_id": "C000001",
        "registered_at": "2023-01-10 09:30:00",
        "updated_at": "2023-03-01 00:00:00",
        "full_name": "Asha Verma",
        "email": "asha.verma@infosys-example.com",
        "phone": "+919812345678",
        "street_address": "12 Koregaon Park Lane",
        "city": "Pune",
        "pincode": "411001",
        "date_of_birth": "1990-05-20",
        "device": "ios",
        "phone_verified": 1,
        "is_premium_member": 0,
        "is_auto_billing": 1,
        "is_postpaid": 1,
        "postpaid_opened_at": "2023-03-01 00:00:00",
        "postpaid_limit": 20000.0,
    }
    return {**row, **overrides}


def order_row(**overrides: Any) -> Row:
    row: Row = {
        "order_id": "O000001",
        "customer_id": "C000001",
        "placed_at": "2023-04-02 18:00:00",
        "updated_at": "2023-04-05 12:00:00",
        "category": "mobiles",
        "item_count": 1,
        "amount": 14999.0,
        "payment_method": "cod",
        "status": "delivered",
        "delivery_pincode": "273001",
        "emi_tenure_months": None,
    }
    return {**row, **overrides}


def payment_row(**overrides: Any) -> Row:
    row: Row = {
        "bill_id": "B000001",
        "customer_id": "C000001",
        "account_type": "postpaid",
        "order_id": None,
        "statement_date": "2023-04-01",
        "due_date": "2023-04-15",
        "amount_due": 2500.0,
        "amount_paid": 2500.0,
        "paid_at": "2023-04-14 10:00:00",
        "days_past_due": 0,
        "outstanding_balance": 0.0,
        "updated_at": "2023-04-14 10:00:00",
    }
    return {**row, **overrides}


@pytest.fixture
def make_registration() -> Callable[..., Row]:
    return registration_row


@pytest.fixture
def make_order() -> Callable[..., Row]:
    return order_row


@pytest.fixture
def make_payment() -> Callable[..., Row]:
    return payment_row
