"""cdk-nag AwsSolutions on every stack, the reasons behind each acknowledgement, and the API hardening.

cdk-nag 3 runs as a CDK validation plugin: synthesis fails on an unacknowledged finding, and the
assembly's validation-report.json lists every finding with the acknowledgement that suppressed it.
"""

import json
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from aws_cdk import App, Stack, Validations
from aws_cdk import aws_sqs as sqs
from aws_cdk.assertions import Template

from credo import constants
from infra.build_layers import LayerBuild
from infra.credo_app import (
    add_all_stacks,
    cdk_json_context,
    create_app,
    data_stack_id,
    mining_stack_id,
    serving_stack_id,
    training_stack_id,
    warehouse_stack_id,
)
from infra.credo_stack import ServingStack
from infra.scoring_api_construct import ApiFirewall
from tests.infrastructure.templates import NO_ASSET_STAGING, cfn_lint_errors, only

REPO = Path(__file__).resolve().parents[2]
PACK = "AwsSolutions"
VALIDATION_REPORT = "validation-report.json"


def _dev_app(outdir: Path) -> tuple[App, dict[str, Stack]]:
    app = create_app(outdir=str(outdir), context={"env": "dev", **NO_ASSET_STAGING})
    return app, add_all_stacks(app)


def _pack_report(outdir: Path) -> dict[str, Any]:
    reports = json.loads((outdir / VALIDATION_REPORT).read_text())["pluginReports"]
    [report] = [report for report in reports if report["pluginName"] == PACK]
    return dict(report)


class Synthesized(NamedTuple):
    app: App
    stacks: dict[str, Stack]
    outdir: Path
    failure: str | None


@pytest.fixture(scope="module")
def synthesized(built_layers: dict[str, LayerBuild], tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    outdir = tmp_path_factory.mktemp("cdk.out")
    app, stacks = _dev_app(outdir)
    try:
        app.synth()
    except RuntimeError as error:  # findings fail synthesis; the report still lists them
        return Synthesized(app, stacks, outdir, failure=str(error))
    return Synthesized(app, stacks, outdir, failure=None)


@pytest.fixture(scope="module")
def report(synthesized: Synthesized) -> dict[str, Any]:
    return _pack_report(synthesized.outdir)


@pytest.fixture(scope="module")
def serving(synthesized: Synthesized) -> ServingStack:
    stack = synthesized.stacks[serving_stack_id("dev")]
    assert isinstance(stack, ServingStack)
    return stack


@pytest.fixture(scope="module")
def template(serving: ServingStack) -> Template:
    return Template.from_stack(serving)


def _acknowledgements(app: App) -> dict[tuple[str, str], str]:
    """Every acknowledgement of the pack in the app: (construct path, rule id) → reason.

    CDK's own constructs acknowledge findings of its built-in template validation
    (CloudFormation-Validate::…, e.g. inside ec2.Vpc); those are not ours and not this pack's.
    """
    found = {}
    for construct in app.node.find_all():
        for entry in construct.node.metadata:
            if entry.type == Validations.ACKNOWLEDGED_RULES_METADATA_KEY:
                for rule_id, reason in entry.data.items():
                    if rule_id.startswith(f"{PACK}::"):
                        found[(construct.node.path, rule_id)] = reason
    return found


def _logical_id(stack: Stack, construct: Any) -> str:
    return stack.get_logical_id(construct.node.default_child)


# --- the checks -------------------------------------------------------------------------------


def test_given_dev_app_when_synthesized_then_aws_solutions_reports_no_unacknowledged_finding(
    synthesized: Synthesized, report: dict[str, Any]
) -> None:
    unacknowledged = [
        (violation["ruleName"], construct["constructPath"])
        for violation in report["violations"]
        for construct in violation["violatingConstructs"]
    ]
    assert unacknowledged == []
    assert report["conclusion"] == "success"
    assert synthesized.failure is None


def test_given_dev_app_when_synthesized_then_every_acknowledged_finding_has_a_written_reason(
    report: dict[str, Any],
) -> None:
    suppressed = report["suppressedViolations"]
    assert suppressed, "the report lists no acknowledged finding: is the pack running?"
    for finding in suppressed:
        assert finding["acknowledgedId"] == f"{PACK}::{finding['ruleName']}"
        assert len(finding["reason"].split()) >= 5, finding  # a sentence, not a placeholder


def test_given_dev_app_when_synthesized_then_every_acknowledgement_matches_a_finding(
    synthesized: Synthesized, report: dict[str, Any]
) -> None:
    # A stale acknowledgement would silently hide a future finding of the same rule.
    used = {(f["acknowledgedAt"], f["acknowledgedId"]) for f in report["suppressedViolations"]}
    assert set(_acknowledgements(synthesized.app)) == used


@pytest.mark.parametrize(
    "stack_id", [data_stack_id("dev"), warehouse_stack_id("dev"), serving_stack_id("dev")]
)
def test_given_an_unacknowledged_finding_in_a_stack_when_synthesized_then_synthesis_fails_naming_it(
    built_layers: dict[str, LayerBuild], tmp_path: Path, stack_id: str
) -> None:
    app, stacks = _dev_app(tmp_path)
    sqs.Queue(stacks[stack_id], "PlainQueue")  # no TLS-only policy, no dead-letter queue
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    flagged = {
        (violation["ruleName"], construct["constructPath"])
        for violation in _pack_report(tmp_path)["violations"]
        for construct in violation["violatingConstructs"]
    }
    assert (f"{PACK}-SQS4", f"{stack_id}/PlainQueue/Resource") in flagged


# --- the API hardening they asked for ------------------------------------------------------------


def test_given_serving_stack_when_synthesized_then_stage_writes_access_logs_to_its_retained_log_group(
    template: Template, serving: ServingStack
) -> None:
    log_group_id = _logical_id(serving, serving.api.access_logs)
    log_group = template.find_resources("AWS::Logs::LogGroup")[log_group_id]
    assert log_group["Properties"]["RetentionInDays"] == 14  # dev: TWO_WEEKS in cdk.json
    _, stage = only(template, "AWS::ApiGateway::Stage")
    access_logs = stage["Properties"]["AccessLogSetting"]
    assert {"Ref": log_group_id} in access_logs["DestinationArn"]["Fn::Join"][1]
    log_format = json.loads(access_logs["Format"])
    assert log_format["requestId"] == "$context.requestId"
    # The route template only: the raw path of the profile route would carry a customer id.
    assert log_format["resourcePath"] == "$context.resourcePath"
    assert "$context.path" not in access_logs["Format"]


def test_given_serving_stack_when_synthesized_then_stage_logs_errors_and_metrics_without_bodies(
    template: Template,
) -> None:
    _, stage = only(template, "AWS::ApiGateway::Stage")
    [settings] = stage["Properties"]["MethodSettings"]
    assert (settings["HttpMethod"], settings["ResourcePath"]) == ("*", "/*")
    assert settings["LoggingLevel"] == "ERROR"
    assert settings["MetricsEnabled"] is True
    assert settings["DataTraceEnabled"] is False


def test_given_serving_stack_when_synthesized_then_the_account_logging_role_is_set_before_the_stage(
    template: Template,
) -> None:
    account_id, account = only(template, "AWS::ApiGateway::Account")
    role_id = account["Properties"]["CloudWatchRoleArn"]["Fn::GetAtt"][0]
    role = template.find_resources("AWS::IAM::Role")[role_id]
    assert role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "apigateway.amazonaws.com"
    }
    _, stage = only(template, "AWS::ApiGateway::Stage")
    assert account_id in stage["DependsOn"]


