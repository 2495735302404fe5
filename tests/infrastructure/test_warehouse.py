"""The warehouse in CloudFormation: Redshift Serverless, its private network, copy role, Data API access."""

import json
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from aws_cdk import CfnElement, Environment, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk.assertions import Template
from constructs import IConstruct

from infra.credo_app import add_compliance_checks, create_app
from infra.lake_construct import AccessLogStore, DataLake
from infra.warehouse_construct import Warehouse
from tests.infrastructure.templates import NO_ASSET_STAGING, cfn_lint_errors, only

ENVIRONMENT = "test"
BASE_CAPACITY_RPUS = 32
LOG_EXPORTS = {"userlog", "connectionlog", "useractivitylog"}
LOG_RETENTION = logs.RetentionDays.ONE_MONTH
PACK = "AwsSolutions"


class Built(NamedTuple):
    stack: Stack
    warehouse: Warehouse
    lake: DataLake
    consumer: iam.Role
    template: Template
    report: dict[str, Any]
    failure: str | None


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """One stack: a KMS-encrypted lake, the warehouse on it, and a role granted the Data API."""
    outdir = tmp_path_factory.mktemp("cdk.out")
    app = create_app(outdir=str(outdir), context=NO_ASSET_STAGING)
    stack = Stack(app, "WarehouseTest")
    access_logs = AccessLogStore(stack, "AccessLogs")
    lake = DataLake(
        stack,
        "Lake",
        environment_name=ENVIRONMENT,
        raw_retention_days=30,
        access_logs_bucket=access_logs.bucket,
    )
    warehouse = Warehouse(
        stack,
        "Warehouse",
        environment_name=ENVIRONMENT,
        lake_bucket=lake.bucket,
        base_capacity_rpus=BASE_CAPACITY_RPUS,
        log_retention=LOG_RETENTION,
    )
    consumer = iam.Role(stack, "Consumer", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    warehouse.grant_data_api(consumer)
    add_compliance_checks(app)
    failure = None
    try:
        app.synth()
    except RuntimeError as error:  # findings fail synthesis; the report still lists them
        failure = str(error)
    reports = json.loads((Path(outdir) / "validation-report.json").read_text())["pluginReports"]
    [report] = [report for report in reports if report["pluginName"] == PACK]
    template = Template.from_stack(stack) if failure is None else Template.from_json({"Resources": {}})
    return Built(stack, warehouse, lake, consumer, template, report, failure)


def _logical_id(stack: Stack, construct: IConstruct) -> str:
    """The logical id of an L1 resource, or of an L2 construct's own CloudFormation resource."""
    element = construct if isinstance(construct, CfnElement) else construct.node.default_child
    assert isinstance(element, CfnElement), f"{construct.node.path} has no CloudFormation resource of its own"
    return stack.get_logical_id(element)


def _arn(stack: Stack, construct: IConstruct) -> dict[str, Any]:
    return {"Fn::GetAtt": [_logical_id(stack, construct), "Arn"]}


def _resources(template: Template) -> dict[str, Any]:
    resources: dict[str, Any] = template.to_json()["Resources"]
    return resources


def _properties(template: Template, resource_type: str) -> dict[str, Any]:
    properties: dict[str, Any] = only(template, resource_type)[1]["Properties"]
    return properties


def _statements(policy_document: dict[str, Any]) -> list[dict[str, Any]]:
    """Statements with their actions as sorted lists, so order does not matter when compared."""
    normalized = []
    for statement in policy_document["Statement"]:
        statement = dict(statement)
        actions = statement["Action"]
        statement["Action"] = sorted([actions] if isinstance(actions, str) else actions)
        normalized.append(statement)
    return sorted(normalized, key=lambda s: json.dumps(s, sort_keys=True))


def _objects(stack: Stack, lake: DataLake, prefix: str) -> dict[str, Any]:
    return {"Fn::Join": ["", [_arn(stack, lake.bucket), prefix]]}


# --- compliance ---------------------------------------------------------------------------------


def test_given_warehouse_when_synthesized_then_cdk_nag_reports_no_unacknowledged_finding(
    built: Built,
) -> None:
    unacknowledged = [
        (violation["ruleName"], construct["constructPath"])
        for violation in built.report["violations"]
        for construct in violation["violatingConstructs"]
    ]
    assert unacknowledged == []
    assert built.failure is None


def test_given_warehouse_when_synthesized_then_only_the_expected_findings_are_acknowledged_with_reasons(
    built: Built,
) -> None:
    bucket = f"<{_logical_id(built.stack, built.lake.bucket)}.Arn>"
    acknowledged = {(f["acknowledgedAt"], f["ruleName"]) for f in built.report["suppressedViolations"]}
    assert acknowledged == {
        ("WarehouseTest/Warehouse/DataApiPolicy", "AwsSolutions-IAM5[Resource::*]"),
        ("WarehouseTest/Warehouse/CopyRole", f"AwsSolutions-IAM5[Resource::{bucket}/raw/*]"),
        ("WarehouseTest/Warehouse/CopyRole", f"AwsSolutions-IAM5[Resource::{bucket}/features/*]"),
    }
    for finding in built.report["suppressedViolations"]:
        assert len(finding["reason"].split()) >= 12, finding


def test_given_warehouse_when_linted_then_cfn_lint_reports_no_error(built: Built) -> None:
    assert cfn_lint_errors(built.template, "ap-south-1") == []


# --- the namespace ------------------------------------------------------------------------------


def test_given_namespace_then_it_is_encrypted_with_a_rotated_customer_managed_key_that_is_retained(
    built: Built,
) -> None:
    namespace = _properties(built.template, "AWS::RedshiftServerless::Namespace")
    key_arn = _arn(built.stack, built.warehouse.key)
    assert namespace["KmsKeyId"] == key_arn
    key = _resources(built.template)[_logical_id(built.stack, built.warehouse.key)]
    assert key["Type"] == "AWS::KMS::Key"
    assert key["Properties"]["EnableKeyRotation"] is True
    assert key["DeletionPolicy"] == key["UpdateReplacePolicy"] == "Retain"


def test_given_namespace_then_redshift_manages_the_admin_password_and_the_template_holds_none(
    built: Built,
) -> None:
    namespace = _properties(built.template, "AWS::RedshiftServerless::Namespace")
    assert namespace["ManageAdminPassword"] is True
    assert namespace["AdminPasswordSecretKmsKeyId"] == _arn(built.stack, built.warehouse.key)
    assert "AdminUserPassword" not in namespace
    assert not built.template.find_resources("AWS::SecretsManager::Secret")
    assert (
        built.warehouse.admin_secret.secret_name
        == f"redshift!credo-{ENVIRONMENT}-{namespace['AdminUsername']}"
    )


def test_given_namespace_then_the_copy_role_is_its_iam_role_and_default_role(built: Built) -> None:
    namespace = _properties(built.template, "AWS::RedshiftServerless::Namespace")
    copy_role = _arn(built.stack, built.warehouse.copy_role)
    assert namespace["IamRoles"] == [copy_role]
    assert namespace["DefaultIamRoleArn"] == copy_role


def test_given_namespace_then_it_exports_logs_names_the_environment_and_survives_stack_deletion(
    built: Built,
) -> None:
    logical_id, namespace = only(built.template, "AWS::RedshiftServerless::Namespace")
    properties = namespace["Properties"]
    assert set(properties["LogExports"]) == LOG_EXPORTS
    assert properties["NamespaceName"] == f"credo-{ENVIRONMENT}"
    assert properties["DbName"] == built.warehouse.database_name == "credo"
    assert namespace["DeletionPolicy"] == namespace["UpdateReplacePolicy"] == "Retain"
    assert logical_id == _logical_id(built.stack, built.warehouse.namespace)


def test_given_namespace_then_each_exported_log_has_its_group_first_with_the_retention_and_kept_with_it(
    built: Built,
) -> None:
    groups = built.template.find_resources("AWS::Logs::LogGroup")
    by_name = {g["Properties"].get("LogGroupName"): (logical_id, g) for logical_id, g in groups.items()}
    _, namespace = only(built.template, "AWS::RedshiftServerless::Namespace")
    for log_type in LOG_EXPORTS:
        # the name Redshift Serverless writes to, so it uses this group instead of creating its own
        logical_id, group = by_name[f"/aws/redshift/credo-{ENVIRONMENT}/{log_type}"]
        assert group["Properties"]["RetentionInDays"] == 30
        assert group["DeletionPolicy"] == "Retain"
        assert logical_id in namespace["DependsOn"]


# --- the workgroup and its network --------------------------------------------------------------


def test_given_workgroup_then_it_routes_through_the_vpc_is_private_and_has_the_base_capacity(
    built: Built,
) -> None:
    workgroup = _properties(built.template, "AWS::RedshiftServerless::Workgroup")
    assert workgroup["EnhancedVpcRouting"] is True
    assert workgroup["PubliclyAccessible"] is False
    assert workgroup["BaseCapacity"] == BASE_CAPACITY_RPUS
    assert workgroup["WorkgroupName"] == built.warehouse.workgroup_name == f"credo-{ENVIRONMENT}"
    assert workgroup["NamespaceName"] == {"Ref": _logical_id(built.stack, built.warehouse.namespace)}
    assert workgroup["SecurityGroupIds"] == [
        {"Fn::GetAtt": [_logical_id(built.stack, built.warehouse.security_group), "GroupId"]}
    ]
    assert {"parameterKey": "require_ssl", "parameterValue": "true"} in [
        {"parameterKey": p["ParameterKey"], "parameterValue": p["ParameterValue"]}
        for p in workgroup["ConfigParameters"]
    ]


def test_given_workgroup_then_its_subnets_are_isolated_and_span_the_zones_enhanced_routing_needs(
    built: Built,
) -> None:
    workgroup = _properties(built.template, "AWS::RedshiftServerless::Workgroup")
    resources = _resources(built.template)
    subnets = [resources[ref["Ref"]]["Properties"] for ref in workgroup["SubnetIds"]]
    zones = {json.dumps(subnet["AvailabilityZone"], sort_keys=True) for subnet in subnets}
    assert len(zones) == len(subnets) >= Warehouse.REQUIRED_AVAILABILITY_ZONES
    assert all(subnet["MapPublicIpOnLaunch"] is False for subnet in subnets)
    # Nothing in the VPC can reach the internet: no gateway, no NAT, no route besides the endpoint's.
    for resource_type in ("AWS::EC2::InternetGateway", "AWS::EC2::NatGateway", "AWS::EC2::Route"):
        assert built.template.find_resources(resource_type) == {}, resource_type


def test_given_vpc_then_an_s3_gateway_endpoint_serves_the_workgroup_subnets_for_the_lake_only(
    built: Built,
) -> None:
    endpoint = _properties(built.template, "AWS::EC2::VPCEndpoint")
    assert endpoint["VpcEndpointType"] == "Gateway"
    assert endpoint["ServiceName"] == {"Fn::Join": ["", ["com.amazonaws.", {"Ref": "AWS::Region"}, ".s3"]]}
    resources = _resources(built.template)
    subnet_route_tables = [
        association["Properties"]["RouteTableId"]
        for association in resources.values()
        if association["Type"] == "AWS::EC2::SubnetRouteTableAssociation"
    ]
    assert sorted(map(str, endpoint["RouteTableIds"])) == sorted(map(str, subnet_route_tables))
    [statement] = endpoint["PolicyDocument"]["Statement"]
    assert statement["Resource"] == [
        _arn(built.stack, built.lake.bucket),
        _objects(built.stack, built.lake, "/*"),
    ]
    assert sorted(statement["Action"]) == ["s3:DeleteObject", "s3:GetObject", "s3:ListBucket", "s3:PutObject"]


def test_given_vpc_then_flow_logs_record_all_traffic_for_a_year(built: Built) -> None:
    flow_log = _properties(built.template, "AWS::EC2::FlowLog")
    assert flow_log["ResourceId"] == {"Ref": _logical_id(built.stack, built.warehouse.vpc)}
    assert flow_log["ResourceType"] == "VPC"
    assert flow_log["TrafficType"] == "ALL"
    log_group = _resources(built.template)[flow_log["LogGroupName"]["Ref"]]
    assert log_group["Properties"]["RetentionInDays"] == 365


def test_given_security_group_then_it_admits_nothing_and_lets_out_only_https(built: Built) -> None:
    group = _resources(built.template)[_logical_id(built.stack, built.warehouse.security_group)]["Properties"]
    assert "SecurityGroupIngress" not in group
    assert not built.template.find_resources("AWS::EC2::SecurityGroupIngress")
    [egress] = group["SecurityGroupEgress"]
    assert (egress["IpProtocol"], egress["FromPort"], egress["ToPort"]) == ("tcp", 443, 443)


# --- the copy role ------------------------------------------------------------------------------


def test_given_copy_role_then_only_redshift_may_assume_it(built: Built) -> None:
    role = _resources(built.template)[_logical_id(built.stack, built.warehouse.copy_role)]["Properties"]
    [trust] = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Action"] == "sts:AssumeRole"
    assert sorted(trust["Principal"]["Service"]) == [
        "redshift-serverless.amazonaws.com",
        "redshift.amazonaws.com",
    ]
    assert "ManagedPolicyArns" not in role


def test_given_copy_role_then_it_reads_raw_writes_features_and_lists_only_those_prefixes(
    built: Built,
) -> None:
    stack, lake = built.stack, built.lake
    policies = [
        policy["Properties"]
        for policy in built.template.find_resources("AWS::IAM::Policy").values()
        if policy["Properties"]["Roles"] == [{"Ref": _logical_id(stack, built.warehouse.copy_role)}]
    ]
    [policy] = policies
    assert _statements(policy["PolicyDocument"]) == _statements(
        {
            "Statement": [
                {
                    "Action": "s3:ListBucket",
                    "Condition": {"StringLike": {"s3:prefix": ["raw/*", "features/*"]}},
                    "Effect": "Allow",
                    "Resource": _arn(stack, lake.bucket),
                },
                {"Action": "s3:GetObject", "Effect": "Allow", "Resource": _objects(stack, lake, "/raw/*")},
                {
                    "Action": ["s3:DeleteObject", "s3:PutObject"],
                    "Effect": "Allow",
                    "Resource": _objects(stack, lake, "/features/*"),
                },
                {
                    "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                    "Condition": {
                        "StringEquals": {
                            "kms:ViaService": {
                                "Fn::Join": ["", ["s3.", {"Ref": "AWS::Region"}, ".amazonaws.com"]]
                            }
                        }
                    },
                    "Effect": "Allow",
                    "Resource": _arn(stack, lake.key),
                },
            ]
        }
    )


