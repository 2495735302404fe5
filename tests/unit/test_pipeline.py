"""The training pipeline's steps (credo.pipeline) on DuckDB and in-process moto, with tiny models.

The whole chain through the Lambda handlers, on a synthetic world and a real training job, is
tests/integration/test_pipeline_handlers.py.
"""

import io
import json
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from moto import mock_aws
from pydantic import ValidationError
from sklearn.metrics import roc_auc_score

import credo.materialize
from credo import constants as c
from credo.adapters.dynamodb import ensure_table
from credo.adapters.s3 import S3Store
from credo.adapters.ssm import ParameterStore
from credo.auc import roc_auc
from credo.features import FEATURE_NAMES, LABEL_CREDIT
from credo.online_store import TOKEN_ATTRIBUTE, OnlineFeatureStore
from credo.pipeline.artifacts import ArtifactError, extract_archive
from credo.pipeline.dependencies import PipelineConfigError, PipelineDependencies
from credo.pipeline.evaluate import evaluate_models
from credo.pipeline.events import (
    EvaluateOutput,
    FeaturesInput,
    LoadInput,
    PromoteInput,
    PromoteOutput,
    TargetEvaluation,
)
from credo.pipeline.features import NoTrainingDataError, prepare_training
from credo.pipeline.holdout import HoldoutError, load_holdout, save_holdout, stratified_sample
from credo.pipeline.load import load_warehouse
from credo.pipeline.materialize import materialize_as_of
from credo.pipeline.promote import promote_models
from credo.pipeline.runs import (
    RUN_ID_MAX_LENGTH,
    RUN_ID_PATTERN,
    out_of_time_snapshots,
    parse_as_of,
    run_id_for,
    training_snapshots,
)
from credo.policy import DEFAULT_POLICY, Policy
from credo.registry import ModelRegistry
from credo.settings import CredoSettings
from credo.training import TrainedModel, train_target, write_model_artifacts
from credo.warehouse import table_schema
from credo.warehouse.duckdb import DuckDBWarehouse
from credo.warehouse.redshift import RedshiftWarehouse
from tests.warehouse_rows import registration_row

ROOT = Path(__file__).resolve().parents[2]
LAKE = "credo-lake-pipeline"
MODELS = "credo-models-pipeline"
FEATURE_TABLE = "credo-features-pipeline"
POLICY_PARAMETER = "/credo/pipeline-test/policy"
AS_OF = date(2026, 10, 1)
RUN_ID = run_id_for(AS_OF, "nightly-1")
ARTIFACTS = f"s3://{MODELS}/training-jobs/{RUN_ID}/output/model.tar.gz"


# One call of the evaluate and promote steps on this module's run, as the handlers make it.
def evaluate(aws: PipelineDependencies, model_artifacts: str) -> EvaluateOutput:
    return evaluate_models(
        s3=aws.s3, registry=aws.registry, run_id=RUN_ID, as_of=AS_OF, model_artifacts=model_artifacts
    )


def promote(
    aws: PipelineDependencies, evaluation: dict[str, TargetEvaluation], model_artifacts: str
) -> PromoteOutput:
    return promote_models(
        s3=aws.s3,
        registry=aws.registry,
        run_id=RUN_ID,
        as_of=AS_OF,
        model_artifacts=model_artifacts,
        evaluation=evaluation,
    )


# ---- runs: as-of dates, run ids, snapshots ------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-10-01", date(2026, 10, 1)),
        ("2026-10-01T02:00:00Z", date(2026, 10, 1)),  # EventBridge's `time`
        ("2026-09-30T23:30:00-05:00", date(2026, 10, 1)),  # read in UTC
        ("2026-10-01T23:59:59", date(2026, 10, 1)),  # naive = UTC
        (date(2026, 10, 1), date(2026, 10, 1)),
    ],
)
def test_given_an_as_of_as_date_or_iso_datetime_then_it_is_the_utc_date(value: Any, expected: date) -> None:
    assert parse_as_of(value) == expected


def test_given_no_as_of_then_the_run_is_as_of_today_in_utc() -> None:
    assert LoadInput.model_validate({"execution": "e"}).as_of == datetime.now(UTC).date()


def test_given_an_unreadable_as_of_then_the_error_names_the_field() -> None:
    with pytest.raises(ValidationError, match="as_of"):
        LoadInput.model_validate({"execution": "e", "as_of": "first of October"})


