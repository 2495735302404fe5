"""The serving stack as CloudFormation: the scoring Lambda, its stores, its API, its permissions."""

import json
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from credo import constants
from credo.policy import parse_policy
from infra.build_layers import LayerBuild
from infra.credo_app import add_stacks, create_app, data_stack_id
from infra.credo_stack import ServingStack
from infra.feature_store_construct import FeatureStore
from infra.policy_construct import DEFAULT_POLICY
from tests.infrastructure.templates import NO_ASSET_STAGING, cfn_lint_errors, only

REPO = Path(__file__).resolve().parents[2]
XRAY_ACTIONS = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}
EXPECTED_SCORING_ACTIONS = XRAY_ACTIONS | {
    "logs:CreateLogStream",
    "logs:PutLogEvents",
    "s3:GetObject*",
    "s3:GetBucket*",
    "s3:List*",
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",
    "secretsmanager:GetSecretValue",
    "secretsmanager:DescribeSecret",
    "ssm:DescribeParameters",
    "ssm:GetParameter",
    "ssm:GetParameters",
    "ssm:GetParameterHistory",
}


@pytest.fixture(scope="module")
def stack(built_layers: dict[str, LayerBuild]) -> ServingStack:
    app = create_app(context={"env": "dev", **NO_ASSET_STAGING})
    return add_stacks(app)


@pytest.fixture(scope="module")
def template(stack: ServingStack) -> Template:
    return Template.from_stack(stack)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _scoring_role_statements(template: Template) -> list[dict[str, Any]]:
    _, function = only(template, "AWS::Lambda::Function")
    role_id = function["Properties"]["Role"]["Fn::GetAtt"][0]
    statements = []
    for policy in template.find_resources("AWS::IAM::Policy").values():
        if {"Ref": role_id} in policy["Properties"]["Roles"]:
            statements += policy["Properties"]["PolicyDocument"]["Statement"]
    return statements


def test_given_dev_context_when_app_is_built_then_one_serving_stack_is_named_for_the_environment(
    stack: ServingStack,
) -> None:
    assert stack.stack_name == "Credo-dev-Serving"
    assert stack.config.name == "dev"


def test_given_serving_stack_when_synthesized_then_scoring_function_is_python312_arm64_with_tracing(
    template: Template, stack: ServingStack
) -> None:
    template.resource_count_is("AWS::Lambda::Function", 1)  # no helper Lambdas (log retention, ...)
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Runtime": "python3.12",
            "Architectures": ["arm64"],
            "Handler": "handler.handler",
            "MemorySize": 1024,
            "Timeout": stack.config.scoring_timeout_seconds,
            "TracingConfig": {"Mode": "Active"},
            "LoggingConfig": Match.object_like({"LogFormat": "JSON"}),
        },
    )


def test_given_serving_stack_when_synthesized_then_function_env_names_come_from_credo_constants(
    template: Template, stack: ServingStack
) -> None:
    _, function = only(template, "AWS::Lambda::Function")
    variables = function["Properties"]["Environment"]["Variables"]
    bucket_id = stack.get_logical_id(stack.models.bucket.node.default_child)  # not its access-log bucket
    table_id, _ = only(template, "AWS::DynamoDB::Table")
    parameter_id, _ = only(template, "AWS::SSM::Parameter")
    assert variables[constants.ENV_MODEL_BUCKET] == {"Ref": bucket_id}
    assert variables[constants.ENV_FEATURE_TABLE] == {"Ref": table_id}
    assert variables[constants.ENV_POLICY_PARAMETER] == {"Ref": parameter_id}
    assert constants.ENV_HMAC_SECRET_NAME in variables
    assert variables[constants.ENV_ENVIRONMENT] == "dev"