def test_given_serving_stack_when_synthesized_then_post_body_and_profile_path_are_validated_by_the_gateway(
    template: Template,
) -> None:
    validator_id, validator = only(template, "AWS::ApiGateway::RequestValidator")
    assert validator["Properties"]["ValidateRequestBody"] is True
    assert validator["Properties"]["ValidateRequestParameters"] is True
    model_id, _ = only(template, "AWS::ApiGateway::Model")
    methods = [m["Properties"] for m in template.find_resources("AWS::ApiGateway::Method").values()]
    [post] = [m for m in methods if m["HttpMethod"] == "POST"]
    assert post["RequestValidatorId"] == {"Ref": validator_id}
    assert post["RequestModels"] == {"application/json": {"Ref": model_id}}
    [profile] = [m for m in methods if "RequestParameters" in m]
    assert profile["RequestParameters"] == {"method.request.path.customer_id": True}
    assert profile["RequestValidatorId"] == {"Ref": validator_id}


def test_given_gateway_body_model_when_compared_with_the_handlers_contract_then_required_fields_agree(
    template: Template,
) -> None:
    _, model = only(template, "AWS::ApiGateway::Model")
    schema = model["Properties"]["Schema"]
    contract = json.loads((REPO / "docs" / "openapi.json").read_text())["components"]["schemas"]
    request = contract["EligibilityRequest"]
    # Never stricter than the handler: a body the handler accepts must pass the gateway.
    assert set(schema["required"]) == set(request["required"])
    assert schema["properties"]["customer_id"]["type"] == request["properties"]["customer_id"]["type"]
    assert schema["properties"]["cart"]["type"] == contract["Cart"]["type"]
    assert "additionalProperties" not in schema


def test_given_serving_stack_when_synthesized_then_a_regional_web_acl_guards_the_stage(
    template: Template,
) -> None:
    acl_id, acl = only(template, "AWS::WAFv2::WebACL")
    assert acl["Properties"]["Scope"] == "REGIONAL"
    assert acl["Properties"]["DefaultAction"] == {"Allow": {}}
    _, association = only(template, "AWS::WAFv2::WebACLAssociation")
    stage_id, _ = only(template, "AWS::ApiGateway::Stage")
    assert association["Properties"]["WebACLArn"] == {"Fn::GetAtt": [acl_id, "Arn"]}
    assert {"Ref": stage_id} in association["Properties"]["ResourceArn"]["Fn::Join"][1]


