"""What ops watches of the serving side: alarms on an encrypted SNS topic, and one dashboard.

The API stage, the scoring Lambda and the decision metrics the scoring service emits. The topic and
the alarm helper here serve the mining and training monitors too (pipeline_monitoring_construct.py).
"""

from __future__ import annotations

from aws_cdk import Aws, Duration
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from constructs import Construct

from credo.constants import SERVICE_NAME
from credo.observability import ENVIRONMENT_DIMENSION, METRICS_NAMESPACE

# The decision metrics credo.scoring.service emits through Powertools Metrics, which adds the one
# dimension service=<POWERTOOLS service name> to each of them.
DECISIONS_METRIC = "EligibilityDecisions"
DEGRADED_DECISIONS_METRIC = "DegradedDecisions"
NEW_CUSTOMER_DECISIONS_METRIC = "NewCustomerDecisions"
DECISION_LATENCY_METRIC = "DecisionLatency"


def decision_metric_dimensions(environment_name: str) -> dict[str, str]:
    """The dimensions the scoring Lambda's Powertools Metrics add: service, and the environment (so dev
    and prod in one account and region keep apart; functions/score/handler.py sets it)."""
    return {"service": SERVICE_NAME, ENVIRONMENT_DIMENSION: environment_name}


def elsewhere_note(environment_name: str) -> str:
    return (
        "### Mining and training\n"
        f"Miners (failures, quarantined rows, dead letters) are on the **credo-{environment_name}-mining** "
        f"dashboard, the training pipeline on **credo-{environment_name}-training**."
    )


def alarm_name_prefix(environment_name: str) -> str:
    """Every alarm of an environment starts with this; the topic admits CloudWatch only for them."""
    return f"credo-{environment_name}-"


class AlarmTopic(Construct):
    """An environment's alarm notifications: a KMS-encrypted SNS topic only its own alarms may publish to."""

    def __init__(self, scope: Construct, construct_id: str, *, environment_name: str) -> None:
        super().__init__(scope, construct_id)
        # A customer-managed key, not alias/aws/sns: CloudWatch can publish to an encrypted topic only
        # if the key policy lets it use the key, and the AWS-managed key's policy cannot be changed.
        key = kms.Key(
            self,
            "AlarmTopicKey",
            description=f"Credo {environment_name}: encrypts the alarm notification topic",
            enable_key_rotation=True,
        )
        self.topic = sns.Topic(
            self,
            "AlarmTopic",
            display_name=f"Credo {environment_name} alarms",
            master_key=key,
            enforce_ssl=True,
        )
        cloudwatch_principal = iam.ServicePrincipal("cloudwatch.amazonaws.com")
        # Only this account's alarms of this environment may use the topic and its key (confused deputy).
        own_alarms = {
            "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
            "ArnLike": {
                "aws:SourceArn": f"arn:{Aws.PARTITION}:cloudwatch:{Aws.REGION}:{Aws.ACCOUNT_ID}:alarm:"
                f"{alarm_name_prefix(environment_name)}*"
            },
        }
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchAlarmsToPublish",
                principals=[cloudwatch_principal],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions=own_alarms,
            )
        )
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchAlarmsToUseTheKey",
                principals=[cloudwatch_principal],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],  # in a key policy, "*" is this key
                conditions=own_alarms,
            )
        )


def environment_alarm(
    scope: Construct,
    environment_name: str,
    name: str,
    metric: cloudwatch.IMetric,
    threshold: float,
    comparison: cloudwatch.ComparisonOperator,
    description: str,
    *,
    topic: sns.ITopic,
) -> cloudwatch.Alarm:
    """An alarm named credo-<env>-<name> that fires on one breaching period and notifies `topic`.

    Every alarm here watches an aggregate over its whole period. No data means nothing ran, so
    nothing failed: missing data is not breaching.
    """
    alarm = cloudwatch.Alarm(
        scope,
        name,
        alarm_name=f"{alarm_name_prefix(environment_name)}{name}",
        alarm_description=f"Credo {environment_name}: {description}",
        metric=metric,
        threshold=threshold,
        comparison_operator=comparison,
        evaluation_periods=1,
        datapoints_to_alarm=1,
        treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
    )
    alarm.add_alarm_action(cloudwatch_actions.SnsAction(topic))
    return alarm


