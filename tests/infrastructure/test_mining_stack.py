"""The six miners as CloudFormation: schedules, dead letters, least-privilege roles, watermarks, secrets.

The miners sit in their own stack and take the lake, drops bucket and HMAC key from a data stack, as
Credo-<env>-Mining does from Credo-<env>-Data; one more app puts everything in one stack, so the
acknowledgements are shown to hold for either composition. A third app places the miners in a shop's
VPC (cdk.json `mining_network`).
"""

import json
import string
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from aws_cdk import Acknowledgment, App, Duration, Stack, Validations
from aws_cdk import aws_events as events
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk.assertions import Annotations, Match, Template
from constructs import IConstruct

from credo import constants
from credo.miners import MINERS, PENDING_LOOKUPS_KEY
from infra.build_layers import REPO_ROOT, LayerBuild
from infra.config import EnvironmentConfig, MiningNetwork
from infra.credo_app import add_compliance_checks
from infra.credo_stack import MiningStack
from infra.layers_construct import LambdaLayers, ScoringLayers
from infra.miner_construct import Miner
from infra.mining_construct import Miners
from tests.infrastructure.templates import NO_ASSET_STAGING, cfn_lint_errors, only

ENVIRONMENT = "test"
SOURCE_DB_SECRET = "credo/test/shop-db"
SCHEDULES = {
    "registrations": events.Schedule.rate(Duration.hours(1)),
    "orders": events.Schedule.rate(Duration.minutes(15)),
    "payments": events.Schedule.cron(minute="0", hour="*/6"),
    "marketing": events.Schedule.rate(Duration.hours(2)),
    "reference": events.Schedule.cron(minute="30", hour="1"),
    "bureau": events.Schedule.cron(minute="0", hour="3", week_day="MON"),
}
EXPRESSIONS = {
    "registrations": "rate(1 hour)",
    "orders": "rate(15 minutes)",
    "payments": "cron(0 */6 * * ? *)",
    "marketing": "rate(2 hours)",
    "reference": "cron(30 1 * * ? *)",
    "bureau": "cron(0 3 ? * MON *)",
}
TABLE_SOURCES = ("registrations", "orders", "payments", "reference", "bureau")
VALIDATION_REPORT = "validation-report.json"
NETWORK = MiningNetwork(
    vpc_id="vpc-0123456789abcdef0",
    subnet_ids=("subnet-0aaaaaaaaaaaaaaaa", "subnet-0bbbbbbbbbbbbbbbb"),
    security_group_ids=("sg-0123456789abcdef0", "sg-0fedcba9876543210"),
)
NETWORK_INTERFACE_ACTIONS = {
    "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSubnets",
    "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
}


class Composition(NamedTuple):
    app: App
    data: Stack
    mining: Stack
    miners: Miners
    lake: s3.Bucket
    drops: s3.Bucket
    hmac_secret: secretsmanager.Secret
    outdir: Path


def _compose(outdir: Path, *, one_stack: bool, network: MiningNetwork | None = None) -> Composition:
    app = App(outdir=str(outdir), context=NO_ASSET_STAGING)
    data = Stack(app, "Data")
    mining = data if one_stack else Stack(app, "Mining")
    lake = s3.Bucket(
        data,
        "Lake",
        encryption=s3.BucketEncryption.KMS,
        encryption_key=kms.Key(data, "LakeKey", enable_key_rotation=True),
        bucket_key_enabled=True,
        enforce_ssl=True,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
    )
    drops = s3.Bucket(
        data,
        "Drops",
        encryption=s3.BucketEncryption.KMS,
        encryption_key=kms.Key(data, "DropsKey", enable_key_rotation=True),
        enforce_ssl=True,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
    )
    hmac_secret = secretsmanager.Secret(data, "HmacKey", secret_name=f"credo/{ENVIRONMENT}/hmac-key")
    for fixture, rule in ((lake, "S1"), (drops, "S1"), (hmac_secret, "SMG4")):
        Validations.of(fixture).acknowledge(
            Acknowledgment(
                id=f"AwsSolutions::AwsSolutions-{rule}", reason="Test fixture standing in for the data stack"
            )
        )
    miners = Miners(
        mining,
        "Miners",
        environment_name=ENVIRONMENT,
        functions_root=REPO_ROOT / "functions",
        layers=LambdaLayers(mining, "Layers", names=("core", "data")),
        lake_bucket=lake,
        drops_bucket=drops,
        hmac_secret=hmac_secret,
        source_db_secret_name=SOURCE_DB_SECRET,
        schedules=SCHEDULES,
        log_retention=logs.RetentionDays.ONE_MONTH,
        network=network,
    )
    add_compliance_checks(app)
    app.synth()  # raises on any cdk-nag finding left unacknowledged
    return Composition(app, data, mining, miners, lake, drops, hmac_secret, outdir)