@pytest.mark.parametrize(
    "execution",
    [
        "nightly-1",
        "3f5e2b9c-0d4a-4f1e-9a57-1c2d3e4f5a6b",
        "manual run by ops!! (retry #2) " + "x" * 60,
        "___",
        "Ωμέγα-ünïcode",
    ],
)
def test_given_an_execution_name_then_the_run_id_is_a_safe_sagemaker_name_and_repeats(execution: str) -> None:
    run_id = run_id_for(AS_OF, execution)

    assert run_id == run_id_for(AS_OF, execution)
    assert len(run_id) <= RUN_ID_MAX_LENGTH
    assert FeaturesInput.model_validate({"as_of": AS_OF, "run_id": run_id}).run_id == run_id
    assert run_id.startswith("20261001-")
    assert run_id != run_id_for(AS_OF, execution + "-2") != run_id_for(date(2026, 11, 1), execution)


def test_given_a_run_id_with_unsafe_characters_then_the_features_event_is_refused() -> None:
    with pytest.raises(ValidationError, match="run_id"):
        FeaturesInput.model_validate({"as_of": "2026-10-01", "run_id": "../2026 10"})
    assert RUN_ID_PATTERN.startswith("^")


def test_given_an_as_of_then_training_snapshots_have_mature_labels_and_an_out_of_time_holdout() -> None:
    plan = training_snapshots(AS_OF)
    mid_month = training_snapshots(date(2026, 10, 17))

    assert plan.holdout == date(2026, 4, 1)  # its 6-month labels closed on 2026-10-01
    assert plan.training == (date(2025, 8, 1), date(2025, 9, 1), date(2025, 10, 1))
    assert mid_month == plan


def test_given_the_worlds_snapshots_then_the_plan_is_the_one_the_demo_trains_on() -> None:
    world = [date(2025, m, 1) for m in range(4, 13)] + [date(2026, m, 1) for m in range(1, 4)]

    plan = out_of_time_snapshots(world)

    holdout = world[-1]  # the demo: the latest snapshot, and the last 3 whose labels close before it
    demo = [s for s in world if (s.year * 12 + s.month + 6) <= holdout.year * 12 + holdout.month][-3:]
    assert plan.holdout == holdout and list(plan.training) == demo


# ---- AUC, holdout sample, archives ---------------------------------------------------------------


def test_given_tied_scores_then_the_numpy_auc_equals_scikit_learns() -> None:
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 500)
    scores = np.round(rng.random(500) + 0.3 * y, 1)  # many ties

    assert roc_auc(y, scores) == pytest.approx(roc_auc_score(y, scores), abs=1e-12)
    with pytest.raises(ValueError, match="both classes"):
        roc_auc(np.zeros(5, dtype=int), np.arange(5.0))


