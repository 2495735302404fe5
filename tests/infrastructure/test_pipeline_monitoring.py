"""The mining and training monitors as CloudFormation: which alarm fires on what, and where it goes."""

import json
from dataclasses import dataclass
from typing import Any

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk.assertions import Template

from credo.constants import SERVICE_NAME
from credo.observability import METRICS_NAMESPACE
from infra.monitoring_construct import AlarmTopic
from infra.pipeline_monitoring_construct import (
    ROWS_MINED_METRIC,
    ROWS_QUARANTINED_METRIC,
    MiningMonitoring,
    TrainingMonitoring,
)
from tests.infrastructure.templates import NO_ASSET_STAGING, cfn_lint_errors

SOURCES = ("orders", "bureau")
GTE, GT = "GreaterThanOrEqualToThreshold", "GreaterThanThreshold"


@dataclass(frozen=True)
class FakeMiner:
    function: lambda_.IFunction
    dead_letter_queue: sqs.IQueue


def _function(stack: Stack, name: str) -> lambda_.Function:
    return lambda_.Function(
        stack,
        name,
        runtime=lambda_.Runtime.PYTHON_3_12,
        handler="index.handler",
        code=lambda_.Code.from_inline("def handler(event, context):\n    return {}\n"),
    )


@pytest.fixture(scope="module")
def template() -> Template:
    stack = Stack(App(context=NO_ASSET_STAGING), "Monitors", env={"region": "ap-south-1"})
    topic = AlarmTopic(stack, "Alarms", environment_name="dev").topic
    miners = {
        source: FakeMiner(_function(stack, f"{source}Miner"), sqs.Queue(stack, f"{source}Dlq"))
        for source in SOURCES
    }
    MiningMonitoring(stack, "Mining", environment_name="dev", miners=miners, topic=topic)
    state_machine = sfn.StateMachine(
        stack, "Pipeline", definition_body=sfn.DefinitionBody.from_chainable(sfn.Pass(stack, "Step"))
    )
    TrainingMonitoring(
        stack,
        "Training",
        environment_name="dev",
        state_machine=state_machine,
        functions={"pipeline_load": _function(stack, "Load")},
        topic=topic,
    )
    return Template.from_stack(stack)


def _alarms(template: Template) -> dict[str, dict[str, Any]]:
    return {
        alarm["Properties"]["AlarmName"]: alarm["Properties"]
        for alarm in template.find_resources("AWS::CloudWatch::Alarm").values()
    }


def _metric(alarm: dict[str, Any]) -> tuple[str, str]:
    """(namespace, metric name) of a single-metric alarm; a labelled metric renders as a metric query."""
    if "MetricName" in alarm:
        return alarm["Namespace"], alarm["MetricName"]
    [query] = alarm["Metrics"]
    metric = query["MetricStat"]["Metric"]
    return metric["Namespace"], metric["MetricName"]


def test_given_two_miners_and_a_pipeline_when_synthesized_then_each_has_its_alarms_named_for_the_environment(
    template: Template,
) -> None:
    assert sorted(_alarms(template)) == sorted(
        [
            *(
                f"credo-dev-miner-{source}-{what}"
                for source in SOURCES
                for what in ("errors", "dead-letters")
            ),
            *(f"credo-dev-miner-{source}-quarantine-share" for source in SOURCES),
            "credo-dev-training-failed",
            "credo-dev-training-timed-out",
        ]
    )


def test_given_the_alarms_when_synthesized_then_every_one_notifies_the_topic_and_ignores_missing_data(
    template: Template,
) -> None:
    [topic_id] = template.find_resources("AWS::SNS::Topic")
    for name, alarm in _alarms(template).items():
        assert alarm["AlarmActions"] == [{"Ref": topic_id}], name
        assert alarm["TreatMissingData"] == "notBreaching", name


def test_given_a_miner_when_synthesized_then_any_error_or_dead_letter_alarms(template: Template) -> None:
    alarms = _alarms(template)
    errors = alarms["credo-dev-miner-orders-errors"]
    assert _metric(errors) == ("AWS/Lambda", "Errors")
    assert (errors["Threshold"], errors["ComparisonOperator"]) == (1, GTE)
    dead_letters = alarms["credo-dev-miner-orders-dead-letters"]
    assert _metric(dead_letters) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible")
    assert (dead_letters["Threshold"], dead_letters["ComparisonOperator"]) == (1, GTE)


def test_given_a_miner_when_synthesized_then_the_quarantine_alarm_is_a_daily_share_of_its_own_counts(
    template: Template,
) -> None:
    alarm = _alarms(template)["credo-dev-miner-bureau-quarantine-share"]
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (
        MiningMonitoring.QUARANTINE_SHARE_ALARM_PERCENT,
        GT,
    )
    queries = {query["Id"]: query for query in alarm["Metrics"]}
    assert queries["expr_1"]["Expression"] == "100 * quarantined / (mined + quarantined)"
    for query_id, metric_name in (("mined", ROWS_MINED_METRIC), ("quarantined", ROWS_QUARANTINED_METRIC)):
        stat = queries[query_id]["MetricStat"]
        assert stat["Metric"]["Namespace"] == METRICS_NAMESPACE
        assert stat["Metric"]["MetricName"] == metric_name
        assert {d["Name"]: d["Value"] for d in stat["Metric"]["Dimensions"]} == {
            "service": SERVICE_NAME,
            "source": "bureau",
            "environment": "dev",
        }
        assert (stat["Period"], stat["Stat"]) == (86400, "Sum")


def test_given_the_pipeline_when_synthesized_then_failed_and_timed_out_runs_alarm(template: Template) -> None:
    alarms = _alarms(template)
    assert _metric(alarms["credo-dev-training-failed"]) == ("AWS/States", "ExecutionsFailed")
    assert _metric(alarms["credo-dev-training-timed-out"]) == ("AWS/States", "ExecutionsTimedOut")
    for name in ("credo-dev-training-failed", "credo-dev-training-timed-out"):
        assert (alarms[name]["Threshold"], alarms[name]["ComparisonOperator"]) == (1, GTE)


def test_given_the_monitors_when_synthesized_then_mining_and_training_dashboards_exist(
    template: Template,
) -> None:
    dashboards = template.find_resources("AWS::CloudWatch::Dashboard")
    names = {d["Properties"]["DashboardName"] for d in dashboards.values()}
    assert names == {"credo-dev-mining", "credo-dev-training"}
    bodies = json.dumps([d["Properties"]["DashboardBody"] for d in dashboards.values()])
    for expected in ("Dead letters per miner", "orders: rows mined and quarantined per day", "Training runs"):
        assert expected in bodies


def test_given_the_monitors_when_cfn_lint_runs_then_it_reports_no_errors(template: Template) -> None:
    assert cfn_lint_errors(template, "ap-south-1") == []