# --- Data API access ----------------------------------------------------------------------------


def test_given_a_role_granted_the_data_api_then_it_gets_exactly_credos_calls_on_this_workgroup(
    built: Built,
) -> None:
    policy_id = _logical_id(built.stack, built.warehouse.data_api_policy)
    consumer = _resources(built.template)[_logical_id(built.stack, built.consumer)]["Properties"]
    assert consumer["ManagedPolicyArns"] == [{"Ref": policy_id}]
    assert not [
        policy
        for policy in built.template.find_resources("AWS::IAM::Policy").values()
        if {"Ref": _logical_id(built.stack, built.consumer)} in policy["Properties"]["Roles"]
    ]
    document = _resources(built.template)[policy_id]["Properties"]["PolicyDocument"]
    workgroup_arn = {
        "Fn::GetAtt": [_logical_id(built.stack, built.warehouse.workgroup), "Workgroup.WorkgroupArn"]
    }
    assert _statements(document) == _statements(
        {
            "Statement": [
                {
                    "Action": [
                        "redshift-data:BatchExecuteStatement",
                        "redshift-data:ExecuteStatement",
                        "redshift-serverless:GetCredentials",
                    ],
                    "Effect": "Allow",
                    "Resource": workgroup_arn,
                },
                {
                    "Action": [
                        "redshift-data:CancelStatement",
                        "redshift-data:DescribeStatement",
                        "redshift-data:GetStatementResult",
                    ],
                    "Condition": {
                        "StringEquals": {"redshift-data:statement-owner-iam-userid": "${aws:userid}"}
                    },
                    "Effect": "Allow",
                    "Resource": "*",
                },
            ]
        }
    )


