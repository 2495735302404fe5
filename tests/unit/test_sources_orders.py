"""Orders: contract checks and pseudonymisation."""

from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest

from credo.privacy import tokenize, tokenize_key
from credo.sources import orders, process_rows

KEY = bytes(range(32))


def test_given_valid_order_when_processed_then_customer_is_tokenised_and_pincode_becomes_tier(
    make_order: Callable[..., dict[str, Any]],
) -> None:
    result = process_rows(orders.SPEC, [make_order(delivery_pincode="560034")], KEY)

    (row,) = result.good
    assert row["token"] == tokenize("C000001", KEY)
    assert row["delivery_city_tier"] == 1
    assert row["placed_at"] == datetime(2023, 4, 2, 18)
    assert "customer_id" not in row and "delivery_pincode" not in row
    assert set(row) == set(orders.SCHEMA.names)


def test_given_emi_order_with_tenure_then_it_is_accepted(make_order: Callable[..., dict[str, Any]]) -> None:
    result = process_rows(orders.SPEC, [make_order(payment_method="emi", emi_tenure_months=6)], KEY)

    assert result.good[0]["emi_tenure_months"] == 6


@pytest.mark.parametrize(
    ("overrides", "reason_start"),
    [
        ({"payment_method": "emi", "emi_tenure_months": None}, "record"),
        ({"updated_at": "2023-04-01 00:00:00"}, "record"),
        ({"status": "lost"}, "status"),
        ({"item_count": 0}, "item_count"),
        ({"amount": -5.0}, "amount"),
        ({"delivery_pincode": "04000"}, "delivery_pincode"),
    ],
)
def test_given_bad_order_when_processed_then_it_is_quarantined_with_its_order_id(
    make_order: Callable[..., dict[str, Any]], overrides: dict[str, Any], reason_start: str
) -> None:
    result = process_rows(orders.SPEC, [make_order(**overrides)], KEY)

    assert result.good == []
    (bad,) = result.bad
    assert bad.record_key == tokenize_key("order_id", "O000001", KEY)  # ids leave tokenised
    assert bad.token == tokenize("C000001", KEY)
    assert bad.updated_at == overrides.get("updated_at", "2023-04-05 12:00:00")
    assert any(reason.startswith(reason_start) for reason in bad.reasons)
    assert "04000" not in " ".join(bad.reasons)


def test_given_mixed_rows_then_good_and_bad_are_split(make_order: Callable[..., dict[str, Any]]) -> None:
    rows = [make_order(order_id="O1"), make_order(order_id="O2", status="lost"), make_order(order_id="O3")]

    result = process_rows(orders.SPEC, rows, KEY)

    assert [row["order_id"] for row in result.good] == [
        tokenize_key("order_id", o, KEY) for o in ("O1", "O3")
    ]
    assert [bad.record_key for bad in result.bad] == [tokenize_key("order_id", "O2", KEY)]