def test_given_web_acl_when_synthesized_then_it_runs_aws_common_rules_and_blocks_floods_per_ip(
    template: Template, serving: ServingStack
) -> None:
    _, acl = only(template, "AWS::WAFv2::WebACL")
    rules = {rule["Name"]: rule for rule in acl["Properties"]["Rules"]}
    common = rules["aws-common-rules"]
    assert common["Statement"]["ManagedRuleGroupStatement"] == {
        "VendorName": "AWS",
        "Name": "AWSManagedRulesCommonRuleSet",
    }
    assert common["OverrideAction"] == {"None": {}}
    rate = rules["per-ip-rate-limit"]
    assert rate["Action"] == {"Block": {}}
    assert rate["Statement"]["RateBasedStatement"] == {
        "AggregateKeyType": "IP",
        "Limit": ApiFirewall.per_ip_limit_for(serving.config.api_throttle_rate_limit),
        "EvaluationWindowSec": 300,
    }
    assert len({rule["Priority"] for rule in rules.values()}) == len(rules)
    # Sampled requests keep request paths, and a profile path holds a raw customer id.
    visibility = [acl["Properties"]["VisibilityConfig"]] + [r["VisibilityConfig"] for r in rules.values()]
    assert all(v["SampledRequestsEnabled"] is False and v["CloudWatchMetricsEnabled"] for v in visibility)


def test_given_a_stage_rate_when_per_ip_limit_is_derived_then_one_address_may_send_twice_its_window() -> None:
    assert ApiFirewall.per_ip_limit_for(50) == 50 * 300 * 2
    assert ApiFirewall.per_ip_limit_for(0.5) == 300


def test_given_api_gateway_validation_fails_then_its_400_names_the_field_in_the_handlers_error_shape(
    template: Template,
) -> None:
    responses = template.find_resources("AWS::ApiGateway::GatewayResponse")
    by_type = {r["Properties"]["ResponseType"]: r["Properties"] for r in responses.values()}

    assert set(by_type) == {"BAD_REQUEST_BODY", "BAD_REQUEST_PARAMETERS"}
    for properties in by_type.values():
        assert properties["StatusCode"] == "400"
        assert "$context.error.validationErrorString" in properties["ResponseTemplates"]["application/json"]


def test_given_dev_app_when_synthesized_then_cfn_lint_finds_no_error_in_any_stack(
    synthesized: Synthesized,
) -> None:
    errors = {
        stack_id: cfn_lint_errors(Template.from_stack(stack), stack.region)
        for stack_id, stack in synthesized.stacks.items()
    }
    assert errors == {stack_id: [] for stack_id in synthesized.stacks}


# --- how the stacks fit together ------------------------------------------------------------------


def test_given_dev_app_when_synthesized_then_stacks_that_read_the_hmac_key_by_name_deploy_after_data(
    synthesized: Synthesized,
) -> None:
    for stack_id in (serving_stack_id("dev"), mining_stack_id("dev")):
        dependencies = {dependency.node.id for dependency in synthesized.stacks[stack_id].dependencies}
        assert data_stack_id("dev") in dependencies, stack_id


def test_given_dev_app_when_synthesized_then_miners_and_scoring_tokenise_with_the_same_key(
    synthesized: Synthesized,
) -> None:
    secret_names = set()
    for stack_id in (serving_stack_id("dev"), mining_stack_id("dev")):
        template = Template.from_stack(synthesized.stacks[stack_id])
        for function in template.find_resources("AWS::Lambda::Function").values():
            variables = function["Properties"].get("Environment", {}).get("Variables", {})
            if constants.ENV_HMAC_SECRET_NAME in variables:
                secret_names.add(variables[constants.ENV_HMAC_SECRET_NAME])
    assert secret_names == {"credo/dev/hmac-key"}


def test_given_dev_app_when_synthesized_then_the_training_job_uses_the_regions_sklearn_image_and_dev_instance(
    synthesized: Synthesized,
) -> None:
    template = Template.from_stack(synthesized.stacks[training_stack_id("dev")])
    _, machine = only(template, "AWS::StepFunctions::StateMachine")
    definition = json.dumps(machine["Properties"]["DefinitionString"])
    assert "720646828776.dkr.ecr.ap-south-1.amazonaws.com/sagemaker-scikit-learn" in definition
    assert "ml.m5.xlarge" in definition  # cdk.json, dev


def test_given_dev_app_when_synthesized_then_each_miner_runs_on_its_cdk_json_schedule(
    synthesized: Synthesized,
) -> None:
    schedules = cdk_json_context()["environments"]["dev"]["mining_schedules"]
    template = Template.from_stack(synthesized.stacks[mining_stack_id("dev")])
    rules = [rule["Properties"] for rule in template.find_resources("AWS::Events::Rule").values()]
    assert sorted(rule["ScheduleExpression"] for rule in rules) == sorted(schedules.values())
