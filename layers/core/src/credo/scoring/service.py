"""Eligibility for one customer at checkout: tokenise, read features, score both targets, apply the policy.

`score_customer` is the pure core. `EligibilityService` wraps it with the environment's resources
(HMAC key, online store, champion models, policy), each loaded once per execution environment and
each allowed to fail: a failure makes the answer `degraded` and conservative, never an error.
"""

import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, Protocol

import numpy as np
import numpy.typing as npt
from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BaseModel, ConfigDict, Field

from credo.adapters.secrets import SecretStore
from credo.adapters.ssm import ParameterStore
from credo.constants import TARGET_BUYING, TARGET_CREDIT, TARGETS
from credo.features import FEATURE_SCHEMA_VERSION
from credo.models.sources import CustomerId
from credo.observability import logger, metrics
from credo.online_store import FeatureRecord, OnlineFeatureStore
from credo.policy import (
    DEFAULT_POLICY,
    BuyingOffer,
    CreditOffer,
    Decision,
    Policy,
    PolicyReason,
    offer_buying,
    offer_credit,
    policy_loader,
)
from credo.privacy import load_hmac_key, tokenize
from credo.registry import ModelRegistry
from credo.scoring.model import ModelContractError, ScoringModel, feature_vector
from credo.scoring.reasons import score_and_explain
from credo.scoring.scale import score_from_bad_probability
from credo.settings import CredoSettings

# A failed model load is retried, but not on every request of an outage (each try costs latency).
MODEL_RETRY_SECONDS: Final = 30.0
# The policy is re-read this often, so a threshold change in SSM applies without a deploy.
POLICY_TTL_SECONDS: Final = 60.0
HEALTH_PROBE_TOKEN: Final = "health-check"  # never a real token (those are 32 hex characters)


# ---- API contract -------------------------------------------------------------------------------------

MAX_AMOUNT: Final = 10_000_000.0  # INR; a larger cart is a mistake, not a purchase
MAX_CART_ITEMS: Final = 100
MAX_REASONS: Final = 4
Category = Literal[
    "electronics", "mobiles", "fashion", "home", "beauty", "grocery", "books", "appliances", "other"
]
Tenure = Literal[3, 6, 9, 12, 18, 24]


class CartItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    category: Category
    price: float = Field(gt=0, le=MAX_AMOUNT, description="unit price, INR")
    quantity: int = Field(default=1, ge=1, le=100)


class Delivery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pincode: str | None = Field(
        default=None, pattern=r"^[1-9][0-9]{5}$", description="6-digit Indian PIN code"
    )
    city_tier: Literal[1, 2, 3] | None = Field(default=None, description="1 metro … 3 small town")


class Cart(BaseModel):
    # extra="forbid": a misspelt field is a 422 naming it, not a silently ignored limit
    model_config = ConfigDict(extra="forbid")

    amount: float = Field(gt=0, le=MAX_AMOUNT, description="cart value, INR")
    currency: Literal["INR"]
    items: list[CartItem] = Field(default_factory=list, max_length=MAX_CART_ITEMS)
    delivery: Delivery | None = None


class EligibilityRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customer_id: CustomerId  # the same contract as the registrations source the tokens come from
    cart: Cart
    requested_tenure_months: Tenure | None = Field(
        default=None, description="EMI tenure the customer asks for"
    )


class Reason(BaseModel):
    code: str = Field(description="a feature name, or a policy rule such as below_threshold")
    text: str = Field(description="plain words")
    impact: int | None = Field(
        default=None, description="score points the feature cost; null for a policy rule"
    )


class CreditResult(BaseModel):
    score: int | None = Field(description="300–900, higher is safer; null when it could not be computed")
    band: str | None = Field(default=None, description="policy band of the score")
    emi_eligible: bool
    tenures_offered: list[int] = Field(default_factory=list, description="EMI tenures (months) of the band")
    max_emi_amount: float = Field(default=0.0, description="largest cart EMI may finance, INR")
    reasons: list[Reason] = Field(default_factory=list, max_length=MAX_REASONS)


