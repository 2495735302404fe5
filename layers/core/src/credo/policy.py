"""Scores → what the checkout may offer. The policy is versioned JSON in SSM Parameter Store,
changeable without a deploy; DEFAULT_POLICY applies when the parameter cannot be read.

A score at or above its threshold is eligible; a missing score (no model, no features) never is.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from credo.constants import TARGET_BUYING, TARGET_CREDIT
from credo.scoring.scale import MAX_SCORE, MIN_SCORE


class Economics(BaseModel):
    """What one target's decisions cost: the figures behind the training report's threshold proposal."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    target_bad_rate: float = Field(gt=0, lt=1, description="the bad rate tolerated among the approved")
    loss_given_bad: float = Field(ge=0, description="INR lost per approved customer who turns out bad")
    margin_per_good: float = Field(ge=0, description="INR of margin lost per good customer declined")


# Starting figures in INR, to be replaced by finance's own: a defaulted EMI loses far more than a
# failed COD parcel (shipping both ways and handling). The bad rates match the default thresholds' odds.
DEFAULT_CREDIT_ECONOMICS: Final = Economics(
    target_bad_rate=0.02, loss_given_bad=20_000.0, margin_per_good=1_500.0
)
DEFAULT_BUYING_ECONOMICS: Final = Economics(target_bad_rate=0.06, loss_given_bad=250.0, margin_per_good=150.0)


class CreditBand(BaseModel):
    """Terms of EMI for scores from `min_score` up (to the next band)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    name: str = Field(min_length=1, max_length=16)
    min_score: int = Field(ge=MIN_SCORE, le=MAX_SCORE)
    tenures_months: tuple[int, ...] = Field(min_length=1, description="EMI tenures offered in this band")
    max_emi_amount: float = Field(ge=0, description="largest cart (INR) EMI may finance in this band")


class BuyingBand(BaseModel):
    """Cash on Delivery limit for scores from `min_score` up (to the next band)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    name: str = Field(min_length=1, max_length=16)
    min_score: int = Field(ge=MIN_SCORE, le=MAX_SCORE)
    max_cod_order_value: float = Field(
        ge=0, description="largest cart (INR) payable on delivery in this band"
    )


# Starting terms: safer bands get longer tenures and larger limits. The lowest band starts at the
# bottom of the scale; whether a band is reached at all is the threshold's decision.
DEFAULT_CREDIT_BANDS: Final = (
    CreditBand(name="A", min_score=750, tenures_months=(3, 6, 9, 12, 18, 24), max_emi_amount=200_000.0),
    CreditBand(name="B", min_score=650, tenures_months=(3, 6, 9, 12), max_emi_amount=100_000.0),
    CreditBand(name="C", min_score=550, tenures_months=(3, 6), max_emi_amount=40_000.0),
    CreditBand(name="D", min_score=MIN_SCORE, tenures_months=(3,), max_emi_amount=15_000.0),
)
# Buying scores sit lower than credit scores (a COD failure within 6 months is far more common than
# a default: about 36 % against 5 % on the synthetic world), so its bands start lower: 500 is a
# 16 % chance of a failed parcel, 420 about 30 %, 360 about 45 %.
DEFAULT_BUYING_BANDS: Final = (
    BuyingBand(name="A", min_score=500, max_cod_order_value=50_000.0),
    BuyingBand(name="B", min_score=420, max_cod_order_value=20_000.0),
    BuyingBand(name="C", min_score=360, max_cod_order_value=8_000.0),
    BuyingBand(name="D", min_score=MIN_SCORE, max_cod_order_value=3_000.0),
)