@pytest.fixture(scope="module")
def composed(built_layers: dict[str, LayerBuild], tmp_path_factory: pytest.TempPathFactory) -> Composition:
    return _compose(tmp_path_factory.mktemp("cdk.out"), one_stack=False)


@pytest.fixture(scope="module")
def template(composed: Composition) -> Template:
    return Template.from_stack(composed.mining)


@pytest.fixture(scope="module")
def data_template(composed: Composition) -> Template:
    return Template.from_stack(composed.data)


@pytest.fixture(scope="module")
def networked(built_layers: dict[str, LayerBuild], tmp_path_factory: pytest.TempPathFactory) -> Composition:
    return _compose(tmp_path_factory.mktemp("cdk.out"), one_stack=False, network=NETWORK)


@pytest.fixture(scope="module")
def networked_template(networked: Composition) -> Template:
    return Template.from_stack(networked.mining)


@pytest.fixture(scope="module")
def networked_data_template(networked: Composition) -> Template:
    return Template.from_stack(networked.data)


# --- helpers -------------------------------------------------------------------------------------


def _logical_id(construct: IConstruct) -> str:
    element = construct.node.default_child
    assert element is not None, construct.node.path
    return str(Stack.of(construct).get_logical_id(element))  # type: ignore[arg-type]


def _flatten(value: Any) -> str:
    """A CloudFormation value as one readable string: <Logical.Attr>, <Ref>, export names."""
    if isinstance(value, str):
        return value
    if "Fn::Join" in value:
        delimiter, items = value["Fn::Join"]
        return str(delimiter).join(_flatten(item) for item in items)
    if "Fn::GetAtt" in value:
        return "<{}.{}>".format(*value["Fn::GetAtt"])
    if "Fn::ImportValue" in value:
        return f"import:{value['Fn::ImportValue']}"
    if "Ref" in value:
        return f"<{value['Ref']}>"
    raise AssertionError(f"unexpected value {value}")


def _export(data_template: Template, value: dict[str, Any]) -> str:
    """How the mining stack refers to a data-stack value: the import of the export that carries it."""
    names = [
        output["Export"]["Name"]
        for output in data_template.find_outputs("*").values()
        if output["Value"] == value and "Export" in output
    ]
    assert len(names) == 1, f"one export of {value}, found {names}"
    return f"import:{names[0]}"


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _grants(template: Template, role_id: str) -> set[tuple[str, str, str]]:
    """(action, resource, condition) for every Allow statement in the policies attached to the role."""
    grants = set()
    for policy in template.find_resources("AWS::IAM::Policy").values():
        if {"Ref": role_id} not in policy["Properties"]["Roles"]:
            continue
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            assert statement["Effect"] == "Allow"
            condition = json.dumps(statement.get("Condition", {}), sort_keys=True)
            for action in _as_list(statement["Action"]):
                for resource in _as_list(statement["Resource"]):
                    grants.add((action, _flatten(resource), condition))
    return grants


def _function(template: Template, composed: Composition, source: str) -> dict[str, Any]:
    resource: dict[str, Any] = template.to_json()["Resources"][
        _logical_id(composed.miners.miners[source].function)
    ]
    return resource


