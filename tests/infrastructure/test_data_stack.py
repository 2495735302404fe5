"""The data stack as CloudFormation: the lake, its key, its lifecycle and where its access logs go."""

from typing import Any

import pytest
from aws_cdk import Stack
from aws_cdk.assertions import Match, Template
from constructs import IConstruct

from credo import constants
from infra.build_layers import LayerBuild
from infra.config import DEFAULT_RAW_RETENTION_DAYS, EnvironmentConfig
from infra.credo_app import add_all_stacks, cdk_json_context, create_app, data_stack_id, serving_stack_id
from infra.credo_stack import DataStack, ServingStack
from infra.lake_construct import DataLake, DropBox
from infra.model_store_construct import ModelStore
from tests.infrastructure.templates import NO_ASSET_STAGING, cfn_lint_errors

DEV_RAW_RETENTION_DAYS = 30  # cdk.json
BLOCK_ALL_PUBLIC_ACCESS = {
    "BlockPublicAcls": True,
    "BlockPublicPolicy": True,
    "IgnorePublicAcls": True,
    "RestrictPublicBuckets": True,
}
VALID_SETTINGS: dict[str, Any] = {
    "scoring_timeout_seconds": 10,
    "log_retention": "TWO_WEEKS",
    "api_throttle_rate_limit": 50,
    "api_throttle_burst_limit": 100,
}


@pytest.fixture(scope="module")
def stacks(built_layers: dict[str, LayerBuild]) -> dict[str, Stack]:
    return add_all_stacks(create_app(context={"env": "dev", **NO_ASSET_STAGING}))


@pytest.fixture(scope="module")
def data_stack(stacks: dict[str, Stack]) -> DataStack:
    stack = stacks[data_stack_id("dev")]
    assert isinstance(stack, DataStack)
    return stack


@pytest.fixture(scope="module")
def serving_stack(stacks: dict[str, Stack]) -> ServingStack:
    stack = stacks[serving_stack_id("dev")]
    assert isinstance(stack, ServingStack)
    return stack


@pytest.fixture(scope="module")
def template(data_stack: DataStack) -> Template:
    return Template.from_stack(data_stack)


def _logical_id(construct: IConstruct) -> str:
    """The logical id of an L2 construct's CloudFormation resource."""
    resource = construct.node.default_child
    return Stack.of(construct).get_logical_id(resource)  # type: ignore[arg-type]


def _properties(template: Template, logical_id: str) -> dict[str, Any]:
    properties: dict[str, Any] = template.to_json()["Resources"][logical_id]["Properties"]
    return properties


def _bucket_policy_statements(template: Template, bucket_id: str) -> list[dict[str, Any]]:
    policies = [
        policy["Properties"]["PolicyDocument"]["Statement"]
        for policy in template.find_resources("AWS::S3::BucketPolicy").values()
        if policy["Properties"]["Bucket"] == {"Ref": bucket_id}
    ]
    assert len(policies) == 1, f"expected one policy on {bucket_id}, found {len(policies)}"
    return policies[0]


def _lifecycle_rules(template: Template, bucket_id: str) -> dict[str, dict[str, Any]]:
    rules = _properties(template, bucket_id)["LifecycleConfiguration"]["Rules"]
    return {rule["Id"]: rule for rule in rules}


def test_given_dev_context_when_all_stacks_are_added_then_every_stack_carries_the_environment(
    stacks: dict[str, Stack], data_stack: DataStack
) -> None:
    assert sorted(stacks) == [
        "Credo-dev-Data",
        "Credo-dev-Mining",
        "Credo-dev-Serving",
        "Credo-dev-Training",
        "Credo-dev-Warehouse",
    ]
    assert data_stack.stack_name == "Credo-dev-Data"
    assert data_stack.config.raw_retention_days == DEV_RAW_RETENTION_DAYS


def test_given_data_stack_when_synthesized_then_lake_and_drop_box_keys_are_managed_rotated_and_retained(
    template: Template,
) -> None:
    keys = template.find_resources("AWS::KMS::Key")
    assert len(keys) == 2
    for key in keys.values():
        assert key["Properties"]["EnableKeyRotation"] is True
        assert key["DeletionPolicy"] == "Retain"
    aliases = {a["Properties"]["AliasName"] for a in template.find_resources("AWS::KMS::Alias").values()}
    assert aliases == {"alias/credo-dev-lake", "alias/credo-dev-drops"}