class BuyingResult(BaseModel):
    score: int | None = Field(description="300–900, higher is safer; null when it could not be computed")
    band: str | None = None
    cod_eligible: bool
    max_cod_order_value: float = Field(default=0.0, description="largest cart payable on delivery, INR")
    reasons: list[Reason] = Field(default_factory=list, max_length=MAX_REASONS)


class EligibilityResponse(BaseModel):
    decision_id: str
    credit: CreditResult
    buying: BuyingResult
    model_versions: dict[str, str | None]
    policy_version: str
    degraded: bool = Field(description="a store or model was unavailable: the answer is conservative")
    new_customer: bool = Field(description="no history for this id: the new-customer policy applied")


class HealthResponse(BaseModel):
    status: Literal["ok", "degraded"]
    models: dict[str, str | None] = Field(description="loaded model version per target; null when none")
    policy_version: str
    feature_store_reachable: bool


# ---- pure core -------------------------------------------------------------------------------------


class BadProbabilityModel(Protocol):
    model_version: str

    def predict_bad_probability(self, rows: npt.ArrayLike) -> npt.NDArray[np.float64]: ...


class FeatureReason(Protocol):
    """A feature that lowered a score (credo.scoring.reasons.Reason satisfies it)."""

    @property
    def feature(self) -> str: ...

    @property
    def text(self) -> str: ...

    @property
    def impact(self) -> int: ...


# (model, row) → (probability of bad, the features that lowered the score), in one model call
Explainer = Callable[[Any, npt.NDArray[np.float32]], tuple[float, Sequence[FeatureReason]]]


@dataclass(frozen=True)
class ScoreOutcome:
    token: str
    scores: dict[str, int | None]
    credit: CreditOffer
    buying: BuyingOffer
    feature_reasons: dict[str, list[Reason]]
    model_versions: dict[str, str | None]
    new_customer: bool

    @property
    def decision(self) -> Decision:
        return Decision(emi_eligible=self.credit.emi_eligible, cod_eligible=self.buying.cod_eligible)


def score_customer(
    token: str,
    features_row: Mapping[str, float | None] | None,
    models: Mapping[str, BadProbabilityModel],
    policy: Policy,
    *,
    cart_amount: float | None = None,
    requested_tenure_months: int | None = None,
    explain: Explainer | None = None,
) -> ScoreOutcome:
    """Score every target that has a model, explain each score, and apply the policy to the cart.

    features_row None means the store has never seen the customer (or the id is no customer's):
    the models still score the all-missing row (for monitoring), and the new-customer policy
    applies. A target without a model gets no score and therefore no offer. `cart_amount` None is
    a profile: the offer on the score alone.
    """
    new_customer = features_row is None
    row = feature_vector(features_row or {})
    scores: dict[str, int | None] = {}
    reasons: dict[str, list[Reason]] = {}
    for target in TARGETS:
        model = models.get(target)
        if model is None:
            scores[target], reasons[target] = None, []
            continue
        explained: Sequence[FeatureReason] = ()
        if new_customer or explain is None:
            p_bad = float(model.predict_bad_probability(row)[0])
        else:
            p_bad, explained = explain(model, row)
        scores[target] = score_from_bad_probability(p_bad)
        reasons[target] = [Reason(code=r.feature, text=r.text, impact=r.impact) for r in explained]
    return ScoreOutcome(
        token=token,
        scores=scores,
        credit=offer_credit(
            scores[TARGET_CREDIT],
            policy,
            features=features_row,
            cart_amount=cart_amount,
            requested_tenure_months=requested_tenure_months,
        ),
        buying=offer_buying(
            scores[TARGET_BUYING], policy, new_customer=new_customer, cart_amount=cart_amount
        ),
        feature_reasons=reasons,
        model_versions={target: getattr(models.get(target), "model_version", None) for target in TARGETS},
        new_customer=new_customer,
    )


