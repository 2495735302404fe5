"""The scoring Lambda end to end on moto: registry → online store → handler → decision.

Everything AWS is in-process `mock_aws`; the handler module is loaded fresh inside each test, as a
new Lambda execution environment would load it.
"""

import copy
import dataclasses
import json
import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws

from credo import constants as c
from credo.constants import TARGET_BUYING, TARGET_CREDIT
from credo.features import FEATURE_NAMES, FEATURE_SCHEMA_VERSION, LABEL_BUYING, LABEL_CREDIT
from credo.local import LocalLambdaContext, load_handler
from credo.online_store import TOKEN_ATTRIBUTE, OnlineFeatureStore
from credo.privacy import tokenize
from credo.registry import ModelRegistry, RegistryError
from credo.scoring.api import answer, build_app
from credo.scoring.scale import score_from_bad_probability
from credo.scoring.service import POLICY_TTL_SECONDS, build_eligibility_service
from credo.settings import CredoSettings
from credo.training import TrainedModel, train_target
from tests.fakes import FakeClock

REPO = Path(__file__).resolve().parents[2]
EVENT_PATH = REPO / "tests" / "events" / "apigw_eligibility.json"
REGION = "ap-south-1"
MODEL_BUCKET = "credo-models-test"
FEATURE_TABLE = "credo-features-test"
SECRET_NAME = "credo/hmac-key-test"
POLICY_PARAMETER = "/credo/test/policy"
HMAC_KEY_HEX = secrets.token_hex(32)

GOOD_CUSTOMER = "C0000123"
RISKY_CUSTOMER = "C0000456"
UNKNOWN_CUSTOMER = "C9999999"


# ---- a world with two trained models ------------------------------------------------------------------


def labelled_table(n_rows: int, seed: int) -> pd.DataFrame:
    """Synthetic features with a credit label driven by repayment and a buying label driven by COD history."""
    rng = np.random.default_rng(seed)
    table = pd.DataFrame(rng.normal(size=(n_rows, len(FEATURE_NAMES))), columns=list(FEATURE_NAMES))
    table["bills_late_in_12months"] = rng.poisson(0.8, n_rows).astype(float)
    table["max_dpd_in_12months"] = rng.exponential(12.0, n_rows)
    table["cod_refused_in_6months"] = rng.poisson(0.5, n_rows).astype(float)
    table["orders_returned_in_6months"] = rng.poisson(0.7, n_rows).astype(float)
    credit_logit = -3.5 + 1.0 * table["bills_late_in_12months"] + 0.05 * table["max_dpd_in_12months"]
    buying_logit = -3.0 + 1.4 * table["cod_refused_in_6months"] + 0.4 * table["orders_returned_in_6months"]
    table[LABEL_CREDIT] = (rng.random(n_rows) < 1 / (1 + np.exp(-credit_logit))).astype(float)
    table[LABEL_BUYING] = (rng.random(n_rows) < 1 / (1 + np.exp(-buying_logit))).astype(float)
    return table


def customer_row(*, risky: bool) -> dict[str, float | None]:
    row: dict[str, float | None] = {name: 0.0 for name in FEATURE_NAMES}
    row.update(
        bills_late_in_12months=5.0 if risky else 0.0,
        max_dpd_in_12months=95.0 if risky else 0.0,
        cod_refused_in_6months=4.0 if risky else 0.0,
        orders_returned_in_6months=4.0 if risky else 0.0,
        age=None,  # a gap, as the online store often has
    )
    return row


@pytest.fixture(scope="module")
def trained() -> dict[str, TrainedModel]:
    table = labelled_table(3000, seed=5)
    params = {"max_iter": 80}
    return {
        TARGET_CREDIT: train_target(table, TARGET_CREDIT, LABEL_CREDIT, seed=5, params=params, n_threads=1),
        TARGET_BUYING: train_target(table, TARGET_BUYING, LABEL_BUYING, seed=5, params=params, n_threads=1),
    }


