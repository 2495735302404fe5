"""`credo serve` and `credo materialize` on a tiny finished demo: HTTP in, the real scoring handler, JSON out.

The demo runs once for the module (about 30-40 s). The mock_aws test comes first on purpose: moto's
in-process backends are shared with the local server's moto, and mock_aws resets them.
"""

import json
import sqlite3
import stat
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from credo import constants as c
from credo.adapters.dynamodb import ensure_table
from credo.cli import main
from credo.demo import DemoResult, run_demo
from credo.local import LOCAL_STATE_FILE, load_local_state
from credo.local_server import LocalServerError, proxy_event, serving
from credo.online_store import TOKEN_ATTRIBUTE
from credo.warehouse import build_features
from credo.warehouse.duckdb import DuckDBWarehouse

FEATURE_TABLE = "credo-features-materialize-test"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoResult:
    return run_demo(tmp_path_factory.mktemp("demo"), customers=1_500, seed=3, echo=False, search_seconds=0.0)


@pytest.fixture(scope="module")
def known_customer(demo: DemoResult) -> str:
    """A customer registered before the materialisation date: the online store has their features."""
    as_of = load_local_state(demo.workdir).as_of
    with sqlite3.connect(demo.workdir / "world" / "operational.sqlite") as conn:
        row = conn.execute(
            "SELECT customer_id FROM registrations WHERE registered_at < ? ORDER BY customer_id LIMIT 1",
            (as_of.isoformat(),),
        ).fetchone()
    conn.close()
    return str(row[0])


@pytest.fixture(scope="module")
def base_url(demo: DemoResult) -> Iterator[str]:
    with serving(demo.workdir, "127.0.0.1", 0) as url:
        yield url


def request(url: str, *, method: str = "GET", body: bytes | None = None) -> tuple[int, Any]:
    """Status and JSON body of one HTTP request (an error status is an answer, not an exception)."""
    sent = urllib.request.Request(url, data=body, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(sent, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def eligibility_body(customer_id: str) -> bytes:
    return json.dumps({"customer_id": customer_id, "cart": {"amount": 18_999, "currency": "INR"}}).encode()


# ---- without the server (mock_aws first: see the module docstring) ---------------------------------------


def test_given_the_demo_warehouse_when_materialized_then_the_store_holds_one_item_per_feature_row(
    demo: DemoResult, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN", c.ENV_REDSHIFT_WORKGROUP):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ap-south-1")
    monkeypatch.setenv(c.ENV_FEATURE_TABLE, FEATURE_TABLE)
    warehouse = demo.workdir / "warehouse.duckdb"
    as_of = load_local_state(demo.workdir).as_of
    with DuckDBWarehouse(warehouse) as opened:
        feature_rows = build_features(opened, as_of).num_rows

    with mock_aws():
        ensure_table(FEATURE_TABLE, hash_key=TOKEN_ATTRIBUTE)
        code = main(["materialize", "--aws", "--warehouse", str(warehouse)])
        client = boto3.client("dynamodb", region_name="ap-south-1")
        pages = client.get_paginator("scan").paginate(TableName=FEATURE_TABLE, Select="COUNT")
        items = sum(page["Count"] for page in pages)
        one = client.scan(TableName=FEATURE_TABLE, Limit=1)["Items"][0]

    printed = capsys.readouterr().out
    assert code == 0
    assert items == feature_rows > 0
    assert f"as of {as_of}" in printed  # the default snapshot is the date the demo materialised
    assert one["as_of"] == {"S": as_of.isoformat()}


def test_given_no_aws_and_no_endpoint_when_materializing_then_it_says_where_the_store_lives_and_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)

    code = main(["materialize"])

    assert code == 2
    assert "`credo serve` or `make demo`" in capsys.readouterr().err


def test_given_no_finished_demo_when_serving_then_it_names_make_demo_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["serve", "--workdir", str(tmp_path / "nothing-here"), "--port", "0"])

    assert code == 2
    assert "run `make demo` first" in capsys.readouterr().err


def test_given_a_host_that_is_not_loopback_when_not_asked_for_explicitly_then_serving_is_refused(
    demo: DemoResult,
) -> None:
    with pytest.raises(LocalServerError, match="not loopback"), serving(demo.workdir, "0.0.0.0", 0):
        pass


def test_given_a_finished_demo_then_its_local_state_keeps_key_policy_and_date_for_its_owner_only(
    demo: DemoResult,
) -> None:
    state = load_local_state(demo.workdir)

    assert len(bytes.fromhex(state.hmac_key_secret)) == 32
    assert state.policy["version"] == demo.policy.version
    assert state.as_of == date.fromisoformat(demo.world["config"]["end"])
    assert stat.S_IMODE((demo.workdir / LOCAL_STATE_FILE).stat().st_mode) == 0o600


def test_given_an_http_request_then_its_proxy_event_carries_method_path_query_headers_and_body() -> None:
    event = proxy_event(
        "POST", "/v1/eligibility", "a=1&a=2&b=", [("X-Trace", "t1"), ("X-Trace", "t2")], b'{"x": 1}'
    )
    binary = proxy_event("PUT", "/v1/x", "", [], b"\xff\xfe")

    assert (event["httpMethod"], event["path"], event["body"]) == ("POST", "/v1/eligibility", '{"x": 1}')
    assert event["queryStringParameters"] == {"a": "2", "b": ""}
    assert event["multiValueQueryStringParameters"] == {"a": ["1", "2"], "b": [""]}
    assert event["headers"] == {"X-Trace": "t2"} and event["multiValueHeaders"] == {"X-Trace": ["t1", "t2"]}
    assert binary["isBase64Encoded"] is True and binary["body"] == "//4="


# ---- through the server ------------------------------------------------------------------------------------


def test_given_a_known_customer_when_posting_eligibility_then_both_scores_come_back(
    base_url: str, known_customer: str, demo: DemoResult
) -> None:
    status, answer = request(
        f"{base_url}/v1/eligibility", method="POST", body=eligibility_body(known_customer)
    )

    assert status == 200
    assert answer["degraded"] is False and answer["new_customer"] is False
    assert 300 <= answer["credit"]["score"] <= 900
    assert 300 <= answer["buying"]["score"] <= 900
    assert answer["policy_version"] == demo.policy.version


def test_given_malformed_json_when_posting_eligibility_then_the_answer_is_a_client_error(
    base_url: str,
) -> None:
    status, _ = request(f"{base_url}/v1/eligibility", method="POST", body=b'{"customer_id": "CUST0')

    assert 400 <= status < 500


def test_given_a_path_the_api_does_not_have_then_the_handler_answers_it_not_the_server(base_url: str) -> None:
    status, answer = request(f"{base_url}/v1/no-such-route?x=1")

    assert status == 404
    assert answer is not None  # the resolver's JSON, passed through


def test_given_five_concurrent_clients_when_each_sends_twenty_requests_then_all_are_answered_200(
    base_url: str, known_customer: str
) -> None:
    def client(_: int) -> list[int]:
        body = eligibility_body(known_customer)
        return [request(f"{base_url}/v1/eligibility", method="POST", body=body)[0] for _ in range(20)]

    with ThreadPoolExecutor(max_workers=5) as pool:
        statuses = [status for answers in pool.map(client, range(5)) for status in answers]

    assert statuses == [200] * 100