def test_given_serving_stack_when_synthesized_then_function_logs_to_its_own_retained_log_group(
    template: Template, stack: ServingStack
) -> None:
    log_group_id = stack.get_logical_id(stack.scoring.log_group.node.default_child)  # not the API's
    log_group = template.find_resources("AWS::Logs::LogGroup")[log_group_id]
    _, function = only(template, "AWS::Lambda::Function")
    assert function["Properties"]["LoggingConfig"]["LogGroup"] == {"Ref": log_group_id}
    assert log_group["Properties"]["RetentionInDays"] == 14  # dev: TWO_WEEKS in cdk.json


def test_given_serving_stack_when_synthesized_then_function_uses_core_and_runtime_layers_for_arm64(
    template: Template,
) -> None:
    layers = template.find_resources("AWS::Lambda::LayerVersion")
    assert len(layers) == 2
    for layer in layers.values():
        assert layer["Properties"]["CompatibleRuntimes"] == ["python3.12"]
        assert layer["Properties"]["CompatibleArchitectures"] == ["arm64"]
    _, function = only(template, "AWS::Lambda::Function")
    assert sorted(ref["Ref"] for ref in function["Properties"]["Layers"]) == sorted(layers)


def test_given_serving_stack_when_synthesized_then_model_bucket_is_kms_encrypted_private_and_versioned(
    template: Template,
) -> None:
    template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [
                    {"BucketKeyEnabled": True, "ServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}}
                ]
            },
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": True,
                "BlockPublicPolicy": True,
                "IgnorePublicAcls": True,
                "RestrictPublicBuckets": True,
            },
            "VersioningConfiguration": {"Status": "Enabled"},
        },
    )


def test_given_serving_stack_when_synthesized_then_model_bucket_policy_denies_requests_without_tls(
    template: Template,
) -> None:
    template.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Deny",
                                "Action": "s3:*",
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            }
                        )
                    ]
                )
            }
        },
    )


def test_given_serving_stack_when_synthesized_then_feature_table_is_keyed_by_token_on_demand_with_pitr(
    template: Template,
) -> None:
    template.has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "KeySchema": [{"AttributeName": FeatureStore.PARTITION_KEY, "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "token", "AttributeType": "S"}],
            "BillingMode": "PAY_PER_REQUEST",
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
            "SSESpecification": {"SSEEnabled": True},
        },
    )


def test_given_serving_stack_when_synthesized_then_it_reads_the_data_stacks_hmac_key_by_name(
    template: Template, stack: ServingStack
) -> None:
    template.resource_count_is("AWS::SecretsManager::Secret", 0)
    _, function = only(template, "AWS::Lambda::Function")
    assert (
        function["Properties"]["Environment"]["Variables"][constants.ENV_HMAC_SECRET_NAME]
        == "credo/dev/hmac-key"
    )
    assert data_stack_id("dev") in {dependency.node.id for dependency in stack.dependencies}


def test_given_serving_stack_when_synthesized_then_policy_parameter_holds_a_valid_default_policy(
    template: Template,
) -> None:
    _, parameter = only(template, "AWS::SSM::Parameter")
    properties = parameter["Properties"]
    assert properties["Type"] == "String"
    assert properties["Name"] == "/credo/dev/policy"
    assert json.loads(properties["Value"]) == DEFAULT_POLICY
    policy = parse_policy(properties["Value"])  # the scoring code must accept what infra writes
    assert (policy.credit_threshold, policy.buying_threshold) == (600, 600)


def _api_paths(template: Template) -> dict[str, str]:
    """Each API Gateway resource's full path, by logical id."""
    resources = template.find_resources("AWS::ApiGateway::Resource")

    def path_of(logical_id: str) -> str:
        properties = resources[logical_id]["Properties"]
        parent = properties["ParentId"]
        prefix = path_of(parent["Ref"]) if isinstance(parent, dict) and "Ref" in parent else ""
        return f"{prefix}/{properties['PathPart']}"

    return {logical_id: path_of(logical_id) for logical_id in resources}