def expected_score(model: TrainedModel, row: dict[str, float | None]) -> int:
    vector = np.array(
        [[np.nan if row[name] is None else row[name] for name in FEATURE_NAMES]], dtype=np.float32
    )
    return score_from_bad_probability(float(model.pipeline.predict_proba(vector)[0, 1]))


# ---- AWS on moto ----------------------------------------------------------------------------------------


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv(c.ENV_MODEL_BUCKET, MODEL_BUCKET)
    monkeypatch.setenv(c.ENV_FEATURE_TABLE, FEATURE_TABLE)
    monkeypatch.setenv(c.ENV_HMAC_SECRET_NAME, SECRET_NAME)
    monkeypatch.setenv(c.ENV_POLICY_PARAMETER, POLICY_PARAMETER)
    monkeypatch.setenv("POWERTOOLS_DEV", "false")
    with mock_aws():
        yield


def create_bucket_secret_and_policy(credit_threshold: int, buying_threshold: int) -> None:
    boto3.client("s3").create_bucket(
        Bucket=MODEL_BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    boto3.client("secretsmanager").create_secret(Name=SECRET_NAME, SecretString=HMAC_KEY_HEX)
    policy = {
        "version": "test-policy-3",
        "credit_threshold": credit_threshold,
        "buying_threshold": buying_threshold,
        # one wide band each: these tests are about the thresholds, tests/unit/test_policy.py about bands
        "credit_bands": [
            {"name": "all", "min_score": 300, "tenures_months": [3, 6, 12], "max_emi_amount": 1e6}
        ],
        "buying_bands": [{"name": "all", "min_score": 300, "max_cod_order_value": 1e6}],
    }
    boto3.client("ssm").put_parameter(Name=POLICY_PARAMETER, Value=json.dumps(policy), Type="String")


def deploy(
    trained: dict[str, TrainedModel],
    *,
    credit_threshold: int,
    buying_threshold: int,
    with_customers: bool = False,
) -> None:
    """What the stacks and the pipeline set up: key, policy, feature table, both champions promoted;
    with_customers, the good and the risky customer's features materialised too."""
    create_bucket_secret_and_policy(credit_threshold=credit_threshold, buying_threshold=buying_threshold)
    create_feature_table()
    registry = ModelRegistry.for_bucket(MODEL_BUCKET)
    for model in trained.values():
        registry.register(model, promote=True)
    if with_customers:
        materialise_customers()


def create_feature_table() -> None:
    boto3.client("dynamodb").create_table(
        TableName=FEATURE_TABLE,
        AttributeDefinitions=[{"AttributeName": TOKEN_ATTRIBUTE, "AttributeType": "S"}],
        KeySchema=[{"AttributeName": TOKEN_ATTRIBUTE, "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )


def token_of(customer_id: str) -> str:
    return tokenize(customer_id, bytes.fromhex(HMAC_KEY_HEX))


def materialise_customers() -> int:
    rows = [
        {"token": token_of(GOOD_CUSTOMER), **customer_row(risky=False)},
        {"token": token_of(RISKY_CUSTOMER), **customer_row(risky=True)},
    ]
    return OnlineFeatureStore.for_table(FEATURE_TABLE).materialise(pd.DataFrame(rows), as_of="2026-11-01")


def eligibility_event(body: Any) -> dict[str, Any]:
    event = copy.deepcopy(json.loads(EVENT_PATH.read_text()))
    event["body"] = body if isinstance(body, str) else json.dumps(body)
    return event


def ask(handler: ModuleType, context: LocalLambdaContext, customer_id: str) -> tuple[int, dict[str, Any]]:
    body = {"customer_id": customer_id, "cart": {"amount": 24999.0, "currency": "INR"}}
    response = handler.handler(eligibility_event(body), context)
    return response["statusCode"], json.loads(response["body"])


# ---- tests -------------------------------------------------------------------------------------------------


def test_given_registered_models_and_features_when_asked_then_scores_and_offers_follow_policy(
    aws_env: None, trained: dict[str, TrainedModel], lambda_context: LocalLambdaContext
) -> None:
    good = {t: expected_score(trained[t], customer_row(risky=False)) for t in trained}
    risky = {t: expected_score(trained[t], customer_row(risky=True)) for t in trained}
    assert all(good[t] > risky[t] + 20 for t in trained), (
        f"models must separate the customers: {good} {risky}"
    )
    # Thresholds between the two customers: the good one clears both, the risky one neither.
    create_bucket_secret_and_policy(
        credit_threshold=(good[TARGET_CREDIT] + risky[TARGET_CREDIT]) // 2,
        buying_threshold=(good[TARGET_BUYING] + risky[TARGET_BUYING]) // 2,
    )
    create_feature_table()
    registry = ModelRegistry.for_bucket(MODEL_BUCKET)
    for model in trained.values():
        registry.register(model, promote=True)
    assert materialise_customers() == 2
    handler = load_handler("score")

    status_good, answer_good = ask(handler, lambda_context, GOOD_CUSTOMER)
    status_risky, answer_risky = ask(handler, lambda_context, RISKY_CUSTOMER)

    assert status_good == status_risky == 200
    assert abs(answer_good["credit"]["score"] - good[TARGET_CREDIT]) <= 1  # float32 ONNX vs sklearn rounding
    assert abs(answer_good["buying"]["score"] - good[TARGET_BUYING]) <= 1
    assert abs(answer_risky["credit"]["score"] - risky[TARGET_CREDIT]) <= 1
    assert (answer_good["credit"]["emi_eligible"], answer_good["buying"]["cod_eligible"]) == (True, True)
    assert (answer_risky["credit"]["emi_eligible"], answer_risky["buying"]["cod_eligible"]) == (False, False)
    assert answer_good["model_versions"] == {t: trained[t].model_version for t in trained}
    assert answer_good["policy_version"] == "test-policy-3"
    assert answer_good["degraded"] is False and answer_good["new_customer"] is False
    assert uuid.UUID(answer_good["decision_id"]) != uuid.UUID(answer_risky["decision_id"])


def test_given_a_customer_the_store_never_saw_when_asked_then_nothing_is_offered_and_not_degraded(
    aws_env: None, trained: dict[str, TrainedModel], lambda_context: LocalLambdaContext
) -> None:
    deploy(trained, credit_threshold=300, buying_threshold=300)  # even the lowest bar
    handler = load_handler("score")

    status, answer = ask(handler, lambda_context, UNKNOWN_CUSTOMER)

    assert status == 200
    assert answer["new_customer"] is True and answer["degraded"] is False
    assert answer["credit"]["emi_eligible"] is False and answer["buying"]["cod_eligible"] is False
    assert 300 <= answer["credit"]["score"] <= 900


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"customer_id": GOOD_CUSTOMER, "cart": {"amount": 0, "currency": "INR"}}, "amount"),
        ({"customer_id": GOOD_CUSTOMER, "cart": {"amount": 100.0, "currency": "USD"}}, "currency"),
        ({"cart": {"amount": 100.0, "currency": "INR"}}, "customer_id"),
        ({"customer_id": "has space", "cart": {"amount": 100.0, "currency": "INR"}}, "customer_id"),
    ],
)
def test_given_an_invalid_body_when_asked_then_422_names_the_field(
    aws_env: None, lambda_context: LocalLambdaContext, body: dict[str, Any], field: str
) -> None:
    handler = load_handler("score")  # nothing exists in AWS: validation must answer before any lookup

    response = handler.handler(eligibility_event(body), lambda_context)

    assert response["statusCode"] == 422
    locations = [error["loc"] for error in json.loads(response["body"])["detail"]]
    assert any(field in location for location in locations), locations


