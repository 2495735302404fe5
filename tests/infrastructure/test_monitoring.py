"""The serving stack's alarms, their encrypted topic and the dashboard, as CloudFormation."""

import json
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Template

from credo.constants import SERVICE_NAME
from credo.observability import METRICS_NAMESPACE
from infra.build_layers import LayerBuild
from infra.credo_app import add_stacks, create_app
from infra.credo_stack import ServingStack
from infra.monitoring_construct import (
    DECISION_LATENCY_METRIC,
    DECISIONS_METRIC,
    DEGRADED_DECISIONS_METRIC,
    NEW_CUSTOMER_DECISIONS_METRIC,
)
from tests.infrastructure.templates import NO_ASSET_STAGING, only

REPO = Path(__file__).resolve().parents[2]
SCORING_SERVICE = REPO / "layers" / "core" / "src" / "credo" / "scoring" / "service.py"
FIVE_MINUTES, FIFTEEN_MINUTES = 300, 900
GTE, GT = "GreaterThanOrEqualToThreshold", "GreaterThanThreshold"


def _serving_stack(environment: str) -> ServingStack:
    return add_stacks(create_app(context={"env": environment, **NO_ASSET_STAGING}))


@pytest.fixture(scope="module")
def stack(built_layers: dict[str, LayerBuild]) -> ServingStack:
    return _serving_stack("dev")


@pytest.fixture(scope="module")
def template(stack: ServingStack) -> Template:
    return Template.from_stack(stack)


def _alarms(template: Template) -> dict[str, dict[str, Any]]:
    """Each alarm's properties, by alarm name."""
    alarms = template.find_resources("AWS::CloudWatch::Alarm").values()
    return {alarm["Properties"]["AlarmName"]: alarm["Properties"] for alarm in alarms}


def _metric_stat(alarm: dict[str, Any]) -> dict[str, Any]:
    [query] = alarm["Metrics"]
    stat: dict[str, Any] = query["MetricStat"]
    return stat


def _dimension_names(metric: dict[str, Any]) -> set[str]:
    return {dimension["Name"] for dimension in metric["Dimensions"]}


@pytest.mark.parametrize(
    ("alarm_name", "namespace", "metric_name", "statistic", "threshold", "comparison"),
    [
        ("credo-dev-api-5xx", "AWS/ApiGateway", "5XXError", "Sum", 1, GTE),
        ("credo-dev-api-latency-p99", "AWS/ApiGateway", "Latency", "p99", 300, GT),  # dev in cdk.json
        ("credo-dev-scoring-errors", "AWS/Lambda", "Errors", "Sum", 1, GTE),
        ("credo-dev-scoring-throttles", "AWS/Lambda", "Throttles", "Sum", 1, GTE),
        ("credo-dev-scoring-duration-p99", "AWS/Lambda", "Duration", "p99", 8000, GT),  # 80 % of 10 s
    ],
)
def test_given_serving_stack_when_synthesized_then_each_aws_metric_alarm_watches_five_minutes(
    template: Template,
    alarm_name: str,
    namespace: str,
    metric_name: str,
    statistic: str,
    threshold: int,
    comparison: str,
) -> None:
    alarm = _alarms(template)[alarm_name]
    stat = _metric_stat(alarm)
    assert (stat["Metric"]["Namespace"], stat["Metric"]["MetricName"]) == (namespace, metric_name)
    assert (stat["Stat"], stat["Period"]) == (statistic, FIVE_MINUTES)
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (threshold, comparison)


def test_given_api_alarms_when_synthesized_then_they_watch_this_environments_stageonly(
    template: Template,
) -> None:
    stage_id, _ = only(template, "AWS::ApiGateway::Stage")
    for name in ("credo-dev-api-5xx", "credo-dev-api-latency-p99"):
        metric = _metric_stat(_alarms(template)[name])["Metric"]
        assert _dimension_names(metric) == {"ApiName", "Stage"}
        assert {"Name": "Stage", "Value": {"Ref": stage_id}} in metric["Dimensions"]


def test_given_function_alarms_when_synthesized_then_they_watch_the_scoring_function(
    template: Template,
) -> None:
    function_id, _ = only(template, "AWS::Lambda::Function")
    for name in ("credo-dev-scoring-errors", "credo-dev-scoring-throttles", "credo-dev-scoring-duration-p99"):
        metric = _metric_stat(_alarms(template)[name])["Metric"]
        assert metric["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": function_id}}]


def test_given_degraded_share_alarm_when_synthesized_then_it_divides_degraded_by_all_decisions(
    template: Template,
) -> None:
    alarm = _alarms(template)["credo-dev-degraded-share"]
    queries = {query["Id"]: query for query in alarm["Metrics"]}
    [expression] = [query for query in alarm["Metrics"] if "Expression" in query]
    assert expression["Expression"] == "100 * degraded / decisions"
    assert expression["ReturnData"] is True
    for query_id, metric_name in (("degraded", DEGRADED_DECISIONS_METRIC), ("decisions", DECISIONS_METRIC)):
        stat = queries[query_id]["MetricStat"]
        assert stat["Metric"] == {
            "Namespace": METRICS_NAMESPACE,
            "MetricName": metric_name,
            "Dimensions": [
                {"Name": "environment", "Value": "dev"},
                {"Name": "service", "Value": SERVICE_NAME},
            ],
        }
        assert (stat["Stat"], stat["Period"]) == ("Sum", FIFTEEN_MINUTES)
        assert queries[query_id]["ReturnData"] is False
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (5, GT)


