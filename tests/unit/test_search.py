"""Hyperparameter search: time-ordered folds, the zoo's settings first, a budget that is kept."""

import time

import numpy as np
import pandas as pd
import pytest

from credo.training import search, zoo

NUMERIC = ("signal", "noise")


def table(n_rows: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"signal": rng.normal(size=n_rows), "noise": rng.normal(size=n_rows)})
    y = (rng.random(n_rows) < 1 / (1 + np.exp(-(-1.5 + 1.2 * frame["signal"])))).astype(np.int64)
    return frame, y


def test_given_rows_from_several_snapshots_then_every_fold_trains_on_the_past_only() -> None:
    snapshots = np.repeat(["2025-01-01", "2025-02-01", "2025-03-01", "2025-04-01"], 200)
    y = np.tile([0, 0, 0, 1], 200)

    folds, described = search.time_ordered_folds(pd.Series(snapshots), y, seed=0)

    assert len(folds) == search.MAX_FOLDS
    for train, valid in folds:
        assert len(set(snapshots[valid])) == 1
        assert max(snapshots[train]) < snapshots[valid][0]
    assert "time-ordered" in described


def test_given_one_snapshot_then_the_folds_are_stratified() -> None:
    y = np.tile([0, 0, 1], 100)

    folds, described = search.time_ordered_folds(pd.Series(["2025-01-01"] * len(y)), y, seed=0)

    assert len(folds) == search.MAX_FOLDS
    assert all(abs(y[valid].mean() - y.mean()) < 0.02 for _, valid in folds)
    assert "stratified" in described


def test_given_a_rare_class_with_one_row_then_cross_validation_says_so() -> None:
    with pytest.raises(ValueError, match="too few rows"):
        search.time_ordered_folds(None, np.array([0, 0, 0, 1]), seed=0)


def test_given_no_budget_then_only_the_zoo_settings_are_measured() -> None:
    frame, y = table(1_000, 1)
    folds, _ = search.time_ordered_folds(None, y, seed=0)

    result = search.search(
        zoo.model_spec("logistic_regression"), frame, y, NUMERIC, (), folds, budget_seconds=0.0, seed=0
    )

    assert [c.params for c in result.candidates] == [{}]
    assert result.best.cv_auc > 0.7
    assert len(result.best.fold_aucs) == len(folds)


def test_given_a_budget_then_several_settings_are_tried_and_the_best_mean_auc_wins() -> None:
    frame, y = table(1_000, 2)
    folds, _ = search.time_ordered_folds(None, y, seed=0)

    result = search.search(
        zoo.model_spec("decision_tree"), frame, y, NUMERIC, (), folds, budget_seconds=30.0, seed=0
    )

    assert len(result.candidates) == search.MAX_CANDIDATES
    assert result.candidates[0].params == {}
    assert result.best.cv_auc == max(c.cv_auc for c in result.candidates)
    assert result.summary()["params"] == result.best.params


def test_given_a_budget_shorter_than_one_candidate_then_the_search_stops_after_the_zoo_settings() -> None:
    frame, y = table(3_000, 3)
    folds, _ = search.time_ordered_folds(None, y, seed=0)

    result = search.search(
        zoo.model_spec("random_forest"), frame, y, NUMERIC, (), folds, budget_seconds=0.01, seed=0
    )

    assert len(result.candidates) == 1


def test_given_the_callers_work_between_two_models_then_it_does_not_shrink_the_next_models_share() -> None:
    frame, y = table(600, 6)
    folds, _ = search.time_ordered_folds(None, y, seed=0)
    specs = [zoo.model_spec("logistic_regression"), zoo.model_spec("decision_tree")]
    budget = 1.0

    searched = []
    for _, result in search.search_each(specs, frame, y, NUMERIC, (), folds, budget_seconds=budget, seed=0):
        searched.append(result)
        time.sleep(budget)  # a final fit longer than the whole budget

    first, second = searched
    assert first.budget_seconds == budget / 2
    assert second.budget_seconds == pytest.approx(budget - first.seconds)
    assert second.budget_seconds > 0


def test_given_searched_settings_then_the_final_fit_uses_them_inside_the_calibration() -> None:
    frame, y = table(600, 4)

    pipeline = zoo.fit_zoo_model(
        zoo.model_spec("decision_tree"), frame, y, NUMERIC, (), seed=0, params={"max_depth": 2}
    )

    calibrated = pipeline.named_steps["model"]
    assert calibrated.estimator.max_depth == 2
    assert calibrated.calibrated_classifiers_[0].estimator.get_depth() <= 2


def test_given_a_linear_svm_then_its_margin_ranks_the_rows() -> None:
    frame, y = table(800, 5)
    folds, _ = search.time_ordered_folds(None, y, seed=0)

    result = search.search(zoo.model_spec("svm"), frame, y, NUMERIC, (), folds, budget_seconds=0.0, seed=0)

    assert result.best.cv_auc > 0.7


def test_given_customers_seen_in_several_snapshots_then_no_fold_trains_and_validates_on_the_same_one() -> (
    None
):
    snapshots = np.repeat(["2025-01-01", "2025-02-01", "2025-03-01"], 300)
    customers = np.tile([f"c{i}" for i in range(300)], 3)
    y = np.tile([0, 0, 0, 1, 0, 1], 150)

    folds, described = search.time_ordered_folds(
        pd.Series(snapshots), y, seed=0, customers=pd.Series(customers)
    )

    assert len(folds) == 2
    for train, valid in folds:
        assert not set(customers[train]) & set(customers[valid])
        assert max(snapshots[train]) < snapshots[valid][0]
    assert "each customer on one side only" in described


def test_given_one_snapshot_and_customer_ids_then_stratified_folds_keep_customers_apart() -> None:
    customers = np.repeat([f"c{i}" for i in range(150)], 2)
    y = np.tile([0, 0, 1, 1, 0, 0], 50)

    folds, _ = search.time_ordered_folds(None, y, seed=0, customers=pd.Series(customers))

    assert all(not set(customers[train]) & set(customers[valid]) for train, valid in folds)
