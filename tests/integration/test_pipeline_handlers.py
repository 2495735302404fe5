"""The training pipeline through its five Lambda handlers, as Step Functions chains them, on a small world.

moto stands in for AWS, a DuckDB file for Redshift, and the training job runs in process with
SageMaker's conventions (channel directory, hyperparameters.json, SM_MODEL_DIR → model.tar.gz).
"""

import contextlib
import importlib.util
import io
import json
import tarfile
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from pydantic import ValidationError

from credo import constants as c
from credo.adapters.dynamodb import ensure_table
from credo.adapters.s3 import S3Store, split_s3_uri
from credo.adapters.ssm import ParameterStore
from credo.fake_bureau import FIXTURE_PATH, FakeBureau
from credo.local import LocalLambdaContext, drop_world_files, load_handler, scheduled_event
from credo.miners import MINERS
from credo.online_store import TOKEN_ATTRIBUTE, OnlineFeatureStore
from credo.policy import Policy
from credo.registry import ModelRegistry
from credo.settings import CredoSettings
from credo.synthetic import WorldConfig, generate_world
from credo.warehouse import count_rows
from credo.warehouse.duckdb import DuckDBWarehouse

Aws = Any  # tests/integration/conftest.py

ROOT = Path(__file__).resolve().parents[2]
# 20 months: the holdout (as_of − 6 months) and three training snapshots before it all have history.
WORLD = WorldConfig(customers=2_000, seed=11, months=20)
MODEL_BUCKET = "credo-models-test"
FEATURE_TABLE = "credo-features-test"
POLICY_PARAMETER = "/credo/test/policy"
DROPS_BUCKET = "credo-drops-test"
LINKAGE_SECRET = "credo/linkage-key-test"
BUREAU_SECRET = "credo/bureau-test"
EXECUTION = "3f5e2b9c-0d4a-4f1e-9a57-1c2d3e4f5a6b"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("world")
    generate_world(WORLD, out, progress=False)
    return out