def test_given_a_missing_feature_table_when_asked_then_answer_is_conservative_degraded_and_200(
    aws_env: None, trained: dict[str, TrainedModel], lambda_context: LocalLambdaContext
) -> None:
    create_bucket_secret_and_policy(credit_threshold=300, buying_threshold=300)
    registry = ModelRegistry.for_bucket(MODEL_BUCKET)
    for model in trained.values():
        registry.register(model, promote=True)
    handler = load_handler("score")

    status, answer = ask(handler, lambda_context, GOOD_CUSTOMER)

    assert status == 200
    assert answer["degraded"] is True
    for part, flag in (("credit", "emi_eligible"), ("buying", "cod_eligible")):
        assert answer[part]["score"] is None and answer[part][flag] is False
        assert [r["code"] for r in answer[part]["reasons"]] == ["degraded"]
    assert answer["model_versions"][TARGET_CREDIT] == trained[TARGET_CREDIT].model_version


def test_given_no_buying_champion_when_asked_then_cod_is_withheld_emi_decided_and_degraded(
    aws_env: None, trained: dict[str, TrainedModel], lambda_context: LocalLambdaContext
) -> None:
    create_bucket_secret_and_policy(credit_threshold=300, buying_threshold=300)
    create_feature_table()
    ModelRegistry.for_bucket(MODEL_BUCKET).register(trained[TARGET_CREDIT], promote=True)
    materialise_customers()
    handler = load_handler("score")

    status, answer = ask(handler, lambda_context, GOOD_CUSTOMER)

    assert status == 200 and answer["degraded"] is True
    assert answer["credit"]["emi_eligible"] is True and answer["credit"]["score"] is not None
    assert answer["buying"]["score"] is None and answer["buying"]["cod_eligible"] is False
    assert [r["code"] for r in answer["buying"]["reasons"]] == ["no_score"]
    assert answer["model_versions"][TARGET_BUYING] is None


