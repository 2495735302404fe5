"""Training one target: real signal learnt, ONNX parity, metadata contract, refusal of foreign models."""

import importlib.util
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

import numpy as np
import onnx
import pandas as pd
import pytest

from credo.auc import roc_auc
from credo.constants import TARGET_CREDIT
from credo.features import FEATURE_NAMES, FEATURE_SCHEMA_VERSION, LABEL_CREDIT
from credo.pipeline.holdout import load_holdout
from credo.scoring.model import ModelContractError, ScoringModel
from credo.training import TrainedModel, train_target, write_model_artifacts
from credo.training.onnx_export import PARITY_TOLERANCE
from credo.training.train import write_holdout_sample

REPO = Path(__file__).resolve().parents[2]
SEED = 11
FAST_PARAMS = {"max_iter": 60}
TRAINED_AT = datetime(2026, 11, 29, 8, 30, 5, tzinfo=UTC)


def training_job(module_name: str) -> ModuleType:
    """training/train.py (the SageMaker entrypoint, outside the package) loaded as `module_name`."""
    spec = importlib.util.spec_from_file_location(module_name, REPO / "training" / "train.py")
    assert spec is not None and spec.loader is not None
    job = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(job)
    return job


def synthetic_table(n_rows: int, seed: int) -> pd.DataFrame:
    """Features with gaps, and a credit label driven by lateness, DPD and tenure (a learnable signal)."""
    rng = np.random.default_rng(seed)
    table = pd.DataFrame(rng.normal(size=(n_rows, len(FEATURE_NAMES))), columns=list(FEATURE_NAMES))
    table["bills_late_in_12months"] = rng.poisson(1.0, n_rows).astype(float)
    table["max_dpd_in_12months"] = rng.exponential(15.0, n_rows)
    table["tenure_days"] = rng.uniform(0, 2000, n_rows)
    for name in ("age", "city_tier", "postpaid_outstanding"):
        table.loc[rng.random(n_rows) < 0.15, name] = np.nan
    logit = (
        -3.0
        + 0.9 * table["bills_late_in_12months"]
        + 0.04 * table["max_dpd_in_12months"]
        - 0.0008 * table["tenure_days"]
    )
    table[LABEL_CREDIT] = (rng.random(n_rows) < 1.0 / (1.0 + np.exp(-logit))).astype(float)
    table.loc[rng.random(n_rows) < 0.05, LABEL_CREDIT] = np.nan  # snapshots whose outcome is not known yet
    table["token"] = [f"t{i:05d}" for i in range(n_rows)]
    return table


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return synthetic_table(2500, seed=SEED)


@pytest.fixture(scope="module")
def trained(table: pd.DataFrame) -> TrainedModel:
    return train_target(
        table, TARGET_CREDIT, LABEL_CREDIT, seed=SEED, params=FAST_PARAMS, trained_at=TRAINED_AT, n_threads=1
    )


def metadata_of(model: TrainedModel) -> dict[str, str]:
    return {p.key: p.value for p in onnx.load_from_string(model.onnx_bytes).metadata_props}


def test_given_a_table_with_signal_when_trained_then_holdout_auc_exceeds_0_7(trained: TrainedModel) -> None:
    assert trained.roc_auc > 0.7
    assert trained.model_card["holdout_metrics"]["roc_auc"] == trained.roc_auc
    assert trained.model_card["holdout_metrics"]["gini"] == pytest.approx(2 * trained.roc_auc - 1)


def test_given_unlabelled_rows_when_trained_then_only_labelled_rows_are_used(
    table: pd.DataFrame, trained: TrainedModel
) -> None:
    rows = trained.model_card["rows"]

    assert rows["labelled"] == table[LABEL_CREDIT].notna().sum() < len(table)
    assert rows["train"] + rows["holdout"] == rows["labelled"]
    assert rows["holdout"] == pytest.approx(0.2 * rows["labelled"], abs=1)
    assert rows["bad_rate_holdout"] == pytest.approx(rows["bad_rate_train"], abs=0.01)  # stratified


