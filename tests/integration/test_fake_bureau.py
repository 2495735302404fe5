"""BureauClient against the loopback FakeBureau: hits, retries, failures recorded, keys only on the wire."""

import json
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import urllib3

from credo.bureau import (
    API_KEY_HEADER,
    LOOKUP_PATH,
    BureauClient,
    BureauConfig,
    BureauConfigError,
    BureauHit,
    RateLimiter,
)
from credo.fake_bureau import FIXTURE_PATH, FakeBureau
from credo.privacy import bureau_lookup_key
from credo.synthetic import WorldConfig, generate_world
from credo.synthetic.registries import BUREAU_COLUMNS
from tests.fakes import FakeClock

SHARED_KEY = bytes(range(100, 132))
API_KEY = "fake-bureau-api-key"
FAST: dict[str, Any] = {"backoff_factor": 0.001, "connect_timeout": 1.0, "read_timeout": 2.0}

Person = dict[str, Any]


def person(
    name: str, phone: str, born: str, score: int = 0, tradelines: int = 0, enquiries: int = 0, dpd: int = 0
) -> Person:
    """A row of the bureau's own file: it knows who people are."""
    return {
        "full_name": name, "phone": phone, "date_of_birth": born, "pincode": "411001", "bureau_score": score,
        "tradelines": tradelines, "enquiries_6m": enquiries, "max_dpd_24m": dpd,
    }  # fmt: skip


ASHA = person("Asha Verma", "+919812345678", "1990-05-20", score=812, tradelines=5, enquiries=1)
RAVI = person("Ravi Kumar", "+917700112233", "1985-11-02", score=655, tradelines=2, enquiries=4, dpd=30)
MEENA = person("Meena Iyer", "+918899001122", "2001-01-15", score=640, dpd=90)
KARAN = person("Karan Shah", "+916655443322", "1995-07-07")  # not in the bureau's file


def key_of(someone: Person, phone: str | None = None) -> str:
    return bureau_lookup_key(phone or someone["phone"], someone["date_of_birth"], SHARED_KEY)


def some_keys(n: int) -> list[str]:
    return [bureau_lookup_key(f"+91900000{i:04d}", "1990-01-01", SHARED_KEY) for i in range(n)]


@pytest.fixture
def fixture_file(tmp_path: Path) -> Path:
    """A three-person bureau file in the world's shape."""
    people = [ASHA, RAVI, MEENA]
    columns = {
        name: [f"BUR{i:010d}" for i in range(len(people))]
        if name == "bureau_id"
        else [p[name] for p in people]
        for name in BUREAU_COLUMNS
    }
    path = tmp_path / "bureau" / "bureau_fixture.parquet"
    path.parent.mkdir()
    pq.write_table(pa.table(columns), path)
    return path


@pytest.fixture
def bureau(fixture_file: Path) -> Iterator[Callable[..., FakeBureau]]:
    """Factory: a started FakeBureau (no failures unless asked), stopped after the test."""
    started: list[FakeBureau] = []

    def start(**options: Any) -> FakeBureau:
        options = {"failure_rate": 0.0, **options}
        fake = FakeBureau(fixture_file, API_KEY, SHARED_KEY, **options).start()
        started.append(fake)
        return fake

    yield start
    for fake in started:
        fake.stop()


def client_for(fake: FakeBureau, **options: Any) -> BureauClient:
    return BureauClient(BureauConfig.from_secret_json(fake.secret_json()), **{**FAST, **options})


def test_given_people_in_and_out_of_the_file_when_looked_up_then_hits_carry_their_report(
    bureau: Callable[..., FakeBureau],
) -> None:
    fake = bureau()
    # Credo's copy of a phone may be formatted differently from the bureau's: the key still matches
    asha, ravi, meena, karan = key_of(ASHA, phone="98123 45678"), key_of(RAVI), key_of(MEENA), key_of(KARAN)

    outcome = client_for(fake).lookup([asha, ravi, meena, karan, asha])

    assert outcome.reports[asha] == BureauHit(
        lookup_key=asha, bureau_score=812, score_band="A", tradelines=5, enquiries_6m=1, max_dpd_24m=0
    )
    assert (outcome.reports[ravi].status, getattr(outcome.reports[ravi], "score_band", None)) == ("hit", "D")
    assert (outcome.reports[meena].status, getattr(outcome.reports[meena], "score_band", None)) == (
        "hit",
        "E",
    )
    assert outcome.reports[karan].status == "no_hit"
    assert list(outcome.reports) == [asha, ravi, meena, karan]  # asked twice, answered once
    assert (outcome.requests, outcome.retries, outcome.failures) == (1, 0, 0)
    assert fake.stats().served_keys == 4 and fake.stats().hits == 3


