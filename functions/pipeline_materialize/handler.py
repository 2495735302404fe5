"""Training pipeline, step 6: write the as-of features of every customer to the DynamoDB online store.

Thin: parse {"as_of"}, call credo.pipeline.materialize.materialize_as_of.
"""

from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from credo.observability import ENVIRONMENT_DIMENSION, logger, metrics, tracer
from credo.pipeline.dependencies import PipelineDependencies
from credo.pipeline.events import MaterializeInput
from credo.pipeline.materialize import materialize_as_of
from credo.settings import CredoSettings


@cache
def dependencies() -> PipelineDependencies:
    """Built on the first event, kept by the execution environment for the next ones."""
    return PipelineDependencies(CredoSettings())


@logger.inject_lambda_context(log_event=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse(event=event, model=MaterializeInput)
    deps = dependencies()
    result = materialize_as_of(deps.warehouse, deps.feature_store, as_of=request.as_of)
    metrics.add_dimension(name=ENVIRONMENT_DIMENSION, value=deps.settings.environment)
    metrics.add_metric(name="CustomersMaterialized", unit=MetricUnit.Count, value=result.customers_written)
    output = result.as_event()
    logger.info("materialised", extra=output)
    return output