def test_given_a_principal_that_takes_no_managed_policy_when_granted_the_data_api_then_type_error(
    built: Built,
) -> None:
    with pytest.raises(TypeError, match="role, user or group"):
        built.warehouse.grant_data_api(iam.ServicePrincipal("lambda.amazonaws.com"))


# --- arguments ----------------------------------------------------------------------------------


def _warehouse_in_a_fresh_stack(
    *, env: Environment | None = None, context: dict[str, Any] | None = None, **arguments: Any
) -> Warehouse:
    app = create_app(context={**NO_ASSET_STAGING, **(context or {})})
    stack = Stack(app, "Arguments", env=env)
    lake = DataLake(
        stack,
        "Lake",
        environment_name=ENVIRONMENT,
        raw_retention_days=30,
        access_logs_bucket=AccessLogStore(stack, "AccessLogs").bucket,
    )
    settings: dict[str, Any] = {
        "environment_name": ENVIRONMENT, "base_capacity_rpus": 8, "log_retention": LOG_RETENTION, **arguments,
    }  # fmt: skip
    return Warehouse(stack, "Warehouse", lake_bucket=lake.bucket, **settings)


@pytest.mark.parametrize("base_capacity", [0, 4, 12, 1032, 2048, -8])
def test_given_a_base_capacity_redshift_rejects_when_built_then_value_error_names_it(
    base_capacity: int,
) -> None:
    with pytest.raises(ValueError, match=rf"base_capacity_rpus {base_capacity} is not"):
        _warehouse_in_a_fresh_stack(base_capacity_rpus=base_capacity)


