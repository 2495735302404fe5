"""Training report: report.json is complete and JSON-safe; report.html is self-contained and escaped."""

import json
import re
from pathlib import Path

import numpy as np
import pytest

from credo.training.report import (
    DEFAULT_COSTS,
    MAX_SERVING_ONE_ROW_MS,
    ModelResult,
    TargetResult,
    build_report,
    render_html,
    write_report,
)

HOSTILE_NAME = "<b>x</b>"


def holdout(n: int, seed: int, signal: float) -> tuple[np.ndarray, np.ndarray]:
    """Labels and probabilities whose ranking power grows with `signal` (0 = a coin toss)."""
    rng = np.random.default_rng(seed)
    risk = rng.normal(size=n)
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-(-2.5 + 1.5 * risk)))).astype(int)
    noisy = signal * risk + (1.0 - signal) * rng.normal(size=n)
    return y, 1.0 / (1.0 + np.exp(-(-2.5 + 1.5 * noisy)))


def target_result(target: str, seed: int, *, selected: str | None = None) -> TargetResult:
    y, p_strong = holdout(3000, seed, signal=0.9)
    _, p_fast = holdout(3000, seed, signal=0.6)
    p_weak = np.clip(p_fast + np.random.default_rng(seed + 1).normal(0, 0.05, y.size), 0, 1)
    return TargetResult(
        target=target,
        costs=DEFAULT_COSTS[target],
        oracle_auc=0.91,
        current_threshold=650,
        selected=selected,
        selection_reason="given by the test" if selected else "",
        models=[
            # The strongest model is too slow to serve: the budget rule must pass it over.
            ModelResult(
                "RandomForest", y, p_strong, fit_seconds=12.5, onnx_bytes=15_000_000, one_row_ms=0.04
            ),
            ModelResult(
                "HistGradientBoosting",
                y,
                p_fast,
                cv_folds={"roc_auc": [0.80, 0.82, 0.81]},
                fit_seconds=3.0,
                onnx_bytes=450_000,
                one_row_ms=0.02,
                batch_rows_per_s=250_000.0,
                feature_importances={
                    "max_dpd_in_12months": 0.4,
                    "tenure_days": -0.1,
                    "age": np.float64(0.05),
                },
            ),
            ModelResult(HOSTILE_NAME, y, p_weak, threshold=0.2, one_row_ms=MAX_SERVING_ONE_ROW_MS / 2),
        ],
    )


@pytest.fixture(scope="module")
def report() -> dict:
    return build_report(
        [target_result("credit", seed=1), target_result("buying", seed=2)],
        metadata={"version": "credo-20261129", "rows": np.int64(6000), "nan": float("nan")},
    )


@pytest.fixture(scope="module")
def page(report: dict) -> str:
    return render_html(report)


def test_given_two_targets_when_building_then_json_holds_selection_and_metrics_per_model(
    report: dict,
) -> None:
    restored = json.loads(json.dumps(report, allow_nan=False))

    assert set(restored["targets"]) == {"credit", "buying"}
    for body in restored["targets"].values():
        assert body["selected"] in body["models"]
        assert set(body["models"]) == {"RandomForest", "HistGradientBoosting", HOSTILE_NAME}
        for model in body["models"].values():
            for key in ("roc_auc", "f1", "pr_auc", "brier", "ks", "gini", "calibration_error", "precision"):
                assert isinstance(model[key], float), key
        assert body["cutoff_table"] and body["threshold_proposal"]["applied"] is False
        assert body["oracle_auc"] == 0.91
    assert restored["metadata"] == {"version": "credo-20261129", "rows": 6000, "nan": None}


def test_given_no_selection_when_building_then_best_auc_within_the_serving_budget_wins(report: dict) -> None:
    credit = report["targets"]["credit"]
    models = credit["models"]

    assert models["RandomForest"]["roc_auc"] > models["HistGradientBoosting"]["roc_auc"]
    assert models["RandomForest"]["within_serving_budget"] is False
    assert credit["selected"] == "HistGradientBoosting"
    assert "2 of 3 models within the serving budget" in credit["selection_reason"]


