"""Orders: one row per order (latest status). The id leaves tokenised, the delivery pincode as a tier."""

from typing import Any, Final

import pyarrow as pa

from credo.models.sources import OrderRecord
from credo.privacy import city_tier, tokenize, tokenize_key
from credo.sources.common import SourceSpec, as_utc_naive

SCHEMA_VERSION: Final = "1"

SCHEMA: Final = pa.schema(
    [
        pa.field("order_id", pa.string(), nullable=False),
        pa.field("token", pa.string(), nullable=False),
        pa.field("placed_at", pa.timestamp("us"), nullable=False),
        pa.field("updated_at", pa.timestamp("us"), nullable=False),
        pa.field("category", pa.string(), nullable=False),
        pa.field("item_count", pa.int32(), nullable=False),
        pa.field("amount", pa.float64(), nullable=False),
        pa.field("payment_method", pa.string(), nullable=False),
        pa.field("status", pa.string(), nullable=False),
        pa.field("delivery_city_tier", pa.int32(), nullable=False),
        pa.field("emi_tenure_months", pa.int32()),
    ]
)


def pseudonymise(record: OrderRecord, key: bytes) -> dict[str, Any]:
    return {
        "order_id": tokenize_key("order_id", record.order_id, key),
        "token": tokenize(record.customer_id, key),
        "placed_at": as_utc_naive(record.placed_at),
        "updated_at": as_utc_naive(record.updated_at),
        "category": record.category.value,
        "item_count": record.item_count,
        "amount": record.amount,
        "payment_method": record.payment_method.value,
        "status": record.status.value,
        "delivery_city_tier": city_tier(None, record.delivery_pincode),
        "emi_tenure_months": record.emi_tenure_months,
    }


SPEC: Final = SourceSpec(
    name="orders",
    table="orders",
    key_column="order_id",
    contract=OrderRecord,
    schema=SCHEMA,
    schema_version=SCHEMA_VERSION,
    pseudonymise=pseudonymise,
)
