"""Payments: postpaid statements and EMI instalments with their repayment; ids leave tokenised."""

from typing import Any, Final

import pyarrow as pa

from credo.models.sources import PaymentRecord
from credo.privacy import tokenize, tokenize_key
from credo.sources.common import SourceSpec, as_utc_naive

SCHEMA_VERSION: Final = "1"

SCHEMA: Final = pa.schema(
    [
        pa.field("bill_id", pa.string(), nullable=False),
        pa.field("token", pa.string(), nullable=False),
        pa.field("account_type", pa.string(), nullable=False),
        pa.field("order_id", pa.string()),
        pa.field("statement_date", pa.date32(), nullable=False),
        pa.field("due_date", pa.date32(), nullable=False),
        pa.field("amount_due", pa.float64(), nullable=False),
        pa.field("amount_paid", pa.float64(), nullable=False),
        pa.field("paid_at", pa.timestamp("us")),
        pa.field("days_past_due", pa.int32(), nullable=False),
        pa.field("outstanding_balance", pa.float64(), nullable=False),
        pa.field("updated_at", pa.timestamp("us"), nullable=False),
    ]
)


def pseudonymise(record: PaymentRecord, key: bytes) -> dict[str, Any]:
    return {
        "bill_id": tokenize_key("bill_id", record.bill_id, key),
        "token": tokenize(record.customer_id, key),
        "account_type": record.account_type.value,
        "order_id": None if record.order_id is None else tokenize_key("order_id", record.order_id, key),
        "statement_date": record.statement_date,
        "due_date": record.due_date,
        "amount_due": record.amount_due,
        "amount_paid": record.amount_paid,
        "paid_at": None if record.paid_at is None else as_utc_naive(record.paid_at),
        "days_past_due": record.days_past_due,
        "outstanding_balance": record.outstanding_balance,
        "updated_at": as_utc_naive(record.updated_at),
    }


SPEC: Final = SourceSpec(
    name="payments",
    table="payments",
    key_column="bill_id",
    contract=PaymentRecord,
    schema=SCHEMA,
    schema_version=SCHEMA_VERSION,
    pseudonymise=pseudonymise,
)