def test_given_many_rows_then_the_holdout_sample_is_stratified_bounded_and_repeatable(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    labels = (rng.random(10_000) < 0.03).astype(int)
    features = rng.normal(size=(10_000, len(FEATURE_NAMES))).astype(np.float32)

    first = stratified_sample(labels, 1_000, seed=7)
    path = save_holdout(tmp_path, features, labels, seed=7, snapshot="2026-04-01", max_rows=1_000)
    holdout = load_holdout(path)

    assert len(first) == 1_000 and np.array_equal(first, stratified_sample(labels, 1_000, seed=7))
    assert labels[first].sum() == round(labels.sum() / 10)  # the bad share kept
    assert holdout.rows == 1_000 and holdout.snapshot == "2026-04-01"
    assert holdout.features.dtype == np.float32 and np.array_equal(holdout.features, features[first])
    assert np.array_equal(holdout.labels, labels[first])


def test_given_a_holdout_in_another_feature_order_then_it_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "holdout.npz"
    np.savez(
        path,
        features=np.zeros((2, len(FEATURE_NAMES)), np.float32),
        labels=np.array([0, 1]),
        feature_names=np.array(FEATURE_NAMES[::-1]),
        snapshot=np.array(""),
    )

    with pytest.raises(HoldoutError, match="feature order"):
        load_holdout(path)


def tar_with(path: Path, members: list[tuple[tarfile.TarInfo, bytes]]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for info, body in members:
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    return path


@pytest.mark.parametrize("name", ["../evil.txt", "credit/../../evil.txt", "/tmp/evil.txt"])
def test_given_a_member_outside_the_archive_when_extracted_then_it_is_refused_and_nothing_written(
    tmp_path: Path, name: str
) -> None:
    archive = tar_with(
        tmp_path / "model.tar.gz",
        [(tarfile.TarInfo("credit/model.onnx"), b"onnx"), (tarfile.TarInfo(name), b"pwned")],
    )

    with pytest.raises(ArtifactError, match="outside"):
        extract_archive(archive, tmp_path / "out")

    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "out" / "credit").exists()


def test_given_a_symlink_in_the_archive_when_extracted_then_it_is_refused(tmp_path: Path) -> None:
    link = tarfile.TarInfo("credit/model.onnx")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"

    with pytest.raises(ArtifactError, match="not a plain file"):
        extract_archive(tar_with(tmp_path / "model.tar.gz", [(link, b"")]), tmp_path / "out")


# ---- the steps on DuckDB and moto ------------------------------------------------------------------


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[PipelineDependencies]:
    """In-process moto with the lake and model buckets and the feature table; a DuckDB file warehouse."""
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN", c.ENV_REDSHIFT_WORKGROUP):
        monkeypatch.delenv(name, raising=False)
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "ap-south-1",
        c.ENV_LAKE_BUCKET: LAKE,
        c.ENV_MODEL_BUCKET: MODELS,
        c.ENV_FEATURE_TABLE: FEATURE_TABLE,
        c.ENV_POLICY_PARAMETER: POLICY_PARAMETER,
        c.ENV_WAREHOUSE_PATH: str(tmp_path / "warehouse" / "credo.duckdb"),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        deps = PipelineDependencies(CredoSettings())
        deps.s3.ensure_bucket(LAKE)
        deps.s3.ensure_bucket(MODELS)
        ensure_table(FEATURE_TABLE, hash_key=TOKEN_ATTRIBUTE)
        yield deps


def put_registrations(s3: S3Store, tokens: list[str], registered_at: datetime) -> None:
    """Raw registrations in the lake, as the miner writes them."""
    rows = [registration_row(token, registered_at) for token in tokens]
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows, schema=table_schema("registrations")), buffer)
    s3.put_bytes(
        LAKE, f"raw/registrations/dt={registered_at:%Y-%m-%d}/part-{tokens[0]}.parquet", buffer.getvalue()
    )


def test_given_raw_data_when_loaded_twice_then_the_warehouse_holds_it_once(aws: PipelineDependencies) -> None:
    put_registrations(aws.s3, [f"tok{i}" for i in range(5)], datetime(2024, 3, 1))

    first = load_warehouse(aws.warehouse, lake_bucket=LAKE, as_of=AS_OF, execution="nightly-1")
    again = load_warehouse(aws.warehouse, lake_bucket=LAKE, as_of=AS_OF, execution="nightly-1")

    assert first.loaded == again.loaded == {"registrations": 5}
    assert first.run_id == again.run_id == RUN_ID
    assert first.as_event() == {
        "as_of": "2026-10-01",
        "run_id": RUN_ID,
        "loaded": {"registrations": 5},
        "staged": {"registrations": 5},
    }


def test_given_a_loaded_warehouse_when_features_are_prepared_then_each_snapshot_is_unloaded_with_the_policy(
    aws: PipelineDependencies,
) -> None:
    put_registrations(aws.s3, [f"old{i}" for i in range(4)], datetime(2024, 3, 1))
    put_registrations(aws.s3, ["new0", "new1"], datetime(2025, 12, 15))  # after the training snapshots
    load_warehouse(aws.warehouse, lake_bucket=LAKE, as_of=AS_OF, execution="nightly-1")
    policy = Policy(version="p-9", credit_threshold=700, buying_threshold=500)
    ParameterStore.create().put(POLICY_PARAMETER, policy.model_dump_json())

    result = prepare_training(
        aws.warehouse,
        lake_bucket=LAKE,
        as_of=AS_OF,
        run_id=RUN_ID,
        policy_document=aws.policy_document(),
        policy_parameter=POLICY_PARAMETER,
        search_seconds=5,
        models=["logistic_regression"],
    )

    prefix = f"features/training/{RUN_ID}/"
    keys = sorted(aws.s3.list_keys(LAKE, prefix))
    unloaded = {
        key.split("/")[-2]: pq.read_table(io.BytesIO(aws.s3.get_bytes(LAKE, key))).to_pandas() for key in keys
    }
    assert result.training_data == f"s3://{LAKE}/{prefix}"
    assert [s.isoformat() for s in result.snapshots] == [
        "2025-08-01",
        "2025-09-01",
        "2025-10-01",
        "2026-04-01",
    ]
    assert sorted(unloaded) == [f"snapshot-{s}" for s in result.rows]
    for snapshot, count in result.rows.items():
        frame = unloaded[f"snapshot-{snapshot}"]
        assert len(frame) == count and {str(d) for d in frame["snapshot_date"]} == {snapshot}
        assert LABEL_CREDIT in frame.columns and list(frame.columns[2:-5]) == list(FEATURE_NAMES)
    assert result.rows == {"2025-08-01": 4, "2025-09-01": 4, "2025-10-01": 4, "2026-04-01": 6}
    assert result.hyperparameters == {
        "targets": "credit,buying",
        "seed": "42",
        "search_seconds": "5",
        "policy": policy.model_dump_json(),
        "models": "logistic_regression",
    }
    assert result.policy.version == "p-9" and POLICY_PARAMETER in result.policy.source


