"""Pipeline step 2: the labelled training set, UNLOADed from the warehouse for the training job.

Point-in-time features and labels at each training snapshot and at the out-of-time holdout
(credo.pipeline.runs.training_snapshots: only snapshots whose 6-month labels are known by the
as-of date), one Parquet folder per snapshot under s3://<lake>/features/training/<run_id>/, the
"train" channel of the SageMaker job. The policy in force goes to the job as a hyperparameter: its
economics price the threshold proposals in the training report.
"""

from collections.abc import Sequence
from datetime import date
from typing import Final

from credo import constants as c
from credo.constants import TARGETS
from credo.pipeline.events import (
    DEFAULT_SEARCH_SECONDS,
    DEFAULT_SEED,
    FeaturesOutput,
    PolicyUsed,
)
from credo.pipeline.runs import training_snapshots
from credo.policy import DEFAULT_POLICY, Policy, parse_policy
from credo.warehouse.protocol import Warehouse
from credo.warehouse.sql import FEATURES_SQL, read_sql

TRAINING_FOLDER: Final = "training"
MAX_HYPERPARAMETER_LENGTH: Final = 2_500  # SageMaker's limit on one hyperparameter value
# The feature SQL returns one row per customer registered before the snapshot: counting them is
# cheap, where counting the unloaded rows would mean reading the Parquet back.
_CUSTOMERS_SQL: Final = (
    "SELECT COUNT(DISTINCT token) AS n FROM registrations WHERE registered_at < CAST(:as_of AS DATE)"
)


class NoTrainingDataError(ValueError):
    """The warehouse holds no customers at the snapshots this run would train on."""


def training_data_uri(lake_bucket: str, run_id: str) -> str:
    return f"s3://{lake_bucket}/{c.FEATURES_PREFIX}/{TRAINING_FOLDER}/{run_id}/"


def policy_in_force(document: str | None, parameter: str) -> tuple[Policy, PolicyUsed]:
    """The policy stored in SSM, or the default one when the parameter does not exist (said so)."""
    if document is None:
        return DEFAULT_POLICY, PolicyUsed(
            version=DEFAULT_POLICY.version, source=f"default: SSM parameter {parameter} not found"
        )
    policy = parse_policy(document)  # a broken policy stops the run here, not in the training job
    return policy, PolicyUsed(version=policy.version, source=f"SSM parameter {parameter}")


def prepare_training(
    warehouse: Warehouse,
    *,
    lake_bucket: str,
    as_of: date,
    run_id: str,
    policy_document: str | None,
    policy_parameter: str,
    seed: int = DEFAULT_SEED,
    search_seconds: float = DEFAULT_SEARCH_SECONDS,
    models: Sequence[str] = (),
    targets: Sequence[str] = TARGETS,
) -> FeaturesOutput:
    """UNLOAD the features and labels of the run's snapshots; return where, and the job's hyperparameters."""
    plan = training_snapshots(as_of)
    policy, used = policy_in_force(policy_document, policy_parameter)
    hyperparameters = {
        "targets": ",".join(targets),
        "seed": str(seed),
        "search_seconds": f"{search_seconds:g}",
        "policy": policy.model_dump_json(),
    }
    if models:
        hyperparameters["models"] = ",".join(models)
    too_long = sorted(
        name for name, value in hyperparameters.items() if len(value) > MAX_HYPERPARAMETER_LENGTH
    )
    if too_long:
        raise ValueError(
            f"hyperparameters {too_long} exceed SageMaker's {MAX_HYPERPARAMETER_LENGTH} characters"
        )
    rows = {snapshot: _customers_before(warehouse, snapshot) for snapshot in plan.all}
    if rows[plan.holdout] == 0 or not any(rows[s] for s in plan.training):
        raise NoTrainingDataError(
            f"no customers registered before the holdout {plan.holdout} or before the training snapshots "
            f"{', '.join(map(str, plan.training))}: load the lake first, or choose a later as_of than {as_of}"
        )
    destination = training_data_uri(lake_bucket, run_id)
    features_sql = read_sql(FEATURES_SQL)
    for snapshot in plan.all:
        # one folder per snapshot: each UNLOAD replaces only its own (CLEANPATH), so a retry is whole
        warehouse.unload_parquet(features_sql, {"as_of": snapshot}, f"{destination}snapshot-{snapshot}/")
    return FeaturesOutput(
        as_of=as_of,
        run_id=run_id,
        training_data=destination,
        snapshots=list(plan.all),
        holdout_snapshot=plan.holdout,
        rows={snapshot.isoformat(): count for snapshot, count in rows.items()},
        hyperparameters=hyperparameters,
        policy=used,
    )


def _customers_before(warehouse: Warehouse, snapshot: date) -> int:
    return int(warehouse.query(_CUSTOMERS_SQL, {"as_of": snapshot}).column("n")[0].as_py())
