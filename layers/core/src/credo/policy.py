"""Scores → what the checkout may offer. The policy is versioned JSON in SSM Parameter Store,
changeable without a deploy; DEFAULT_POLICY applies when the parameter cannot be read.

A score at or above its threshold is eligible; a missing score (no model, no features) never is.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError

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
    credit_economics: Economics = Field(
        default=DEFAULT_CREDIT_ECONOMICS, description="cost of a default vs margin"
    )
    buying_economics: Economics = Field(
        default=DEFAULT_BUYING_ECONOMICS, description="cost of a failed COD parcel vs margin"
    )

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


CONSERVATIVE_DECISION: Final = Decision(emi_eligible=False, cod_eligible=False)

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


def decide(
    credit_score: int | None,
    buying_score: int | None,
    policy: Policy,
    features: Mapping[str, float | None] | None = None,
) -> Decision:
    """EMI when the credit score clears its threshold and no knock-out applies; COD when the buying
    score clears its own."""
    return Decision(
        emi_eligible=credit_score is not None
        and credit_score >= policy.credit_threshold
        and not credit_knocked_out(features or {}, policy),
        cod_eligible=buying_score is not None and buying_score >= policy.buying_threshold,
    )


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
