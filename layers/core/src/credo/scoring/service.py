"""Eligibility for one customer at checkout: tokenise, read features, score both targets, apply the policy.

`score_customer` is the pure core. `EligibilityService` wraps it with the environment's resources
(HMAC key, online store, champion models, policy), each loaded once per execution environment and
each allowed to fail: a failure makes the answer `degraded` and conservative, never an error.
"""

import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal, Protocol

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

from credo.adapters.secrets import SecretStore
from credo.adapters.ssm import ParameterStore
from credo.constants import TARGET_BUYING, TARGET_CREDIT, TARGETS
from credo.features import FEATURE_SCHEMA_VERSION
from credo.models.sources import CustomerId
from credo.observability import logger
from credo.online_store import FeatureRecord, OnlineFeatureStore
from credo.policy import CONSERVATIVE_DECISION, DEFAULT_POLICY, Decision, Policy, decide, policy_loader
from credo.privacy import load_hmac_key, tokenize
from credo.registry import ModelRegistry
from credo.scoring.model import ModelContractError, ScoringModel, feature_vector
from credo.scoring.scale import score_from_bad_probability
from credo.settings import CredoSettings

# A failed model load is retried, but not on every request of an outage (each try costs latency).
MODEL_RETRY_SECONDS: Final = 30.0
# The policy is re-read this often, so a threshold change in SSM applies without a deploy.
POLICY_TTL_SECONDS: Final = 60.0


# ---- API contract -------------------------------------------------------------------------------------


class Cart(BaseModel):
    model_config = ConfigDict(extra="ignore")

    amount: float = Field(gt=0, le=10_000_000, description="cart value")
    currency: Literal["INR"]


class EligibilityRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    customer_id: CustomerId  # the same contract as the registrations source the tokens come from
    cart: Cart


class CreditResult(BaseModel):
    score: int | None = Field(description="300–900, higher is safer; null when it could not be computed")
    emi_eligible: bool


class BuyingResult(BaseModel):
    score: int | None = Field(description="300–900, higher is safer; null when it could not be computed")
    cod_eligible: bool


class EligibilityResponse(BaseModel):
    decision_id: str
    credit: CreditResult
    buying: BuyingResult
    model_versions: dict[str, str | None]
    policy_version: str
    degraded: bool = Field(description="a store or model was unavailable: the answer is conservative")
    new_customer: bool = Field(description="no features known for this customer: the answer is conservative")


# ---- pure core -------------------------------------------------------------------------------------


class BadProbabilityModel(Protocol):
    model_version: str

    def predict_bad_probability(self, rows: npt.ArrayLike) -> npt.NDArray[np.float64]: ...


@dataclass(frozen=True)
class ScoreOutcome:
    token: str
    scores: dict[str, int | None]
    decision: Decision
    model_versions: dict[str, str | None]
    new_customer: bool


def score_customer(
    token: str,
    features_row: Mapping[str, float | None] | None,
    models: Mapping[str, BadProbabilityModel],
    policy: Policy,
) -> ScoreOutcome:
    """Score every target that has a model and apply the policy.

    features_row None means the store has never seen the customer: the models still score the
    all-missing row (for monitoring), but a customer with no history is offered neither EMI nor COD.
    A target without a model gets no score and therefore no offer.
    """
    new_customer = features_row is None
    row = feature_vector(features_row or {})
    scores: dict[str, int | None] = {}
    for target in TARGETS:
        model = models.get(target)
        scores[target] = (
            None
            if model is None
            else score_from_bad_probability(float(model.predict_bad_probability(row)[0]))
        )
    decision = (
        CONSERVATIVE_DECISION
        if new_customer
        else decide(scores[TARGET_CREDIT], scores[TARGET_BUYING], policy, features_row)
    )
    return ScoreOutcome(
        token=token,
        scores=scores,
        decision=decision,
        model_versions={target: getattr(models.get(target), "model_version", None) for target in TARGETS},
        new_customer=new_customer,
    )


# ---- the service with its resources ---------------------------------------------------------------------


class FeatureReader(Protocol):
    def get(self, token: str) -> FeatureRecord | None: ...