def test_given_data_stack_when_synthesized_then_drop_box_has_its_own_key_and_logs_access(
    template: Template, data_stack: DataStack
) -> None:
    drops = _properties(template, _logical_id(data_stack.drops.bucket))
    default = drops["BucketEncryption"]["ServerSideEncryptionConfiguration"][0][
        "ServerSideEncryptionByDefault"
    ]
    assert default["KMSMasterKeyID"] == {"Fn::GetAtt": [_logical_id(data_stack.drops.key), "Arn"]}
    assert drops["VersioningConfiguration"] == {"Status": "Enabled"}
    assert drops["LoggingConfiguration"] == {
        "DestinationBucketName": {"Ref": _logical_id(data_stack.access_logs.bucket)},
        "LogFilePrefix": DropBox.ACCESS_LOGS_PREFIX,
    }


def test_given_dev_retention_when_synthesized_then_ad_exports_expire_but_current_registries_stay(
    template: Template, data_stack: DataStack
) -> None:
    rules = _lifecycle_rules(template, _logical_id(data_stack.drops.bucket))
    expiring = {rule["Prefix"]: rule["ExpirationInDays"] for rule in rules.values() if "Prefix" in rule}
    assert expiring == {constants.ADS_DROP_PREFIX: DEV_RAW_RETENTION_DAYS}
    assert rules["expire-noncurrent-versions"]["NoncurrentVersionExpiration"] == {"NoncurrentDays": 30}


def test_given_data_stack_when_synthesized_then_it_holds_the_retained_hmac_key_secret(
    template: Template,
) -> None:
    template.has_resource(
        "AWS::SecretsManager::Secret",
        {"Properties": Match.object_like({"Name": "credo/dev/hmac-key"}), "DeletionPolicy": "Retain"},
    )


def test_given_data_stack_when_synthesized_then_lake_is_encrypted_with_its_key_and_bucket_keys(
    template: Template, data_stack: DataStack
) -> None:
    encryption = _properties(template, _logical_id(data_stack.lake.bucket))["BucketEncryption"]
    assert encryption["ServerSideEncryptionConfiguration"] == [
        {
            "BucketKeyEnabled": True,
            "ServerSideEncryptionByDefault": {
                "SSEAlgorithm": "aws:kms",
                "KMSMasterKeyID": {"Fn::GetAtt": [_logical_id(data_stack.lake.key), "Arn"]},
            },
        }
    ]


def test_given_data_stack_when_synthesized_then_every_bucket_blocks_public_access_and_is_retained(
    template: Template,
) -> None:
    buckets = template.find_resources("AWS::S3::Bucket")
    assert len(buckets) == 3  # the lake, the drop box and their access-log bucket
    for bucket in buckets.values():
        assert bucket["Properties"]["PublicAccessBlockConfiguration"] == BLOCK_ALL_PUBLIC_ACCESS
        assert bucket["Properties"]["OwnershipControls"] == {
            "Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]
        }
        assert bucket["DeletionPolicy"] == "Retain"


@pytest.mark.parametrize("bucket", ["lake", "drops", "access_logs"])
def test_given_data_stack_when_synthesized_then_bucket_policy_denies_requests_without_tls_1_2(
    template: Template, data_stack: DataStack, bucket: str
) -> None:
    target = {
        "lake": data_stack.lake.bucket,
        "drops": data_stack.drops.bucket,
        "access_logs": data_stack.access_logs.bucket,
    }[bucket]
    denials = [s for s in _bucket_policy_statements(template, _logical_id(target)) if s["Effect"] == "Deny"]
    conditions = [statement["Condition"] for statement in denials]
    assert {"Bool": {"aws:SecureTransport": "false"}} in conditions
    assert {"NumericLessThan": {"s3:TlsVersion": 1.2}} in conditions


def test_given_data_stack_when_synthesized_then_lake_is_versioned(
    template: Template, data_stack: DataStack
) -> None:
    properties = _properties(template, _logical_id(data_stack.lake.bucket))
    assert properties["VersioningConfiguration"] == {"Status": "Enabled"}


def test_given_dev_retention_when_synthesized_then_raw_and_quarantine_prefixes_expire_after_it(
    template: Template, data_stack: DataStack
) -> None:
    rules = _lifecycle_rules(template, _logical_id(data_stack.lake.bucket))
    expiring = {rule["Prefix"]: rule["ExpirationInDays"] for rule in rules.values() if "Prefix" in rule}
    assert expiring == {
        f"{constants.RAW_PREFIX}/": DEV_RAW_RETENTION_DAYS,
        f"{constants.QUARANTINE_PREFIX}/": DEV_RAW_RETENTION_DAYS,
    }
    assert all(rule["Status"] == "Enabled" for rule in rules.values())


