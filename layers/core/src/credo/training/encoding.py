"""Text columns as one code per column for the tree models, the codes ordered by bad rate.

A tree splits a code as it splits a number: "code ≤ t" parts the categories into the ones below t and
the ones above. With codes in alphabetical order, a branch or merchant list whose risk follows no
order needs many splits to part its risky values from its safe ones. Ordered by bad rate, one split
suffices: for a yes/no outcome, the best split of a category's values is always one of those that
keep this order (Breiman et al., Classification and Regression Trees, 1984, §9.4).
"""

from typing import Any, Final, Self

import numpy as np
import numpy.typing as npt
from sklearn.preprocessing import OrdinalEncoder

# A category's bad rate counts this many extra rows at the overall rate, so that a value seen a
# handful of times does not take an extreme code on the strength of one or two outcomes.
PRIOR_ROWS: Final = 20.0
UNSEEN_CODE: Final = -1  # below every code, beside the riskiest category (see BadRateOrderedEncoder)


class BadRateOrderedEncoder(OrdinalEncoder):
    """OrdinalEncoder whose codes run from the highest bad rate in the fitting rows (0) to the lowest.

    Built with `unknown_value=UNSEEN_CODE`, a value never seen in fitting takes a code below every
    other, so every tree treats it as it treats the riskiest category: an unknown branch is not
    trusted as a safe one. Without labels (y=None) the codes stay in scikit-learn's order. The ONNX
    converter of OrdinalEncoder reads `categories_` in their order, so the exported graph gives the
    same codes (credo.training.onnx_export registers it for this class).
    """

    categories_: list[npt.NDArray[np.object_]]  # set by fit, as in OrdinalEncoder

    def fit(self, X: Any, y: npt.ArrayLike | None = None) -> Self:
        super().fit(X)
        if y is None:
            return self
        bad = np.asarray(y, dtype=np.float64)
        overall = float(bad.mean())
        codes = super().transform(X).astype(np.int64)  # in scikit-learn's order, every value seen
        ordered = []
        for column, categories in enumerate(self.categories_):
            rows = np.bincount(codes[:, column], minlength=len(categories))
            bads = np.bincount(codes[:, column], weights=bad, minlength=len(categories))
            rate = (bads + PRIOR_ROWS * overall) / (rows + PRIOR_ROWS)
            ordered.append(categories[np.argsort(-rate, kind="stable")])
        # For text, scikit-learn maps each value to its position in categories_ (a dictionary, not a
        # sorted search), so any order is valid, as an explicit `categories` list may be.
        self.categories_ = ordered
        return self
