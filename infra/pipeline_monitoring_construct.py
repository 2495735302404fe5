"""What ops watches of the data side: the miners and the training pipeline, with alarms and dashboards.

Alarms go to an environment alarm topic (monitoring_construct.AlarmTopic), named credo-<env>-<what>.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from credo.constants import SERVICE_NAME
from credo.observability import ENVIRONMENT_DIMENSION, METRICS_NAMESPACE
from infra.monitoring_construct import environment_alarm

# The counts credo.mining_handler emits per run, with dimensions service, source and environment.
ROWS_MINED_METRIC = "RowsMined"
ROWS_QUARANTINED_METRIC = "RowsQuarantined"

GTE = cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD
GT = cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD


class MinerResources(Protocol):
    """What the mining monitor needs of one miner (infra.mining_construct.Miner has it)."""

    @property
    def function(self) -> lambda_.IFunction: ...

    @property
    def dead_letter_queue(self) -> sqs.IQueue: ...


def mining_metric_dimensions(environment_name: str, source: str) -> dict[str, str]:
    return {"service": SERVICE_NAME, "source": source, ENVIRONMENT_DIMENSION: environment_name}


class MiningMonitoring(Construct):
    """Per miner: failures, dead letters and the share of rows quarantined; one dashboard for all."""

    PERIOD = Duration.minutes(15)
    # Quarantined rows are counted over a day: an hourly miner's share swings with small batches.
    QUARANTINE_PERIOD = Duration.days(1)
    # Above this share a source is sending broken records in bulk (a schema change upstream, a bad
    # export): the good rows still flow, but someone must look at quarantine/<source>/.
    QUARANTINE_SHARE_ALARM_PERCENT = 5

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        environment_name: str,
        miners: Mapping[str, MinerResources],
        topic: sns.ITopic,
    ) -> None:
        super().__init__(scope, construct_id)
        self._topic = topic
        self.alarms: dict[str, cloudwatch.Alarm] = {}
        rows_widgets: list[cloudwatch.IWidget] = []
        failure_metrics: list[cloudwatch.IMetric] = []
        dead_letter_metrics: list[cloudwatch.IMetric] = []
        for source, miner in miners.items():
            mined = self._count(environment_name, source, ROWS_MINED_METRIC, self.QUARANTINE_PERIOD)
            quarantined = self._count(
                environment_name, source, ROWS_QUARANTINED_METRIC, self.QUARANTINE_PERIOD
            )
            quarantine_share = cloudwatch.MathExpression(
                expression="100 * quarantined / (mined + quarantined)",
                using_metrics={"mined": mined, "quarantined": quarantined},
                period=self.QUARANTINE_PERIOD,
                label=f"{source} quarantined %",
            )
            errors = miner.function.metric_errors(
                period=self.PERIOD, statistic="Sum", label=f"{source} errors"
            )
            dead_letters = miner.dead_letter_queue.metric_approximate_number_of_messages_visible(
                period=self.PERIOD, statistic="Maximum", label=f"{source} dead letters"
            )
            self._alarm(
                environment_name, f"miner-{source}-errors", errors, 1, GTE, f"the {source} miner failed"
            )
            self._alarm(
                environment_name,
                f"miner-{source}-dead-letters",
                dead_letters,
                1,
                GTE,
                f"a {source} mining run failed after its retries and waits in its dead-letter queue",
            )
            self._alarm(
                environment_name,
                f"miner-{source}-quarantine-share",
                quarantine_share,
                self.QUARANTINE_SHARE_ALARM_PERCENT,
                GT,
                f"more than {self.QUARANTINE_SHARE_ALARM_PERCENT} % of the {source} rows mined in a day "
                f"were quarantined (see quarantine/{source}/ in the lake)",
            )
            failure_metrics.append(errors)
            dead_letter_metrics.append(dead_letters)
            rows_widgets.append(
                cloudwatch.GraphWidget(
                    title=f"{source}: rows mined and quarantined per day",
                    left=[mined],
                    right=[quarantined],
                    width=8,
                )
            )
        self.dashboard = cloudwatch.Dashboard(
            self,
            "Dashboard",
            dashboard_name=f"credo-{environment_name}-mining",
            widgets=[
                [
                    cloudwatch.GraphWidget(title="Miner failures", left=failure_metrics, width=12),
                    cloudwatch.GraphWidget(
                        title="Dead letters per miner", left=dead_letter_metrics, width=12
                    ),
                ],
                rows_widgets,
            ],
        )

    @staticmethod
    def _count(environment_name: str, source: str, name: str, period: Duration) -> cloudwatch.Metric:
        return cloudwatch.Metric(
            namespace=METRICS_NAMESPACE,
            metric_name=name,
            dimensions_map=mining_metric_dimensions(environment_name, source),
            statistic="Sum",
            period=period,
            label=f"{source} {name}",
        )

    def _alarm(
        self,
        environment_name: str,
        name: str,
        metric: cloudwatch.IMetric,
        threshold: float,
        comparison: cloudwatch.ComparisonOperator,
        description: str,
    ) -> None:
        self.alarms[name] = environment_alarm(
            self, environment_name, name, metric, threshold, comparison, description, topic=self._topic
        )


class TrainingMonitoring(Construct):
    """The training pipeline's executions: an alarm on each failed or timed-out run, and a dashboard."""

    # A run takes hours and happens monthly: an hour's window is enough to catch its end.
    PERIOD = Duration.hours(1)

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        environment_name: str,
        state_machine: sfn.IStateMachine,
        functions: Mapping[str, lambda_.IFunction],
        topic: sns.ITopic,
    ) -> None:
        super().__init__(scope, construct_id)
        failed = state_machine.metric_failed(period=self.PERIOD, statistic="Sum", label="failed")
        timed_out = state_machine.metric_timed_out(period=self.PERIOD, statistic="Sum", label="timed out")
        succeeded = state_machine.metric_succeeded(period=self.PERIOD, statistic="Sum", label="succeeded")
        self.alarms = {
            "training-failed": environment_alarm(
                self,
                environment_name,
                "training-failed",
                failed,
                1,
                GTE,
                "a training pipeline run failed: the champion models and the online features stay as they "
                "were; the execution's history names the failed step",
                topic=topic,
            ),
            "training-timed-out": environment_alarm(
                self,
                environment_name,
                "training-timed-out",
                timed_out,
                1,
                GTE,
                "a training pipeline run timed out",
                topic=topic,
            ),
        }
        step_errors = [
            function.metric_errors(period=self.PERIOD, statistic="Sum", label=f"{name} errors")
            for name, function in functions.items()
        ]
        step_durations = [
            function.metric_duration(period=self.PERIOD, statistic="Maximum", label=f"{name} duration")
            for name, function in functions.items()
        ]
        self.dashboard = cloudwatch.Dashboard(
            self,
            "Dashboard",
            dashboard_name=f"credo-{environment_name}-training",
            widgets=[
                [
                    cloudwatch.GraphWidget(
                        title="Training runs: succeeded, failed, timed out",
                        left=[succeeded, failed, timed_out],
                        width=12,
                    ),
                    cloudwatch.GraphWidget(
                        title="Run duration (ms)",
                        left=[state_machine.metric_time(period=self.PERIOD, statistic="Maximum")],
                        width=12,
                    ),
                ],
                [
                    cloudwatch.GraphWidget(title="Pipeline step errors", left=step_errors, width=12),
                    cloudwatch.GraphWidget(
                        title="Pipeline step duration, max (ms)", left=step_durations, width=12
                    ),
                ],
            ],
        )