def test_given_a_bureau_failing_the_first_two_requests_when_looked_up_then_the_client_retries_and_succeeds(
    bureau: Callable[..., FakeBureau],
) -> None:
    fake = bureau(scripted_faults=["unavailable", "unavailable"])

    outcome = client_for(fake, attempts=3).lookup([key_of(ASHA), key_of(KARAN)])

    assert outcome.metrics() == {
        "keys": 2, "hits": 1, "no_hits": 1, "unavailable": 0, "requests": 1, "retries": 2, "failures": 0,
    }  # fmt: skip
    assert (fake.stats().requests, fake.stats().unavailable) == (3, 2)


def test_given_a_bureau_that_always_fails_when_looked_up_then_keys_are_unavailable_and_nothing_raises(
    bureau: Callable[..., FakeBureau],
) -> None:
    fake = bureau(failure_rate=1.0)
    keys = some_keys(5)

    outcome = client_for(fake, attempts=3, batch_size=2).lookup(keys)

    assert outcome.unavailable_keys == keys
    assert (outcome.requests, outcome.retries, outcome.failures) == (3, 6, 3)
    assert (fake.stats().requests, fake.stats().unavailable, fake.stats().served_keys) == (9, 9, 0)


def test_given_a_stopped_bureau_when_looked_up_then_refused_connections_leave_keys_unavailable(
    bureau: Callable[..., FakeBureau],
) -> None:
    fake = bureau()
    client = client_for(fake, attempts=2)
    fake.stop()

    outcome = client.lookup([key_of(ASHA), key_of(RAVI)])

    assert outcome.count("unavailable") == 2
    assert (outcome.requests, outcome.retries, outcome.failures) == (1, 1, 1)


def test_given_an_answer_slower_than_the_read_timeout_when_looked_up_then_it_is_retried(
    bureau: Callable[..., FakeBureau],
) -> None:
    fake = bureau(scripted_faults=["slow"], slow_seconds=30.0)

    outcome = client_for(fake, attempts=2, read_timeout=0.2).lookup([key_of(ASHA)])

    assert outcome.reports[key_of(ASHA)].status == "hit"
    assert outcome.retries == 1
    assert (fake.stats().requests, fake.stats().slow) == (2, 1)


def test_given_a_wrong_api_key_when_looked_up_then_a_config_error_is_raised_without_retrying(
    bureau: Callable[..., FakeBureau],
) -> None:
    fake = bureau()
    config = json.loads(fake.secret_json()) | {"api_key": "not-the-key"}
    client = BureauClient(BureauConfig.from_secret_json(json.dumps(config)), **FAST)

    with pytest.raises(BureauConfigError, match="401"):
        client.lookup([key_of(ASHA)])

    assert (fake.stats().requests, fake.stats().unauthorized) == (1, 1)


def test_given_a_lookup_then_request_bodies_carry_lookup_keys_and_nothing_about_the_person(
    bureau: Callable[..., FakeBureau],
) -> None:
    fake = bureau(record_bodies=True)
    people = [ASHA, RAVI, MEENA, KARAN]

    client_for(fake).lookup([key_of(someone) for someone in people])

    [body] = fake.bodies
    assert json.loads(body) == {"lookup_keys": [key_of(someone) for someone in people]}
    text = body.decode()
    for someone in people:
        born = someone["date_of_birth"]
        for clue in (someone["full_name"], someone["phone"][-10:], born, born.replace("-", "")):
            assert clue not in text


def test_given_more_keys_than_the_batch_size_when_looked_up_then_requests_carry_at_most_that_many(
    bureau: Callable[..., FakeBureau],
) -> None:
    fake = bureau(record_bodies=True)
    keys = some_keys(7)

    outcome = client_for(fake, batch_size=3).lookup(keys)

    sent = [json.loads(body)["lookup_keys"] for body in fake.bodies]
    assert [len(batch) for batch in sent] == [3, 3, 1]
    assert [key for batch in sent for key in batch] == keys
    assert outcome.requests == 3 and outcome.count("no_hit") == 7


