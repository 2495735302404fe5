"""Marketing: ad sends, clicks and purchases-after-click, from the ad/sales teams' S3 drops.

The customer id and the event and order ids are tokenised (the order's token equals the orders
source's, so purchases-after-click join to orders).
"""

from typing import Any, Final

import pyarrow as pa

from credo.models.sources import AdEventRecord
from credo.privacy import tokenize, tokenize_key
from credo.sources.common import SourceSpec, as_utc_naive

SCHEMA_VERSION: Final = "1"

SCHEMA: Final = pa.schema(
    [
        pa.field("event_id", pa.string(), nullable=False),
        pa.field("token", pa.string(), nullable=False),
        pa.field("campaign_id", pa.string(), nullable=False),
        pa.field("channel", pa.string(), nullable=False),
        pa.field("sent_at", pa.timestamp("us"), nullable=False),
        pa.field("clicked_at", pa.timestamp("us")),
        pa.field("purchased_order_id", pa.string()),
        pa.field("updated_at", pa.timestamp("us"), nullable=False),
    ]
)


def pseudonymise(record: AdEventRecord, key: bytes) -> dict[str, Any]:
    sent_at = as_utc_naive(record.sent_at)
    clicked_at = None if record.clicked_at is None else as_utc_naive(record.clicked_at)
    return {
        "event_id": tokenize_key("event_id", record.event_id, key),
        "token": tokenize(record.customer_id, key),
        "campaign_id": record.campaign_id,
        "channel": record.channel,
        "sent_at": sent_at,
        "clicked_at": clicked_at,
        "purchased_order_id": (
            None
            if record.purchased_order_id is None
            else tokenize_key("order_id", record.purchased_order_id, key)
        ),
        # the event's last change: a click comes after its send
        "updated_at": clicked_at or sent_at,
    }


SPEC: Final = SourceSpec(
    name="marketing",
    key_column="event_id",
    contract=AdEventRecord,
    schema=SCHEMA,
    schema_version=SCHEMA_VERSION,
    pseudonymise=pseudonymise,
    cursor_column="sent_at",
)
