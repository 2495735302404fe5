"""Reasons: the features that lowered a score, found by batched counterfactuals on the served ONNX model."""

import math

import numpy as np
import numpy.typing as npt
import onnx
import pandas as pd
import pytest

from credo.features import FEATURE_NAMES, LABEL_BUYING
from credo.scoring import model as contract
from credo.scoring.model import ModelContractError, ScoringModel
from credo.scoring.reason_texts import REASON_TEXTS, reason_text
from credo.scoring.reasons import MAX_REASONS, Reason, explain, score_and_explain
from credo.training.compare import ZooComparison, compare_zoo

REFUSALS = "cod_refused_in_6months"
# every one of these raises the chance of a refused COD order in the synthetic table below
ADVERSE_VALUES = {
    REFUSALS: 3.0,
    "orders_cancelled_after_dispatch_in_6months": 3.0,
    "bills_late_in_12months": 4.0,
    "max_dpd_in_12months": 60.0,
    "bureau_score": math.nan,  # no bureau score on record
}


def buying_table(n_rows: int, seed: int) -> pd.DataFrame:
    """FEATURE_NAMES rows whose buying label is driven above all by COD refusals, and by a few others."""
    rng = np.random.default_rng(seed)
    table = pd.DataFrame(rng.normal(size=(n_rows, len(FEATURE_NAMES))), columns=list(FEATURE_NAMES))
    table[REFUSALS] = rng.poisson(0.6, n_rows).astype(float)
    table["orders_cancelled_after_dispatch_in_6months"] = rng.poisson(0.6, n_rows).astype(float)
    table["bills_late_in_12months"] = rng.poisson(0.8, n_rows).astype(float)
    table["max_dpd_in_12months"] = rng.exponential(10.0, n_rows)
    table["bureau_score"] = rng.normal(700.0, 60.0, n_rows)
    table.loc[rng.random(n_rows) < 0.1, "bureau_score"] = np.nan
    table.loc[rng.random(n_rows) < 0.8, "days_since_last_cod_refusal"] = np.nan
    logit = (
        -3.0
        + 1.3 * table[REFUSALS]
        + 0.6 * table["orders_cancelled_after_dispatch_in_6months"]
        + 0.5 * table["bills_late_in_12months"]
        + 0.03 * table["max_dpd_in_12months"]
        + 1.5 * table["bureau_score"].isna()
    )
    table[LABEL_BUYING] = (rng.random(n_rows) < 1 / (1 + np.exp(-logit))).astype(float)
    return table


@pytest.fixture(scope="module")
def comparison() -> ZooComparison:
    return compare_zoo(
        buying_table(1_500, 1),
        buying_table(500, 2),
        "buying",
        LABEL_BUYING,
        seed=3,
        models=("logistic_regression",),
        search_seconds=0,
    )


@pytest.fixture(scope="module")
def served(comparison: ZooComparison) -> ScoringModel:
    return ScoringModel(comparison.selected.onnx_bytes, expected_target="buying")


def typical_good_row(model: ScoringModel, **changes: float) -> npt.NDArray[np.float32]:
    """The 1×N row of a customer at every baseline, with `changes` applied."""
    values = {name: math.nan if value is None else value for name, value in model.reason_baselines.items()}
    values.update(changes)
    return np.array([[values[name] for name in FEATURE_NAMES]], dtype=np.float32)


class CountingModel:
    """The served model, recording the shape of every batch it is asked to score."""

    def __init__(self, model: ScoringModel) -> None:
        self.model = model
        self.reason_baselines = model.reason_baselines
        self.batch_shapes: list[tuple[int, ...]] = []

    def predict_bad_probability(self, rows: npt.ArrayLike) -> npt.NDArray[np.float64]:
        self.batch_shapes.append(np.shape(rows))
        return self.model.predict_bad_probability(rows)


def _without_baselines(onnx_bytes: bytes) -> bytes:
    model = onnx.load_from_string(onnx_bytes)
    kept = [p for p in model.metadata_props if p.key != contract.META_REASON_BASELINES]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    return model.SerializeToString()


def _with_baselines(onnx_bytes: bytes, text: str) -> bytes:
    model = onnx.load_from_string(onnx_bytes)
    for prop in model.metadata_props:
        if prop.key == contract.META_REASON_BASELINES:
            prop.value = text
    return model.SerializeToString()


def test_given_training_rows_then_baselines_are_good_customer_medians_in_the_onnx_and_the_model_card(
    comparison: ZooComparison, served: ScoringModel
) -> None:
    good = buying_table(1_500, 1).query(f"{LABEL_BUYING} == 0")

    assert served.reason_baselines == comparison.selected.model_card["reason_baselines"]
    assert set(served.reason_baselines) == set(FEATURE_NAMES)
    assert served.reason_baselines[REFUSALS] == pytest.approx(good[REFUSALS].median())
    assert served.reason_baselines["bureau_score"] == pytest.approx(good["bureau_score"].median(), abs=1e-3)
    assert served.reason_baselines["days_since_last_cod_refusal"] is None  # missing for most good rows