def test_given_a_request_when_answered_then_the_decision_log_has_the_token_and_never_the_customer_id(
    aws_env: None,
    trained: dict[str, TrainedModel],
    lambda_context: LocalLambdaContext,
    caplog: pytest.LogCaptureFixture,
) -> None:
    deploy(trained, credit_threshold=600, buying_threshold=600, with_customers=True)
    handler = load_handler("score")

    status, answer = ask(handler, lambda_context, GOOD_CUSTOMER)

    logs = " ".join(str(record.__dict__) for record in caplog.records)  # message and structured extras
    decision = next(r.__dict__["decision"] for r in caplog.records if "decision" in r.__dict__)
    assert status == 200
    assert decision["decision_id"] == answer["decision_id"]
    assert decision["token"] == token_of(GOOD_CUSTOMER) and decision["latency_ms"] >= 0
    assert decision["credit"]["score"] == answer["credit"]["score"]
    assert decision["cart"] == {
        "amount": 24999.0,
        "items": 0,
        "categories": [],
        "city_tier": None,
        "requested_tenure_months": None,
    }
    assert GOOD_CUSTOMER not in logs


def test_given_a_row_with_gaps_when_materialised_then_the_item_holds_numbers_only_for_known_values(
    aws_env: None,
) -> None:
    create_feature_table()
    store = OnlineFeatureStore.for_table(FEATURE_TABLE)
    row: dict[str, Any] = {"token": "tok-1", "label_credit_bad": 1.0, **customer_row(risky=True)}
    row["tenure_days"] = np.int64(412)
    row["postpaid_outstanding"] = float("nan")

    assert store.materialise([row], as_of="2026-11-01") == 1

    item = boto3.resource("dynamodb").Table(FEATURE_TABLE).get_item(Key={TOKEN_ATTRIBUTE: "tok-1"})["Item"]
    assert "age" not in item and "postpaid_outstanding" not in item  # missing values are absent attributes
    assert "label_credit_bad" not in item  # labels never reach the online store
    assert item["tenure_days"] == 412 and item["max_dpd_in_12months"] == 95
    assert item["feature_schema_version"] == FEATURE_SCHEMA_VERSION and item["as_of"] == "2026-11-01"
    record = store.get("tok-1")
    assert record is not None
    assert record.values["age"] is None and record.values["tenure_days"] == 412.0
    assert set(record.values) == set(FEATURE_NAMES)
    assert store.get("tok-never-seen") is None