def test_given_fresh_rows_when_scored_by_sklearn_and_onnxruntime_then_probabilities_agree(
    trained: TrainedModel,
) -> None:
    fresh = synthetic_table(1000, seed=SEED + 1)[list(FEATURE_NAMES)].to_numpy(dtype=np.float32)

    expected = trained.pipeline.predict_proba(fresh)[:, 1]
    served = ScoringModel(trained.onnx_bytes).predict_bad_probability(fresh)

    assert trained.parity_max_abs_diff <= PARITY_TOLERANCE
    np.testing.assert_allclose(served, expected, rtol=0, atol=1e-4)
    assert expected.std() > 0.05, "the model must discriminate, or parity proves nothing"


def test_given_a_trained_model_then_onnx_metadata_carries_feature_order_target_and_version(
    trained: TrainedModel,
) -> None:
    metadata = metadata_of(trained)

    assert metadata["feature_names"].split(",") == list(FEATURE_NAMES)
    assert metadata["feature_schema_version"] == FEATURE_SCHEMA_VERSION
    assert metadata["target"] == TARGET_CREDIT
    assert metadata["model_version"] == trained.model_version
    assert metadata["trained_at"] == "2026-11-29T08:30:05+00:00"
    assert float(metadata["roc_auc"]) == pytest.approx(trained.roc_auc, abs=1e-6)
    assert re.fullmatch(r"credit-20261129083005-[0-9a-f]{10}", trained.model_version)


def test_given_the_onnx_graph_then_input_is_float32_features_of_any_batch_size(trained: TrainedModel) -> None:
    graph = onnx.load_from_string(trained.onnx_bytes).graph
    (model_input,) = graph.input
    dims = model_input.type.tensor_type.shape.dim

    assert model_input.name == "features"
    assert model_input.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert not dims[0].HasField("dim_value") and dims[1].dim_value == len(FEATURE_NAMES)
    assert "probabilities" in [output.name for output in graph.output]  # zipmap off: a plain tensor


def test_given_the_same_data_when_trained_twice_then_version_hash_repeats_and_changes_with_data(
    table: pd.DataFrame, trained: TrainedModel
) -> None:
    def quick_train(data: pd.DataFrame) -> TrainedModel:
        params = {"max_iter": 5}
        return train_target(
            data, TARGET_CREDIT, LABEL_CREDIT, seed=SEED, params=params, trained_at=TRAINED_AT, n_threads=1
        )

    same = quick_train(table)
    fewer = quick_train(table.iloc[:-10])

    assert same.model_version == trained.model_version
    assert fewer.model_version != trained.model_version


def test_given_a_table_without_a_feature_when_trained_then_the_missing_column_is_named(
    table: pd.DataFrame,
) -> None:
    with pytest.raises(ValueError, match="orders_cod_in_6months"):
        train_target(table.drop(columns=["orders_cod_in_6months"]), TARGET_CREDIT, LABEL_CREDIT, seed=SEED)


def test_given_a_label_with_a_single_class_when_trained_then_it_is_refused(table: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="each class needs"):
        train_target(table.assign(**{LABEL_CREDIT: 0.0}), TARGET_CREDIT, LABEL_CREDIT, seed=SEED)


def _with_metadata(onnx_bytes: bytes, **changes: str) -> bytes:
    model = onnx.load_from_string(onnx_bytes)
    for prop in model.metadata_props:
        if prop.key in changes:
            prop.value = changes[prop.key]
    return model.SerializeToString()


def test_given_a_model_with_another_feature_order_when_loaded_then_scoring_refuses_it(
    trained: TrainedModel,
) -> None:
    swapped = list(FEATURE_NAMES)
    swapped[0], swapped[1] = swapped[1], swapped[0]

    with pytest.raises(ModelContractError, match="feature order"):
        ScoringModel(_with_metadata(trained.onnx_bytes, feature_names=",".join(swapped)))


