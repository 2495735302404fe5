"""Score scaling, policy thresholds and the pure scoring core (no AWS, no scikit-learn)."""

import math
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from pydantic import ValidationError

from credo.constants import TARGET_BUYING, TARGET_CREDIT
from credo.features import FEATURE_NAMES
from credo.policy import (
    DEFAULT_POLICY,
    Policy,
    PolicyError,
    load_policy,
    offer_buying,
    offer_credit,
    parse_policy,
)
from credo.scoring.model import feature_vector
from credo.scoring.scale import (
    BASE_ODDS_GOOD_TO_BAD,
    BASE_SCORE,
    MAX_SCORE,
    MIN_SCORE,
    PDO,
    bad_probability_at_score,
    score_from_bad_probability,
    scores_from_bad_probabilities,
)
from credo.scoring.service import (
    MODEL_RETRY_SECONDS,
    POLICY_TTL_SECONDS,
    EligibilityRequest,
    EligibilityService,
    score_customer,
)

# ---- score scaling ------------------------------------------------------------------------------


def test_given_rising_bad_probabilities_when_scaled_then_scores_fall_and_stay_within_300_900() -> None:
    p_bad = np.concatenate([[0.0, 1e-15], np.linspace(1e-6, 1 - 1e-6, 5001), [1.0]])

    scores = scores_from_bad_probabilities(p_bad)

    assert scores.dtype == np.int64
    assert scores.min() == MIN_SCORE
    assert scores.max() == MAX_SCORE
    assert np.all(np.diff(scores) <= 0), "a riskier customer must never score higher"
    assert len(np.unique(scores)) > 300, "scores must spread over the range, not collapse to a few values"


def test_given_base_odds_when_scaled_then_score_is_the_base_score() -> None:
    p_bad_at_base_odds = 1.0 / (1.0 + BASE_ODDS_GOOD_TO_BAD)

    assert score_from_bad_probability(p_bad_at_base_odds) == BASE_SCORE


def test_given_odds_doubled_when_scaled_then_score_rises_by_pdo() -> None:
    odds = BASE_ODDS_GOOD_TO_BAD * 2.0

    assert score_from_bad_probability(1.0 / (1.0 + odds)) == BASE_SCORE + PDO
    assert score_from_bad_probability(1.0 / (1.0 + odds * 2.0)) == BASE_SCORE + 2 * PDO


@pytest.mark.parametrize("score", [350, 500, 600, 650, 800])
def test_given_a_score_when_inverted_then_scaling_returns_the_same_score(score: int) -> None:
    assert score_from_bad_probability(bad_probability_at_score(score)) == score


def test_given_a_nan_probability_when_scaled_then_it_is_refused() -> None:
    with pytest.raises(ValueError, match="NaN"):
        score_from_bad_probability(math.nan)


# ---- policy ----------------------------------------------------------------------------------------

POLICY = Policy(version="test-7", credit_threshold=650, buying_threshold=550)


@pytest.mark.parametrize(
    ("credit_score", "buying_score", "emi", "cod"),
    [
        (650, 550, True, True),  # exactly at both thresholds: eligible
        (649, 549, False, False),  # one point below: not eligible
        (900, 300, True, False),
        (300, 900, False, True),
        (None, 700, False, True),  # a missing score is never eligible
        (700, None, True, False),
    ],
)
def test_given_scores_when_policy_applied_then_each_threshold_gates_its_offer(
    credit_score: int | None, buying_score: int | None, emi: bool, cod: bool
) -> None:
    credit = offer_credit(credit_score, POLICY, features={}, cart_amount=None)
    buying = offer_buying(buying_score, POLICY, new_customer=False, cart_amount=None)

    assert (credit.emi_eligible, buying.cod_eligible) == (emi, cod)


@pytest.mark.parametrize("threshold", [299, 901])
def test_given_a_threshold_outside_the_score_range_when_policy_built_then_it_is_rejected(
    threshold: int,
) -> None:
    with pytest.raises(ValidationError, match="credit_threshold"):
        Policy(version="x", credit_threshold=threshold, buying_threshold=600)


class _FakeParameters:
    def __init__(self, values: dict[str, str]) -> None:
        self.values = values

    def get(self, name: str) -> str:
        return self.values[name]