def test_given_custom_metric_names_when_compared_with_the_scoring_service_then_it_emits_each_of_them(
    template: Template,
) -> None:
    # Powertools adds the dimension service=<POWERTOOLS_SERVICE_NAME>; the alarm must use that value.
    _, function = only(template, "AWS::Lambda::Function")
    assert function["Properties"]["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"] == SERVICE_NAME
    source = SCORING_SERVICE.read_text()
    for name in (
        DECISIONS_METRIC,
        DEGRADED_DECISIONS_METRIC,
        NEW_CUSTOMER_DECISIONS_METRIC,
        DECISION_LATENCY_METRIC,
    ):
        assert f'name="{name}"' in source, name


def test_given_every_alarm_when_synthesized_then_one_breaching_period_notifies_the_alarm_topic(
    template: Template,
) -> None:
    topic_id, _ = only(template, "AWS::SNS::Topic")
    alarms = _alarms(template)
    assert len(alarms) == 6
    for name, alarm in alarms.items():
        assert alarm["AlarmActions"] == [{"Ref": topic_id}], name
        assert (alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"]) == (1, 1), name
        assert alarm["TreatMissingData"] == "notBreaching", name


def test_given_prod_context_when_synthesized_then_api_latency_alarm_uses_prods_threshold(
    built_layers: dict[str, LayerBuild],
) -> None:
    prod = _serving_stack("prod")
    alarm = _alarms(Template.from_stack(prod))["credo-prod-api-latency-p99"]
    assert alarm["Threshold"] == prod.config.api_latency_p99_alarm_ms == 200


def test_given_alarm_topic_when_synthesized_then_it_is_encrypted_with_a_rotated_customer_key(
    template: Template,
) -> None:
    _, topic = only(template, "AWS::SNS::Topic")
    key_id = topic["Properties"]["KmsMasterKeyId"]["Fn::GetAtt"][0]
    key = template.find_resources("AWS::KMS::Key")[key_id]
    assert key["Properties"]["EnableKeyRotation"] is True
    statements = key["Properties"]["KeyPolicy"]["Statement"]
    [cloudwatch] = [s for s in statements if s["Principal"] == {"Service": "cloudwatch.amazonaws.com"}]
    assert set(cloudwatch["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey*"}
    assert "credo-dev-*" in json.dumps(cloudwatch["Condition"]["ArnLike"]["aws:SourceArn"])


def test_given_alarm_topic_when_synthesized_then_its_policy_enforces_tls_and_admits_only_own_alarms(
    template: Template,
) -> None:
    topic_id, _ = only(template, "AWS::SNS::Topic")
    _, policy = only(template, "AWS::SNS::TopicPolicy")
    assert policy["Properties"]["Topics"] == [{"Ref": topic_id}]
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    [deny] = [s for s in statements if s["Effect"] == "Deny"]
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert deny["Principal"] == "*"
    [allow] = [s for s in statements if s["Effect"] == "Allow"]
    assert allow["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert allow["Action"] == "sns:Publish"
    assert allow["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    assert "credo-dev-*" in json.dumps(allow["Condition"]["ArnLike"]["aws:SourceArn"])


def _dashboard_body(template: Template) -> str:
    """The dashboard's JSON with CloudFormation references flattened to placeholders."""
    _, dashboard = only(template, "AWS::CloudWatch::Dashboard")
    parts = dashboard["Properties"]["DashboardBody"]["Fn::Join"][1]
    return "".join(part if isinstance(part, str) else "0" for part in parts)


def test_given_serving_stack_when_synthesized_then_dashboard_is_named_for_the_environment(
    template: Template,
) -> None:
    _, dashboard = only(template, "AWS::CloudWatch::Dashboard")
    assert dashboard["Properties"]["DashboardName"] == "credo-dev"


def test_given_dashboard_when_synthesized_then_it_graphs_api_lambda_and_decisions_and_points_to_the_others(
    template: Template,
) -> None:
    widgets = json.loads(_dashboard_body(template))["widgets"]
    graphs = {w["properties"]["title"]: w["properties"] for w in widgets if w["type"] == "metric"}
    metric_names = {
        title: {row[1] for row in graph["metrics"] if isinstance(row[0], str) and len(row) > 1}
        for title, graph in graphs.items()
    }
    assert metric_names["API requests, 4xx, 5xx"] == {"Count", "4XXError", "5XXError"}
    assert metric_names["API latency (ms)"] == {"Latency"}
    assert metric_names["Scoring Lambda duration (ms)"] == {"Duration"}
    assert metric_names["Scoring Lambda errors, throttles, concurrency"] == {
        "Errors",
        "Throttles",
        "ConcurrentExecutions",
    }
    assert metric_names["Decision latency inside the function (ms)"] == {DECISION_LATENCY_METRIC}
    decisions = json.dumps(graphs["Decisions, and the % degraded or for new customers"])
    for expected in (DECISIONS_METRIC, DEGRADED_DECISIONS_METRIC, NEW_CUSTOMER_DECISIONS_METRIC):
        assert expected in decisions
    [text] = [w["properties"]["markdown"] for w in widgets if w["type"] == "text"]
    assert "credo-dev-mining" in text and "credo-dev-training" in text