def test_given_cod_refusals_then_a_reason_names_them_and_it_disappears_when_they_are_zero(
    served: ScoringModel,
) -> None:
    refused = explain(served, typical_good_row(served, **{REFUSALS: 3.0}))
    cleared = explain(served, typical_good_row(served, **{REFUSALS: 0.0}))

    assert [r.feature for r in refused] == [REFUSALS]
    assert refused[0].text == "3 COD orders refused in the last 6 months"
    assert refused[0].impact > 0
    assert REFUSALS not in {r.feature for r in cleared}


def test_given_many_adverse_features_then_at_most_four_reasons_come_largest_cost_first(
    served: ScoringModel,
) -> None:
    row = typical_good_row(served, **ADVERSE_VALUES)

    everything = explain(served, row, limit=len(FEATURE_NAMES))
    reasons = explain(served, row)

    assert len(everything) > MAX_REASONS
    assert reasons == everything[:MAX_REASONS]
    assert [r.impact for r in reasons] == sorted((r.impact for r in reasons), reverse=True)
    assert {r.feature for r in everything} <= set(ADVERSE_VALUES)
    assert explain(served, row, limit=2) == everything[:2]


def test_given_a_missing_value_that_lowers_the_score_then_its_reason_reads_no_record(
    served: ScoringModel,
) -> None:
    reasons = explain(served, typical_good_row(served, bureau_score=math.nan))

    assert reasons == [Reason("bureau_score", "no credit bureau score on record", reasons[0].impact)]


def test_given_the_typical_good_customer_then_nothing_lowered_the_score(served: ScoringModel) -> None:
    assert explain(served, typical_good_row(served)) == []


def test_given_any_feature_then_it_has_a_plain_words_template_for_values_and_for_missing() -> None:
    assert set(REASON_TEXTS) == set(FEATURE_NAMES)
    for name in FEATURE_NAMES:
        texts = [reason_text(name, value) for value in (0.0, 1.0, 2.5, 1234.0)]
        missing = reason_text(name, math.nan)
        assert all(texts) and "{" not in "".join(texts), name
        assert missing.startswith("no "), name


def test_given_counts_then_the_wording_agrees_with_the_number() -> None:
    assert reason_text(REFUSALS, 1.0) == "1 COD order refused in the last 6 months"
    assert reason_text("max_dpd_in_12months", 45.0) == "a bill 45 days past due in the last 12 months"
    assert reason_text("bureau_enquiries_6m", 1.0) == "1 credit enquiry in the last 6 months"
    assert reason_text("bureau_hit", math.nan) == "no credit bureau record"


def test_given_a_model_without_baselines_then_it_still_scores_and_gives_no_reasons(
    comparison: ZooComparison,
) -> None:
    older = ScoringModel(_without_baselines(comparison.selected.onnx_bytes))
    row = typical_good_row(ScoringModel(comparison.selected.onnx_bytes), **ADVERSE_VALUES)

    assert older.reason_baselines == {}
    assert older.predict_bad_probability(row).shape == (1,)
    assert explain(older, row) == []


@pytest.mark.parametrize("text", ["not json", "[1, 2]", '{"no_such_feature": 1}', '{"age": "old"}'])
def test_given_malformed_baselines_when_loaded_then_the_model_is_refused(
    comparison: ZooComparison, text: str
) -> None:
    with pytest.raises(ModelContractError, match=r"reason baseline|reason_baselines"):
        ScoringModel(_with_baselines(comparison.selected.onnx_bytes, text))


def test_given_a_row_when_explained_then_the_model_is_called_once_with_every_counterfactual(
    served: ScoringModel,
) -> None:
    counting = CountingModel(served)

    explain(counting, typical_good_row(served, **ADVERSE_VALUES))

    # one call: the row itself and, per feature, the row with that feature at its baseline
    assert counting.batch_shapes == [(len(FEATURE_NAMES) + 1, len(FEATURE_NAMES))]


def test_given_the_api_path_then_score_and_reasons_come_from_one_model_call(served: ScoringModel) -> None:
    counting = CountingModel(served)
    row = typical_good_row(served, **ADVERSE_VALUES)

    p_bad, reasons = score_and_explain(counting, row)

    assert len(counting.batch_shapes) == 1
    assert p_bad == pytest.approx(float(served.predict_bad_probability(row)[0]), abs=1e-6)
    assert reasons == explain(served, row)