def test_given_policy_json_in_the_parameter_store_when_loaded_then_thresholds_and_version_are_read() -> None:
    document = '{"version": "2026-11-01", "credit_threshold": 700, "buying_threshold": 500, "bands": []}'
    parameters = _FakeParameters({"/credo/policy": document})

    policy = load_policy(parameters, "/credo/policy")

    assert policy == Policy(version="2026-11-01", credit_threshold=700, buying_threshold=500)


def test_given_a_malformed_policy_document_when_parsed_then_policy_error_names_the_field() -> None:
    with pytest.raises(PolicyError, match="buying_threshold"):
        parse_policy('{"version": "v1", "credit_threshold": 700}')


def test_given_the_default_policy_then_it_is_stricter_for_emi_than_for_cod() -> None:
    assert DEFAULT_POLICY.credit_threshold > DEFAULT_POLICY.buying_threshold
    assert bad_probability_at_score(DEFAULT_POLICY.credit_threshold) < 0.02


# ---- the pure scoring core -----------------------------------------------------------------------------


class _FixedModel:
    """Stands in for an ONNX model: a fixed probability of bad, and it records the rows it saw."""

    def __init__(self, p_bad: float, model_version: str) -> None:
        self.p_bad = p_bad
        self.model_version = model_version
        self.rows: list[npt.NDArray[np.float32]] = []

    def predict_bad_probability(self, rows: npt.ArrayLike) -> npt.NDArray[np.float64]:
        matrix = np.atleast_2d(np.asarray(rows, dtype=np.float32))
        self.rows.append(matrix)
        return np.full(len(matrix), self.p_bad)


def test_given_a_known_customer_when_scored_then_scores_and_offers_follow_the_policy() -> None:
    models = {TARGET_CREDIT: _FixedModel(0.01, "credit-v1"), TARGET_BUYING: _FixedModel(0.30, "buying-v1")}
    features = {name: 1.0 for name in FEATURE_NAMES}

    outcome = score_customer("tok", features, models, POLICY)

    assert outcome.scores[TARGET_CREDIT] == score_from_bad_probability(0.01) > POLICY.credit_threshold
    assert outcome.scores[TARGET_BUYING] == score_from_bad_probability(0.30) < POLICY.buying_threshold
    assert (outcome.decision.emi_eligible, outcome.decision.cod_eligible) == (True, False)
    assert outcome.model_versions == {TARGET_CREDIT: "credit-v1", TARGET_BUYING: "buying-v1"}
    assert not outcome.new_customer
    np.testing.assert_array_equal(models[TARGET_CREDIT].rows[0], np.ones((1, len(FEATURE_NAMES))))


def test_given_an_unknown_customer_when_scored_then_the_new_customer_policy_applies() -> None:
    models = {TARGET_CREDIT: _FixedModel(0.001, "c"), TARGET_BUYING: _FixedModel(0.001, "b")}

    large = score_customer("tok", None, models, POLICY, cart_amount=18_999.0)
    small = score_customer("tok", None, models, POLICY, cart_amount=POLICY.new_customer_max_cod_order_value)

    assert large.new_customer
    assert np.isnan(models[TARGET_CREDIT].rows[0]).all()
    assert large.scores[TARGET_CREDIT] is not None and large.scores[TARGET_CREDIT] > POLICY.credit_threshold
    assert (large.decision.emi_eligible, large.decision.cod_eligible) == (False, False)
    assert (small.decision.emi_eligible, small.decision.cod_eligible) == (False, True)
    assert [r.code for r in large.credit.reasons] == ["new_customer"]


def test_given_no_buying_model_when_scored_then_cod_is_withheld_and_emi_still_decided() -> None:
    outcome = score_customer("tok", {"age": 30.0}, {TARGET_CREDIT: _FixedModel(0.001, "c")}, POLICY)

    assert outcome.scores[TARGET_BUYING] is None
    assert outcome.model_versions[TARGET_BUYING] is None
    assert (outcome.decision.emi_eligible, outcome.decision.cod_eligible) == (True, False)


