"""Data contracts: a good record of each source validates; each kind of bad record is rejected by field."""

from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from credo.models.sources import (
    AdEventRecord,
    BureauRecord,
    OrderRecord,
    PaymentRecord,
    RegistrationRecord,
    RegistryRecord,
)

GOOD: dict[type[BaseModel], dict[str, Any]] = {
    RegistrationRecord: {
        "customer_id": "CUST00000001",
        "registered_at": "2024-03-02T10:00:00",
        "updated_at": "2024-05-01T09:00:00",
        "full_name": "Asha Rao",
        "email": "asha.rao@gmail.com",
        "phone": "+919812345678",
        "street_address": "12, MG Road, Jayanagar",
        "city": "Bengaluru",
        "pincode": "560011",
        "date_of_birth": "1990-01-31",
        "device": "android",
        "phone_verified": 1,
        "is_premium_member": 0,
        "is_auto_billing": 1,
        "is_postpaid": 1,
        "postpaid_opened_at": "2024-05-01T09:00:00",
        "postpaid_limit": 5000.0,
    },
    OrderRecord: {
        "order_id": "ORD00000001-00001",
        "customer_id": "CUST00000001",
        "placed_at": "2025-01-02T10:00:00",
        "updated_at": "2025-01-06T10:00:00",
        "category": "mobiles",
        "item_count": 1,
        "amount": 14999.0,
        "payment_method": "emi",
        "status": "delivered",
        "delivery_pincode": "560011",
        "emi_tenure_months": 6,
    },
    PaymentRecord: {
        "bill_id": "PP-CUST00000001-202502",
        "customer_id": "CUST00000001",
        "account_type": "postpaid",
        "order_id": None,
        "statement_date": "2025-02-01",
        "due_date": "2025-02-15",
        "amount_due": 812.5,
        "amount_paid": 812.5,
        "paid_at": "2025-02-10T12:00:00",
        "days_past_due": 0,
        "outstanding_balance": 812.5,
        "updated_at": "2025-02-10T12:00:00",
    },
    AdEventRecord: {
        "event_id": "AD00000001-00001",
        "customer_id": "CUST00000001",
        "campaign_id": "CMP-2025-01-3",
        "channel": "push",
        "sent_at": "2025-01-03T08:00:00",
        "clicked_at": "2025-01-03T09:00:00",
        "purchased_order_id": "ORD00000001-00002",
    },
    RegistryRecord: {
        "registry": "business",
        "record_id": "BUS-00000000-000001",
        "registrant_name": "A. Rao",
        "entity_name": "Rao Traders",
        "address": "No. 12, MG Rd, Jayanagar",
        "city": "Bangalore",
        "pincode": "560011",
        "registered_on": "2019-06-01",
        "category": "retail",
        "turnover_band": "small",
    },
    BureauRecord: {
        "bureau_id": "BUR0123456789",
        "full_name": "Asha Rao",
        "phone": "+919812345678",
        "date_of_birth": "1990-01-31",
        "pincode": "560011",
        "bureau_score": 742,
        "tradelines": 3,
        "enquiries_6m": 1,
        "max_dpd_24m": 0,
    },
}

BAD: list[tuple[type[BaseModel], dict[str, Any], str]] = [
    (RegistrationRecord, {"email": "not-an-email"}, "email"),
    (RegistrationRecord, {"phone": "12345"}, "phone"),
    (RegistrationRecord, {"device": "blackberry"}, "device"),
    (RegistrationRecord, {"date_of_birth": "1850-01-01"}, "date_of_birth"),
    (RegistrationRecord, {"postpaid_opened_at": None}, "postpaid"),
    (RegistrationRecord, {"nickname": "ash"}, "nickname"),
    (OrderRecord, {"amount": -5.0}, "amount"),
    (OrderRecord, {"payment_method": "barter"}, "payment_method"),
    (OrderRecord, {"status": "lost"}, "status"),
    (OrderRecord, {"emi_tenure_months": None}, "emi_tenure_months"),
    (OrderRecord, {"updated_at": "2024-12-01T00:00:00"}, "updated_at"),
    (OrderRecord, {"customer_id": "CUST 1; DROP"}, "customer_id"),
    (PaymentRecord, {"due_date": "2025-01-15"}, "due_date"),
    (PaymentRecord, {"account_type": "emi"}, "order_id"),
    (PaymentRecord, {"paid_at": None}, "amount_paid"),
    (PaymentRecord, {"days_past_due": -1}, "days_past_due"),
    (AdEventRecord, {"channel": "fax"}, "channel"),
    (AdEventRecord, {"clicked_at": "2025-01-01T00:00:00"}, "clicked_at"),
    (AdEventRecord, {"clicked_at": None}, "purchased_order_id"),
    (RegistryRecord, {"turnover_band": "huge"}, "turnover_band"),
    (RegistryRecord, {"pincode": "056001"}, "pincode"),
    (BureauRecord, {"bureau_score": 950}, "bureau_score"),
    (BureauRecord, {"tradelines": -1}, "tradelines"),
]


@pytest.mark.parametrize("model", list(GOOD), ids=lambda m: m.__name__)
def test_given_a_good_record_when_validated_then_it_passes(model: type[BaseModel]) -> None:
    model.model_validate(GOOD[model])


@pytest.mark.parametrize(("model", "change", "field"), BAD, ids=[f"{m.__name__}-{f}" for m, _, f in BAD])
def test_given_a_bad_record_when_validated_then_it_is_rejected_naming_the_problem(
    model: type[BaseModel], change: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError) as error:
        model.model_validate({**GOOD[model], **change})
    assert field in str(error.value)
