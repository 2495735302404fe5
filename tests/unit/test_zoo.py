"""The model zoo: every model fits, learns, exports to ONNX with parity, in both input forms."""

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import onnx
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import Pipeline

from credo.features import FEATURE_NAMES, FEATURE_SCHEMA_VERSION
from credo.scoring import model as contract
from credo.scoring.model import ScoringModel
from credo.training.encoding import UNSEEN_CODE
from credo.training.onnx_export import PARITY_TOLERANCE, TARGET_OPSET
from credo.training.zoo import (
    CATEGORY_FILL,
    MAX_ONE_HOT_VALUES,
    ZOO,
    ModelSpec,
    export_zoo_model,
    fit_zoo_model,
    model_input,
    model_spec,
    onnx_parity,
    predict_onnx,
    serving_cost,
)

SEED = 17
FIT_ROWS = 1500
FRESH_ROWS = 600
NUMERIC = tuple(FEATURE_NAMES)
MIXED_NUMERIC = (
    "age",
    "tenure_days",
    "bills_late_in_12months",
    "max_dpd_in_12months",
    "postpaid_outstanding",
)
CATEGORICAL = ("device_family", "city_band")
DEVICE_RISK = {"android": 0.0, "ios": -0.6, "web": 0.8, "feature_phone": 1.2}
ZOO_NAMES = [spec.name for spec in ZOO]
TREE_MODELS = {"decision_tree", "extra_trees", "random_forest", "hist_gradient_boosting"}


def numeric_table(n_rows: int, seed: int) -> tuple[pd.DataFrame, npt.NDArray[np.int64]]:
    """All of FEATURE_NAMES with gaps; the bad outcome driven by lateness, DPD, tenure (~15–25 % bad)."""
    rng = np.random.default_rng(seed)
    table = pd.DataFrame(rng.normal(size=(n_rows, len(NUMERIC))), columns=list(NUMERIC))
    table["bills_late_in_12months"] = rng.poisson(1.0, n_rows).astype(float)
    table["max_dpd_in_12months"] = rng.exponential(15.0, n_rows)
    table["tenure_days"] = rng.uniform(0, 2000, n_rows)
    for name in ("age", "city_tier", "postpaid_outstanding", "max_dpd_in_12months"):
        table.loc[rng.random(n_rows) < 0.15, name] = np.nan
    logit = (
        -2.5
        + 0.9 * table["bills_late_in_12months"]
        + 0.04 * table["max_dpd_in_12months"].fillna(40.0)  # a missing DPD history is itself risky
        - 0.0008 * table["tenure_days"]
    )
    return table, _draw_labels(rng, logit.to_numpy())


def mixed_table(
    n_rows: int, seed: int, *, devices: Sequence[str] = tuple(DEVICE_RISK)
) -> tuple[pd.DataFrame, npt.NDArray[np.int64]]:
    """A few numeric columns and two text columns, all with gaps; the device family carries signal."""
    rng = np.random.default_rng(seed)
    table = pd.DataFrame(
        {
            "age": rng.uniform(18, 70, n_rows),
            "tenure_days": rng.uniform(0, 2000, n_rows),
            "bills_late_in_12months": rng.poisson(1.0, n_rows).astype(float),
            "max_dpd_in_12months": rng.exponential(15.0, n_rows),
            "postpaid_outstanding": rng.exponential(3000.0, n_rows),
            "device_family": rng.choice(list(devices), n_rows).astype(object),
            "city_band": rng.choice(["metro", "large", "other"], n_rows).astype(object),
        }
    )
    device_risk = table["device_family"].map(DEVICE_RISK).fillna(0.0).to_numpy()
    logit = -2.2 + 0.8 * table["bills_late_in_12months"].to_numpy() + device_risk
    logit -= 0.0006 * table["tenure_days"].to_numpy()
    for name in ("age", "postpaid_outstanding", "device_family", "city_band"):
        table.loc[rng.random(n_rows) < 0.1, name] = None
    return table, _draw_labels(rng, logit)