def _expected_grants(
    composed: Composition, data_template: Template, source: str
) -> set[tuple[str, str, str]]:
    miner = composed.miners.miners[source]
    lake_key, drops_key = composed.lake.encryption_key, composed.drops.encryption_key
    assert lake_key is not None and drops_key is not None
    lake = _export(data_template, {"Fn::GetAtt": [_logical_id(composed.lake), "Arn"]})
    drops = _export(data_template, {"Fn::GetAtt": [_logical_id(composed.drops), "Arn"]})
    lake_kms = _export(data_template, {"Fn::GetAtt": [_logical_id(lake_key), "Arn"]})
    drops_kms = _export(data_template, {"Fn::GetAtt": [_logical_id(drops_key), "Arn"]})
    hmac = _export(data_template, {"Ref": _logical_id(composed.hmac_secret)})
    read_secret = ("secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret")
    none = "{}"
    own_item = json.dumps({"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": [source]}})
    grants = {
        ("xray:PutTraceSegments", "*", none),
        ("xray:PutTelemetryRecords", "*", none),
        *(
            (action, f"<{_logical_id(miner.dead_letter_queue)}.Arn>", none)
            for action in ("sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl")
        ),
        *(
            (action, f"<{_logical_id(miner.log_group)}.Arn>", none)
            for action in ("logs:CreateLogStream", "logs:PutLogEvents")
        ),
        *(
            ("s3:PutObject", f"{lake}/{prefix}/{source}/*", none)
            for prefix in ("raw", "quarantine", "manifests")
        ),
        ("kms:GenerateDataKey", lake_kms, none),
        *(
            (action, f"<{_logical_id(composed.miners.watermark_table)}.Arn>", own_item)
            for action in ("dynamodb:GetItem", "dynamodb:PutItem")
        ),
        *((action, hmac, none) for action in read_secret),
    }
    if source in TABLE_SOURCES:
        source_db = (
            "arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:"
            f"secret:{SOURCE_DB_SECRET}-??????"
        )
        grants |= {(action, source_db, none) for action in read_secret}
    drop_prefix = {"marketing": "ads/", "reference": "reference/"}.get(source)
    if drop_prefix:
        grants |= {
            ("s3:ListBucket", drops, json.dumps({"StringLike": {"s3:prefix": [f"{drop_prefix}*"]}})),
            ("s3:GetObject", f"{drops}/{drop_prefix}*", none),
            ("kms:Decrypt", drops_kms, none),
        }
    if source == "reference":
        grants |= {
            (action, f"<{_logical_id(composed.miners.linkage_secret)}>", none) for action in read_secret
        }
    if source == "bureau":
        grants |= {
            ("s3:GetObject", f"{lake}/{PENDING_LOOKUPS_KEY}", none),
            ("s3:PutObject", f"{lake}/{PENDING_LOOKUPS_KEY}", none),
            ("s3:ListBucket", lake, none),
            ("kms:Decrypt", lake_kms, none),
            *((action, f"<{_logical_id(composed.miners.bureau_secret)}>", none) for action in read_secret),
        }
    return grants


# --- functions, schedules, dead letters ----------------------------------------------------------


def test_given_the_miners_when_synthesized_then_six_arm64_python312_functions_run_one_at_a_time(
    template: Template, composed: Composition
) -> None:
    template.resource_count_is("AWS::Lambda::Function", len(MINERS))
    for source in MINERS:
        properties = _function(template, composed, source)["Properties"]
        assert properties["Runtime"] == "python3.12", source
        assert properties["Architectures"] == ["arm64"]
        assert properties["Handler"] == "handler.handler"
        assert properties["LoggingConfig"]["LogFormat"] == "JSON"
        assert properties["TracingConfig"] == {"Mode": "Active"}
        assert properties["ReservedConcurrentExecutions"] == 1
        assert properties["Timeout"] == 900
        assert properties["MemorySize"] == 2048
        assert len(properties["Layers"]) == 2  # core + data
        # Named, so that ops can invoke a miner by hand (docs/operations.md).
        assert properties["FunctionName"] == f"credo-{ENVIRONMENT}-mine-{source}"
        assert properties["LoggingConfig"]["LogGroup"] == {
            "Ref": _logical_id(composed.miners.miners[source].log_group)
        }


def test_given_the_miners_when_synthesized_then_each_log_group_keeps_the_configured_retention(
    template: Template,
) -> None:
    groups = template.find_resources("AWS::Logs::LogGroup")
    assert len(groups) == len(MINERS)
    assert {group["Properties"]["RetentionInDays"] for group in groups.values()} == {30}


