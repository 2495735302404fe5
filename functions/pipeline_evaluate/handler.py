"""Training pipeline, step 4: each challenger against its champion on the out-of-time holdout.

Thin: parse {"run_id", "as_of", "model_artifacts"}, call credo.pipeline.evaluate.evaluate_models.
Runs on the runtime layer (onnxruntime, numpy): no scikit-learn, pandas or pyarrow is imported.
"""

from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from credo.observability import ENVIRONMENT_DIMENSION, logger, metrics, tracer
from credo.pipeline.dependencies import PipelineDependencies
from credo.pipeline.evaluate import evaluate_models
from credo.pipeline.events import EvaluateInput
from credo.settings import CredoSettings


@cache
def dependencies() -> PipelineDependencies:
    """Built on the first event, kept by the execution environment for the next ones."""
    return PipelineDependencies(CredoSettings())


@logger.inject_lambda_context(log_event=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse(event=event, model=EvaluateInput)
    deps = dependencies()
    result = evaluate_models(
        s3=deps.s3,
        registry=deps.registry,
        run_id=request.run_id,
        as_of=request.as_of,
        model_artifacts=request.model_artifacts,
    )
    promotions = sum(1 for verdict in result.evaluation.values() if verdict.promote)
    metrics.add_dimension(name=ENVIRONMENT_DIMENSION, value=deps.settings.environment)
    metrics.add_metric(name="ModelsEvaluated", unit=MetricUnit.Count, value=len(result.evaluation))
    metrics.add_metric(name="PromotionsRecommended", unit=MetricUnit.Count, value=promotions)
    output = result.as_event()
    logger.info("evaluated", extra=output)
    return output