def test_given_no_policy_in_ssm_when_features_are_prepared_then_the_default_policy_is_used_and_said(
    aws: PipelineDependencies,
) -> None:
    put_registrations(aws.s3, ["a", "b"], datetime(2024, 3, 1))
    load_warehouse(aws.warehouse, lake_bucket=LAKE, as_of=AS_OF, execution="nightly-1")

    result = prepare_training(
        aws.warehouse,
        lake_bucket=LAKE,
        as_of=AS_OF,
        run_id=RUN_ID,
        policy_document=aws.policy_document(),
        policy_parameter=POLICY_PARAMETER,
    )

    assert Policy.model_validate_json(result.hyperparameters["policy"]) == DEFAULT_POLICY
    assert result.policy.source.startswith("default") and "not found" in result.policy.source
    assert result.hyperparameters["search_seconds"] == "60"


def test_given_an_empty_warehouse_when_features_are_prepared_then_the_error_says_what_to_do(
    aws: PipelineDependencies,
) -> None:
    load_warehouse(aws.warehouse, lake_bucket=LAKE, as_of=AS_OF, execution="nightly-1")

    with pytest.raises(NoTrainingDataError, match="load the lake first"):
        prepare_training(
            aws.warehouse,
            lake_bucket=LAKE,
            as_of=AS_OF,
            run_id=RUN_ID,
            policy_document=None,
            policy_parameter=POLICY_PARAMETER,
        )
    assert list(aws.s3.list_keys(LAKE, "features/")) == []


def test_given_a_loaded_warehouse_when_materialised_then_dynamodb_holds_each_customer_as_of(
    aws: PipelineDependencies, monkeypatch: pytest.MonkeyPatch
) -> None:
    put_registrations(aws.s3, ["a", "b", "c"], datetime(2024, 3, 1))
    load_warehouse(aws.warehouse, lake_bucket=LAKE, as_of=AS_OF, execution="nightly-1")
    monkeypatch.setattr(credo.materialize, "MATERIALISE_BATCH_ROWS", 2)  # two batches for three rows

    result = materialize_as_of(aws.warehouse, aws.feature_store, as_of=AS_OF, s3=aws.s3, lake_bucket=LAKE)

    record = OnlineFeatureStore.for_table(FEATURE_TABLE).get("b")
    assert result.as_event() == {"as_of": "2026-10-01", "customers_written": 3}
    assert record is not None and record.as_of == "2026-10-01" and record.values["tenure_days"] is not None
    # staged in the lake on the way: Parquet under features/online/<as_of>/, not a Data API result
    staged = list(aws.s3.list_keys(LAKE, "features/online/2026-10-01/"))
    assert staged and all(key.endswith(".parquet") or key.endswith("manifest") for key in staged)


# ---- evaluate and promote on tiny models ---------------------------------------------------------------