def test_given_the_schedules_when_synthesized_then_each_rule_targets_its_miner_with_retries_and_dead_letters(
    template: Template, composed: Composition
) -> None:
    rules = template.to_json()["Resources"]
    template.resource_count_is("AWS::Events::Rule", len(MINERS))
    for source, miner in composed.miners.miners.items():
        rule = rules[_logical_id(miner.rule)]["Properties"]
        assert rule["ScheduleExpression"] == EXPRESSIONS[source]
        [target] = rule["Targets"]
        assert target["Arn"] == {"Fn::GetAtt": [_logical_id(miner.function), "Arn"]}
        assert target["RetryPolicy"] == {"MaximumRetryAttempts": 4, "MaximumEventAgeInSeconds": 3600}
        assert target["DeadLetterConfig"] == {
            "Arn": {"Fn::GetAtt": [_logical_id(miner.dead_letter_queue), "Arn"]}
        }
        # The handler parses EventBridge's own scheduled event: no input transformation.
        assert "Input" not in target and "InputTransformer" not in target


def test_given_a_failed_run_when_retries_are_spent_then_it_lands_in_the_miners_dead_letter_queue(
    template: Template, composed: Composition
) -> None:
    configs = template.find_resources("AWS::Lambda::EventInvokeConfig")
    by_function = {
        config["Properties"]["FunctionName"]["Ref"]: config["Properties"] for config in configs.values()
    }
    for miner in composed.miners.miners.values():
        config = by_function[_logical_id(miner.function)]
        assert config["MaximumRetryAttempts"] == 2
        assert config["MaximumEventAgeInSeconds"] == 3600
        assert config["DestinationConfig"]["OnFailure"]["Destination"] == {
            "Fn::GetAtt": [_logical_id(miner.dead_letter_queue), "Arn"]
        }


def test_given_the_dead_letter_queues_when_synthesized_then_they_are_encrypted_ssl_only_and_open_to_the_rule(
    template: Template, composed: Composition
) -> None:
    resources = template.to_json()["Resources"]
    policies = {
        policy["Properties"]["Queues"][0]["Ref"]: policy["Properties"]["PolicyDocument"]["Statement"]
        for policy in template.find_resources("AWS::SQS::QueuePolicy").values()
    }
    for miner in composed.miners.miners.values():
        queue_id = _logical_id(miner.dead_letter_queue)
        assert resources[queue_id]["Properties"]["SqsManagedSseEnabled"] is True
        assert resources[queue_id]["Properties"]["MessageRetentionPeriod"] == 14 * 24 * 3600
        deny, allow = policies[queue_id]
        assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        assert allow["Principal"] == {"Service": "events.amazonaws.com"}
        assert allow["Condition"] == {
            "ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": [_logical_id(miner.rule), "Arn"]}}
        }


# --- roles and environment ----------------------------------------------------------------------


@pytest.mark.parametrize("source", MINERS)
def test_given_a_miner_when_its_role_is_read_then_it_holds_exactly_its_least_privilege_grants(
    template: Template, data_template: Template, composed: Composition, source: str
) -> None:
    role = composed.miners.miners[source].role
    assert _grants(template, _logical_id(role)) == _expected_grants(composed, data_template, source)
    properties = template.to_json()["Resources"][_logical_id(role)]["Properties"]
    assert "ManagedPolicyArns" not in properties
    assert properties["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "lambda.amazonaws.com"
    }


def test_given_the_roles_when_compared_then_only_the_miners_that_need_a_secret_can_read_it(
    template: Template, composed: Composition
) -> None:
    def readers(resource_fragment: str) -> set[str]:
        return {
            source
            for source, miner in composed.miners.miners.items()
            if any(
                action == "secretsmanager:GetSecretValue" and resource_fragment in resource
                for action, resource, _ in _grants(template, _logical_id(miner.role))
            )
        }

    assert readers(SOURCE_DB_SECRET) == set(TABLE_SOURCES)  # never marketing
    assert readers(_logical_id(composed.miners.bureau_secret)) == {"bureau"}
    assert readers(_logical_id(composed.miners.linkage_secret)) == {"reference"}