class Policy(BaseModel):
    """Thresholds of one policy version and the economics the threshold proposals are computed with."""

    # extra="ignore": code that knows fewer fields can still read a newer policy document.
    model_config = ConfigDict(frozen=True, extra="ignore")

    version: str = Field(min_length=1, max_length=64)
    credit_threshold: int = Field(ge=MIN_SCORE, le=MAX_SCORE, description="minimum credit score for EMI")
    buying_threshold: int = Field(ge=MIN_SCORE, le=MAX_SCORE, description="minimum buying score for COD")
    # A knock-out before the score: the credit population excludes customers with a bill overdue at
    # the snapshot, so the model never learnt what arrears look like and can score them as safe.
    credit_max_dpd_in_12months: int | None = Field(
        default=60, ge=0, description="no EMI when a bill went more days past due than this within 12 months"
    )
    credit_bands: tuple[CreditBand, ...] = Field(default=DEFAULT_CREDIT_BANDS, min_length=1)
    buying_bands: tuple[BuyingBand, ...] = Field(default=DEFAULT_BUYING_BANDS, min_length=1)
    emi_min_cart_amount: float = Field(
        default=3_000.0, ge=0, description="smallest cart (INR) EMI is offered on"
    )
    # Customers without history, and ids that are not customers (answering differently would tell
    # who is a customer), get COD up to this value and no EMI.
    new_customer_max_cod_order_value: float = Field(default=2_000.0, ge=0)
    credit_economics: Economics = Field(
        default=DEFAULT_CREDIT_ECONOMICS, description="cost of a default vs margin"
    )
    buying_economics: Economics = Field(
        default=DEFAULT_BUYING_ECONOMICS, description="cost of a failed COD parcel vs margin"
    )

    @model_validator(mode="after")
    def _bands_cover_the_scale(self) -> "Policy":
        for bands in (self.credit_bands, self.buying_bands):
            if min(band.min_score for band in bands) != MIN_SCORE:
                raise ValueError(f"the lowest band must start at {MIN_SCORE} so that every score has a band")
        return self

    def credit_band(self, score: int) -> CreditBand:
        return max((b for b in self.credit_bands if score >= b.min_score), key=lambda b: b.min_score)

    def buying_band(self, score: int) -> BuyingBand:
        return max((b for b in self.buying_bands if score >= b.min_score), key=lambda b: b.min_score)

    def economics(self, target: str) -> Economics:
        """The economics of "credit" or "buying"."""
        if target == TARGET_CREDIT:
            return self.credit_economics
        if target == TARGET_BUYING:
            return self.buying_economics
        raise ValueError(f"unknown target {target!r}")


@dataclass(frozen=True)
class Decision:
    emi_eligible: bool
    cod_eligible: bool


# A credit score of 650 stands for odds of about 60:1 (p_bad ≈ 1.7%), a buying score of 550 for
# about 15:1 (p_bad ≈ 6%), on the PDO-50 / 600-at-30:1 scale of credo.scoring.scale.
DEFAULT_POLICY: Final = Policy(version="default-1", credit_threshold=650, buying_threshold=550)


class PolicyError(ValueError):
    """The policy parameter does not hold a valid policy."""


class ParameterSource(Protocol):
    """The little of SSM Parameter Store the policy needs."""

    def get(self, name: str) -> str:
        """The parameter's value (credo.adapters.ssm.ParameterStore); raises when it cannot be read."""
        ...


def credit_knocked_out(features: Mapping[str, float | None], policy: Policy) -> bool:
    """A recent bill went further past due than the policy allows (a missing figure knocks out nothing)."""
    limit, worst = policy.credit_max_dpd_in_12months, features.get("max_dpd_in_12months")
    return limit is not None and worst is not None and worst == worst and float(worst) > limit  # NaN ≠ NaN


def parse_policy(document: str) -> Policy:
    try:
        return Policy.model_validate_json(document)
    except ValidationError as error:
        raise PolicyError(f"invalid policy document: {error}") from error


def load_policy(source: ParameterSource, name: str) -> Policy:
    """Read and validate the policy JSON stored under the parameter `name`."""
    return parse_policy(source.get(name))


def policy_loader(source: ParameterSource, name: str) -> Callable[[], Policy]:
    """A zero-argument loader, the shape the scoring service takes."""
    return lambda: load_policy(source, name)


# ---- offers: the decision with its terms, for one cart (or none, for a profile) ---------------------


