"""Training pipeline, step 1: create the warehouse tables if missing and load every source of the lake.

Thin: parse {"as_of"?, "execution"}, call credo.pipeline.load.load_warehouse, report rows as metrics.
"""

from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from credo.observability import ENVIRONMENT_DIMENSION, logger, metrics, tracer
from credo.pipeline.dependencies import PipelineDependencies
from credo.pipeline.events import LoadInput
from credo.pipeline.load import load_warehouse
from credo.settings import CredoSettings


@cache
def dependencies() -> PipelineDependencies:
    """Built on the first event, kept by the execution environment for the next ones."""
    return PipelineDependencies(CredoSettings())


@logger.inject_lambda_context(log_event=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse(event=event, model=LoadInput)
    deps = dependencies()
    result = load_warehouse(
        deps.warehouse,
        lake_bucket=deps.settings.lake_bucket,
        as_of=request.as_of,
        execution=request.execution,
    )
    metrics.add_dimension(name=ENVIRONMENT_DIMENSION, value=deps.settings.environment)
    metrics.add_metric(name="RowsLoaded", unit=MetricUnit.Count, value=sum(result.staged.values()))
    metrics.add_metric(name="WarehouseRows", unit=MetricUnit.Count, value=sum(result.loaded.values()))
    output = result.as_event()
    logger.info("loaded", extra=output)
    return output