@pytest.fixture
def pipeline_env(aws: Aws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What the pipeline's Lambdas are configured with, and the resources they use."""
    env = {
        c.ENV_MODEL_BUCKET: MODEL_BUCKET,
        c.ENV_FEATURE_TABLE: FEATURE_TABLE,
        c.ENV_POLICY_PARAMETER: POLICY_PARAMETER,
        c.ENV_WAREHOUSE_PATH: str(tmp_path / "warehouse.duckdb"),
        "POWERTOOLS_METRICS_NAMESPACE": "CredoTest",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv(c.ENV_REDSHIFT_WORKGROUP, raising=False)
    aws.s3.ensure_bucket(MODEL_BUCKET)
    ensure_table(FEATURE_TABLE, hash_key=TOKEN_ATTRIBUTE)


@pytest.fixture
def mined_lake(
    aws: Aws, pipeline_env: None, world: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[datetime]:
    """Every miner run once at the world's end, through its handler; returns when they ran."""
    env = {
        c.ENV_SOURCE_DB_URL: f"sqlite:///{world / 'operational.sqlite'}",
        c.ENV_DROPS_BUCKET: DROPS_BUCKET,
        c.ENV_LINKAGE_SECRET_NAME: LINKAGE_SECRET,
        c.ENV_BUREAU_SECRET_NAME: BUREAU_SECRET,
        c.ENV_BUREAU_BACKOFF: "0.001",
        c.ENV_BUREAU_RATE_LIMIT: "1000",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    aws.s3.ensure_bucket(DROPS_BUCKET)
    aws.secrets.ensure_random_hex(LINKAGE_SECRET)
    drop_world_files(world, CredoSettings())
    end = datetime.fromisoformat(json.loads((world / "world.json").read_text())["config"]["end"])
    when = end.replace(hour=2, tzinfo=UTC)  # the schedules fire at 02:00 UTC on the 1st
    with FakeBureau(world / FIXTURE_PATH, api_key="test", lookup_key=bytes(range(32)), seed=1) as bureau:
        aws.secrets.put_string(BUREAU_SECRET, bureau.secret_json())
        with contextlib.redirect_stdout(io.StringIO()):  # the metric lines
            for source in MINERS:
                load_handler(f"mine_{source}").handler(
                    scheduled_event(f"credo-mine-{source}", when), context()
                )
    yield when


def context() -> LocalLambdaContext:
    return LocalLambdaContext(function_name="credo-pipeline-test")


def invoke(function: str, event: dict[str, Any]) -> dict[str, Any]:
    """One handler call in a fresh execution environment, its result through JSON."""
    result = load_handler(function).handler(event, context())
    return dict(json.loads(json.dumps(result)))


def training_job() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "credo_pipeline_training_job", ROOT / "training" / "train.py"
    )
    assert spec is not None and spec.loader is not None
    job = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(job)
    return job


def run_training_job(
    s3: S3Store, training_data: str, hyperparameters: dict[str, str], opt_ml: Path, output: str
) -> str:
    """As SageMaker: download the channel, run training/train.py, upload SM_MODEL_DIR as model.tar.gz."""
    channel, model_dir, config = opt_ml / "input/data/train", opt_ml / "model", opt_ml / "input/config"
    bucket, prefix = split_s3_uri(training_data)
    for key in s3.list_keys(bucket, prefix):
        s3.download(bucket, key, channel / key[len(prefix) :])
    config.mkdir(parents=True)
    (config / "hyperparameters.json").write_text(json.dumps(hyperparameters))
    job = training_job()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SM_CHANNEL_TRAIN", str(channel))
        patch.setenv("SM_MODEL_DIR", str(model_dir))
        patch.setattr(job, "HYPERPARAMETERS_FILE", config / "hyperparameters.json")
        assert job.main() == 0
    archive = opt_ml / "output" / "model.tar.gz"
    archive.parent.mkdir(parents=True)
    with tarfile.open(archive, "w:gz") as tar:
        for path in sorted(model_dir.rglob("*")):
            tar.add(path, arcname=path.relative_to(model_dir).as_posix(), recursive=False)
    bucket, key = split_s3_uri(output)
    s3.put_file(bucket, key, archive)
    return output


def test_given_a_mined_lake_when_the_five_steps_run_then_models_are_champions_and_features_are_online(
    aws: Aws, mined_lake: datetime, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    as_of = mined_lake.date()
    policy = Policy(version="ops-3", credit_threshold=660, buying_threshold=540)
    ParameterStore.create().put(POLICY_PARAMETER, policy.model_dump_json())

    # Given the lake, when the state machine runs load and features (its input: EventBridge's time)
    loaded = invoke(
        "pipeline_load", {"as_of": mined_lake.strftime("%Y-%m-%dT%H:%M:%SZ"), "execution": EXECUTION}
    )
    reloaded = invoke("pipeline_load", {"as_of": loaded["as_of"], "execution": EXECUTION})
    # a quick job: one zoo model, no hyperparameter search
    quick = {"search_seconds": 0, "models": ["logistic_regression"]}
    features = invoke("pipeline_features", {"as_of": loaded["as_of"], "run_id": loaded["run_id"], **quick})

    # then the tables are loaded once and the labelled snapshots are in the lake
    with DuckDBWarehouse(tmp_path / "warehouse.duckdb") as warehouse:
        registrations = count_rows(warehouse, "registrations")
    assert loaded["as_of"] == as_of.isoformat() and loaded == reloaded
    assert (
        set(loaded["loaded"]) == set(MINERS) and loaded["loaded"]["registrations"] == registrations == 2_000
    )
    run_id = loaded["run_id"]
    prefix = f"features/training/{run_id}/"
    assert features["training_data"] == f"s3://{aws.lake_bucket}/{prefix}"
    parts = sorted(aws.s3.list_keys(aws.lake_bucket, prefix))
    assert len(parts) == len(features["snapshots"]) == 4 and all(p.endswith(".parquet") for p in parts)
    assert features["holdout_snapshot"] == features["snapshots"][-1]
    assert features["policy"]["version"] == "ops-3"
    hyperparameters = features["hyperparameters"]
    assert Policy.model_validate_json(hyperparameters["policy"]) == policy
    assert hyperparameters["targets"] == "credit,buying"

    # when SageMaker trains, then evaluate compares each challenger with (no) champion
    artifacts = run_training_job(
        aws.s3,
        features["training_data"],
        {**hyperparameters, "n_threads": "1"},
        tmp_path / "opt" / "ml",
        f"s3://{MODEL_BUCKET}/training-jobs/{run_id}/output/model.tar.gz",
    )
    evaluated = invoke(
        "pipeline_evaluate", {"run_id": run_id, "as_of": features["as_of"], "model_artifacts": artifacts}
    )
    for target in ("credit", "buying"):
        verdict = evaluated["evaluation"][target]
        assert 0.5 < verdict["challenger_auc"] <= 1.0, verdict
        assert verdict["champion_version"] is None and verdict["champion_auc"] is None
        assert verdict["promote"] is True and verdict["holdout_rows"] > 0

    # when promote runs (and Step Functions retries it), then each challenger is champion, once
    promoted = invoke("pipeline_promote", evaluated)
    objects = {key: aws.s3.get_bytes(MODEL_BUCKET, key) for key in aws.s3.list_keys(MODEL_BUCKET, "credit/")}
    promoted_again = invoke("pipeline_promote", evaluated)
    registry = ModelRegistry.for_bucket(MODEL_BUCKET, s3=aws.s3)
    for target in ("credit", "buying"):
        version = evaluated["evaluation"][target]["challenger_version"]
        first, again = promoted["registered"][target], promoted_again["registered"][target]
        assert (first["version"], first["promoted"], first["already_registered"]) == (version, True, False)
        assert (again["version"], again["promoted"], again["already_registered"]) == (version, True, True)
        champion = registry.champion(target)
        assert champion is not None and champion.model_version == version
        assert [v["model_version"] for v in registry.versions(target)] == [version]
        assert set(registry.versions(target)[0]["files"]) >= {"model.onnx", "report.html", "report.json"}
    assert {
        key: aws.s3.get_bytes(MODEL_BUCKET, key) for key in aws.s3.list_keys(MODEL_BUCKET, "credit/")
    } == objects

    # when materialize runs on promote's output, then DynamoDB holds every customer's as-of features
    materialized = invoke("pipeline_materialize", promoted)
    assert materialized == {"as_of": as_of.isoformat(), "customers_written": registrations}
    with DuckDBWarehouse(tmp_path / "warehouse.duckdb") as warehouse:
        some_token = warehouse.query("SELECT MIN(token) AS t FROM registrations").column("t")[0].as_py()
    record = OnlineFeatureStore.for_table(FEATURE_TABLE).get(some_token)
    assert record is not None and record.as_of == as_of.isoformat()
    assert '"ModelsPromoted"' in capsys.readouterr().out  # the handlers' metric lines (EMF)


@pytest.mark.parametrize(
    ("function", "event", "field"),
    [
        ("pipeline_load", {"as_of": "2026-10-01"}, "execution"),
        ("pipeline_features", {"as_of": "2026-10-01", "run_id": "a b"}, "run_id"),
        (
            "pipeline_evaluate",
            {"run_id": "r", "as_of": "2026-10-01", "model_artifacts": "/tmp/x"},
            "model_artifacts",
        ),
        (
            "pipeline_promote",
            {"run_id": "r", "as_of": "2026-10-01", "model_artifacts": "s3://b/m.tar.gz"},
            "evaluation",
        ),
        ("pipeline_materialize", {"as_of": "yesterday"}, "as_of"),
    ],
)
def test_given_a_malformed_event_when_a_step_is_invoked_then_the_error_names_the_field(
    aws_environment: None, function: str, event: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError, match=field):
        load_handler(function).handler(event, context())


def test_given_an_empty_lake_when_load_and_features_run_then_features_stop_and_say_why(
    aws: Aws, pipeline_env: None
) -> None:
    loaded = invoke("pipeline_load", {"as_of": "2026-10-01", "execution": EXECUTION})

    with pytest.raises(ValueError, match="load the lake first, or choose a later as_of"):
        invoke("pipeline_features", {"as_of": loaded["as_of"], "run_id": loaded["run_id"]})
    assert list(aws.s3.list_keys(aws.lake_bucket, "features/")) == []
    assert loaded["loaded"] == {} and date.fromisoformat(loaded["as_of"]) == date(2026, 10, 1)
