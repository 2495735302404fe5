"""Training metrics: hand-computed figures, perfect / random / inverted predictors, cut-offs and proposals."""

import json
from itertools import pairwise

import numpy as np
import pytest

from credo.scoring.scale import bad_probability_at_score, scores_from_bad_probabilities
from credo.training.metrics import (
    DEFAULT_BANDS,
    best_f1_threshold,
    classification_metrics,
    curves,
    cutoff_table,
    expected_calibration_error,
    recommend_thresholds,
    score_histogram,
)

# Ranked by p: 0.8 (bad), 0.4 (good), 0.35 (bad), 0.1 (good).
TINY_Y = [0, 0, 1, 1]
TINY_P = [0.1, 0.4, 0.35, 0.8]


def population(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Calibrated probabilities spread over the whole score range, labels drawn from them."""
    rng = np.random.default_rng(seed)
    p = 1.0 / (1.0 + np.exp(-rng.normal(-3.0, 1.5, n)))
    return (rng.random(n) < p).astype(int), p


def test_given_tiny_sample_when_measured_then_every_figure_matches_the_hand_computation() -> None:
    m = classification_metrics(TINY_Y, TINY_P, threshold=0.5)

    assert m["roc_auc"] == pytest.approx(0.75)  # 3 of the 4 (bad, good) pairs ranked right
    assert m["gini"] == pytest.approx(0.5)
    assert m["ks"] == pytest.approx(0.5)  # TPR 0.5 at FPR 0 (p ≥ 0.8)
    assert m["brier"] == pytest.approx((0.01 + 0.16 + 0.4225 + 0.04) / 4)
    assert m["pr_auc"] == pytest.approx(0.5 * 1.0 + 0.5 * 2 / 3)
    # Only 0.8 is flagged: TP 1, FP 0, FN 1.
    assert (m["precision"], m["recall"], m["f1"]) == pytest.approx((1.0, 0.5, 2 / 3))
    assert m["positive_rate"] == pytest.approx(0.25)
    assert (m["n"], m["bad_rate"]) == (4, 0.5)


def test_given_ten_rows_when_ece_then_each_row_is_its_own_bin() -> None:
    y = [0, 1, 0, 1, 0, 0, 1, 1, 0, 1]
    p = [0.05, 0.15, 0.25, 0.35, 0.45, 0.55, 0.65, 0.75, 0.85, 0.95]

    assert expected_calibration_error(y, p) == pytest.approx(np.mean(np.abs(np.array(p) - np.array(y))))


def test_given_errors_that_cancel_within_a_bin_when_ece_then_it_is_zero() -> None:
    # 20 rows → 10 bins of 2; every bin predicts 0.5 and observes 1 bad of 2 (per row the gap is 0.5).
    p = np.full(20, 0.5)
    y = np.tile([0, 1], 10)

    assert expected_calibration_error(y, p) == pytest.approx(0.0)
    assert classification_metrics(y, p, threshold=0.5)["brier"] == pytest.approx(0.25)


def test_given_perfect_predictor_then_auc_ks_gini_and_f1_are_one() -> None:
    y = np.array([0] * 50 + [1] * 50)
    p = np.r_[np.linspace(0.0, 0.4, 50), np.linspace(0.6, 1.0, 50)]

    m = classification_metrics(y, p, threshold=0.5)

    assert (m["roc_auc"], m["ks"], m["gini"], m["f1"], m["pr_auc"]) == pytest.approx((1, 1, 1, 1, 1))


def test_given_inverted_predictor_then_auc_is_zero_and_gini_minus_one() -> None:
    y = np.array([0] * 50 + [1] * 50)
    p = np.r_[np.linspace(0.6, 1.0, 50), np.linspace(0.0, 0.4, 50)]

    m = classification_metrics(y, p, threshold=0.5)

    assert (m["roc_auc"], m["gini"], m["ks"], m["f1"]) == pytest.approx((0.0, -1.0, 0.0, 0.0))


def test_given_random_predictor_then_auc_is_near_one_half() -> None:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 20_000)

    m = classification_metrics(y, rng.random(20_000), threshold=0.5)

    assert m["roc_auc"] == pytest.approx(0.5, abs=0.02)
    assert m["ks"] is not None and m["ks"] < 0.05


@pytest.mark.parametrize("label", [0, 1])
def test_given_single_class_when_measured_then_ranking_metrics_are_none_and_the_rest_defined(
    label: int,
) -> None:
    y = [label] * 6
    p = [0.1, 0.2, 0.3, 0.6, 0.7, 0.9]

    m = classification_metrics(y, p, threshold=0.5)
    c = curves(y, p)

    assert m["roc_auc"] is None and m["gini"] is None and m["ks"] is None and m["pr_auc"] is None
    assert m["brier"] == pytest.approx(np.mean((np.array(p) - label) ** 2))
    assert m["calibration_error"] is not None
    assert json.loads(json.dumps(m, allow_nan=False)) == m
    assert c["roc"] == {"fpr": [], "tpr": []} and len(c["calibration"]["count"]) == 6
    assert 0.0 <= best_f1_threshold(y, p) <= 1.0


def test_given_no_bad_and_nothing_flagged_then_precision_recall_f1_are_none() -> None:
    m = classification_metrics([0, 0, 0], [0.1, 0.2, 0.3], threshold=0.5)

    assert (m["precision"], m["recall"], m["f1"], m["positive_rate"]) == (None, None, None, 0.0)


def test_given_bad_inputs_then_they_are_refused() -> None:
    with pytest.raises(ValueError, match="labels"):
        classification_metrics([0, 2], [0.1, 0.2], threshold=0.5)
    with pytest.raises(ValueError, match="within"):
        classification_metrics([0, 1], [0.1, 1.2], threshold=0.5)
    with pytest.raises(ValueError, match="2 labels but 3"):
        classification_metrics([0, 1], [0.1, 0.2, 0.3], threshold=0.5)
    with pytest.raises(ValueError, match="no rows"):
        classification_metrics([], [], threshold=0.5)


def test_given_tiny_sample_when_best_f1_threshold_then_it_is_the_hand_picked_cut() -> None:
    # Candidates: 0.8 → F1 2/3; 0.4 → 0.5; 0.35 → 0.8; 0.1 → 2/3.
    assert best_f1_threshold(TINY_Y, TINY_P) == pytest.approx(0.35)


def test_given_tied_probabilities_then_best_f1_threshold_flags_the_whole_tie() -> None:
    # The tie at 0.5 holds a bad and a good; flagging both gives F1 0.8 (TP 2, FP 1), better than 0.9's 2/3.
    y, p = [1, 1, 0, 0], [0.9, 0.5, 0.5, 0.1]

    threshold = best_f1_threshold(y, p)

    assert threshold == 0.5
    assert classification_metrics(y, p, threshold=threshold)["f1"] == pytest.approx(0.8)


def test_given_weighted_rows_then_best_f1_threshold_is_the_one_of_their_copies() -> None:
    rng = np.random.default_rng(5)
    p = np.round(rng.random(60), 2)  # ties too
    y = (rng.random(60) < p).astype(int)
    weights = rng.integers(1, 5, 60)
    copies = np.repeat(np.arange(60), weights)

    assert best_f1_threshold(y, p, sample_weight=weights) == best_f1_threshold(y[copies], p[copies])


def test_given_large_sample_when_curves_then_downsampled_with_endpoints() -> None:
    y, p = population(5000, seed=1)

    c = curves(y, p, points=30)

    assert 2 <= len(c["roc"]["fpr"]) <= 30 and len(c["roc"]["fpr"]) == len(c["roc"]["tpr"])
    assert (c["roc"]["fpr"][0], c["roc"]["tpr"][0], c["roc"]["fpr"][-1], c["roc"]["tpr"][-1]) == (0, 0, 1, 1)
    assert len(c["pr"]["recall"]) <= 30
    assert sum(c["calibration"]["count"]) == 5000 and len(c["calibration"]["count"]) == 10
    # Calibrated by construction: observed follows predicted within sampling noise.
    gaps = np.abs(
        np.array(c["calibration"]["mean_predicted"]) - np.array(c["calibration"]["observed_bad_rate"])
    )
    assert gaps.max() < 0.06
    assert len(json.dumps(c)) < 10_000


def test_given_population_when_cutoff_table_then_share_approved_falls_and_counts_add_up() -> None:
    y, p = population(4000, seed=2)

    rows = cutoff_table(y, p, loss_given_bad=100.0, margin_per_good=10.0)

    shares = [r["share_approved"] for r in rows]
    assert [r["cutoff"] for r in rows] == list(DEFAULT_BANDS)
    assert all(later <= earlier for earlier, later in pairwise(shares))
    assert shares[0] == 1.0 and shares[-1] < shares[len(shares) // 2]
    assert sum(r["band_count"] for r in rows) == 4000
    scores = scores_from_bad_probabilities(p)
    for r in rows:
        approved = scores >= r["cutoff"]
        assert r["approved"] == approved.sum() == r["bads_approved"] + r["goods_approved"]
        assert r["bads_approved"] == y[approved].sum()
        assert r["expected_loss"] == pytest.approx(100.0 * r["bads_approved"] - 10.0 * r["goods_approved"])
    # Higher scores are safer: the approved bad rate falls from the first to a middle cut-off.
    assert rows[len(rows) // 2]["bad_rate_approved"] < rows[0]["bad_rate_approved"]


def test_given_unsorted_bands_then_cutoff_table_refuses_them() -> None:
    with pytest.raises(ValueError, match="rising"):
        cutoff_table([0, 1], [0.1, 0.9], bands=[600, 500], loss_given_bad=1.0, margin_per_good=1.0)


def test_given_constructed_population_when_recommending_then_the_lowest_cutoff_meeting_the_bad_rate() -> None:
    # Three score groups: 100 rows at 700 with 1 bad, 100 at 600 with 9 bads, 100 at 450 with 50 bads.
    p = np.r_[[bad_probability_at_score(700)] * 100, [bad_probability_at_score(600)] * 100]
    p = np.r_[p, [bad_probability_at_score(450)] * 100]
    y = np.zeros(300, dtype=int)
    y[[0]] = 1
    y[100:109] = 1
    y[200:250] = 1

    proposal = recommend_thresholds(
        y,
        p,
        target="credit",
        target_bad_rate=0.05,
        loss_given_bad=10.0,
        margin_per_good=1.0,
        current_threshold=650,
    )

    # Approving 600 and up: 10 bads of 200 = 5% → meets the target; 599 and below admits the 450s.
    assert proposal["recommended"]["target_bad_rate"] == 451
    assert proposal["for_target_bad_rate"]["bad_rate_approved"] == pytest.approx(0.05)
    assert proposal["for_target_bad_rate"]["share_approved"] == pytest.approx(2 / 3)
    # Costs: ≥451 → 10·10 − 190 = −90; ≥601 → 10 − 99 = −89; all → 600 − 240 = +360.
    assert proposal["recommended"]["minimum_expected_cost"] == 451
    assert proposal["for_minimum_expected_cost"]["expected_loss"] == pytest.approx(-90.0)
    assert proposal["current"]["cutoff"] == 650 and proposal["current"]["approved"] == 100
    assert proposal["applied"] is False and proposal["policy_field"] == "credit_threshold"
    assert proposal["parameters"]["loss_given_bad"] == 10.0
    json.dumps(proposal, allow_nan=False)


def test_given_costly_defaults_when_recommending_then_minimum_cost_moves_up() -> None:
    p = np.r_[[bad_probability_at_score(700)] * 100, [bad_probability_at_score(600)] * 100]
    y = np.zeros(200, dtype=int)
    y[[0]] = 1
    y[100:109] = 1

    # 9 bads at 600 cost 9·50 = 450 against 91·1 margin: cheaper to decline the 600s.
    proposal = recommend_thresholds(
        y, p, target="buying", target_bad_rate=0.001, loss_given_bad=50.0, margin_per_good=1.0
    )

    assert proposal["recommended"]["minimum_expected_cost"] == 601
    assert proposal["recommended"]["target_bad_rate"] is None
    assert proposal["notes"] and proposal["policy_field"] == "buying_threshold"


def test_given_unknown_target_then_no_proposal() -> None:
    with pytest.raises(ValueError, match="no policy threshold"):
        recommend_thresholds(
            [0, 1], [0.1, 0.9], target="loyalty", target_bad_rate=0.1, loss_given_bad=1, margin_per_good=1
        )


def test_given_population_when_score_histogram_then_every_row_lands_in_one_band() -> None:
    y, p = population(3000, seed=4)

    h = score_histogram(y, p)

    assert h["edges"][0] == 300 and h["edges"][-1] == 900 and len(h["edges"]) == len(h["good"]) + 1
    assert sum(h["good"]) == (y == 0).sum() and sum(h["bad"]) == (y == 1).sum()