class EligibilityService:
    """Holds the per-environment resources; `check` answers one request and never raises."""

    def __init__(
        self,
        *,
        key_loader: Callable[[], Any],
        tokenize: Callable[[str, Any], str],
        feature_store: FeatureReader,
        model_loader: Callable[[str], BadProbabilityModel],
        policy_loader: Callable[[], Policy],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._key_loader = key_loader
        self._tokenize = tokenize
        self._store = feature_store
        self._model_loader = model_loader
        self._policy_loader = policy_loader
        self._clock = clock
        self._key: Any = None
        self._models: dict[str, BadProbabilityModel] = {}
        self._model_retry_at: dict[str, float] = {}
        self._policy: Policy | None = None
        self._policy_expires_at = 0.0

    def check(self, request: EligibilityRequest) -> EligibilityResponse:
        decision_id = str(uuid.uuid4())
        policy = self._current_policy()
        models = self._current_models()
        degraded = len(models) < len(TARGETS)
        # Every dependency below may fail in its own way (botocore, onnxruntime, JSON); the contract is a
        # conservative answer marked degraded, so each failure is logged and absorbed here.
        try:
            token = self._tokenize(request.customer_id, self._hmac_key())
            record = self._store.get(token)
        except Exception:
            logger.exception("customer features unavailable", extra={"decision_id": decision_id})
            return _conservative_response(decision_id, models, policy)
        if record is not None and record.feature_schema_version != FEATURE_SCHEMA_VERSION:
            logger.error(
                "feature schema version mismatch",
                extra={"stored": record.feature_schema_version, "expected": FEATURE_SCHEMA_VERSION},
            )
            return _conservative_response(decision_id, models, policy)
        try:
            outcome = score_customer(token, None if record is None else record.values, models, policy)
        except Exception:
            logger.exception("scoring failed", extra={"decision_id": decision_id})
            return _conservative_response(decision_id, models, policy)
        response = EligibilityResponse(
            decision_id=decision_id,
            credit=CreditResult(
                score=outcome.scores[TARGET_CREDIT], emi_eligible=outcome.decision.emi_eligible
            ),
            buying=BuyingResult(
                score=outcome.scores[TARGET_BUYING], cod_eligible=outcome.decision.cod_eligible
            ),
            model_versions=outcome.model_versions,
            policy_version=policy.version,
            degraded=degraded,
            new_customer=outcome.new_customer,
        )
        _log_decision(response)
        return response

    def warm_up(self) -> None:
        """Load key, policy and models now (in the Lambda init phase); failures are retried per request."""
        self._current_policy()
        self._current_models()
        try:
            self._hmac_key()
        except Exception:
            logger.exception("HMAC key unavailable at warm-up")

    def _hmac_key(self) -> Any:
        if self._key is None:
            self._key = self._key_loader()
        return self._key

    def _current_models(self) -> dict[str, BadProbabilityModel]:
        now = self._clock()
        for target in TARGETS:
            if target in self._models or now < self._model_retry_at.get(target, 0.0):
                continue
            try:
                self._models[target] = self._model_loader(target)
            except Exception:
                logger.exception("model unavailable", extra={"target": target})
                self._model_retry_at[target] = now + MODEL_RETRY_SECONDS
        return dict(self._models)

    def _current_policy(self) -> Policy:
        now = self._clock()
        if self._policy is None or now >= self._policy_expires_at:
            try:
                self._policy = self._policy_loader()
            except Exception:
                # Keep the last good policy; with none yet, the built-in default applies.
                logger.exception("policy unavailable, keeping the previous one")
                self._policy = self._policy or DEFAULT_POLICY
            self._policy_expires_at = now + POLICY_TTL_SECONDS
        return self._policy


def _conservative_response(
    decision_id: str, models: Mapping[str, BadProbabilityModel], policy: Policy
) -> EligibilityResponse:
    response = EligibilityResponse(
        decision_id=decision_id,
        credit=CreditResult(score=None, emi_eligible=False),
        buying=BuyingResult(score=None, cod_eligible=False),
        model_versions={target: getattr(models.get(target), "model_version", None) for target in TARGETS},
        policy_version=policy.version,
        degraded=True,
        new_customer=False,
    )
    _log_decision(response)
    return response


def _log_decision(response: EligibilityResponse) -> None:
    """The decision without PII: no customer id, no token."""
    logger.info("eligibility decided", extra={"decision": response.model_dump()})


# ---- wiring ------------------------------------------------------------------------------------------------


def champion_loader(registry: ModelRegistry) -> Callable[[str], ScoringModel]:
    """Load a target's champion from the registry, refusing a model whose contract does not match."""

    def load(target: str) -> ScoringModel:
        loaded = registry.load_champion(target)
        model = ScoringModel(loaded.onnx_bytes, expected_target=target)
        if model.model_version != loaded.ref.model_version:
            raise ModelContractError(
                f"champion pointer names {loaded.ref.model_version}, the model says {model.model_version}"
            )
        logger.info("model loaded", extra={"target": target, "model_version": model.model_version})
        return model

    return load


def build_eligibility_service(settings: CredoSettings) -> EligibilityService:
    """The service on the environment's resources (AWS, a moto server, or in-process mock_aws)."""
    secrets = SecretStore.create()
    return EligibilityService(
        key_loader=lambda: load_hmac_key(secrets, settings.hmac_secret_name),
        tokenize=tokenize,
        feature_store=OnlineFeatureStore.for_table(settings.feature_table),
        model_loader=champion_loader(ModelRegistry.for_bucket(settings.model_bucket)),
        policy_loader=policy_loader(ParameterStore.create(), settings.policy_parameter),
    )
