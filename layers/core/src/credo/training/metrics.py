"""Model quality in the credit-risk field's terms: ranking, calibration, cut-off tables, threshold proposals.

Pure numpy / sklearn.metrics, no I/O. Label 1 is a bad outcome, p_bad the predicted probability of bad,
and a row is predicted bad when p_bad >= threshold. Every figure is a plain int, float or None (JSON-safe);
a metric that a single-class sample leaves undefined (AUC, Gini, KS, PR-AUC) is None, never an exception.
"""

from collections.abc import Sequence
from typing import Any, Final

import numpy as np
import numpy.typing as npt
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score, roc_curve

from credo.policy import Policy
from credo.scoring import scale
from credo.scoring.scale import MAX_SCORE, MIN_SCORE, scores_from_bad_probabilities

CALIBRATION_BINS: Final = 10
DEFAULT_THRESHOLD: Final = 0.5
BAND_WIDTH: Final = 25
DEFAULT_BANDS: Final = tuple(range(MIN_SCORE, MAX_SCORE + 1, BAND_WIDTH))
# Recommendations search every integer score, not only the displayed bands.
EVERY_SCORE: Final = tuple(range(MIN_SCORE, MAX_SCORE + 1))
_DIGITS: Final = 6

Labels = npt.NDArray[np.int64]
Probabilities = npt.NDArray[np.float64]


def classification_metrics(
    y_true: npt.ArrayLike, p_bad: npt.ArrayLike, *, threshold: float
) -> dict[str, float | int | None]:
    """Ranking, calibration and at-threshold figures for one model on one sample."""
    y, p = _validated(y_true, p_bad)
    both_classes = _has_both_classes(y)
    auc = float(roc_auc_score(y, p)) if both_classes else None
    predicted_bad = p >= threshold
    tp = int(np.sum(predicted_bad & (y == 1)))
    fp = int(np.sum(predicted_bad & (y == 0)))
    fn = int(np.sum(~predicted_bad & (y == 1)))
    return {
        "n": int(y.size),
        "bad_rate": float(y.mean()),
        "threshold": float(threshold),
        "roc_auc": auc,
        "gini": None if auc is None else 2.0 * auc - 1.0,
        "ks": _ks(y, p) if both_classes else None,
        "pr_auc": float(average_precision_score(y, p)) if both_classes else None,
        "brier": float(np.mean((p - y) ** 2)),
        "calibration_error": expected_calibration_error(y, p),
        "precision": _ratio(tp, tp + fp),
        "recall": _ratio(tp, tp + fn),
        "f1": _ratio(2 * tp, 2 * tp + fp + fn),
        "positive_rate": float(predicted_bad.mean()),
    }


def expected_calibration_error(y_true: npt.ArrayLike, p_bad: npt.ArrayLike) -> float:
    """ECE over 10 equal-count bins: Σ (bin size / n) · |mean predicted − observed bad rate|."""
    y, p = _validated(y_true, p_bad)
    return float(sum(len(b) / y.size * abs(p[b].mean() - y[b].mean()) for b in _equal_count_bins(p)))


def best_f1_threshold(
    y_true: npt.ArrayLike, p_bad: npt.ArrayLike, sample_weight: npt.ArrayLike | None = None
) -> float:
    """The predicted probability that, used as threshold, gives the highest F1 (0.5 when there is no bad).

    With `sample_weight`, a row counts as that many rows (a weighted row of several COD orders).
    """
    y, p = _validated(y_true, p_bad)
    w = np.ones(y.size) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    positives = float(np.sum(w * y))
    if positives == 0:
        return DEFAULT_THRESHOLD
    order = np.argsort(-p, kind="stable")
    p_sorted, y_sorted, w_sorted = p[order], y[order], w[order]
    tp = np.cumsum(w_sorted * y_sorted)
    fp = np.cumsum(w_sorted * (1 - y_sorted))
    f1 = 2.0 * tp / (tp + fp + positives)  # 2TP / (2TP + FP + FN), as TP + FN = positives
    # "p >= t" flags a whole group of tied probabilities at once: only a group's last row is reachable.
    last_of_tie_group = np.r_[p_sorted[1:] != p_sorted[:-1], True]
    return float(p_sorted[int(np.argmax(np.where(last_of_tie_group, f1, -1.0)))])