def credit_table(n_rows: int, seed: int, *, signal: float) -> pd.DataFrame:
    """Rows whose credit label depends on late bills with the given strength (0: pure noise)."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(n_rows, len(FEATURE_NAMES))), columns=list(FEATURE_NAMES))
    frame["bills_late_in_12months"] = rng.poisson(1.0, n_rows).astype(float)
    logit = -1.5 + signal * (frame["bills_late_in_12months"] - 1.0)
    frame[LABEL_CREDIT] = (rng.random(n_rows) < 1 / (1 + np.exp(-logit))).astype(float)
    return frame


@pytest.fixture(scope="module")
def holdout() -> pd.DataFrame:
    return credit_table(1_500, 9, signal=1.5)


def credit_model(seed: int, signal: float) -> TrainedModel:
    """A small credit model; `signal` sets how much its one informative feature tells."""
    return train_target(
        credit_table(2_000, seed, signal=signal),
        "credit",
        LABEL_CREDIT,
        seed=seed,
        params={"max_iter": 40},
        n_threads=1,
    )


@pytest.fixture(scope="module")
def strong() -> TrainedModel:
    return credit_model(1, signal=1.5)


@pytest.fixture(scope="module")
def weak() -> TrainedModel:
    return credit_model(2, signal=0.0)


def put_model_archive(
    s3: S3Store, model: TrainedModel, holdout: pd.DataFrame, directory: Path, uri: str
) -> str:
    """What SageMaker uploads after the job: SM_MODEL_DIR as model.tar.gz."""
    model_dir = directory / "model"
    write_model_artifacts(model, model_dir / "credit")
    x = holdout[list(FEATURE_NAMES)].to_numpy(dtype=np.float32)
    save_holdout(model_dir / "credit", x, holdout[LABEL_CREDIT].to_numpy(dtype=int), seed=1)
    (model_dir / "report.html").write_text(f"<html>{model.model_version}</html>")
    (model_dir / "report.json").write_text(json.dumps({"selected": model.model_version}))
    with tarfile.open(directory / "model.tar.gz", "w:gz") as tar:
        for path in sorted(model_dir.rglob("*")):
            tar.add(path, arcname=path.relative_to(model_dir).as_posix(), recursive=False)
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    s3.put_file(bucket, key, directory / "model.tar.gz")
    return uri


def models_objects(s3: S3Store) -> dict[str, bytes]:
    return {key: s3.get_bytes(MODELS, key) for key in s3.list_keys(MODELS, "credit/")}


def test_given_no_champion_when_evaluated_and_promoted_twice_then_one_version_is_registered_and_champion(
    aws: PipelineDependencies,
    strong: TrainedModel,
    holdout: pd.DataFrame,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    put_model_archive(aws.s3, strong, holdout, tmp_path, ARTIFACTS)

    evaluation = evaluate(aws, ARTIFACTS)
    request = PromoteInput.model_validate(evaluation.as_event())  # evaluate's output is promote's input
    first = promote(aws, request.evaluation, ARTIFACTS)
    after_first = models_objects(aws.s3)
    for method in ("register", "promote"):  # a re-run may do neither
        monkeypatch.setattr(aws.registry, method, lambda *args, **kwargs: pytest.fail("written twice"))
    again = promote(aws, request.evaluation, ARTIFACTS)

    verdict = evaluation.evaluation["credit"]
    assert verdict.challenger_version == strong.model_version and verdict.champion_version is None
    assert verdict.promote and verdict.challenger_auc > 0.7 and verdict.holdout_rows == 1_500
    assert first.registered["credit"].promoted and not first.registered["credit"].already_registered
    assert again.registered["credit"].promoted and again.registered["credit"].already_registered
    assert models_objects(aws.s3) == after_first  # the reports re-attached byte for byte
    registry = ModelRegistry.for_bucket(MODELS, s3=aws.s3)
    assert [v["model_version"] for v in registry.versions("credit")] == [strong.model_version]
    assert registry.champion("credit") is not None
    assert registry.attachment("credit", strong.model_version, "report.html") == (
        f"<html>{strong.model_version}</html>".encode()
    )


def test_given_a_champion_when_a_weaker_challenger_is_evaluated_then_it_is_registered_but_not_promoted(
    aws: PipelineDependencies, strong: TrainedModel, weak: TrainedModel, holdout: pd.DataFrame, tmp_path: Path
) -> None:
    aws.registry.register(strong, promote=True)
    uri = put_model_archive(aws.s3, weak, holdout, tmp_path, ARTIFACTS)

    evaluation = evaluate(aws, uri)
    promoted = promote(aws, evaluation.evaluation, uri)

    verdict = evaluation.evaluation["credit"]
    assert verdict.champion_version == strong.model_version and not verdict.promote
    assert verdict.champion_auc is not None and verdict.champion_auc > verdict.challenger_auc
    assert "stays" in verdict.reason
    assert promoted.registered["credit"].promoted is False
    champion = aws.registry.champion("credit")
    assert champion is not None and champion.model_version == strong.model_version
    assert {v["model_version"] for v in aws.registry.versions("credit")} == {
        strong.model_version,
        weak.model_version,
    }


def test_given_an_evaluation_of_another_model_when_promoted_then_it_is_refused(
    aws: PipelineDependencies, strong: TrainedModel, holdout: pd.DataFrame, tmp_path: Path
) -> None:
    put_model_archive(aws.s3, strong, holdout, tmp_path, ARTIFACTS)
    evaluation = EvaluateOutput.model_validate(
        {
            "run_id": RUN_ID,
            "as_of": AS_OF,
            "model_artifacts": ARTIFACTS,
            "evaluation": {
                "credit": {
                    "challenger_version": "credit-other",
                    "challenger_auc": 0.8,
                    "champion_version": None,
                    "champion_auc": None,
                    "promote": True,
                    "reason": "r",
                    "holdout_rows": 1,
                }
            },
        }
    )

    with pytest.raises(ArtifactError, match="credit-other"):
        promote(aws, evaluation.evaluation, ARTIFACTS)
    assert aws.registry.champion("credit") is None


# ---- dependencies and layers ----------------------------------------------------------------------------


def test_given_no_warehouse_configured_then_the_error_names_what_to_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in (c.ENV_REDSHIFT_WORKGROUP, c.ENV_WAREHOUSE_PATH):
        monkeypatch.delenv(name, raising=False)

    with pytest.raises(PipelineConfigError) as raised:
        _ = PipelineDependencies(CredoSettings(), s3=S3Store(client=None)).warehouse

    assert c.ENV_REDSHIFT_WORKGROUP in str(raised.value) and c.ENV_WAREHOUSE_PATH in str(raised.value)


def test_given_a_redshift_workgroup_then_the_warehouse_is_redshift_and_needs_the_copy_role(
    aws: PipelineDependencies, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(c.ENV_REDSHIFT_WORKGROUP, "credo-dev")
    without_role = PipelineDependencies(CredoSettings(), s3=aws.s3)
    monkeypatch.setenv(c.ENV_REDSHIFT_ROLE_ARN, "arn:aws:iam::123456789012:role/credo-redshift")

    with pytest.raises(PipelineConfigError, match=c.ENV_REDSHIFT_ROLE_ARN):
        _ = without_role.warehouse
    assert isinstance(PipelineDependencies(CredoSettings(), s3=aws.s3).warehouse, RedshiftWarehouse)
    assert isinstance(aws.warehouse, DuckDBWarehouse)


LAYER_RULES = {
    # the runtime layer: onnxruntime and numpy, none of the data or training stack
    "pipeline_evaluate": (
        "sklearn",
        "skl2onnx",
        "pandas",
        "pyarrow",
        "sqlglot",
        "duckdb",
        "scipy",
        "sqlalchemy",
    ),
    "pipeline_promote": (
        "sklearn",
        "skl2onnx",
        "pandas",
        "pyarrow",
        "sqlglot",
        "duckdb",
        "scipy",
        "sqlalchemy",
    ),
    # the data layer: pyarrow and sqlglot, no onnxruntime (and duckdb only for a local warehouse)
    "pipeline_load": ("onnxruntime", "sklearn", "pandas", "duckdb", "tqdm"),
    "pipeline_features": ("onnxruntime", "sklearn", "pandas", "duckdb", "tqdm"),
    "pipeline_materialize": ("onnxruntime", "sklearn", "pandas", "duckdb", "tqdm"),
}


@pytest.mark.parametrize("function", sorted(LAYER_RULES))
def test_given_a_pipeline_handler_when_imported_then_nothing_outside_its_layer_comes_with_it(
    function: str,
) -> None:
    path = str(ROOT / "functions" / function / "handler.py")
    probe = (
        "import importlib.util, json, sys\n"
        f"spec = importlib.util.spec_from_file_location('handler', {path!r})\n"
        "spec.loader.exec_module(importlib.util.module_from_spec(spec))\n"
        f"print(json.dumps([m for m in {LAYER_RULES[function]!r} if m in sys.modules]))\n"
    )

    loaded = json.loads(
        subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    )

    assert loaded == []