def test_given_the_roles_when_compared_then_no_miner_reads_lists_or_deletes_another_miners_lake_data(
    template: Template, composed: Composition
) -> None:
    for source, miner in composed.miners.miners.items():
        for action, resource, _ in _grants(template, _logical_id(miner.role)):
            assert not action.startswith("s3:Delete"), (source, action)
            if action.startswith("s3:") and "Lake" in resource and resource.count("/") > 0:
                assert f"/{source}/" in resource or resource.endswith(PENDING_LOOKUPS_KEY), (source, resource)


def test_given_each_miner_when_its_environment_is_read_then_it_names_only_what_that_miner_uses(
    template: Template, data_template: Template, composed: Composition
) -> None:
    lake_name = _export(data_template, {"Ref": _logical_id(composed.lake)})
    drops_name = _export(data_template, {"Ref": _logical_id(composed.drops)})
    common = {
        constants.ENV_LAKE_BUCKET,
        constants.ENV_WATERMARK_TABLE,
        constants.ENV_HMAC_SECRET_NAME,
        constants.ENV_ENVIRONMENT,
        "POWERTOOLS_SERVICE_NAME",
    }
    extra = {
        "registrations": {constants.ENV_SOURCE_DB_URL},
        "orders": {constants.ENV_SOURCE_DB_URL},
        "payments": {constants.ENV_SOURCE_DB_URL},
        "marketing": {constants.ENV_DROPS_BUCKET},
        "reference": {
            constants.ENV_SOURCE_DB_URL,
            constants.ENV_DROPS_BUCKET,
            constants.ENV_LINKAGE_SECRET_NAME,
        },
        "bureau": {constants.ENV_SOURCE_DB_URL, constants.ENV_BUREAU_SECRET_NAME},
    }
    for source in MINERS:
        variables = _function(template, composed, source)["Properties"]["Environment"]["Variables"]
        assert set(variables) == common | extra[source], source
        assert _flatten(variables[constants.ENV_LAKE_BUCKET]) == lake_name
        assert variables[constants.ENV_WATERMARK_TABLE] == {
            "Ref": _logical_id(composed.miners.watermark_table)
        }
        assert variables[constants.ENV_ENVIRONMENT] == ENVIRONMENT
        assert variables["POWERTOOLS_SERVICE_NAME"] == constants.SERVICE_NAME
        if constants.ENV_SOURCE_DB_URL in variables:
            assert variables[constants.ENV_SOURCE_DB_URL] == f"secret:{SOURCE_DB_SECRET}"
        if constants.ENV_DROPS_BUCKET in variables:
            assert _flatten(variables[constants.ENV_DROPS_BUCKET]) == drops_name
    # Secret names reach the functions as expressions over the secrets' ARNs: deployed, they give the names.
    arns = {
        _logical_id(secret): f"arn:aws:secretsmanager:ap-south-1:111122223333:secret:{name}-AbC123"
        for secret, name in (
            (composed.miners.bureau_secret, f"credo/{ENVIRONMENT}/bureau"),
            (composed.miners.linkage_secret, f"credo/{ENVIRONMENT}/linkage-key"),
        )
    }
    hmac_import = _export(data_template, {"Ref": _logical_id(composed.hmac_secret)})
    arns[hmac_import] = (
        f"arn:aws:secretsmanager:ap-south-1:111122223333:secret:credo/{ENVIRONMENT}/hmac-key-XyZ789"
    )
    deployed = {
        source: {
            name: _evaluate(value, arns)
            for name, value in _function(template, composed, source)["Properties"]["Environment"][
                "Variables"
            ].items()
            if "SECRET" in name
        }
        for source in ("bureau", "reference")
    }
    assert deployed == {
        "bureau": {
            constants.ENV_HMAC_SECRET_NAME: f"credo/{ENVIRONMENT}/hmac-key",
            constants.ENV_BUREAU_SECRET_NAME: f"credo/{ENVIRONMENT}/bureau",
        },
        "reference": {
            constants.ENV_HMAC_SECRET_NAME: f"credo/{ENVIRONMENT}/hmac-key",
            constants.ENV_LINKAGE_SECRET_NAME: f"credo/{ENVIRONMENT}/linkage-key",
        },
    }