def curves(y_true: npt.ArrayLike, p_bad: npt.ArrayLike, *, points: int = 50) -> dict[str, Any]:
    """ROC, precision-recall and calibration points, each downsampled to at most `points` for report.json."""
    y, p = _validated(y_true, p_bad)
    bins = _equal_count_bins(p)
    calibration = {
        "mean_predicted": [_rounded(p[b].mean()) for b in bins],
        "observed_bad_rate": [_rounded(y[b].mean()) for b in bins],
        "count": [len(b) for b in bins],
    }
    if not _has_both_classes(y):
        empty: dict[str, Any] = {"roc": {"fpr": [], "tpr": []}, "pr": {"recall": [], "precision": []}}
        return {**empty, "calibration": calibration}
    fpr, tpr, _ = roc_curve(y, p)
    precision, recall, _ = precision_recall_curve(y, p)
    roc_keep, pr_keep = _evenly_spaced(len(fpr), points), _evenly_spaced(len(recall), points)
    return {
        "roc": {"fpr": _rounded_list(fpr[roc_keep]), "tpr": _rounded_list(tpr[roc_keep])},
        "pr": {"recall": _rounded_list(recall[pr_keep]), "precision": _rounded_list(precision[pr_keep])},
        "calibration": calibration,
    }


def distinct_scores(p_bad: npt.ArrayLike) -> int:
    """How many distinct 300–900 scores these probabilities map to: the spread a policy can cut."""
    return int(np.unique(scores_from_bad_probabilities(np.asarray(p_bad, dtype=np.float64))).size)


def score_histogram(
    y_true: npt.ArrayLike, p_bad: npt.ArrayLike, *, band_width: int = BAND_WIDTH
) -> dict[str, list[int]]:
    """How many good and bad rows fall in each 300–900 score band (edges has one more entry than counts)."""
    y, p = _validated(y_true, p_bad)
    scores = scores_from_bad_probabilities(p)
    edges = np.arange(MIN_SCORE, MAX_SCORE + band_width, band_width)
    edges[-1] = min(int(edges[-1]), MAX_SCORE)
    good, _ = np.histogram(scores[y == 0], bins=edges)
    bad, _ = np.histogram(scores[y == 1], bins=edges)
    return {"edges": [int(e) for e in edges], "good": [int(c) for c in good], "bad": [int(c) for c in bad]}


def cutoff_table(
    y_true: npt.ArrayLike,
    p_bad: npt.ArrayLike,
    *,
    bands: Sequence[int] = DEFAULT_BANDS,
    loss_given_bad: float,
    margin_per_good: float,
) -> list[dict[str, Any]]:
    """One row per cut-off (the lower edge of a score band), for approving every score at or above it.

    expected_loss = bads approved × loss_given_bad − goods approved × margin_per_good: the net cost of
    the approvals (negative is a profit). It differs from "defaults paid + margin of sales lost" only by
    the constant goods × margin, so both have their minimum at the same cut-off. The band_* columns
    describe the rows whose score lies in [this cut-off, the next one).
    """
    y, p = _validated(y_true, p_bad)
    cutoffs = np.asarray(bands, dtype=np.int64)
    if cutoffs.size == 0 or np.any(np.diff(cutoffs) <= 0):
        raise ValueError("bands must be a non-empty, strictly rising sequence of scores")
    scores = scores_from_bad_probabilities(p)
    order = np.argsort(scores, kind="stable")
    sorted_scores = scores[order]
    bads_from_index = np.r_[np.cumsum(y[order][::-1])[::-1], 0]
    first_approved = np.searchsorted(sorted_scores, cutoffs, side="left")
    approved = y.size - first_approved
    bads = bads_from_index[first_approved]
    band_count = approved - np.r_[approved[1:], 0]
    band_bads = bads - np.r_[bads[1:], 0]
    rows = []
    for i, cutoff in enumerate(cutoffs):
        n_approved, n_bad = int(approved[i]), int(bads[i])
        expected_loss = n_bad * loss_given_bad - (n_approved - n_bad) * margin_per_good
        rows.append(
            {
                "cutoff": int(cutoff),
                "approved": n_approved,
                "share_approved": n_approved / y.size,
                "bads_approved": n_bad,
                "goods_approved": n_approved - n_bad,
                "bad_rate_approved": _ratio(n_bad, n_approved),
                "band_count": int(band_count[i]),
                "band_bad_rate": _ratio(int(band_bads[i]), int(band_count[i])),
                "expected_loss": float(expected_loss),
                "expected_loss_per_applicant": float(expected_loss) / y.size,
            }
        )
    return rows