@dataclass(frozen=True)
class PolicyReason:
    code: str  # stable, for the checkout's own logic and monitoring
    text: str  # plain words for the customer-facing team


@dataclass(frozen=True)
class CreditOffer:
    band: str | None
    emi_eligible: bool
    tenures_months: tuple[int, ...]
    max_emi_amount: float
    reasons: tuple[PolicyReason, ...]


@dataclass(frozen=True)
class BuyingOffer:
    band: str | None
    cod_eligible: bool
    max_cod_order_value: float
    reasons: tuple[PolicyReason, ...]


def offer_credit(
    score: int | None,
    policy: Policy,
    *,
    features: Mapping[str, float | None] | None,
    cart_amount: float | None,
    requested_tenure_months: int | None = None,
) -> CreditOffer:
    """EMI for this customer and cart: the threshold gates, the band sets the terms, the cart must fit.

    `features` None: a customer without history (or not a customer), who gets no EMI.
    `cart_amount` None: a profile without a cart, judged on the score alone.
    """
    if features is None:
        return CreditOffer(None, False, (), 0.0, (PolicyReason("new_customer", "no repayment history yet"),))
    if score is None:
        return CreditOffer(None, False, (), 0.0, (PolicyReason("no_score", "no credit score available"),))
    band = policy.credit_band(score)
    reasons = []
    if score < policy.credit_threshold:
        reasons.append(
            PolicyReason(
                "below_threshold",
                f"credit score {score} is below the EMI threshold {policy.credit_threshold}",
            )
        )
    if credit_knocked_out(features, policy):
        reasons.append(
            PolicyReason(
                "recent_arrears",
                f"a bill went more than {policy.credit_max_dpd_in_12months} days past due"
                " in the last 12 months",
            )
        )
    if cart_amount is not None and cart_amount < policy.emi_min_cart_amount:
        reasons.append(
            PolicyReason("cart_below_emi_minimum", f"EMI starts at ₹{policy.emi_min_cart_amount:,.0f}")
        )
    if cart_amount is not None and cart_amount > band.max_emi_amount:
        reasons.append(
            PolicyReason(
                "cart_above_emi_limit", f"band {band.name} finances carts up to ₹{band.max_emi_amount:,.0f}"
            )
        )
    if requested_tenure_months is not None and requested_tenure_months not in band.tenures_months:
        offered = ", ".join(str(t) for t in band.tenures_months)
        reasons.append(
            PolicyReason(
                "tenure_not_offered",
                f"{requested_tenure_months}-month EMI is not offered in band {band.name}"
                f" (offered: {offered})",
            )
        )
    return CreditOffer(band.name, not reasons, band.tenures_months, band.max_emi_amount, tuple(reasons))


def offer_buying(
    score: int | None,
    policy: Policy,
    *,
    new_customer: bool,
    cart_amount: float | None,
) -> BuyingOffer:
    """COD for this customer and cart: the threshold gates, the band caps the order value."""
    if new_customer:
        cap = policy.new_customer_max_cod_order_value
        fits = cart_amount is None or cart_amount <= cap
        reasons = [PolicyReason("new_customer", f"no order history yet: COD up to ₹{cap:,.0f}")]
        return BuyingOffer(None, cap > 0 and fits, cap, tuple(reasons))
    if score is None:
        return BuyingOffer(None, False, 0.0, (PolicyReason("no_score", "no buying score available"),))
    band = policy.buying_band(score)
    reasons = []
    if score < policy.buying_threshold:
        reasons.append(
            PolicyReason(
                "below_threshold",
                f"buying score {score} is below the COD threshold {policy.buying_threshold}",
            )
        )
    if cart_amount is not None and cart_amount > band.max_cod_order_value:
        reasons.append(
            PolicyReason(
                "cart_above_cod_limit", f"band {band.name} allows COD up to ₹{band.max_cod_order_value:,.0f}"
            )
        )
    return BuyingOffer(band.name, not reasons, band.max_cod_order_value, tuple(reasons))