@pytest.mark.parametrize("base_capacity", [8, 1024])
def test_given_the_smallest_and_largest_base_capacity_when_built_then_accepted(base_capacity: int) -> None:
    assert (
        _warehouse_in_a_fresh_stack(base_capacity_rpus=base_capacity).workgroup.base_capacity == base_capacity
    )


def test_given_fewer_zones_than_enhanced_routing_needs_when_built_then_value_error() -> None:
    with pytest.raises(ValueError, match="max_azs 2 is too few"):
        _warehouse_in_a_fresh_stack(max_azs=2)


def test_given_a_region_with_two_zones_when_built_then_value_error_names_the_region() -> None:
    account, region = "123456789012", "us-west-1"
    with pytest.raises(ValueError, match="region us-west-1 offers 2 availability zones"):
        _warehouse_in_a_fresh_stack(
            env=Environment(account=account, region=region),
            context={f"availability-zones:account={account}:region={region}": ["us-west-1a", "us-west-1c"]},
        )


def test_given_a_known_region_with_more_zones_than_max_azs_when_built_then_it_uses_max_azs_of_them() -> None:
    account, region = "123456789012", "us-east-1"
    zones = ["us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d"]
    warehouse = _warehouse_in_a_fresh_stack(
        env=Environment(account=account, region=region),
        context={f"availability-zones:account={account}:region={region}": zones},
    )
    assert warehouse.vpc.availability_zones == zones[:3]


@pytest.mark.parametrize(
    ("argument", "value"),
    [("environment_name", "Prod"), ("database_name", "1credo"), ("database_name", "cre-do")],
)
def test_given_a_name_redshift_rejects_when_built_then_value_error_names_it(
    argument: str, value: str
) -> None:
    arguments: dict[str, Any] = {argument: value}
    with pytest.raises(ValueError, match=rf"{argument} '{value}'"):
        _warehouse_in_a_fresh_stack(**arguments)