def test_given_two_registered_versions_when_the_second_is_promoted_then_the_champion_follows(
    aws_env: None, trained: dict[str, TrainedModel]
) -> None:
    create_bucket_secret_and_policy(credit_threshold=600, buying_threshold=600)
    registry = ModelRegistry.for_bucket(MODEL_BUCKET)
    credit = trained[TARGET_CREDIT]
    assert registry.champion(TARGET_CREDIT) is None

    first = registry.register(credit, promote=True)
    second = registry.register(dataclasses.replace(credit, model_version="credit-20991231000000-feedc0ffee"))

    assert registry.champion(TARGET_CREDIT) == first
    registry.promote(TARGET_CREDIT, second.model_version)
    assert registry.load_champion(TARGET_CREDIT).ref == second
    s3 = boto3.client("s3")
    pointer = json.loads(s3.get_object(Bucket=MODEL_BUCKET, Key="credit/champion.json")["Body"].read())
    assert pointer["model_version"] == second.model_version
    card_key = f"credit/{credit.model_version}/model_card.json"
    assert json.loads(s3.get_object(Bucket=MODEL_BUCKET, Key=card_key)["Body"].read())["target"] == "credit"
    with pytest.raises(RegistryError, match="not registered"):
        registry.promote(TARGET_CREDIT, "credit-19990101000000-0000000000")


# ---- the API contract: every endpoint and error case -----------------------------------------------------

VALID_CART = {"amount": 2499.0, "currency": "INR"}


def request_event(method: str, path: str, body: str | None = None) -> dict[str, Any]:
    event = copy.deepcopy(json.loads(EVENT_PATH.read_text()))
    event.update(httpMethod=method, path=path, resource=path, body=body)
    event["requestContext"].update(httpMethod=method, resourcePath=path, path=f"/prod{path}")
    return event


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"customer_id": GOOD_CUSTOMER, "cart": {**VALID_CART, "colour": "red"}}, 422, "colour"),
        ({"customer_id": GOOD_CUSTOMER, "cart": VALID_CART, "coupon": "X"}, 422, "coupon"),
        ({"customer_id": GOOD_CUSTOMER, "cart": {**VALID_CART, "amount": -5}}, 422, "amount"),
        ({"customer_id": GOOD_CUSTOMER, "cart": {**VALID_CART, "amount": 1e12}}, 422, "amount"),
        ({"customer_id": GOOD_CUSTOMER, "cart": {**VALID_CART, "amount": "lots"}}, 422, "amount"),
        ({"customer_id": 12345, "cart": VALID_CART}, 422, "customer_id"),
        (
            {
                "customer_id": GOOD_CUSTOMER,
                "cart": {**VALID_CART, "items": [{"category": "cars", "price": 9}]},
            },
            422,
            "category",
        ),
        (
            {"customer_id": GOOD_CUSTOMER, "cart": {**VALID_CART, "delivery": {"pincode": "12345"}}},
            422,
            "pincode",
        ),
        (
            {"customer_id": GOOD_CUSTOMER, "cart": VALID_CART, "requested_tenure_months": 7},
            422,
            "requested_tenure",
        ),
        ({"customer_id": GOOD_CUSTOMER}, 422, "cart"),
    ],
)
def test_given_bad_input_when_asked_then_a_4xx_names_the_field(
    aws_env: None, lambda_context: LocalLambdaContext, body: dict[str, Any], status: int, field: str
) -> None:
    handler = load_handler("score")

    response = handler.handler(eligibility_event(body), lambda_context)

    assert response["statusCode"] == status
    locations = " ".join(str(error["loc"]) for error in json.loads(response["body"])["detail"])
    assert field in locations