def test_given_a_client_rate_limit_when_looking_up_then_requests_are_spaced_on_the_clock(
    bureau: Callable[..., FakeBureau],
) -> None:
    fake = bureau()
    clock = FakeClock()
    limiter = RateLimiter(4.0, burst=1, clock=clock, sleep=clock.sleep)

    outcome = client_for(fake, batch_size=2, rate_limiter=limiter).lookup(some_keys(8))

    assert outcome.requests == 4
    assert clock.sleeps == pytest.approx([0.25, 0.25, 0.25])
    assert clock.now == pytest.approx(0.75)


def test_given_the_bureau_rate_limit_when_exceeded_then_keys_wait_as_unavailable_and_succeed_later(
    bureau: Callable[..., FakeBureau],
) -> None:
    clock = FakeClock()  # the bureau's clock: frozen until the test moves it
    fake = bureau(rate_limit_per_second=1.0, retry_after_seconds=0, clock=clock)
    client = client_for(fake, attempts=2, batch_size=1)
    first, second = key_of(ASHA), key_of(RAVI)

    outcome = client.lookup([first, second])

    assert outcome.reports[first].status == "hit"
    assert outcome.unavailable_keys == [second]
    assert fake.stats().throttled == 2  # the second request and its one retry

    clock.now += 1.0
    assert client.lookup(outcome.unavailable_keys).reports[second].status == "hit"


def test_given_the_same_seed_when_failing_at_random_then_the_same_requests_fail(
    bureau: Callable[..., FakeBureau],
) -> None:
    runs = []
    for _ in range(2):
        fake = bureau(failure_rate=0.5, seed=7)
        outcome = client_for(fake, attempts=1, batch_size=1).lookup(some_keys(12))
        runs.append([report.status for report in outcome.reports.values()])

    assert runs[0] == runs[1]
    assert 0 < runs[0].count("unavailable") < 12


def test_given_a_body_with_a_phone_number_then_the_fake_bureau_answers_400(
    bureau: Callable[..., FakeBureau],
) -> None:
    fake = bureau()
    body = json.dumps({"lookup_keys": ["+919812345678"]})

    response = urllib3.request(
        "POST", fake.base_url + LOOKUP_PATH, body=body, headers={API_KEY_HEADER: API_KEY}, retries=False
    )

    assert response.status == 400
    assert fake.stats().bad_requests == 1


class SecretsInMemory:
    def __init__(self, values: dict[str, str]) -> None:
        self.values = values

    def get_string(self, name: str) -> str:
        return self.values[name]


def test_given_the_secret_in_secrets_manager_when_building_a_client_then_it_reaches_the_bureau(
    bureau: Callable[..., FakeBureau],
) -> None:
    fake = bureau()
    secrets = SecretsInMemory({"credo/bureau": fake.secret_json()})

    with BureauClient.from_secrets(secrets, "credo/bureau", **FAST) as client:
        outcome = client.lookup([key_of(MEENA)])

    assert outcome.reports[key_of(MEENA)].status == "hit"


def test_given_a_synthetic_world_when_its_customers_are_looked_up_then_the_bureau_file_is_found(
    tmp_path: Path,
) -> None:
    generate_world(WorldConfig(customers=1_500, seed=4), tmp_path, progress=False)
    with sqlite3.connect(tmp_path / "operational.sqlite") as connection:
        customers = connection.execute("SELECT phone, date_of_birth FROM registrations").fetchall()
    connection.close()
    keys = [bureau_lookup_key(phone, born, SHARED_KEY) for phone, born in customers]
    in_file = pq.read_metadata(tmp_path / FIXTURE_PATH).num_rows

    # The default 5% of requests fail on purpose: retries absorb them
    with FakeBureau(tmp_path / FIXTURE_PATH, API_KEY, SHARED_KEY, seed=3) as fake:
        outcome = client_for(fake, attempts=4).lookup(keys)

    assert 0 < in_file < len(customers)
    assert outcome.count("hit") == in_file
    assert outcome.count("no_hit") == len(customers) - in_file
    assert fake.stats().unavailable > 0 and outcome.retries == fake.stats().unavailable
