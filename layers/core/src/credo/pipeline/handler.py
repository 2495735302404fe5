"""The Lambda handler of a training-pipeline step: functions/pipeline_<step>/handler.py builds it here.

Thin: parse the event into the step's input model (a bad event is a validation error naming the
field), call the step with the execution environment's dependencies, count what it did as metrics,
log and return its output event. Imports nothing heavy itself: each handler file brings its step.
"""

from collections.abc import Callable, Collection, Mapping
from functools import cache
from typing import Any, Protocol, TypeVar

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from credo.observability import ENVIRONMENT_DIMENSION, logger, metrics, tracer
from credo.pipeline.dependencies import PipelineDependencies
from credo.settings import CredoSettings


class StepOutput(Protocol):
    def as_event(self) -> dict[str, Any]: ...


RequestT = TypeVar("RequestT", bound=BaseModel)
OutputT = TypeVar("OutputT", bound=StepOutput)
Handler = Callable[[dict[str, Any], LambdaContext], dict[str, Any]]


def step_handler(
    request_model: type[RequestT],
    step: Callable[[PipelineDependencies, RequestT], OutputT],
    *,
    counts: Callable[[OutputT], Mapping[str, int]],
    message: str,
    unlogged: Collection[str] = (),
) -> Handler:
    """A handler running `step`, emitting `counts(output)` as Count metrics; `unlogged` output keys stay
    out of the log line. Each handler built here is one execution environment: its dependencies are
    built on its first event and kept for the next ones."""

    @cache
    def dependencies() -> PipelineDependencies:
        return PipelineDependencies(CredoSettings())

    # The pipeline's events carry dates, run ids, S3 URIs and figures, never a customer's data.
    @logger.inject_lambda_context(log_event=True)
    @tracer.capture_lambda_handler
    @metrics.log_metrics
    def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        request = parse(event=event, model=request_model)
        deps = dependencies()
        output = step(deps, request)
        metrics.add_dimension(name=ENVIRONMENT_DIMENSION, value=deps.settings.environment)
        for name, value in counts(output).items():
            metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
        event_out = output.as_event()
        logger.info(message, extra={key: value for key, value in event_out.items() if key not in unlogged})
        return event_out

    return handler