def test_given_a_selection_when_building_then_it_is_kept_with_its_reason() -> None:
    report = build_report([target_result("credit", seed=3, selected="RandomForest")])

    assert report["targets"]["credit"]["selected"] == "RandomForest"
    assert report["targets"]["credit"]["selection_reason"] == "given by the test"


def test_given_measured_figures_when_building_then_they_pass_through_with_cv_summaries(report: dict) -> None:
    hgb = report["targets"]["buying"]["models"]["HistGradientBoosting"]

    assert (hgb["fit_seconds"], hgb["onnx_bytes"], hgb["one_row_ms"], hgb["batch_rows_per_s"]) == (
        3.0,
        450_000,
        0.02,
        250_000.0,
    )
    assert hgb["cv"]["roc_auc"]["mean"] == pytest.approx(0.81)
    assert hgb["cv"]["roc_auc"]["std"] == pytest.approx(np.std([0.80, 0.82, 0.81]))
    assert list(hgb["feature_importances"]) == ["max_dpd_in_12months", "tenure_days", "age"]
    assert hgb["threshold_source"].startswith("best F1")
    assert report["targets"]["buying"]["models"][HOSTILE_NAME]["threshold"] == 0.2


def test_given_invalid_inputs_when_building_then_refused() -> None:
    y, p = holdout(200, seed=5, signal=0.5)
    twins = [ModelResult("LR", y, p), ModelResult("LR", y, p)]
    with pytest.raises(ValueError, match="distinct"):
        build_report([TargetResult("credit", twins, DEFAULT_COSTS["credit"])])
    with pytest.raises(ValueError, match="not among"):
        build_report([TargetResult("credit", twins[:1], DEFAULT_COSTS["credit"], selected="SVM")])


def test_given_report_when_rendering_then_one_svg_per_chart(page: str) -> None:
    # Overall F1 comparison + per target: F1, AUC, ROC, PR, calibration, score distribution, importance.
    assert page.count("<svg") == 1 + 2 * 7
    for title in ("F1 by classifier and target", "ROC curves", "Precision-recall curves", "Calibration"):
        assert title in page
    assert "Score distribution of HistGradientBoosting" in page
    assert "oracle 0.910" in page
    assert "Oracle ROC-AUC: 0.9100. The oracle knows each customer's hidden traits" in page
    assert page.count("<polyline") >= 2 * 3 * 3  # three models' curves in three line charts, per target


def test_given_report_when_rendering_then_no_external_resource_is_referenced(page: str) -> None:
    assert "http://" not in page and "https://" not in page
    assert not re.search(r"<script|<link|<img|<iframe|@import|url\(", page, re.IGNORECASE)


def test_given_a_hostile_model_name_when_rendering_then_it_is_escaped(page: str) -> None:
    assert HOSTILE_NAME not in page
    assert "&lt;b&gt;x&lt;/b&gt;" in page


def test_given_report_when_rendering_then_tables_and_proposal_are_present(page: str, report: dict) -> None:
    proposal = report["targets"]["credit"]["threshold_proposal"]

    assert "EMI (credit)" in page and "COD (buying)" in page
    assert "Cut-off table for HistGradientBoosting" in page
    assert "<code>credit_threshold</code>" in page and "<code>buying_threshold</code>" in page
    assert f"<td>{proposal['recommended']['minimum_expected_cost']}</td>" in page


def test_given_the_two_targets_then_the_report_says_what_one_row_is(page: str, report: dict) -> None:
    assert report["targets"]["credit"]["row"] == "customer"
    assert report["targets"]["buying"]["row"] == "COD order"
    assert "One row per COD order" in page and "One row per customer" in page


def test_given_report_when_writing_then_json_round_trips_and_html_matches(
    report: dict, tmp_path: Path
) -> None:
    json_path, html_path = write_report(report, tmp_path / "out")

    assert json.loads(json_path.read_text()) == report
    assert html_path.read_text() == render_html(report)