def _evaluate(value: Any, references: dict[str, str]) -> str:
    """What CloudFormation makes of a value, given what each Ref / import resolves to."""
    if isinstance(value, str):
        return value
    if "Ref" in value:
        return references[value["Ref"]]
    if "Fn::ImportValue" in value:
        return references[f"import:{value['Fn::ImportValue']}"]
    if "Fn::Join" in value:
        delimiter, items = value["Fn::Join"]
        return str(delimiter).join(_evaluate(item, references) for item in items)
    if "Fn::Select" in value:
        index, items = value["Fn::Select"]
        return _evaluate_list(items, references)[index]
    raise AssertionError(f"unexpected value {value}")


def _evaluate_list(value: Any, references: dict[str, str]) -> list[str]:
    delimiter, source = value["Fn::Split"]
    return _evaluate(source, references).split(delimiter)


# --- watermarks and secrets ----------------------------------------------------------------------


def test_given_the_watermark_table_when_synthesized_then_it_is_on_demand_recoverable_encrypted_and_retained(
    template: Template,
) -> None:
    _, table = only(template, "AWS::DynamoDB::Table")
    properties = table["Properties"]
    assert properties["KeySchema"] == [{"AttributeName": "source", "KeyType": "HASH"}]
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert properties["SSESpecification"] == {"SSEEnabled": True}
    assert table["DeletionPolicy"] == "Retain"


def _generated_characters(generator: dict[str, Any]) -> set[str]:
    """The characters Secrets Manager may draw from, given a GenerateSecretString."""
    allowed = set(string.ascii_lowercase + string.digits)
    if not generator.get("ExcludeUppercase"):
        allowed |= set(string.ascii_uppercase)
    if not generator.get("ExcludePunctuation"):
        allowed |= set(string.punctuation)
    return allowed - set(generator.get("ExcludeCharacters", ""))


def test_given_the_generated_secrets_when_read_then_their_keys_are_hex_as_credo_reads_them(
    template: Template, composed: Composition
) -> None:
    resources = template.to_json()["Resources"]
    linkage = resources[_logical_id(composed.miners.linkage_secret)]
    bureau = resources[_logical_id(composed.miners.bureau_secret)]
    for secret in (linkage, bureau):
        generator = secret["Properties"]["GenerateSecretString"]
        assert _generated_characters(generator) == set("0123456789abcdef")
        assert generator["PasswordLength"] == 64  # 32 bytes
        assert secret["DeletionPolicy"] == "Retain"
    assert linkage["Properties"]["Name"] == f"credo/{ENVIRONMENT}/linkage-key"
    generator = bureau["Properties"]["GenerateSecretString"]
    placeholder = json.loads(generator["SecretStringTemplate"])
    assert {*placeholder, generator["GenerateStringKey"]} == {"base_url", "api_key", "lookup_key"}
    assert placeholder["base_url"].startswith("https://")
    assert bureau["Properties"]["Name"] == f"credo/{ENVIRONMENT}/bureau"


# --- compliance ---------------------------------------------------------------------------------


def test_given_the_composition_when_synthesized_then_cdk_nag_finds_nothing_unacknowledged(
    composed: Composition,
) -> None:
    reports = json.loads((composed.outdir / VALIDATION_REPORT).read_text())["pluginReports"]
    [report] = [report for report in reports if report["pluginName"] == "AwsSolutions"]
    assert report["violations"] == []
    acknowledged = {
        violation["ruleName"].split("[")[0]
        for violation in report["suppressedViolations"]
        if any(c["constructPath"].startswith("Mining/") for c in violation["violatingConstructs"])
    }
    assert acknowledged == {
        "AwsSolutions-L1",
        "AwsSolutions-IAM5",
        "AwsSolutions-SQS3",
        "AwsSolutions-SMG4",
    }


def test_given_the_templates_when_linted_then_cfn_lint_reports_no_errors(
    template: Template, data_template: Template
) -> None:
    assert cfn_lint_errors(template, "ap-south-1") == []
    assert cfn_lint_errors(data_template, "ap-south-1") == []