def recommend_thresholds(
    y_true: npt.ArrayLike,
    p_bad: npt.ArrayLike,
    *,
    target: str,
    target_bad_rate: float,
    loss_given_bad: float,
    margin_per_good: float,
    current_threshold: int | None = None,
) -> dict[str, Any]:
    """A policy proposal, never applied: the cut-off for a target bad rate and the one of least expected cost.

    loss_given_bad is the cost of a default (credit) or of a failed COD parcel (buying); margin_per_good
    is the margin of a sale lost by declining a good customer. Every integer score 300–900 is a candidate.
    """
    policy_field = f"{target}_threshold"
    if policy_field not in Policy.model_fields:
        raise ValueError(f"no policy threshold for target {target!r}")
    rows = cutoff_table(
        y_true, p_bad, bands=EVERY_SCORE, loss_given_bad=loss_given_bad, margin_per_good=margin_per_good
    )
    meeting_target = [
        r for r in rows if r["bad_rate_approved"] is not None and r["bad_rate_approved"] <= target_bad_rate
    ]
    for_bad_rate = _summary(meeting_target[0]) if meeting_target else None
    # min() keeps the first of equal costs: the lowest cut-off, approving the most customers.
    cheapest = min(rows, key=lambda r: r["expected_loss"])
    by_score = {r["cutoff"]: r for r in rows}
    current = by_score.get(current_threshold) if current_threshold is not None else None
    notes = []
    if for_bad_rate is None:
        notes.append(f"no cut-off keeps the approved bad rate at or below {target_bad_rate:.2%}")
    if cheapest["expected_loss"] > 0:
        notes.append("every cut-off loses money: even approving only 900s costs more than it earns")
    return {
        "kind": "policy_proposal",
        "applied": False,
        "target": target,
        "policy_field": policy_field,
        "recommended": {
            "target_bad_rate": None if for_bad_rate is None else for_bad_rate["cutoff"],
            "minimum_expected_cost": cheapest["cutoff"],
        },
        "for_target_bad_rate": for_bad_rate,
        "for_minimum_expected_cost": _summary(cheapest),
        "current": None if current is None else _summary(current),
        "parameters": {
            "target_bad_rate": float(target_bad_rate),
            "loss_given_bad": float(loss_given_bad),
            "margin_per_good": float(margin_per_good),
            "current_threshold": current_threshold,
            "candidate_cutoffs": f"every integer score {MIN_SCORE}–{MAX_SCORE}",
            "n": rows[0]["approved"],
            "score_scale": scale.scale_parameters(),
        },
        "notes": notes,
    }


def _summary(row: dict[str, Any]) -> dict[str, Any]:
    keys = ("cutoff", "approved", "share_approved", "bad_rate_approved", "expected_loss")
    return {key: row[key] for key in keys}


def _validated(y_true: npt.ArrayLike, p_bad: npt.ArrayLike) -> tuple[Labels, Probabilities]:
    y = np.asarray(y_true).ravel()
    p = np.asarray(p_bad, dtype=np.float64).ravel()
    if y.shape != p.shape:
        raise ValueError(f"{y.size} labels but {p.size} probabilities")
    if y.size == 0:
        raise ValueError("no rows to evaluate")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("labels must be 0 (good) or 1 (bad)")
    if not (np.isfinite(p).all() and (p >= 0).all() and (p <= 1).all()):
        raise ValueError("probabilities of bad must be finite and within [0, 1]")
    return y.astype(np.int64), p


def _has_both_classes(y: Labels) -> bool:
    return 0 < int(y.sum()) < y.size


def _ks(y: Labels, p: Probabilities) -> float:
    fpr, tpr, _ = roc_curve(y, p)
    return float(np.max(tpr - fpr))


def _equal_count_bins(p: Probabilities) -> list[npt.NDArray[np.intp]]:
    """Row indices, sorted by probability, split into up to 10 bins of (nearly) equal size."""
    order = np.argsort(p, kind="stable")
    return [b for b in np.array_split(order, min(CALIBRATION_BINS, p.size)) if b.size]


def _evenly_spaced(length: int, points: int) -> npt.NDArray[np.intp]:
    """Indices of at most `points` evenly spaced entries, the first and last always kept."""
    return np.unique(np.linspace(0, length - 1, num=min(max(points, 2), length)).round().astype(np.intp))


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def _rounded(value: float | np.floating[Any]) -> float:
    return round(float(value), _DIGITS)


def _rounded_list(values: npt.NDArray[np.float64]) -> list[float]:
    return [_rounded(v) for v in values]
