"""Payments: contract checks and pseudonymisation."""

from collections.abc import Callable
from datetime import date
from typing import Any

import pytest

from credo.privacy import tokenize, tokenize_key
from credo.sources import payments, process_rows

KEY = bytes(range(32))


def test_given_valid_bill_when_processed_then_dates_parse_and_customer_is_tokenised(
    make_payment: Callable[..., dict[str, Any]],
) -> None:
    result = process_rows(payments.SPEC, [make_payment()], KEY)

    (row,) = result.good
    assert row["token"] == tokenize("C000001", KEY)
    assert row["due_date"] == date(2023, 4, 15)
    assert set(row) == set(payments.SCHEMA.names)
    table = result.to_arrow(payments.SCHEMA)
    assert table.schema.equals(payments.SCHEMA)


def test_given_unpaid_emi_instalment_then_it_is_accepted(make_payment: Callable[..., dict[str, Any]]) -> None:
    row = make_payment(account_type="emi", order_id="O9", amount_paid=0.0, paid_at=None, days_past_due=20)

    result = process_rows(payments.SPEC, [row], KEY)

    assert result.good[0]["paid_at"] is None
    assert result.good[0]["order_id"] == tokenize_key("order_id", "O9", KEY)  # joins orders' token


@pytest.mark.parametrize(
    "overrides",
    [
        {"due_date": "2023-03-01"},
        {"account_type": "emi", "order_id": None},
        {"paid_at": None, "amount_paid": 10.0},
        {"days_past_due": -1},
        {"statement_date": "2023-02-30"},
    ],
)
def test_given_bad_bill_when_processed_then_it_is_quarantined_with_its_bill_id(
    make_payment: Callable[..., dict[str, Any]], overrides: dict[str, Any]
) -> None:
    result = process_rows(payments.SPEC, [make_payment(**overrides)], KEY)

    assert result.good == []
    assert result.bad[0].record_key == tokenize_key("bill_id", "B000001", KEY)
    assert result.bad[0].reasons
