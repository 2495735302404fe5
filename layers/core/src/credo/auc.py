"""ROC-AUC in numpy alone, for the Lambdas that compare models without scikit-learn.

The rank-sum (Mann–Whitney) statistic with tied scores given their average rank: the same number
as sklearn.metrics.roc_auc_score, which integrates the ROC curve with ties on the diagonal.
"""

import numpy as np
import numpy.typing as npt


def roc_auc(labels: npt.ArrayLike, scores: npt.ArrayLike) -> float:
    """Probability that a random bad (label 1) scores above a random good (label 0); ties count half.

    Raises ValueError when the labels are not 0/1, lengths differ, or a class is absent (the AUC is
    undefined, as scikit-learn also refuses).
    """
    y = np.asarray(labels)
    score = np.asarray(scores, dtype=np.float64)
    if y.ndim != 1 or score.ndim != 1 or len(y) != len(score):
        raise ValueError(
            f"labels and scores must be 1-d and of equal length, got {y.shape} and {score.shape}"
        )
    if not np.isin(y, (0, 1)).all():
        raise ValueError("labels must be 0 or 1")
    if np.isnan(score).any():
        raise ValueError("scores must not be NaN")
    bad = y == 1
    positives = int(bad.sum())
    negatives = len(y) - positives
    if positives == 0 or negatives == 0:
        raise ValueError(f"ROC-AUC needs both classes; got {positives} bad and {negatives} good")
    order = np.argsort(score, kind="mergesort")
    _, first, counts = np.unique(score[order], return_index=True, return_counts=True)
    ranks = np.empty(len(score))
    ranks[order] = np.repeat(first + (counts + 1) / 2, counts)  # 1-based ranks, ties averaged
    return float((ranks[bad].sum() - positives * (positives + 1) / 2) / (positives * negatives))
