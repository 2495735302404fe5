"""Training pipeline, step 2: UNLOAD the labelled training snapshots and name the job's hyperparameters.

Thin: {"as_of", "run_id"} (optionally "seed", "search_seconds", "models", "targets") and the policy
from SSM → credo.pipeline.features.prepare_training → {"training_data", "hyperparameters", …}.
"""

from credo.pipeline.dependencies import PipelineDependencies
from credo.pipeline.events import FeaturesInput, FeaturesOutput
from credo.pipeline.features import prepare_training
from credo.pipeline.handler import step_handler


def features(deps: PipelineDependencies, request: FeaturesInput) -> FeaturesOutput:
    return prepare_training(
        deps.warehouse,
        lake_bucket=deps.settings.lake_bucket,
        as_of=request.as_of,
        run_id=request.run_id,
        policy_document=deps.policy_document(),
        policy_parameter=deps.settings.policy_parameter,
        seed=request.seed,
        search_seconds=request.search_seconds,
        models=request.models,
        targets=request.targets,
    )


handler = step_handler(
    FeaturesInput,
    features,
    counts=lambda out: {"TrainingRows": sum(out.rows.values()), "TrainingSnapshots": len(out.snapshots)},
    message="training data unloaded",
    # the policy document is long and already in SSM: the log keeps its version and source
    unlogged=("hyperparameters",),
)