def test_given_partial_features_when_vectorised_then_order_is_feature_names_and_gaps_are_nan() -> None:
    row = feature_vector({"tenure_days": 400, "age": 31, "max_dpd_in_12months": None, "unknown": 5})

    assert row.dtype == np.float32 and row.shape == (len(FEATURE_NAMES),)
    assert row[FEATURE_NAMES.index("age")] == 31
    assert row[FEATURE_NAMES.index("tenure_days")] == 400
    assert np.isnan(row[FEATURE_NAMES.index("max_dpd_in_12months")])
    assert np.isnan(row).sum() == len(FEATURE_NAMES) - 2


# ---- the service around the core: caching and fallbacks ---------------------------------------------


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class _Flaky:
    """Returns the next outcome on each call; an exception instance is raised instead of returned."""

    def __init__(self, *outcomes: object) -> None:
        self.outcomes = list(outcomes)
        self.calls = 0

    def __call__(self, *args: object) -> Any:
        self.calls += 1
        outcome = self.outcomes.pop(0) if len(self.outcomes) > 1 else self.outcomes[0]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


class _Store:
    def get(self, token: str) -> None:
        return None


def _service(clock: _Clock, models: _Flaky, policies: _Flaky, key: _Flaky) -> EligibilityService:
    return EligibilityService(
        key_loader=key,
        tokenize=lambda customer_id, k: f"tok-{customer_id}",
        feature_store=_Store(),
        model_loader=models,
        policy_loader=policies,
        clock=clock,
    )


REQUEST = EligibilityRequest.model_validate(
    {"customer_id": "C1", "cart": {"amount": 10.0, "currency": "INR"}}
)


def test_given_a_failing_model_store_when_asked_again_then_loads_are_retried_only_after_the_interval() -> (
    None
):
    clock = _Clock()
    models = _Flaky(OSError("s3 down"), OSError("s3 down"), _FixedModel(0.01, "m"))
    service = _service(clock, models, _Flaky(POLICY), _Flaky(b"k" * 32))

    first = service.check(REQUEST)
    clock.now += MODEL_RETRY_SECONDS / 2
    second = service.check(REQUEST)
    calls_before_retry = models.calls
    clock.now += MODEL_RETRY_SECONDS
    third = service.check(REQUEST)

    assert first.degraded and second.degraded
    assert calls_before_retry == 2  # one try per target, none during the back-off
    assert not third.degraded and third.model_versions == {TARGET_CREDIT: "m", TARGET_BUYING: "m"}


def test_given_the_policy_store_fails_after_a_good_read_then_the_previous_policy_is_kept() -> None:
    clock = _Clock()
    newer = Policy(version="newer", credit_threshold=700, buying_threshold=700)
    policies = _Flaky(POLICY, OSError("ssm down"), newer)
    service = _service(clock, _Flaky(_FixedModel(0.01, "m")), policies, _Flaky(b"k" * 32))

    versions = [service.check(REQUEST).policy_version]
    clock.now += POLICY_TTL_SECONDS + 1
    versions.append(service.check(REQUEST).policy_version)  # the read fails: keep POLICY
    clock.now += POLICY_TTL_SECONDS / 2
    versions.append(service.check(REQUEST).policy_version)  # within the TTL: no read
    clock.now += POLICY_TTL_SECONDS
    versions.append(service.check(REQUEST).policy_version)

    assert versions == ["test-7", "test-7", "test-7", "newer"]
    assert policies.calls == 3


def test_given_no_policy_ever_readable_when_asked_then_the_default_policy_applies() -> None:
    service = _service(
        _Clock(), _Flaky(_FixedModel(0.01, "m")), _Flaky(OSError("ssm down")), _Flaky(b"k" * 32)
    )

    assert service.check(REQUEST).policy_version == DEFAULT_POLICY.version


def test_given_the_hmac_key_is_unavailable_when_asked_then_answer_is_conservative_and_degraded() -> None:
    key = _Flaky(OSError("secrets down"), b"k" * 32)
    service = _service(_Clock(), _Flaky(_FixedModel(0.001, "m")), _Flaky(POLICY), key)

    answer = service.check(REQUEST)
    recovered = service.check(REQUEST)

    assert answer.degraded and not answer.credit.emi_eligible and answer.credit.score is None
    assert not recovered.degraded and recovered.new_customer  # the key is fetched again, then kept
    service.check(REQUEST)
    assert key.calls == 2
