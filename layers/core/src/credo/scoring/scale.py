"""Probability of a bad outcome → a 300–900 score, by points-to-double-odds (PDO) scaling.

The credit industry convention: every PDO points the odds good:bad double. Anchored so that
odds of 30:1 score 600 with PDO 50: score = offset + factor · ln(odds_good), factor = PDO / ln 2.
Higher is safer. Scores are clipped to 300–900, the range CIBIL uses in India.
"""

import math
from typing import Final

import numpy as np
import numpy.typing as npt

PDO: Final = 50.0
BASE_SCORE: Final = 600.0
BASE_ODDS_GOOD_TO_BAD: Final = 30.0
MIN_SCORE: Final = 300
MAX_SCORE: Final = 900

FACTOR: Final = PDO / math.log(2.0)
OFFSET: Final = BASE_SCORE - FACTOR * math.log(BASE_ODDS_GOOD_TO_BAD)

# Keeps ln(odds) finite for probabilities of exactly 0 or 1; the clip to 300–900 binds long before.
_EPSILON: Final = 1e-12


def scale_parameters() -> dict[str, float]:
    """The scaling, as the model card and the report record it."""
    return {
        "pdo": PDO,
        "base_score": BASE_SCORE,
        "base_odds_good_to_bad": BASE_ODDS_GOOD_TO_BAD,
        "factor": round(FACTOR, 6),
        "offset": round(OFFSET, 6),
        "min_score": MIN_SCORE,
        "max_score": MAX_SCORE,
    }


def scores_from_bad_probabilities(p_bad: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """Vectorised score: probability of bad → integer score in [MIN_SCORE, MAX_SCORE]."""
    p = np.clip(np.asarray(p_bad, dtype=np.float64), _EPSILON, 1.0 - _EPSILON)
    if np.isnan(p).any():
        raise ValueError("a probability of bad is NaN; a score cannot be derived from it")
    log_odds_bad = np.log(p) - np.log1p(-p)
    raw = OFFSET - FACTOR * log_odds_bad
    return np.clip(np.rint(raw), MIN_SCORE, MAX_SCORE).astype(np.int64)


def score_from_bad_probability(p_bad: float) -> int:
    """One probability of bad → integer score in [MIN_SCORE, MAX_SCORE]."""
    return int(scores_from_bad_probabilities([p_bad])[0])


def bad_probability_at_score(score: float) -> float:
    """Inverse of the scaling (before rounding and clipping): the probability of bad a score stands for."""
    log_odds_bad = (OFFSET - score) / FACTOR
    return 1.0 / (1.0 + math.exp(-log_odds_bad))
