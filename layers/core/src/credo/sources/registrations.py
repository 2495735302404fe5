"""Registrations: one row per customer. PII is reduced to coarse attributes here and dropped.

Age leaves the edge as whole years at registration (age at any snapshot is derived from it and
registered_at); city and pincode as a tier; the email as its domain type. Name, phone, street
address, date of birth and the raw customer id never leave.
"""

from typing import Any, Final

import pyarrow as pa

from credo.models.sources import RegistrationRecord
from credo.privacy import age_in_years, city_tier, email_domain_type, tokenize
from credo.sources.common import SourceSpec, as_utc_naive

SCHEMA_VERSION: Final = "1"

SCHEMA: Final = pa.schema(
    [
        pa.field("token", pa.string(), nullable=False),
        pa.field("registered_at", pa.timestamp("us"), nullable=False),
        pa.field("updated_at", pa.timestamp("us"), nullable=False),
        pa.field("age_at_registration", pa.int32(), nullable=False),
        pa.field("city_tier", pa.int32(), nullable=False),
        pa.field("email_domain_type", pa.string(), nullable=False),
        pa.field("device", pa.string(), nullable=False),
        pa.field("phone_verified", pa.bool_(), nullable=False),
        pa.field("is_premium_member", pa.bool_(), nullable=False),
        pa.field("is_auto_billing", pa.bool_(), nullable=False),
        pa.field("is_postpaid", pa.bool_(), nullable=False),
        pa.field("postpaid_opened_at", pa.timestamp("us")),
        pa.field("postpaid_limit", pa.float64(), nullable=False),
    ]
)


def pseudonymise(record: RegistrationRecord, key: bytes) -> dict[str, Any]:
    return {
        "token": tokenize(record.customer_id, key),
        "registered_at": as_utc_naive(record.registered_at),
        "updated_at": as_utc_naive(record.updated_at),
        "age_at_registration": age_in_years(record.date_of_birth, record.registered_at),
        "city_tier": city_tier(record.city, record.pincode),
        "email_domain_type": email_domain_type(record.email),
        "device": record.device.value,
        "phone_verified": record.phone_verified,
        "is_premium_member": record.is_premium_member,
        "is_auto_billing": record.is_auto_billing,
        "is_postpaid": record.is_postpaid,
        "postpaid_opened_at": (
            None if record.postpaid_opened_at is None else as_utc_naive(record.postpaid_opened_at)
        ),
        "postpaid_limit": record.postpaid_limit,
    }


SPEC: Final = SourceSpec(
    name="registrations",
    table="registrations",
    key_column="customer_id",
    contract=RegistrationRecord,
    schema=SCHEMA,
    schema_version=SCHEMA_VERSION,
    pseudonymise=pseudonymise,
    record_key_is_pii=True,  # the key is the raw customer id: quarantine keeps only its token
)
