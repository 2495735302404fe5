"""Registrations: contract checks and pseudonymisation (no PII leaves)."""

from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest

from credo.privacy import tokenize
from credo.sources import process_rows, registrations

KEY = bytes(range(32))
PII_COLUMNS = {
    "customer_id",
    "full_name",
    "email",
    "phone",
    "street_address",
    "date_of_birth",
    "city",
    "pincode",
}


def test_given_valid_sqlite_row_when_processed_then_output_is_pseudonymised(
    make_registration: Callable[..., dict[str, Any]],
) -> None:
    result = process_rows(registrations.SPEC, [make_registration()], KEY)

    assert result.bad == []
    (row,) = result.good
    assert row["token"] == tokenize("C000001", KEY)
    assert row["age_at_registration"] == 32  # born 1990-05-20, registered 2023-01-10
    assert row["city_tier"] == 1
    assert row["email_domain_type"] == "corporate"
    assert row["phone_verified"] is True and row["is_premium_member"] is False
    assert row["postpaid_opened_at"] == datetime(2023, 3, 1)
    assert set(row) == set(registrations.SCHEMA.names)
    assert not PII_COLUMNS & set(row)


def test_given_output_rows_when_converted_to_arrow_then_schema_matches(
    make_registration: Callable[..., dict[str, Any]],
) -> None:
    rows = [make_registration(), make_registration(customer_id="C2", is_postpaid=0, postpaid_opened_at=None)]

    table = process_rows(registrations.SPEC, rows, KEY).to_arrow(registrations.SCHEMA)

    assert table.num_rows == 2
    assert table.schema.equals(registrations.SCHEMA)
    assert table.column("postpaid_opened_at").null_count == 1


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"email": "asha.verma-at-example"}, "email"),
        ({"phone": "98123"}, "phone"),
        ({"date_of_birth": "1850-01-01"}, "date_of_birth"),
        ({"device": "blackberry"}, "device"),
        ({"is_postpaid": 1, "postpaid_opened_at": None}, "record"),
        ({"registered_at": "not a time"}, "registered_at"),
    ],
)
def test_given_contract_violation_when_processed_then_row_is_quarantined_without_its_value(
    make_registration: Callable[..., dict[str, Any]], overrides: dict[str, Any], field: str
) -> None:
    row = make_registration(**overrides)

    result = process_rows(registrations.SPEC, [row], KEY)

    assert result.good == []
    (bad,) = result.bad
    assert bad.record_key is None  # the key is the raw customer id: only its token is kept
    assert bad.token == tokenize("C000001", KEY)
    assert any(reason.startswith(field) for reason in bad.reasons)
    text = repr(bad.as_dict())
    for value in overrides.values():
        if isinstance(value, str):
            assert value not in text
    assert "C000001" not in text and "Asha" not in text


def test_given_unknown_extra_column_then_row_is_quarantined(
    make_registration: Callable[..., dict[str, Any]],
) -> None:
    result = process_rows(registrations.SPEC, [make_registration(nickname="Ash")], KEY)

    assert result.good == []
    assert any("nickname" in reason for reason in result.bad[0].reasons)