def test_given_a_model_of_another_schema_or_target_when_loaded_then_scoring_refuses_it(
    trained: TrainedModel,
) -> None:
    with pytest.raises(ModelContractError, match="schema version"):
        ScoringModel(_with_metadata(trained.onnx_bytes, feature_schema_version="0"))
    with pytest.raises(ModelContractError, match="target"):
        ScoringModel(trained.onnx_bytes, expected_target="buying")


def test_given_a_trained_model_when_written_then_onnx_and_card_are_on_disk(
    trained: TrainedModel, tmp_path: Path
) -> None:
    directory = write_model_artifacts(trained, tmp_path / "credit")

    assert (directory / "model.onnx").read_bytes() == trained.onnx_bytes
    card = json.loads((directory / "model_card.json").read_text())
    assert card["model_version"] == trained.model_version
    assert card["feature_names"] == list(FEATURE_NAMES)


def test_given_a_sagemaker_channel_and_string_hyperparameters_when_the_job_runs_then_artifacts_are_written(
    table: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = training_job("credo_training_job")
    channel = tmp_path / "input" / "train"
    channel.mkdir(parents=True)
    table.to_parquet(channel / "part-0.parquet")
    hyperparameters = tmp_path / "hyperparameters.json"
    hyperparameters.write_text(
        json.dumps({"targets": "credit", "max_iter": "7", "seed": "3", "n_threads": "1"})
    )
    monkeypatch.setenv("SM_CHANNEL_TRAIN", str(channel))
    monkeypatch.setenv("SM_MODEL_DIR", str(tmp_path / "model"))
    monkeypatch.setattr(job, "HYPERPARAMETERS_FILE", hyperparameters)

    assert job.main() == 0

    card = json.loads((tmp_path / "model" / "credit" / "model_card.json").read_text())
    assert card["params"]["max_iter"] == 7 and card["params"]["random_state"] == 3
    assert ScoringModel((tmp_path / "model" / "credit" / "model.onnx").read_bytes()).target == TARGET_CREDIT
    assert not (tmp_path / "model" / "buying").exists()


def test_given_several_snapshots_on_an_opt_ml_tree_when_the_job_runs_then_the_zoo_is_compared_out_of_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = training_job("credo_training_job_zoo")
    opt_ml = tmp_path / "opt" / "ml"
    channel = opt_ml / "input" / "data" / "train"
    channel.mkdir(parents=True)
    snapshots = ["2025-01-01", "2025-02-01", "2025-03-01", "2025-09-01"]
    for i, day in enumerate(snapshots):  # one file per snapshot, as the features export writes them
        part = synthetic_table(900, seed=40 + i)
        part["snapshot_date"] = pd.Timestamp(day)
        part.to_parquet(channel / f"features-{day}.parquet")
    config = opt_ml / "input" / "config"
    config.mkdir(parents=True)
    (config / "hyperparameters.json").write_text(
        json.dumps(
            {
                "targets": "credit",
                "models": "logistic_regression,decision_tree",
                "n_threads": "1",
                "search_seconds": "2",
                "policy": json.dumps(
                    {
                        "version": "p-7",
                        "credit_threshold": 640,
                        "buying_threshold": 560,
                        "credit_economics": {
                            "target_bad_rate": 0.03,
                            "loss_given_bad": 9000,
                            "margin_per_good": 700,
                        },
                    }
                ),
            }
        )
    )
    monkeypatch.setenv("SM_CHANNEL_TRAIN", str(channel))
    monkeypatch.setenv("SM_MODEL_DIR", str(opt_ml / "model"))
    monkeypatch.setattr(job, "HYPERPARAMETERS_FILE", config / "hyperparameters.json")

    assert job.main() == 0

    model_dir = opt_ml / "model"
    report = json.loads((model_dir / "report.json").read_text())
    credit = report["targets"]["credit"]
    card = json.loads((model_dir / "credit" / "model_card.json").read_text())
    assert set(credit["models"]) == {"logistic_regression", "decision_tree"}
    assert (
        card["estimator"] == credit["selected"]
        and card["rows"]["holdout"] == credit["models"][credit["selected"]]["n"]
    )
    assert card["rows"]["train"] < 3 * 900  # trained on the earlier snapshots only, labelled rows
    assert ScoringModel((model_dir / "credit" / "model.onnx").read_bytes()).target == TARGET_CREDIT
    assert "<svg" in (model_dir / "report.html").read_text()
    searched = credit["models"][credit["selected"]]["search"]
    assert searched["folds"].startswith("2 time-ordered folds") and searched["budget_seconds"] <= 2
    assert credit["costs"] == {"target_bad_rate": 0.03, "loss_given_bad": 9000.0, "margin_per_good": 700.0}
    holdout = load_holdout(model_dir / "credit" / "holdout.npz")  # what the pipeline's evaluate step reads
    assert holdout.snapshot == "2025-09-01" and holdout.rows == card["rows"]["holdout"]
    scored = ScoringModel((model_dir / "credit" / "model.onnx").read_bytes()).predict_bad_probability(
        holdout.features
    )
    assert roc_auc(holdout.labels, scored) == pytest.approx(card["holdout_metrics"]["roc_auc"], abs=1e-3)


def test_given_a_large_holdout_when_its_sample_is_written_then_it_keeps_labelled_rows_per_class(
    table: pd.DataFrame, tmp_path: Path
) -> None:
    holdout = table.assign(snapshot_date=pd.Timestamp("2026-04-01"))
    labelled = holdout[LABEL_CREDIT].dropna()

    path = write_holdout_sample(holdout, LABEL_CREDIT, tmp_path / "credit", seed=SEED, max_rows=500)
    sample = load_holdout(path)
    again = load_holdout(
        write_holdout_sample(holdout, LABEL_CREDIT, tmp_path / "again", seed=SEED, max_rows=500)
    )

    assert path == tmp_path / "credit" / "holdout.npz"
    assert sample.rows == 500 and sample.snapshot == "2026-04-01"
    assert sample.labels.mean() == pytest.approx(labelled.mean(), abs=0.01)  # stratified: the bad rate kept
    assert np.array_equal(sample.features, again.features, equal_nan=True)  # same seed, same rows
    assert sample.features.dtype == np.float32 and not np.isnan(sample.labels).any()


def test_given_a_negative_search_budget_then_the_job_names_the_hyperparameter() -> None:
    job = training_job("credo_training_job")

    with pytest.raises(ValueError, match="search_seconds"):
        job.parse_hyperparameters({"search_seconds": "-5"})


def test_given_a_channel_table_when_the_job_reads_it_then_features_are_float32_and_the_rest_kept(
    table: pd.DataFrame, tmp_path: Path
) -> None:
    job = training_job("credo_training_job_read")
    written = table.assign(snapshot_date=pd.Timestamp("2026-04-01"), token="t-1")
    written.to_parquet(tmp_path / "part-0.parquet")

    read = job.read_training_table(tmp_path)

    assert (read[list(FEATURE_NAMES)].dtypes == np.float32).all()
    assert read[LABEL_CREDIT].dtype == written[LABEL_CREDIT].dtype and (read["token"] == "t-1").all()
    expected = written[list(FEATURE_NAMES)].to_numpy(dtype=np.float32)
    assert np.array_equal(read[list(FEATURE_NAMES)].to_numpy(), expected, equal_nan=True)


def test_given_either_memory_order_then_the_fingerprint_is_the_same_and_weights_change_it() -> None:
    from credo.training.train import data_fingerprint

    values = np.arange(12, dtype=np.float32).reshape(4, 3)
    labels = np.array([0, 1, 0, 1], dtype=np.int64)

    fingerprint = data_fingerprint(np.asfortranarray(values), labels)

    assert fingerprint == data_fingerprint(np.ascontiguousarray(values), labels)
    assert fingerprint not in {data_fingerprint(values + 1, labels), data_fingerprint(values, 1 - labels)}
    weights = np.arange(1.0, len(labels) + 1)
    weighted = data_fingerprint(values, labels, weights)
    assert weighted != fingerprint and weighted != data_fingerprint(values, labels, weights + 1)