class ServingMonitoring(Construct):
    """Alarms on API errors and latency, the scoring Lambda and degraded decisions; the dashboard."""

    PERIOD = Duration.minutes(5)
    DEGRADED_PERIOD = Duration.minutes(15)
    # Above this share of degraded answers the checkout is mostly getting conservative defaults:
    # a store or a model is missing, and customers lose EMI / COD offers they would have had.
    DEGRADED_SHARE_ALARM_PERCENT = 5
    # A p99 duration this close to the timeout means some requests are about to time out.
    DURATION_P99_SHARE_OF_TIMEOUT = 0.8

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        environment_name: str,
        api_stage: apigateway.Stage,
        function: lambda_.IFunction,
        function_timeout: Duration,
        api_latency_p99_alarm_ms: int,
    ) -> None:
        super().__init__(scope, construct_id)
        self.environment_name = environment_name
        self.topic = AlarmTopic(self, "Alarms", environment_name=environment_name).topic

        api = _ApiMetrics(api_stage, self.PERIOD)
        scoring = _FunctionMetrics(function, self.PERIOD)
        decisions = _DecisionMetrics(self.PERIOD, environment_name)
        degraded_share = _DecisionMetrics(self.DEGRADED_PERIOD, environment_name).degraded_share
        duration_p99_alarm_ms = function_timeout.to_milliseconds() * self.DURATION_P99_SHARE_OF_TIMEOUT

        gte = cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD
        gt = cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD
        self.alarms: dict[str, cloudwatch.Alarm] = {}
        self._alarm("api-5xx", api.server_errors, 1, gte, "API answered 5xx")
        self._alarm(
            "api-latency-p99",
            api.latency_p99,
            api_latency_p99_alarm_ms,
            gt,
            f"API p99 latency above {api_latency_p99_alarm_ms} ms",
        )
        self._alarm("scoring-errors", scoring.errors, 1, gte, "scoring Lambda failed")
        self._alarm(
            "scoring-throttles", scoring.throttles, 1, gte, "scoring Lambda throttled: raise its concurrency"
        )
        self._alarm(
            "scoring-duration-p99",
            scoring.duration_p99,
            duration_p99_alarm_ms,
            gt,
            f"scoring Lambda p99 duration above {duration_p99_alarm_ms:g} ms, near its timeout",
        )
        self._alarm(
            "degraded-share",
            degraded_share,
            self.DEGRADED_SHARE_ALARM_PERCENT,
            gt,
            f"more than {self.DEGRADED_SHARE_ALARM_PERCENT} % of decisions degraded "
            "(conservative answers: a store or a model is missing)",
        )
        self.dashboard = cloudwatch.Dashboard(
            self,
            "Dashboard",
            dashboard_name=f"credo-{environment_name}",
            widgets=_dashboard_rows(environment_name, api, scoring, decisions, api_latency_p99_alarm_ms),
        )

    def _alarm(
        self,
        name: str,
        metric: cloudwatch.IMetric,
        threshold: float,
        comparison: cloudwatch.ComparisonOperator,
        description: str,
    ) -> None:
        self.alarms[name] = environment_alarm(
            self, self.environment_name, name, metric, threshold, comparison, description, topic=self.topic
        )


class _ApiMetrics:
    """The stage's metrics: ApiName and Stage dimensions, so another environment's stage never mixes in."""

    def __init__(self, stage: apigateway.Stage, period: Duration) -> None:
        self.requests = stage.metric_count(period=period, statistic="Sum", label="requests")
        self.client_errors = stage.metric_client_error(period=period, statistic="Sum", label="4xx")
        self.server_errors = stage.metric_server_error(period=period, statistic="Sum", label="5xx")
        self.latency_p50 = stage.metric_latency(period=period, statistic="p50", label="latency p50")
        self.latency_p99 = stage.metric_latency(period=period, statistic="p99", label="latency p99")


