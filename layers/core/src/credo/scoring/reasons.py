"""The principal reasons behind a score: up to four features that lowered it, in plain words.

Batched counterfactuals on the served ONNX model: alongside the scored row, one copy per feature
with that feature set to the typical good customer's value (the baseline the model carries, see
credo.training.compare.reason_baselines), all scored in one onnxruntime call. A feature is a reason
when its baseline would lower the probability of the bad outcome; the larger the fall, the
stronger the reason. Model-agnostic, so it explains whichever zoo model was promoted.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Protocol

import numpy as np
import numpy.typing as npt

from credo.features import FEATURE_NAMES
from credo.scoring.reason_texts import reason_text
from credo.scoring.scale import FACTOR

# Up to four principal reasons per decision (the US Reg B convention).
MAX_REASONS: Final = 4
# A fall in p_bad smaller than this is not a reason. Float32 inference moves p_bad by about 1e-6, so
# anything above it is the model's doing; 0.2 percentage points is about 5 score points near the
# 600 anchor and never less than 1 point anywhere on the scale, so no reason reads "0 points".
MIN_BAD_PROBABILITY_DROP: Final = 0.002
# Keeps ln(odds) finite when the model returns a probability of exactly 0 or 1.
_EPSILON: Final = 1e-12


@dataclass(frozen=True, slots=True)
class Reason:
    feature: str  # a name in credo.features.FEATURE_NAMES
    text: str  # the feature with the customer's value, in plain words; no PII
    impact: int  # score points the feature cost: the score at its baseline minus the actual score


class ExplainableModel(Protocol):
    """What explain needs of a model; credo.scoring.model.ScoringModel is one."""

    @property
    def reason_baselines(self) -> Mapping[str, float | None]: ...

    def predict_bad_probability(self, rows: npt.ArrayLike) -> npt.NDArray[np.float64]: ...


def explain(model: ExplainableModel, row: npt.ArrayLike, *, limit: int = MAX_REASONS) -> list[Reason]:
    """The features that lowered this row's score, largest cost first, at most `limit` of them.

    `row` is the 1×N float32 row the model scored (FEATURE_NAMES order, NaN = missing). A model
    without baselines (trained before reasons existed) gives no reasons.
    """
    return score_and_explain(model, row, limit=limit)[1]


def score_and_explain(
    model: ExplainableModel, row: npt.ArrayLike, *, limit: int = MAX_REASONS
) -> tuple[float, list[Reason]]:
    """The row's probability of the bad outcome and its reasons, from ONE onnxruntime call.

    The scoring API needs both; the row itself is the batch's first row, so scoring it again
    separately would only double the model time of a request.
    """
    values = np.asarray(row, dtype=np.float32).reshape(-1)
    if values.shape[0] != len(FEATURE_NAMES):
        raise ValueError(f"expected {len(FEATURE_NAMES)} feature values, got {values.shape[0]}")
    columns, baseline_values = _counterfactuals(model.reason_baselines)
    if limit <= 0 or not len(columns):
        return float(model.predict_bad_probability(values[None, :])[0]), []
    batch = np.tile(values, (len(columns) + 1, 1))
    batch[np.arange(1, len(columns) + 1), columns] = baseline_values  # row i+1: feature i at its baseline
    served = model.predict_bad_probability(batch)
    p_bad = np.clip(served, _EPSILON, 1.0 - _EPSILON)
    drops = p_bad[0] - p_bad[1:]
    ranked = np.argsort(-drops, kind="stable")
    strong = [int(i) for i in ranked[drops[ranked] >= MIN_BAD_PROBABILITY_DROP][:limit]]
    log_odds_bad = np.log(p_bad) - np.log1p(-p_bad)
    reasons = [
        Reason(
            feature=FEATURE_NAMES[columns[i]],
            text=reason_text(FEATURE_NAMES[columns[i]], float(values[columns[i]])),
            impact=round(FACTOR * float(log_odds_bad[0] - log_odds_bad[i + 1])),
        )
        for i in strong
    ]
    return float(served[0]), reasons


def _counterfactuals(
    baselines: Mapping[str, float | None],
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.float32]]:
    """The columns that have a baseline, and their baseline values (NaN: the baseline is "missing")."""
    pairs = [(column, baselines[name]) for column, name in enumerate(FEATURE_NAMES) if name in baselines]
    columns = np.fromiter((column for column, _ in pairs), dtype=np.intp, count=len(pairs))
    values = np.fromiter((np.nan if v is None else v for _, v in pairs), dtype=np.float32, count=len(pairs))
    return columns, values
