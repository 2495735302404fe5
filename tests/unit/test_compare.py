"""The classifier comparison for a Credo target: every model measured out of time, one shipped."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from credo.features import (
    FEATURE_NAMES,
    LABEL_BUYING,
    LABEL_BUYING_COD_ORDERS,
    LABEL_BUYING_FAILED_ORDERS,
    LABEL_CREDIT,
)
from credo.labels import labelled_rows
from credo.scoring.model import ScoringModel
from credo.training.compare import MIN_DISTINCT_SCORES, ZooComparison, _select, compare_zoo
from credo.training.report import build_report

MODELS = ("decision_tree", "logistic_regression", "hist_gradient_boosting")


def snapshot(n_rows: int, seed: int) -> pd.DataFrame:
    """Feature rows whose credit label follows late bills and days past due; some values missing."""
    rng = np.random.default_rng(seed)
    table = pd.DataFrame(rng.normal(size=(n_rows, len(FEATURE_NAMES))), columns=list(FEATURE_NAMES))
    table["bills_late_in_12months"] = rng.poisson(1.0, n_rows).astype(float)
    table["max_dpd_in_12months"] = rng.exponential(15.0, n_rows)
    table.loc[rng.random(n_rows) < 0.1, "age"] = np.nan
    logit = -3.0 + 0.9 * table["bills_late_in_12months"] + 0.04 * table["max_dpd_in_12months"]
    table[LABEL_CREDIT] = (rng.random(n_rows) < 1 / (1 + np.exp(-logit))).astype(float)
    table.loc[rng.random(n_rows) < 0.05, LABEL_CREDIT] = np.nan  # outside the population
    return table


@pytest.fixture(scope="module")
def comparison() -> ZooComparison:
    return compare_zoo(
        snapshot(3_000, 1),
        snapshot(1_500, 2),
        "credit",
        LABEL_CREDIT,
        seed=3,
        models=MODELS,
        search_seconds=3.0,
    )


def test_given_a_later_holdout_then_every_model_is_measured_on_it_and_the_best_within_budget_ships(
    comparison: ZooComparison,
) -> None:
    table = {row["model"]: row for row in comparison.table}
    best = max(table.values(), key=lambda row: row["roc_auc"])

    assert set(table) == set(MODELS)
    assert all(0.6 < row["roc_auc"] <= 1 and row["f1"] is not None for row in table.values())
    assert [row["model"] for row in table.values() if row["selected"]] == [best["model"]]
    assert comparison.selected.model_card["estimator"] == best["model"]
    assert comparison.selected.parity_max_abs_diff <= 1e-4
    assert comparison.selected.model_card["score_scale"]["pdo"] == 50


def test_given_the_shipped_model_then_the_scoring_code_loads_it_and_reproduces_the_holdout_auc(
    comparison: ZooComparison,
) -> None:
    holdout = snapshot(1_500, 2).dropna(subset=[LABEL_CREDIT])
    served = ScoringModel(comparison.selected.onnx_bytes, expected_target="credit")
    p = served.predict_bad_probability(holdout[list(FEATURE_NAMES)].to_numpy(dtype=np.float32))
    best = next(row for row in comparison.table if row["selected"])

    assert served.model_version == comparison.selected.model_version
    assert roc_auc_score(holdout[LABEL_CREDIT], p) == pytest.approx(best["roc_auc"], abs=1e-4)


def test_given_the_comparison_then_the_report_carries_every_model_and_the_selection(
    comparison: ZooComparison,
) -> None:
    report = build_report([comparison.result])

    credit = report["targets"]["credit"]
    assert (
        set(credit["models"]) == set(MODELS)
        and credit["selected"] == comparison.selected.model_card["estimator"]
    )
    assert credit["threshold_proposal"]["applied"] is False


def test_given_a_search_budget_then_every_model_reports_its_cross_validated_settings(
    comparison: ZooComparison,
) -> None:
    report = build_report([comparison.result])
    models = report["targets"]["credit"]["models"]

    for name in MODELS:
        searched = models[name]["search"]
        assert searched["candidates_tried"] >= 1
        assert 0.5 < searched["cv_auc"] <= 1
        assert searched["budget_seconds"] <= 3.0
    assert (
        comparison.selected.model_card["hyperparameters"]
        == models[comparison.result.selected]["search"]["params"]
    )


def test_given_the_selected_model_then_the_report_ranks_the_features_that_drive_it(
    comparison: ZooComparison,
) -> None:
    importances = build_report([comparison.result])["targets"]["credit"]["models"][
        comparison.result.selected
    ]["feature_importances"]

    top_two = set(list(importances)[:2])
    assert top_two == {"bills_late_in_12months", "max_dpd_in_12months"}


def _row(model: str, auc: float, distinct_scores: int) -> dict[str, object]:
    return {"model": model, "roc_auc": auc, "distinct_scores": distinct_scores, "onnx_bytes": 1_000,
            "one_row_latency_p50_ms": 0.01}  # fmt: skip


def test_given_a_model_whose_scores_collapsed_then_a_lower_auc_model_with_spread_scores_ships() -> None:
    rows = [_row("mlp", 0.762, 1), _row("logistic_regression", 0.760, 400)]

    selected, reason = _select(rows)

    assert selected == "logistic_regression"
    assert f"fewer than {MIN_DISTINCT_SCORES} distinct values: mlp (1)" in reason


def test_given_every_model_spread_then_the_best_auc_ships_and_nothing_is_said_about_spread() -> None:
    selected, reason = _select([_row("mlp", 0.762, 300), _row("logistic_regression", 0.760, 400)])

    assert selected == "mlp" and "distinct" not in reason


def test_given_no_model_whose_scores_spread_then_the_best_auc_ships_and_the_reason_says_so() -> None:
    selected, reason = _select([_row("mlp", 0.762, 1), _row("decision_tree", 0.70, 3)])

    assert selected == "mlp"
    assert "so none was left out" in reason and "mlp (1), decision_tree (3)" in reason


def cod_snapshots(n_customers: int, snapshots: list[str], seed: int) -> pd.DataFrame:
    """Customer snapshots with their COD orders ahead and the failed ones, which follow late bills."""
    rng = np.random.default_rng(seed)
    parts = []
    for snapshot_date in snapshots:
        part = snapshot(n_customers, seed + len(parts)).drop(columns=[LABEL_CREDIT])
        orders = 1 + rng.poisson(2.0, n_customers)
        p_fail = 1 / (1 + np.exp(-(-2.0 + 0.6 * part["bills_late_in_12months"].to_numpy())))
        part[LABEL_BUYING_COD_ORDERS] = orders.astype(float)
        part[LABEL_BUYING_FAILED_ORDERS] = rng.binomial(orders, p_fail).astype(float)
        part["token"] = [f"c{i}" for i in range(n_customers)]
        part["snapshot_date"] = snapshot_date
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def test_given_weighted_rows_then_the_model_learns_what_it_would_from_one_row_per_order() -> None:
    """Logistic regression's likelihood, its sigmoid's and the customer-kept calibration folds are the
    same for a customer snapshot's copies and for its two weighted rows, so the fits agree (to the
    solver's tolerance; the F1 threshold, an argmax, may then pick a neighbouring cut)."""
    train = cod_snapshots(600, ["2024-01-01", "2024-02-01", "2024-03-01"], 11)
    holdout = labelled_rows(cod_snapshots(600, ["2024-09-01"], 12), "buying")
    fits = {}
    for weighted in (False, True):
        fits[weighted] = compare_zoo(
            labelled_rows(train, "buying", weighted=weighted), holdout, "buying", LABEL_BUYING,
            seed=3, models=("logistic_regression",), search_seconds=0.0,
        )  # fmt: skip
    copies, weighted = (fits[w].result.models[0] for w in (False, True))

    assert len(labelled_rows(train, "buying", weighted=True)) < len(labelled_rows(train, "buying")) / 1.3
    assert np.abs(weighted.p_bad - copies.p_bad).max() < 1e-3
    auc = {w: fits[w].table[0]["roc_auc"] for w in (False, True)}
    assert auc[True] == pytest.approx(auc[False], abs=1e-3)
    assert fits[True].selected.model_card["rows"]["train"] == len(labelled_rows(train, "buying"))


def test_given_a_weighted_holdout_then_a_clear_error() -> None:
    table = cod_snapshots(200, ["2024-01-01", "2024-09-01"], 13)
    train, holdout = (table[table["snapshot_date"] == day] for day in ("2024-01-01", "2024-09-01"))
    with pytest.raises(ValueError, match="one row per decision"):
        compare_zoo(
            labelled_rows(train, "buying", weighted=True), labelled_rows(holdout, "buying", weighted=True),
            "buying", LABEL_BUYING, seed=3, models=("logistic_regression",), search_seconds=0.0,
        )  # fmt: skip