@pytest.mark.parametrize(
    ("raw", "status", "words"),
    [
        ('{"customer_id": "C1", "cart": {', 400, "not valid JSON"),
        ("not json at all", 400, "not valid JSON"),
        (json.dumps({"customer_id": "C1", "cart": VALID_CART, "pad": "x" * 40_000}), 413, "larger than"),
    ],
)
def test_given_a_body_that_is_not_json_or_too_large_when_asked_then_a_4xx_says_so(
    aws_env: None, lambda_context: LocalLambdaContext, raw: str, status: int, words: str
) -> None:
    handler = load_handler("score")

    response = handler.handler(eligibility_event(raw), lambda_context)

    assert response["statusCode"] == status
    assert words in json.loads(response["body"])["message"]


def test_given_a_known_customer_when_the_profile_is_asked_then_both_profiles_come_without_a_cart(
    aws_env: None, trained: dict[str, TrainedModel], lambda_context: LocalLambdaContext
) -> None:
    deploy(trained, credit_threshold=300, buying_threshold=300, with_customers=True)
    handler = load_handler("score")

    response = handler.handler(request_event("GET", f"/v1/customers/{GOOD_CUSTOMER}/profile"), lambda_context)
    bad_id = handler.handler(request_event("GET", "/v1/customers/bad!id/profile"), lambda_context)

    answer = json.loads(response["body"])
    assert response["statusCode"] == 200
    assert answer["credit"]["band"] == "all" and answer["credit"]["emi_eligible"] is True
    assert answer["credit"]["tenures_offered"] == [3, 6, 12]
    assert answer["buying"]["max_cod_order_value"] == 1e6
    assert bad_id["statusCode"] == 422 and "customer_id" in bad_id["body"]


def test_given_models_and_a_feature_table_when_health_is_asked_then_it_reports_versions_and_reachability(
    aws_env: None, trained: dict[str, TrainedModel], lambda_context: LocalLambdaContext
) -> None:
    deploy(trained, credit_threshold=300, buying_threshold=300)
    handler = load_handler("score")

    healthy = json.loads(handler.handler(request_event("GET", "/v1/health"), lambda_context)["body"])
    boto3.client("dynamodb").delete_table(TableName=FEATURE_TABLE)
    unhealthy = json.loads(handler.handler(request_event("GET", "/v1/health"), lambda_context)["body"])

    assert healthy == {
        "status": "ok",
        "models": {t: trained[t].model_version for t in (TARGET_CREDIT, TARGET_BUYING)},
        "policy_version": "test-policy-3",
        "feature_store_reachable": True,
    }
    assert unhealthy["status"] == "degraded" and unhealthy["feature_store_reachable"] is False


def test_given_the_committed_openapi_document_then_the_served_one_is_identical(
    aws_env: None, lambda_context: LocalLambdaContext
) -> None:
    handler = load_handler("score")

    response = handler.handler(request_event("GET", "/v1/openapi.json"), lambda_context)

    committed = json.loads((REPO / "docs" / "openapi.json").read_text())
    assert response["statusCode"] == 200
    assert json.loads(response["body"]) == committed, "regenerate with `make docs` (docs/openapi.json)"
    assert set(committed["paths"]) == {"/v1/eligibility", "/v1/customers/{customer_id}/profile", "/v1/health"}