def test_given_the_miners_in_the_data_stack_itself_when_synthesized_then_cdk_nag_finds_nothing_either(
    built_layers: dict[str, LayerBuild], tmp_path: Path
) -> None:
    composed = _compose(tmp_path, one_stack=True)  # app.synth() raises on an unacknowledged finding
    assert composed.mining is composed.data


# --- in the shop's VPC ---------------------------------------------------------------------------


def _network_interface_grants() -> set[tuple[str, str, str]]:
    return {(action, "*", "{}") for action in NETWORK_INTERFACE_ACTIONS}


def test_given_no_mining_network_when_synthesized_then_no_miner_runs_in_a_vpc_or_holds_ec2_rights(
    template: Template, composed: Composition
) -> None:
    assert composed.miners.network is None
    for source, miner in composed.miners.miners.items():
        assert "VpcConfig" not in _function(template, composed, source)["Properties"], source
        assert not _grants(template, _logical_id(miner.role)) & _network_interface_grants(), source
    assert not template.find_resources("AWS::EC2::SecurityGroup")


def test_given_a_mining_network_when_synthesized_then_every_miner_runs_in_its_subnets_and_security_groups(
    networked_template: Template, networked: Composition
) -> None:
    networked_template.resource_count_is("AWS::Lambda::Function", len(MINERS))
    for source in MINERS:
        properties = _function(networked_template, networked, source)["Properties"]
        assert properties["VpcConfig"] == {
            "SubnetIds": list(NETWORK.subnet_ids),
            "SecurityGroupIds": list(NETWORK.security_group_ids),
        }, source


def test_given_a_mining_network_when_synthesized_then_nothing_is_created_in_the_shops_vpc(
    networked_template: Template, networked_data_template: Template
) -> None:
    for template in (networked_template, networked_data_template):
        types = {resource["Type"] for resource in template.to_json()["Resources"].values()}
        assert not {kind for kind in types if kind.startswith("AWS::EC2::")}
    # Imported without a lookup: the template names the ids and asks nothing of the account.
    assert "Fn::GetAZs" not in json.dumps(networked_template.to_json())


@pytest.mark.parametrize("source", MINERS)
def test_given_a_mining_network_when_a_miners_role_is_read_then_it_adds_only_the_network_interface_actions(
    networked_template: Template, networked_data_template: Template, networked: Composition, source: str
) -> None:
    miner = networked.miners.miners[source]
    role_id = _logical_id(miner.role)
    assert _grants(networked_template, role_id) == (
        _expected_grants(networked, networked_data_template, source) | _network_interface_grants()
    )
    resources = networked_template.to_json()["Resources"]
    assert "ManagedPolicyArns" not in resources[role_id]["Properties"]
    assert not networked_template.find_resources("AWS::IAM::ManagedPolicy")
    # Lambda checks the network-interface rights when it creates the function: the policy comes first.
    [policy_id] = [
        logical_id
        for logical_id, policy in networked_template.find_resources("AWS::IAM::Policy").items()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
    ]
    assert policy_id in resources[_logical_id(miner.function)]["DependsOn"]


def test_given_a_mining_network_when_synthesized_then_cdk_nag_finds_nothing_and_the_wildcard_reason_names_ec2(
    networked: Composition,
) -> None:
    reports = json.loads((networked.outdir / VALIDATION_REPORT).read_text())["pluginReports"]
    [report] = [report for report in reports if report["pluginName"] == "AwsSolutions"]
    assert report["violations"] == []
    reasons = {
        violation["violatingConstructs"][0]["constructPath"].split("/")[2]: violation["reason"]
        for violation in report["suppressedViolations"]
        if violation["ruleName"] == "AwsSolutions-IAM5[Resource::*]"
    }
    assert set(reasons) == {source.capitalize() for source in MINERS}
    for reason in reasons.values():
        assert "X-Ray" in reason and "ec2:DescribeNetworkInterfaces" in reason
    # CDK's own warnings about the imported VPC and subnets are acknowledged with reasons.
    warnings = Annotations.from_stack(networked.mining).find_warning("*", Match.any_value())
    assert [warning.id for warning in warnings if warning.id.startswith("/Mining/Miners/")] == []