class _FunctionMetrics:
    def __init__(self, function: lambda_.IFunction, period: Duration) -> None:
        self.duration_p50 = function.metric_duration(period=period, statistic="p50", label="duration p50")
        self.duration_p99 = function.metric_duration(period=period, statistic="p99", label="duration p99")
        self.errors = function.metric_errors(period=period, statistic="Sum", label="errors")
        self.throttles = function.metric_throttles(period=period, statistic="Sum", label="throttles")
        self.concurrency = function.metric(
            "ConcurrentExecutions", period=period, statistic="Maximum", label="concurrency (max)"
        )


class _DecisionMetrics:
    """The scoring service's custom metrics, and the shares of decisions that were degraded or new."""

    def __init__(self, period: Duration, environment_name: str) -> None:
        self.dimensions = decision_metric_dimensions(environment_name)
        self.decisions = self._metric(DECISIONS_METRIC, "Sum", period, "decisions")
        self.latency_p50 = self._metric(DECISION_LATENCY_METRIC, "p50", period, "decision latency p50")
        self.latency_p99 = self._metric(DECISION_LATENCY_METRIC, "p99", period, "decision latency p99")
        degraded = self._metric(DEGRADED_DECISIONS_METRIC, "Sum", period, "degraded")
        new_customer = self._metric(NEW_CUSTOMER_DECISIONS_METRIC, "Sum", period, "new customers")
        self.degraded_share = cloudwatch.MathExpression(
            expression="100 * degraded / decisions",
            using_metrics={"degraded": degraded, "decisions": self.decisions},
            period=period,
            label="degraded %",
        )
        self.new_customer_share = cloudwatch.MathExpression(
            expression="100 * new_customer / decisions",
            using_metrics={"new_customer": new_customer, "decisions": self.decisions},
            period=period,
            label="new customers %",
        )

    def _metric(self, name: str, statistic: str, period: Duration, label: str) -> cloudwatch.Metric:
        return cloudwatch.Metric(
            namespace=METRICS_NAMESPACE,
            metric_name=name,
            dimensions_map=self.dimensions,
            statistic=statistic,
            period=period,
            label=label,
        )


def _dashboard_rows(
    environment_name: str,
    api: _ApiMetrics,
    scoring: _FunctionMetrics,
    decisions: _DecisionMetrics,
    api_latency_alarm_ms: int,
) -> list[list[cloudwatch.IWidget]]:
    width = 12
    return [
        [
            cloudwatch.GraphWidget(
                title="API requests, 4xx, 5xx",
                left=[api.requests],
                right=[api.client_errors, api.server_errors],
                width=width,
            ),
            cloudwatch.GraphWidget(
                title="API latency (ms)",
                left=[api.latency_p50, api.latency_p99],
                left_annotations=[
                    cloudwatch.HorizontalAnnotation(value=api_latency_alarm_ms, label="p99 alarm")
                ],
                width=width,
            ),
        ],
        [
            cloudwatch.GraphWidget(
                title="Scoring Lambda duration (ms)",
                left=[scoring.duration_p50, scoring.duration_p99],
                width=width,
            ),
            cloudwatch.GraphWidget(
                title="Scoring Lambda errors, throttles, concurrency",
                left=[scoring.errors, scoring.throttles],
                right=[scoring.concurrency],
                width=width,
            ),
        ],
        [
            cloudwatch.GraphWidget(
                title="Decisions, and the % degraded or for new customers",
                left=[decisions.decisions],
                right=[decisions.degraded_share, decisions.new_customer_share],
                width=width,
            ),
            cloudwatch.GraphWidget(
                title="Decision latency inside the function (ms)",
                left=[decisions.latency_p50, decisions.latency_p99],
                width=width,
            ),
        ],
        [cloudwatch.TextWidget(markdown=elsewhere_note(environment_name), width=2 * width, height=2)],
    ]
