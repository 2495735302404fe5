"""Training pipeline, step 2: UNLOAD the labelled training snapshots and name the job's hyperparameters.

Thin: parse {"as_of", "run_id"} (optionally "seed", "search_seconds", "models", "targets"), read
the policy from SSM, call credo.pipeline.features.prepare_training.
"""

from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from credo.observability import ENVIRONMENT_DIMENSION, logger, metrics, tracer
from credo.pipeline.dependencies import PipelineDependencies
from credo.pipeline.events import FeaturesInput
from credo.pipeline.features import prepare_training
from credo.settings import CredoSettings


@cache
def dependencies() -> PipelineDependencies:
    """Built on the first event, kept by the execution environment for the next ones."""
    return PipelineDependencies(CredoSettings())


@logger.inject_lambda_context(log_event=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse(event=event, model=FeaturesInput)
    deps = dependencies()
    result = prepare_training(
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
    metrics.add_dimension(name=ENVIRONMENT_DIMENSION, value=deps.settings.environment)
    metrics.add_metric(name="TrainingRows", unit=MetricUnit.Count, value=sum(result.rows.values()))
    metrics.add_metric(name="TrainingSnapshots", unit=MetricUnit.Count, value=len(result.snapshots))
    output = result.as_event()
    # the policy document is long and already in SSM: the log keeps its version and source
    logger.info("training data unloaded", extra={k: v for k, v in output.items() if k != "hyperparameters"})
    return output