def test_given_a_mining_network_when_linted_then_cfn_lint_reports_no_errors(
    networked_template: Template,
) -> None:
    assert cfn_lint_errors(networked_template, "ap-south-1") == []


@pytest.mark.parametrize("network", [None, NETWORK])
def test_given_an_environment_when_the_mining_stack_is_built_then_it_places_the_miners_as_configured(
    built_layers: dict[str, LayerBuild], network: MiningNetwork | None
) -> None:
    settings: dict[str, Any] = {
        "scoring_timeout_seconds": 10,
        "log_retention": "ONE_MONTH",
        "api_throttle_rate_limit": 50,
        "api_throttle_burst_limit": 100,
    }
    if network is not None:
        settings["mining_network"] = {
            "vpc_id": network.vpc_id,
            "subnet_ids": list(network.subnet_ids),
            "security_group_ids": list(network.security_group_ids),
        }
    app = App(context=NO_ASSET_STAGING)
    data = Stack(app, "Data")
    stack = MiningStack(
        app,
        "Mining",
        config=EnvironmentConfig.from_mapping(ENVIRONMENT, settings),
        lake_bucket=s3.Bucket.from_bucket_name(data, "Lake", "lake"),
        drops_bucket=s3.Bucket.from_bucket_name(data, "Drops", "drops"),
    )

    def placement(miner: Miner) -> tuple[str, ...]:
        if not miner.function.is_bound_to_vpc:
            return ()
        return tuple(group.security_group_id for group in miner.function.connections.security_groups)

    expected = network.security_group_ids if network is not None else ()
    assert {source: placement(miner) for source, miner in stack.miners.miners.items()} == dict.fromkeys(
        MINERS, expected
    )
    if network is not None:
        assert stack.miners.network is not None
        assert stack.miners.network.vpc.vpc_id == network.vpc_id
        assert tuple(subnet.subnet_id for subnet in stack.miners.network.subnets) == network.subnet_ids


# --- arguments ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("schedules", "named"),
    [
        ({source: SCHEDULES[source] for source in MINERS if source != "bureau"}, "no schedule for bureau"),
        ({**SCHEDULES, "shop": events.Schedule.rate(Duration.hours(1))}, "unknown miners: shop"),
    ],
)
def test_given_a_schedules_mapping_that_is_not_the_six_miners_when_built_then_a_value_error_names_the_source(
    built_layers: dict[str, LayerBuild], schedules: dict[str, events.Schedule], named: str
) -> None:
    stack = Stack(App(context=NO_ASSET_STAGING), "Mining")
    with pytest.raises(ValueError, match=named):
        Miners(
            stack,
            "Miners",
            environment_name=ENVIRONMENT,
            functions_root=REPO_ROOT / "functions",
            layers=LambdaLayers(stack, "Layers", names=("core", "data")),
            lake_bucket=s3.Bucket.from_bucket_name(stack, "Lake", "lake"),
            drops_bucket=s3.Bucket.from_bucket_name(stack, "Drops", "drops"),
            hmac_secret=secretsmanager.Secret.from_secret_name_v2(stack, "Hmac", "credo/test/hmac-key"),
            source_db_secret_name=SOURCE_DB_SECRET,
            schedules=schedules,
            log_retention=logs.RetentionDays.ONE_MONTH,
        )


def test_given_lambda_layers_when_asked_for_a_function_then_it_returns_that_functions_layers_in_order(
    built_layers: dict[str, LayerBuild],
) -> None:
    stack = Stack(App(context=NO_ASSET_STAGING), "Layers")
    layers = LambdaLayers(stack, "Layers", names=("core", "data"))
    assert layers.for_function("mine_orders") == [layers.layer("core"), layers.layer("data")]
    with pytest.raises(ValueError, match="'runtime' is not among"):
        layers.for_function("score")
    with pytest.raises(ValueError, match="'unknown_function' has no layers"):
        layers.for_function("unknown_function")
    with pytest.raises(ValueError, match="unknown layers: gpu"):
        LambdaLayers(stack, "More", names=("core", "gpu"))
    scoring = ScoringLayers(stack, "Scoring")
    assert scoring.all == [scoring.core, scoring.runtime]
    assert [child.node.id for child in scoring.node.children] == ["Core", "Runtime"]
