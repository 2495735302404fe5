"""The scheduled-mining Lambda handler, one per source: functions/mine_<source>/handler.py builds it here.

Thin: parse the EventBridge event, call credo.mining.mine once, report counts as metrics.
"""

from collections.abc import Callable
from functools import cache
from typing import Any, Final

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from aws_lambda_powertools.utilities.typing import LambdaContext

from credo.miners import MiningDependencies, run_miner
from credo.observability import ENVIRONMENT_DIMENSION, logger, metrics, tracer
from credo.settings import CredoSettings

# Stop starting new batches when less time than this is left; the next run resumes.
RESERVE_MILLIS: Final = 120_000

Handler = Callable[[dict[str, Any], LambdaContext], dict[str, Any]]


def mining_handler(source: str) -> Handler:
    """The Lambda handler that mines `source` on each scheduled event.

    Each handler built here is one execution environment: its dependencies (clients, source
    connection, HMAC key) are built on its first event and kept for the next ones.
    """

    @cache
    def dependencies() -> MiningDependencies:
        return MiningDependencies(CredoSettings())

    @logger.inject_lambda_context(log_event=False)
    @tracer.capture_lambda_handler
    @metrics.log_metrics
    def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        scheduled = parse(event=event, model=EventBridgeModel)
        result = run_miner(
            source,
            dependencies(),
            now=scheduled.time,
            should_stop=lambda: context.get_remaining_time_in_millis() < RESERVE_MILLIS,
        )
        metrics.add_dimension(name="source", value=source)
        metrics.add_dimension(name=ENVIRONMENT_DIMENSION, value=dependencies().settings.environment)
        metrics.add_metric(name="RowsMined", unit=MetricUnit.Count, value=result.good)
        metrics.add_metric(name="RowsQuarantined", unit=MetricUnit.Count, value=result.quarantined)
        for name, value in result.details.items():
            metrics.add_metric(name=_metric_name(name), unit=MetricUnit.Count, value=value)
        summary = result.as_dict()
        logger.info("mined", extra=summary)
        return summary

    return handler


def _metric_name(detail: str) -> str:
    """bureau_unavailable → BureauUnavailable: CloudWatch metric names in Credo's style."""
    return "".join(part.capitalize() for part in detail.split("_"))
