"""The bureau connector's pure parts: score bands, the secret, the rate limiter, key checks, outcomes."""

import json
from typing import Any

import pytest

from credo.bureau import (
    BureauClient,
    BureauConfig,
    BureauConfigError,
    BureauError,
    BureauHit,
    BureauNoHit,
    BureauUnavailable,
    LookupOutcome,
    RateLimiter,
    score_band,
)
from credo.privacy import bureau_lookup_key
from tests.fakes import FakeClock

LOOKUP_KEY = bytes(range(32))
API_KEY = "api-key-s3cret-value"


def secret(**overrides: object) -> str:
    fields: dict[str, object] = {
        "base_url": "https://bureau.example/",
        "api_key": API_KEY,
        "lookup_key": LOOKUP_KEY.hex(),
    }
    fields.update(overrides)
    return json.dumps({name: value for name, value in fields.items() if value is not None})


@pytest.mark.parametrize(
    ("score", "band"),
    [(900, "A"), (800, "A"), (799, "B"), (750, "B"), (749, "C"), (700, "C"), (699, "D"), (650, "D"),
     (649, "E"), (300, "E")],
)  # fmt: skip
def test_given_a_score_when_banded_then_the_bureau_band_boundaries_hold(score: int, band: str) -> None:
    assert score_band(score) == band


def test_given_a_valid_secret_when_parsed_then_url_and_keys_come_back_and_secrets_stay_hidden() -> None:
    config = BureauConfig.from_secret_json(secret())

    assert config.lookup_url == "https://bureau.example/v1/reports/lookup"
    assert config.lookup_key_bytes == LOOKUP_KEY
    assert config.api_key.get_secret_value() == API_KEY
    assert API_KEY not in repr(config) and LOOKUP_KEY.hex() not in repr(config)


@pytest.mark.parametrize("missing", ["base_url", "api_key", "lookup_key"])
def test_given_a_secret_missing_a_field_when_parsed_then_the_error_names_it(missing: str) -> None:
    with pytest.raises(BureauConfigError, match=missing):
        BureauConfig.from_secret_json(secret(**{missing: None}))


@pytest.mark.parametrize("bad_key", ["zz-not-hex-s3cret", "abcd"])
def test_given_a_bad_lookup_key_when_parsed_then_the_error_names_the_field_not_its_value(
    bad_key: str,
) -> None:
    with pytest.raises(BureauConfigError, match="lookup_key") as raised:
        BureauConfig.from_secret_json(secret(lookup_key=bad_key, api_key=""))

    message = str(raised.value)
    assert "api_key" in message  # every problem is listed at once
    assert bad_key not in message


@pytest.mark.parametrize(
    ("base_url", "accepted"),
    [
        ("https://bureau.example", True),
        ("http://127.0.0.1:8080", True),
        ("http://localhost:9000/", True),
        ("http://bureau.example", False),  # the API key would travel in clear text
        ("ftp://bureau.example", False),
        ("not a url", False),
    ],
)
def test_given_a_base_url_when_parsed_then_only_https_or_loopback_http_is_accepted(
    base_url: str, accepted: bool
) -> None:
    if accepted:
        assert BureauConfig.from_secret_json(secret(base_url=base_url)).base_url == base_url.rstrip("/")
    else:
        with pytest.raises(BureauConfigError, match="base_url"):
            BureauConfig.from_secret_json(secret(base_url=base_url))


@pytest.mark.parametrize("text", ["{not json", '["a", "list"]'])
def test_given_a_secret_that_is_not_a_json_object_when_parsed_then_it_is_refused(text: str) -> None:
    with pytest.raises(BureauConfigError, match="JSON"):
        BureauConfig.from_secret_json(text)


def test_given_rate_two_per_second_and_burst_one_when_acquiring_then_requests_are_half_a_second_apart() -> (
    None
):
    clock = FakeClock()
    limiter = RateLimiter(2.0, burst=1, clock=clock, sleep=clock.sleep)

    granted_at = []
    for _ in range(4):
        limiter.acquire()
        granted_at.append(clock.now)

    assert granted_at == pytest.approx([0.0, 0.5, 1.0, 1.5])


def test_given_a_burst_of_three_when_idle_for_long_then_only_three_go_at_once() -> None:
    clock = FakeClock()
    limiter = RateLimiter(10.0, burst=3, clock=clock, sleep=clock.sleep)
    clock.now = 60.0  # a long idle spell must not bank more than the burst

    waits = [limiter.acquire() for _ in range(5)]

    assert waits == pytest.approx([0.0, 0.0, 0.0, 0.1, 0.1])
    assert clock.now == pytest.approx(60.2)


def test_given_an_empty_bucket_when_trying_then_it_says_how_long_to_wait_without_sleeping() -> None:
    clock = FakeClock()
    limiter = RateLimiter(4.0, clock=clock, sleep=clock.sleep)

    assert limiter.try_acquire() == 0.0
    assert limiter.try_acquire() == pytest.approx(0.25)
    clock.now = 0.25
    assert limiter.try_acquire() == 0.0
    assert clock.sleeps == []


@pytest.mark.parametrize(("rate", "burst"), [(0.0, 1), (-1.0, 1), (1.0, 0)])
def test_given_a_nonsense_rate_when_building_a_limiter_then_it_is_refused(rate: float, burst: int) -> None:
    with pytest.raises(ValueError, match="rate_per_second"):
        RateLimiter(rate, burst)


def test_given_a_phone_number_instead_of_a_key_when_looking_up_then_nothing_is_sent_or_echoed() -> None:
    # Port 9 (discard) on loopback: had anything been sent, the outcome would say unavailable instead
    client = BureauClient(BureauConfig.from_secret_json(secret(base_url="http://127.0.0.1:9")), attempts=1)
    good = bureau_lookup_key("+919812345678", "1990-05-20", LOOKUP_KEY)

    with pytest.raises(BureauError, match="1 lookup key") as raised:
        client.lookup([good, "+919812345678"])

    assert "9812345678" not in str(raised.value)


@pytest.mark.parametrize(("option", "value"), [("batch_size", 0), ("batch_size", 101), ("attempts", 0)])
def test_given_out_of_range_client_options_then_the_client_is_refused(option: str, value: int) -> None:
    options: dict[str, Any] = {option: value}
    with pytest.raises(ValueError, match=option):
        BureauClient(BureauConfig.from_secret_json(secret()), **options)


def test_given_no_keys_when_looking_up_then_no_request_is_made() -> None:
    client = BureauClient(BureauConfig.from_secret_json(secret(base_url="http://127.0.0.1:9")))

    outcome = client.lookup([])

    assert outcome.reports == {} and outcome.requests == 0


def test_given_mixed_reports_when_outcome_is_summarised_then_metrics_count_each_status() -> None:
    hit = BureauHit(
        lookup_key="a" * 32, bureau_score=720, score_band="C", tradelines=2, enquiries_6m=1, max_dpd_24m=0
    )
    outcome = LookupOutcome(
        reports={
            "a" * 32: hit,
            "b" * 32: BureauNoHit(lookup_key="b" * 32),
            "c" * 32: BureauUnavailable(lookup_key="c" * 32),
        },
        requests=2,
        retries=3,
        failures=1,
    )

    assert outcome.metrics() == {
        "keys": 3,
        "hits": 1,
        "no_hits": 1,
        "unavailable": 1,
        "requests": 2,
        "retries": 3,
        "failures": 1,
    }
    assert outcome.unavailable_keys == ["c" * 32]