def test_given_lake_when_synthesized_then_old_versions_and_stalled_uploads_are_cleaned_up(
    template: Template, data_stack: DataStack
) -> None:
    whole_bucket = [
        rule
        for rule in _lifecycle_rules(template, _logical_id(data_stack.lake.bucket)).values()
        if "Prefix" not in rule
    ]
    assert len(whole_bucket) == 1
    rule = whole_bucket[0]
    assert rule["NoncurrentVersionExpiration"] == {"NoncurrentDays": 30}
    assert rule["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 7}
    assert rule["ExpiredObjectDeleteMarker"] is True


def test_given_data_stack_when_synthesized_then_lake_access_is_logged_to_the_log_bucket(
    template: Template, data_stack: DataStack
) -> None:
    log_bucket_id = _logical_id(data_stack.access_logs.bucket)
    lake = _properties(template, _logical_id(data_stack.lake.bucket))
    assert lake["LoggingConfiguration"] == {
        "DestinationBucketName": {"Ref": log_bucket_id},
        "LogFilePrefix": DataLake.ACCESS_LOGS_PREFIX,
    }
    delivery = [
        s
        for s in _bucket_policy_statements(template, log_bucket_id)
        if s.get("Principal") == {"Service": "logging.s3.amazonaws.com"}
    ]
    # One statement per source bucket: only the lake and the drop box of this account deliver logs here.
    assert all(s["Effect"] == "Allow" and s["Action"] == "s3:PutObject" for s in delivery)
    sources = [s["Condition"]["ArnLike"]["aws:SourceArn"] for s in delivery]
    assert sorted(map(str, sources)) == sorted(
        str({"Fn::GetAtt": [_logical_id(bucket), "Arn"]})
        for bucket in (data_stack.lake.bucket, data_stack.drops.bucket)
    )


def test_given_data_stack_when_synthesized_then_log_bucket_is_s3_encrypted_and_expires_logs(
    template: Template, data_stack: DataStack
) -> None:
    log_bucket = _properties(template, _logical_id(data_stack.access_logs.bucket))
    assert log_bucket["BucketEncryption"] == {
        "ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
    }
    assert [rule["ExpirationInDays"] for rule in log_bucket["LifecycleConfiguration"]["Rules"]] == [365]


def test_given_serving_stack_when_synthesized_then_model_bucket_logs_access_to_its_log_bucket(
    serving_stack: ServingStack,
) -> None:
    template = Template.from_stack(serving_stack)
    models = _properties(template, _logical_id(serving_stack.models.bucket))
    assert models["LoggingConfiguration"] == {
        "DestinationBucketName": {"Ref": _logical_id(serving_stack.model_access_logs.bucket)},
        "LogFilePrefix": ModelStore.ACCESS_LOGS_PREFIX,
    }
    log_bucket = _properties(template, _logical_id(serving_stack.model_access_logs.bucket))
    assert log_bucket["PublicAccessBlockConfiguration"] == BLOCK_ALL_PUBLIC_ACCESS


def test_given_cdk_json_when_each_environment_is_read_then_raw_retention_is_dev_30_prod_90() -> None:
    environments = cdk_json_context()["environments"]
    retention = {
        name: EnvironmentConfig.from_mapping(name, s).raw_retention_days for name, s in environments.items()
    }
    assert retention == {"dev": 30, "prod": 90}


def test_given_no_raw_retention_when_read_then_the_default_applies() -> None:
    assert (
        EnvironmentConfig.from_mapping("x", VALID_SETTINGS).raw_retention_days == DEFAULT_RAW_RETENTION_DAYS
    )


@pytest.mark.parametrize("bad", [0, -1, 3651, "90", 30.5, True, None])
def test_given_bad_raw_retention_when_read_then_value_error_names_it(bad: object) -> None:
    with pytest.raises(ValueError, match="raw_retention_days"):
        EnvironmentConfig.from_mapping("x", {**VALID_SETTINGS, "raw_retention_days": bad})


def test_given_data_stack_template_when_cfn_lint_runs_then_it_reports_no_errors(
    template: Template, data_stack: DataStack
) -> None:
    assert cfn_lint_errors(template, data_stack.region) == []
