"""Training pipeline, step 5: register each challenger; move the champion where evaluation says so.

Thin: parse evaluate's output, call credo.pipeline.promote.promote_models. Runs on the runtime
layer: no scikit-learn, pandas or pyarrow is imported.
"""

from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from credo.observability import ENVIRONMENT_DIMENSION, logger, metrics, tracer
from credo.pipeline.dependencies import PipelineDependencies
from credo.pipeline.events import PromoteInput
from credo.pipeline.promote import promote_models
from credo.settings import CredoSettings


@cache
def dependencies() -> PipelineDependencies:
    """Built on the first event, kept by the execution environment for the next ones."""
    return PipelineDependencies(CredoSettings())


@logger.inject_lambda_context(log_event=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse(event=event, model=PromoteInput)
    deps = dependencies()
    result = promote_models(
        s3=deps.s3,
        registry=deps.registry,
        run_id=request.run_id,
        as_of=request.as_of,
        model_artifacts=request.model_artifacts,
        evaluation=request.evaluation,
    )
    registered = result.registered.values()
    metrics.add_dimension(name=ENVIRONMENT_DIMENSION, value=deps.settings.environment)
    metrics.add_metric(
        name="ModelsRegistered",
        unit=MetricUnit.Count,
        value=sum(not r.already_registered for r in registered),
    )
    metrics.add_metric(
        name="ModelsPromoted", unit=MetricUnit.Count, value=sum(r.promoted for r in registered)
    )
    output = result.as_event()
    logger.info("promoted", extra=output)
    return output