def test_given_serving_stack_when_synthesized_then_every_openapi_route_requires_iam_and_invokes_lambda(
    template: Template,
) -> None:
    paths = _api_paths(template)
    function_id, _ = only(template, "AWS::Lambda::Function")
    routes = set()
    for method in template.find_resources("AWS::ApiGateway::Method").values():
        properties = method["Properties"]
        assert properties["AuthorizationType"] == "AWS_IAM"
        assert properties["Integration"]["Type"] == "AWS_PROXY"
        assert {"Fn::GetAtt": [function_id, "Arn"]} in properties["Integration"]["Uri"]["Fn::Join"][1]
        routes.add((properties["HttpMethod"], paths[properties["ResourceId"]["Ref"]]))

    document = json.loads((REPO / "docs" / "openapi.json").read_text())
    documented = {(m.upper(), p) for p, methods in document["paths"].items() for m in methods}
    assert routes == documented | {("GET", "/v1/openapi.json")}


def test_given_serving_stack_when_synthesized_then_stage_throttles_every_method(
    template: Template, stack: ServingStack
) -> None:
    template.has_resource_properties(
        "AWS::ApiGateway::Stage",
        {
            "StageName": "dev",
            "TracingEnabled": True,
            "MethodSettings": Match.array_with(
                [
                    Match.object_like(
                        {
                            "HttpMethod": "*",
                            "ResourcePath": "/*",
                            "ThrottlingRateLimit": stack.config.api_throttle_rate_limit,
                            "ThrottlingBurstLimit": stack.config.api_throttle_burst_limit,
                        }
                    )
                ]
            ),
        },
    )


def test_given_scoring_role_when_synthesized_then_it_allows_only_the_reads_scoring_needs(
    template: Template,
) -> None:
    statements = _scoring_role_statements(template)
    assert all(statement["Effect"] == "Allow" for statement in statements)
    actions = {action for statement in statements for action in _as_list(statement["Action"])}
    assert actions == EXPECTED_SCORING_ACTIONS
    assert not any(action == "*" or action.endswith(":*") for action in actions)


def test_given_scoring_role_when_synthesized_then_only_xray_may_use_a_wildcard_resource(
    template: Template,
) -> None:
    for statement in _scoring_role_statements(template):
        if "*" in _as_list(statement["Resource"]):
            assert set(_as_list(statement["Action"])) <= XRAY_ACTIONS, statement


def test_given_scoring_role_when_synthesized_then_no_managed_policy_is_attached(template: Template) -> None:
    _, function = only(template, "AWS::Lambda::Function")
    role = template.find_resources("AWS::IAM::Role")[function["Properties"]["Role"]["Fn::GetAtt"][0]]
    assert "ManagedPolicyArns" not in role["Properties"]
    assert role["Properties"]["AssumeRolePolicyDocument"]["Statement"] == [
        {"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}}
    ]


def test_given_synthesized_template_when_cfn_lint_runs_then_it_reports_no_errors(
    template: Template, stack: ServingStack
) -> None:
    assert cfn_lint_errors(template, stack.region) == []


def test_given_prod_context_with_provisioned_concurrency_when_synthesized_then_the_api_invokes_a_warm_alias(
    built_layers: dict[str, LayerBuild],
) -> None:
    prod = Template.from_stack(add_stacks(create_app(context={"env": "prod", **NO_ASSET_STAGING})))
    alias_id, alias = only(prod, "AWS::Lambda::Alias")
    assert alias["Properties"]["Name"] == "live"
    assert alias["Properties"]["ProvisionedConcurrencyConfig"] == {"ProvisionedConcurrentExecutions": 2}
    for properties in prod.find_resources("AWS::ApiGateway::Method").values():
        if properties["Properties"]["HttpMethod"] == "OPTIONS":
            continue
        assert {"Ref": alias_id} in properties["Properties"]["Integration"]["Uri"]["Fn::Join"][1]


def test_given_dev_context_without_provisioned_concurrency_when_synthesized_then_there_is_no_alias(
    template: Template,
) -> None:
    template.resource_count_is("AWS::Lambda::Alias", 0)