def test_given_a_new_policy_in_the_parameter_store_then_it_applies_after_the_ttl_without_a_deploy(
    aws_env: None, trained: dict[str, TrainedModel], lambda_context: LocalLambdaContext
) -> None:
    deploy(trained, credit_threshold=300, buying_threshold=300, with_customers=True)
    clock = FakeClock()
    app = build_app(build_eligibility_service(CredoSettings(), clock=clock))
    body = {"customer_id": GOOD_CUSTOMER, "cart": {"amount": 24999.0, "currency": "INR"}}

    before = json.loads(answer(app, eligibility_event(body), lambda_context)["body"])
    stricter = {"version": "test-policy-4", "credit_threshold": 900, "buying_threshold": 900}
    boto3.client("ssm").put_parameter(Name=POLICY_PARAMETER, Value=json.dumps(stricter), Overwrite=True)
    cached = json.loads(answer(app, eligibility_event(body), lambda_context)["body"])
    clock.now += POLICY_TTL_SECONDS + 1
    after = json.loads(answer(app, eligibility_event(body), lambda_context)["body"])

    assert (before["policy_version"], before["credit"]["emi_eligible"]) == ("test-policy-3", True)
    assert cached["policy_version"] == "test-policy-3"
    assert (after["policy_version"], after["credit"]["emi_eligible"]) == ("test-policy-4", False)
    assert after["credit"]["reasons"][0]["code"] == "below_threshold"


def test_given_cod_refusals_drive_the_buying_model_then_the_api_names_them_and_not_for_a_clean_customer(
    aws_env: None, trained: dict[str, TrainedModel], lambda_context: LocalLambdaContext
) -> None:
    deploy(trained, credit_threshold=300, buying_threshold=300, with_customers=True)
    handler = load_handler("score")

    _, risky = ask(handler, lambda_context, RISKY_CUSTOMER)
    _, good = ask(handler, lambda_context, GOOD_CUSTOMER)

    risky_reasons = {r["code"]: r for r in risky["buying"]["reasons"]}
    assert "cod_refused_in_6months" in risky_reasons
    assert risky_reasons["cod_refused_in_6months"]["text"] == "4 COD orders refused in the last 6 months"
    assert risky_reasons["cod_refused_in_6months"]["impact"] > 0
    assert "cod_refused_in_6months" not in {r["code"] for r in good["buying"]["reasons"]}


# ---- never a 5xx for client input: generated bodies ------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
VALID_BODY = {
    "customer_id": GOOD_CUSTOMER,
    "cart": {"amount": 999.0, "currency": "INR", "items": [{"category": "books", "price": 999.0}]},
    "requested_tenure_months": 6,
}


def _with_one_field_replaced(body: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(body)
    target = changed
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return changed


def test_given_generated_bodies_when_asked_then_the_answer_is_never_a_server_error(
    aws_env: None, trained: dict[str, TrainedModel], lambda_context: LocalLambdaContext
) -> None:
    deploy(trained, credit_threshold=300, buying_threshold=300, with_customers=True)
    handler = load_handler("score")
    fields = [("customer_id",), ("cart",), ("cart", "amount"), ("cart", "currency"), ("cart", "items"),
              ("requested_tenure_months",)]  # fmt: skip

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
    @given(
        st.one_of(
            JSON_VALUES.map(json.dumps),  # anything JSON
            st.text(max_size=60),  # anything at all
            st.tuples(st.sampled_from(fields), JSON_VALUES).map(
                lambda change: json.dumps(_with_one_field_replaced(VALID_BODY, *change))
            ),  # a valid body with one field of any type or value
        )
    )
    def never_a_server_error(body: str) -> None:
        response = handler.handler(eligibility_event(body), lambda_context)
        assert response["statusCode"] < 500, (body, response)

    never_a_server_error()


def test_given_a_decision_then_its_metrics_carry_the_service_and_the_environment(
    aws_env: None,
    trained: dict[str, TrainedModel],
    lambda_context: LocalLambdaContext,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(c.ENV_ENVIRONMENT, "prod")
    deploy(trained, credit_threshold=300, buying_threshold=300)
    handler = load_handler("score")
    capsys.readouterr()

    ask(handler, lambda_context, GOOD_CUSTOMER)

    emitted = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    decisions = next(m for m in emitted if "EligibilityDecisions" in m)
    assert (decisions["service"], decisions["environment"]) == ("credo", "prod")
    assert sorted(decisions["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0]) == ["environment", "service"]