def _reasons(policy_reasons: Sequence[PolicyReason], feature_reasons: Sequence[Reason]) -> list[Reason]:
    """The rules that decided first, then the features that cost the most points; at most four."""
    ruled = [Reason(code=r.code, text=r.text) for r in policy_reasons]
    return (ruled + list(feature_reasons))[:MAX_REASONS]


def _response(
    decision_id: str, outcome: ScoreOutcome, policy: Policy, *, degraded: bool
) -> EligibilityResponse:
    credit, buying = outcome.credit, outcome.buying
    return EligibilityResponse(
        decision_id=decision_id,
        credit=CreditResult(
            score=outcome.scores[TARGET_CREDIT],
            band=credit.band,
            emi_eligible=credit.emi_eligible,
            tenures_offered=list(credit.tenures_months) if credit.emi_eligible else [],
            max_emi_amount=credit.max_emi_amount if credit.emi_eligible else 0.0,
            reasons=_reasons(credit.reasons, outcome.feature_reasons[TARGET_CREDIT]),
        ),
        buying=BuyingResult(
            score=outcome.scores[TARGET_BUYING],
            band=buying.band,
            cod_eligible=buying.cod_eligible,
            max_cod_order_value=buying.max_cod_order_value if buying.cod_eligible else 0.0,
            reasons=_reasons(buying.reasons, outcome.feature_reasons[TARGET_BUYING]),
        ),
        model_versions=outcome.model_versions,
        policy_version=policy.version,
        degraded=degraded,
        new_customer=outcome.new_customer,
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
        explain: Explainer | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._key_loader = key_loader
        self._tokenize = tokenize
        self._store = feature_store
        self._model_loader = model_loader
        self._policy_loader = policy_loader
        self._explain = explain
        self._clock = clock
        self._key: Any = None
        self._models: dict[str, BadProbabilityModel] = {}
        self._model_retry_at: dict[str, float] = {}
        self._policy: Policy | None = None
        self._policy_expires_at = 0.0

    def check(self, request: EligibilityRequest) -> EligibilityResponse:
        """The decision for one cart."""
        return self._decide(
            request.customer_id,
            cart_amount=request.cart.amount,
            requested_tenure_months=request.requested_tenure_months,
            cart=_cart_summary(request),
        )

    def profile(self, customer_id: str) -> EligibilityResponse:
        """Both profiles without a cart (support, the admin console): the offer on the scores alone."""
        return self._decide(customer_id, cart_amount=None, requested_tenure_months=None)

    def health(self) -> HealthResponse:
        models = self._current_models()
        try:
            self._store.get(HEALTH_PROBE_TOKEN)  # one small read: the table answers, whatever it holds
            reachable = True
        except Exception:
            logger.exception("feature store unreachable in the health check")
            reachable = False
        return HealthResponse(
            status="ok" if reachable and len(models) == len(TARGETS) else "degraded",
            models={target: getattr(models.get(target), "model_version", None) for target in TARGETS},
            policy_version=self._current_policy().version,
            feature_store_reachable=reachable,
        )

    def _decide(
        self,
        customer_id: str,
        *,
        cart_amount: float | None,
        requested_tenure_months: int | None,
        cart: Mapping[str, Any] | None = None,
    ) -> EligibilityResponse:
        started = self._clock()
        decision_id = str(uuid.uuid4())
        policy = self._current_policy()
        models = self._current_models()
        degraded = len(models) < len(TARGETS)
        token: str | None = None
        # Every dependency below may fail in its own way (botocore, onnxruntime, JSON); the contract is a
        # conservative answer marked degraded, so each failure is logged and absorbed here.
        try:
            token = self._tokenize(customer_id, self._hmac_key())
            record = self._store.get(token)
        except Exception:
            logger.exception("customer features unavailable", extra={"decision_id": decision_id})
            return self._logged(_conservative_response(decision_id, models, policy), token, started, cart)
        if record is not None and record.feature_schema_version != FEATURE_SCHEMA_VERSION:
            logger.error(
                "feature schema version mismatch",
                extra={"stored": record.feature_schema_version, "expected": FEATURE_SCHEMA_VERSION},
            )
            return self._logged(_conservative_response(decision_id, models, policy), token, started, cart)
        try:
            outcome = score_customer(
                token,
                None if record is None else record.values,
                models,
                policy,
                cart_amount=cart_amount,
                requested_tenure_months=requested_tenure_months,
                explain=self._explain,
            )
        except Exception:
            logger.exception("scoring failed", extra={"decision_id": decision_id})
            return self._logged(_conservative_response(decision_id, models, policy), token, started, cart)
        return self._logged(_response(decision_id, outcome, policy, degraded=degraded), token, started, cart)

    def _logged(
        self,
        response: EligibilityResponse,
        token: str | None,
        started: float,
        cart: Mapping[str, Any] | None,
    ) -> EligibilityResponse:
        """The decision log: token, cart, scores, decisions, reasons, versions, latency; no customer id."""
        latency_ms = (self._clock() - started) * 1e3
        metrics.add_metric(name="EligibilityDecisions", unit=MetricUnit.Count, value=1)
        metrics.add_metric(name="DegradedDecisions", unit=MetricUnit.Count, value=int(response.degraded))
        metrics.add_metric(
            name="NewCustomerDecisions", unit=MetricUnit.Count, value=int(response.new_customer)
        )
        metrics.add_metric(name="DecisionLatency", unit=MetricUnit.Milliseconds, value=latency_ms)
        logger.info(
            "eligibility decided",
            extra={
                "decision": {
                    **response.model_dump(),
                    "token": token,
                    "cart": cart,
                    "latency_ms": round(latency_ms, 3),
                }
            },
        )
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


def _cart_summary(request: EligibilityRequest) -> dict[str, Any]:
    """What the decision log keeps of the cart, for monitoring and for cart-aware models to come:
    no PIN code (with the token it would narrow down where a customer lives), the city tier only."""
    cart = request.cart
    return {
        "amount": cart.amount,
        "items": sum(item.quantity for item in cart.items),
        "categories": sorted({item.category for item in cart.items}),
        "city_tier": None if cart.delivery is None else cart.delivery.city_tier,
        "requested_tenure_months": request.requested_tenure_months,
    }


def _conservative_response(
    decision_id: str, models: Mapping[str, BadProbabilityModel], policy: Policy
) -> EligibilityResponse:
    unavailable = [
        Reason(code="degraded", text="the customer's profile could not be read: nothing is offered")
    ]
    response = EligibilityResponse(
        decision_id=decision_id,
        credit=CreditResult(score=None, emi_eligible=False, reasons=unavailable),
        buying=BuyingResult(score=None, cod_eligible=False, reasons=unavailable),
        model_versions={target: getattr(models.get(target), "model_version", None) for target in TARGETS},
        policy_version=policy.version,
        degraded=True,
        new_customer=False,
    )
    return response


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


def build_eligibility_service(
    settings: CredoSettings, *, clock: Callable[[], float] = time.monotonic
) -> EligibilityService:
    """The service on the environment's resources (AWS, a moto server, or in-process mock_aws)."""
    secrets = SecretStore.create()
    return EligibilityService(
        key_loader=lambda: load_hmac_key(secrets, settings.hmac_secret_name),
        tokenize=tokenize,
        feature_store=OnlineFeatureStore.for_table(settings.feature_table),
        model_loader=champion_loader(ModelRegistry.for_bucket(settings.model_bucket)),
        policy_loader=policy_loader(ParameterStore.create(), settings.policy_parameter),
        explain=score_and_explain,
        clock=clock,
    )
