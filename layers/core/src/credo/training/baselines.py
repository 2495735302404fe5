"""Reason baselines: each feature's value for a typical good customer, stored in the ONNX at training.

The scoring API's reasons (credo.scoring.reasons) compare a customer's row with these values; every
training path that ships a model writes them, so every served model can explain its scores.
"""

from typing import Any, Final

import numpy as np
import pandas as pd

from credo.features import FEATURE_NAMES

BASELINE_MISSING_SHARE: Final = 0.5


def reason_baselines(
    x_train: pd.DataFrame | np.ndarray[Any, Any], y_train: np.ndarray[Any, np.dtype[np.int64]]
) -> dict[str, float | None]:
    """Each feature's value for a typical good customer: the median over the good (label 0) training rows.

    None (missing) when the feature is missing for most good rows, since then "missing" is the typical
    good value (no COD refusal on record, say). Empty when there is no good row to learn from.
    """
    frame = (
        x_train if isinstance(x_train, pd.DataFrame) else pd.DataFrame(x_train, columns=list(FEATURE_NAMES))
    )
    good = frame[np.asarray(y_train) == 0]
    if good.empty:
        return {}
    baselines: dict[str, float | None] = {}
    for name in FEATURE_NAMES:
        column = good[name]
        mostly_missing = column.isna().mean() > BASELINE_MISSING_SHARE
        baselines[name] = None if mostly_missing else round(float(column.median()), 6)
    return baselines