def _draw_labels(rng: np.random.Generator, logit: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    return (rng.random(len(logit)) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int64)


def scoring_metadata(name: str) -> dict[str, str]:
    return {
        contract.META_FEATURE_NAMES: contract.FEATURE_SEPARATOR.join(FEATURE_NAMES),
        contract.META_FEATURE_SCHEMA_VERSION: FEATURE_SCHEMA_VERSION,
        contract.META_TARGET: "credit",
        contract.META_MODEL_VERSION: f"credit-test-{name}",
    }


@pytest.fixture(scope="module")
def numeric_data() -> dict[str, tuple[pd.DataFrame, npt.NDArray[np.int64]]]:
    return {"fit": numeric_table(FIT_ROWS, SEED), "fresh": numeric_table(FRESH_ROWS, SEED + 1)}


@pytest.fixture(scope="module")
def mixed_data() -> dict[str, tuple[pd.DataFrame, npt.NDArray[np.int64]]]:
    # "tablet" and "smart_tv" are never seen in fitting: the one-hot encoder must ignore them.
    fresh_devices = (*DEVICE_RISK, "tablet", "smart_tv")
    return {
        "fit": mixed_table(FIT_ROWS, SEED),
        "fresh": mixed_table(FRESH_ROWS, SEED + 1, devices=fresh_devices),
    }


@pytest.fixture(scope="module")
def numeric_models(
    numeric_data: dict[str, tuple[pd.DataFrame, npt.NDArray[np.int64]]],
) -> dict[str, tuple[Pipeline, bytes]]:
    table, labels = numeric_data["fit"]
    fitted = {}
    for spec in ZOO:
        pipeline = fit_zoo_model(spec, table, labels, NUMERIC, (), seed=SEED)
        fitted[spec.name] = (pipeline, export_zoo_model(pipeline, NUMERIC, (), scoring_metadata(spec.name)))
    return fitted


@pytest.fixture(scope="module")
def mixed_models(
    mixed_data: dict[str, tuple[pd.DataFrame, npt.NDArray[np.int64]]],
) -> dict[str, tuple[Pipeline, bytes]]:
    table, labels = mixed_data["fit"]
    fitted = {}
    for spec in ZOO:
        pipeline = fit_zoo_model(spec, table, labels, MIXED_NUMERIC, CATEGORICAL, seed=SEED)
        metadata = {"model": spec.name}
        fitted[spec.name] = (pipeline, export_zoo_model(pipeline, MIXED_NUMERIC, CATEGORICAL, metadata))
    return fitted


def test_given_the_zoo_then_it_holds_exactly_the_seven_named_models() -> None:
    assert ZOO_NAMES == [
        "decision_tree",
        "svm",
        "logistic_regression",
        "mlp",
        "extra_trees",
        "random_forest",
        "hist_gradient_boosting",
    ]
    assert all(spec.description for spec in ZOO)
    svm = model_spec("svm")
    assert svm.max_fit_rows is not None and "linear" in svm.notes.lower()


def test_given_an_unknown_name_when_looked_up_then_the_error_lists_the_zoo() -> None:
    with pytest.raises(ValueError, match=r"unknown model 'xgboost'.*hist_gradient_boosting"):
        model_spec("xgboost")


@pytest.mark.parametrize("name", ZOO_NAMES)
def test_given_a_numeric_table_with_gaps_when_exported_then_fresh_rows_score_alike_in_onnx(
    name: str,
    numeric_models: dict[str, tuple[Pipeline, bytes]],
    numeric_data: dict[str, tuple[pd.DataFrame, npt.NDArray[np.int64]]],
) -> None:
    pipeline, onnx_bytes = numeric_models[name]
    fresh, _ = numeric_data["fresh"]

    gap = onnx_parity(pipeline, onnx_bytes, fresh, NUMERIC, ())

    assert gap <= PARITY_TOLERANCE
    model = onnx.load_from_string(onnx_bytes)
    assert [graph_input.name for graph_input in model.graph.input] == [contract.INPUT_NAME]
    assert all(opset.version <= TARGET_OPSET[opset.domain] for opset in model.opset_import)


@pytest.mark.parametrize("name", ZOO_NAMES)
def test_given_a_numeric_zoo_model_when_loaded_by_the_scoring_code_then_it_serves_the_same_probabilities(
    name: str,
    numeric_models: dict[str, tuple[Pipeline, bytes]],
    numeric_data: dict[str, tuple[pd.DataFrame, npt.NDArray[np.int64]]],
) -> None:
    _, onnx_bytes = numeric_models[name]
    fresh, _ = numeric_data["fresh"]

    served = ScoringModel(onnx_bytes, expected_target="credit")
    p_served = served.predict_bad_probability(fresh[list(FEATURE_NAMES)].to_numpy(dtype=np.float32))

    assert served.model_version == f"credit-test-{name}"
    np.testing.assert_allclose(p_served, predict_onnx(onnx_bytes, fresh, NUMERIC, ()), atol=1e-7)
    assert ((p_served > 0.0) & (p_served < 1.0)).all()


@pytest.mark.parametrize("name", ZOO_NAMES)
def test_given_a_learnable_signal_when_fitted_then_fresh_rows_rank_far_better_than_chance(
    name: str,
    numeric_models: dict[str, tuple[Pipeline, bytes]],
    numeric_data: dict[str, tuple[pd.DataFrame, npt.NDArray[np.int64]]],
) -> None:
    _, onnx_bytes = numeric_models[name]
    fresh, labels = numeric_data["fresh"]

    p_bad = predict_onnx(onnx_bytes, fresh, NUMERIC, ())

    assert roc_auc_score(labels, p_bad) > 0.6
    # Calibrated, unweighted: the mean probability tracks the bad rate instead of being inflated.
    assert np.mean(p_bad) == pytest.approx(np.mean(labels), abs=0.06)


@pytest.mark.parametrize("name", ZOO_NAMES)
def test_given_text_columns_gaps_and_unseen_categories_when_exported_then_fresh_rows_score_alike(
    name: str,
    mixed_models: dict[str, tuple[Pipeline, bytes]],
    mixed_data: dict[str, tuple[pd.DataFrame, npt.NDArray[np.int64]]],
) -> None:
    pipeline, onnx_bytes = mixed_models[name]
    fresh, labels = mixed_data["fresh"]
    assert fresh["device_family"].isin(["tablet", "smart_tv"]).any()
    assert fresh["device_family"].isna().any() and fresh["age"].isna().any()

    gap = onnx_parity(pipeline, onnx_bytes, fresh, MIXED_NUMERIC, CATEGORICAL)

    assert gap <= PARITY_TOLERANCE
    assert roc_auc_score(labels, predict_onnx(onnx_bytes, fresh, MIXED_NUMERIC, CATEGORICAL)) > 0.6
    inputs = {
        graph_input.name: graph_input.type.tensor_type
        for graph_input in onnx.load_from_string(onnx_bytes).graph.input
    }
    assert list(inputs) == [*MIXED_NUMERIC, *CATEGORICAL]
    assert {inputs[name].elem_type for name in CATEGORICAL} == {onnx.TensorProto.STRING}
    assert {inputs[name].elem_type for name in MIXED_NUMERIC} == {onnx.TensorProto.FLOAT}


@pytest.mark.parametrize("name", ZOO_NAMES)
def test_given_text_columns_when_prepared_then_trees_get_a_code_per_column_and_the_rest_an_input_per_value(
    name: str,
    mixed_models: dict[str, tuple[Pipeline, bytes]],
    mixed_data: dict[str, tuple[pd.DataFrame, npt.NDArray[np.int64]]],
) -> None:
    pipeline, _ = mixed_models[name]
    fit, _ = mixed_data["fit"]
    fresh, _ = mixed_data["fresh"]
    # every value seen in fitting, a missing one included, is a category
    values = sum(fit[column].fillna(CATEGORY_FILL).nunique() for column in CATEGORICAL)
    columns = pipeline.named_steps["prepare"].named_steps["columns"]

    prepared = columns.transform(model_input(fresh, MIXED_NUMERIC, CATEGORICAL))
    text = prepared[:, columns.output_indices_["text"]]

    if name in TREE_MODELS:
        assert text.shape[1] == len(CATEGORICAL)
        unseen = fresh["device_family"].isin(["tablet", "smart_tv"]).to_numpy()
        assert (text[unseen, 0] == UNSEEN_CODE).all() and (text[~unseen, 0] >= 0).all()
    else:
        assert text.shape[1] == values


@pytest.mark.parametrize("name", ZOO_NAMES)
def test_given_a_text_column_of_many_values_when_fitted_then_one_hot_stays_sparse_and_onnx_agrees(
    name: str,
) -> None:
    table, labels = mixed_table(FIT_ROWS, SEED)
    fresh, _ = mixed_table(FRESH_ROWS, SEED + 1)
    rng = np.random.default_rng(SEED)
    table["merchant"] = rng.choice([f"m{i:02d}" for i in range(60)], len(table)).astype(object)
    fresh["merchant"] = rng.choice([f"m{i:02d}" for i in range(65)], len(fresh)).astype(object)  # 5 unseen
    categorical = (*CATEGORICAL, "merchant")

    pipeline = fit_zoo_model(model_spec(name), table, labels, MIXED_NUMERIC, categorical, seed=SEED)
    onnx_bytes = export_zoo_model(pipeline, MIXED_NUMERIC, categorical, {"model": name})

    prepared = pipeline.named_steps["prepare"].transform(model_input(fresh, MIXED_NUMERIC, categorical))
    # one-hot inputs, mostly zeros, travel sparse; the trees' codes are one dense column per text column
    assert isinstance(prepared, np.ndarray) == (name in TREE_MODELS)  # otherwise a scipy sparse matrix
    assert onnx_parity(pipeline, onnx_bytes, fresh, MIXED_NUMERIC, categorical) <= PARITY_TOLERANCE


@pytest.mark.parametrize("name", ZOO_NAMES)
def test_given_a_text_column_of_more_values_than_one_hot_takes_then_every_model_learns_it_as_one_input(
    name: str,
) -> None:
    def with_branches(n_rows: int, seed: int) -> tuple[pd.DataFrame, npt.NDArray[np.int64]]:
        table, _ = mixed_table(n_rows, seed)
        rng = np.random.default_rng(seed)
        branch = rng.integers(0, MAX_ONE_HOT_VALUES + 50, n_rows)
        # a branch's risk follows no order in its name; a tenth of the branches is risky
        risky = (branch * 7) % 10 == 0
        logit = -2.0 + 2.5 * risky + 0.8 * table["bills_late_in_12months"].to_numpy()
        table["branch"] = np.array([f"b{b:03d}" for b in branch], dtype=object)
        table.loc[rng.random(n_rows) < 0.05, "branch"] = None
        return table, _draw_labels(rng, logit)

    table, labels = with_branches(FIT_ROWS * 4, SEED)
    fresh, fresh_labels = with_branches(FRESH_ROWS * 2, SEED + 1)
    fresh.loc[:9, "branch"] = "b999"  # never seen in fitting
    categorical = (*CATEGORICAL, "branch")

    pipeline = fit_zoo_model(model_spec(name), table, labels, MIXED_NUMERIC, categorical, seed=SEED)
    onnx_bytes = export_zoo_model(pipeline, MIXED_NUMERIC, categorical, {"model": name})

    columns = pipeline.named_steps["prepare"].named_steps["columns"]
    if name not in TREE_MODELS:  # the other text columns stay one-hot; the branch is one scaled input
        resolved = {branch: names for branch, _, names in columns.transformers_}
        assert resolved["text"] == list(CATEGORICAL) and resolved["many_valued_text"] == ["branch"]
        many_valued = columns.output_indices_["many_valued_text"]
        assert many_valued.stop - many_valued.start == 1
    assert onnx_parity(pipeline, onnx_bytes, fresh, MIXED_NUMERIC, categorical) <= PARITY_TOLERANCE
    without = fit_zoo_model(model_spec(name), table, labels, MIXED_NUMERIC, CATEGORICAL, seed=SEED)
    auc = roc_auc_score(fresh_labels, predict_onnx(onnx_bytes, fresh, MIXED_NUMERIC, categorical))
    auc_without = roc_auc_score(
        fresh_labels, without.predict_proba(model_input(fresh, MIXED_NUMERIC, CATEGORICAL))[:, 1]
    )
    assert auc > auc_without + 0.02


def test_given_a_mixed_model_when_exported_then_metadata_rides_along_and_the_checker_passes(
    mixed_models: dict[str, tuple[Pipeline, bytes]],
) -> None:
    _, onnx_bytes = mixed_models["random_forest"]
    model = onnx.load_from_string(onnx_bytes)

    onnx.checker.check_model(model)
    assert {prop.key: prop.value for prop in model.metadata_props} == {"model": "random_forest"}


def test_given_a_row_cap_when_fitted_then_the_model_learns_from_a_sample_of_that_size(
    numeric_data: dict[str, tuple[pd.DataFrame, npt.NDArray[np.int64]]],
) -> None:
    table, labels = numeric_data["fit"]
    capped = ModelSpec("capped_lr", model_spec("logistic_regression").build, "test", max_fit_rows=400)

    pipeline = fit_zoo_model(capped, table, labels, NUMERIC, (), seed=SEED)

    assert pipeline.named_steps["prepare"].named_steps["scale"].n_samples_seen_ == 400


def test_given_customer_ids_when_fitted_then_each_customers_rows_share_one_calibration_fold(
    numeric_data: dict[str, tuple[pd.DataFrame, npt.NDArray[np.int64]]],
) -> None:
    table, labels = numeric_data["fit"]
    # three copies of each row, as the per-COD-order buying rows repeat a customer's row
    copies = np.repeat(np.arange(len(table)), 3)
    customers = np.array([f"tok-{i}" for i in copies])

    pipeline = fit_zoo_model(
        model_spec("logistic_regression"), table.iloc[copies], labels[copies], NUMERIC, (), seed=SEED,
        customers=customers,
    )  # fmt: skip

    folds = pipeline.named_steps["model"].cv
    assert len(folds) == 3
    held_out = [set(customers[valid]) for _, valid in folds]
    assert sum(len(s) for s in held_out) == len(table)  # every customer in exactly one fold
    for _, valid in folds:
        assert len(set(customers[valid])) * 3 == len(valid)  # with all three of its copies


def test_given_customers_that_leave_a_fold_with_one_class_then_the_default_folds_are_kept(
    numeric_data: dict[str, tuple[pd.DataFrame, npt.NDArray[np.int64]]],
) -> None:
    table, labels = numeric_data["fit"]
    one_customer = np.full(len(table), "tok-1")

    pipeline = fit_zoo_model(
        model_spec("logistic_regression"), table, labels, NUMERIC, (), seed=SEED, customers=one_customer
    )

    assert pipeline.named_steps["model"].cv == 3


def test_given_an_exported_model_when_costed_then_size_latency_and_throughput_are_reported(
    numeric_models: dict[str, tuple[Pipeline, bytes]],
    numeric_data: dict[str, tuple[pd.DataFrame, npt.NDArray[np.int64]]],
) -> None:
    _, onnx_bytes = numeric_models["logistic_regression"]
    fresh, _ = numeric_data["fresh"]

    cost = serving_cost(onnx_bytes, fresh, NUMERIC, ())

    assert cost["onnx_bytes"] == len(onnx_bytes)
    assert cost["one_row_latency_p50_ms"] > 0.0 and cost["batch_rows_per_second"] > 0.0
