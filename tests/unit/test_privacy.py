"""Tokens are stable, keyed and reveal nothing; PII is reduced to coarse attributes."""

import re
from datetime import date, datetime

import pytest

from credo.privacy import age_in_years, city_tier, email_domain_type, hmac_key_from_secret, tokenize

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))


def test_given_same_id_and_key_when_tokenized_twice_then_token_is_identical() -> None:
    assert tokenize("C000123", KEY) == tokenize("C000123", KEY)


def test_given_token_then_it_is_32_hex_chars_and_contains_no_raw_id() -> None:
    token = tokenize("C000123", KEY)
    assert re.fullmatch(r"[0-9a-f]{32}", token)
    assert "C000123" not in token and "000123" not in token


def test_given_different_keys_when_tokenized_then_tokens_differ() -> None:
    assert tokenize("C000123", KEY) != tokenize("C000123", OTHER_KEY)


def test_given_different_ids_when_tokenized_then_tokens_differ() -> None:
    tokens = {tokenize(f"C{n:06d}", KEY) for n in range(1000)}
    assert len(tokens) == 1000


def test_given_short_key_when_tokenizing_then_it_is_refused() -> None:
    with pytest.raises(ValueError, match="at least"):
        tokenize("C000123", b"short")


def test_given_hex_secret_when_decoded_then_key_bytes_come_back() -> None:
    assert hmac_key_from_secret(KEY.hex() + "\n") == KEY
    with pytest.raises(ValueError):
        hmac_key_from_secret("abcd")


@pytest.mark.parametrize(
    ("born", "at", "expected"),
    [
        (date(1990, 5, 20), date(2023, 5, 19), 32),
        (date(1990, 5, 20), date(2023, 5, 20), 33),
        (date(1990, 5, 20), datetime(2023, 12, 31, 23, 59), 33),
        (date(2000, 2, 29), date(2023, 2, 28), 22),
        (date(2000, 2, 29), date(2023, 3, 1), 23),
    ],
)
def test_given_birth_date_when_age_is_taken_then_whole_years_count(
    born: date, at: date, expected: int
) -> None:
    assert age_in_years(born, at) == expected


def test_given_city_or_pincode_then_tier_is_coarse() -> None:
    assert city_tier("Mumbai") == 1
    assert city_tier(" jaipur ") == 2
    assert city_tier("Unknownpur", "273001") == 3
    assert city_tier(None, "560034") == 1
    assert city_tier("Unknownpur", "999999") == 3


def test_given_email_then_only_domain_type_is_derived() -> None:
    assert email_domain_type("a@gmail.com") == "webmail"
    assert email_domain_type("a@TCS-example.com") == "corporate"
    assert email_domain_type("a@cs.iisc.ac.in") == "edu"
    assert email_domain_type("a@unknown.example") == "other"
