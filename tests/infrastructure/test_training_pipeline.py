"""The training pipeline as CloudFormation, and the source bundle its SageMaker job runs.

One app holds the pipeline and the stand-ins of what other stacks give it (lake, model bucket,
feature table, policy parameter, warehouse, layers); it is synthesised once, with cdk-nag, and every
test reads that template.
"""

import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import Acknowledgment, App, Duration, Stack, Validations
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_ssm as ssm
from aws_cdk.assertions import Template

from credo import constants
from infra import training_bundle
from infra.credo_app import add_compliance_checks
from infra.nag import nag_resource_name
from infra.training_job_construct import sklearn_training_image_uri
from infra.training_pipeline_construct import TrainingPipeline
from infra.training_pipeline_states import (
    EVALUATE,
    FEATURES,
    LOAD,
    MATERIALIZE,
    PIPELINE_FUNCTIONS,
    PROMOTE,
)
from tests.infrastructure.templates import NO_ASSET_STAGING, cfn_lint_errors, only

REGION = "ap-south-1"
ENVIRONMENT = "test"
IMAGE = sklearn_training_image_uri(REGION)
INSTANCE_TYPE = "ml.m5.xlarge"
MAX_RUNTIME = Duration.hours(2)
SCHEDULE = "cron(0 2 2 * ? *)"
WORKGROUP_ARN = f"arn:aws:redshift-serverless:{REGION}:123456789012:workgroup/credo-test"
DATA_API_ACTIONS = ["redshift-data:ExecuteStatement", "redshift-serverless:GetCredentials"]
XRAY = (("xray:PutTelemetryRecords", "xray:PutTraceSegments"), ("*",))
LAMBDA_LAYERS = {
    LOAD: ("core", "data"),
    FEATURES: ("core", "data"),
    MATERIALIZE: ("core", "data"),
    EVALUATE: ("core", "runtime"),
    PROMOTE: ("core", "runtime"),
}
PACK = "AwsSolutions"


# --- stand-ins for what the other stacks and constructs give the pipeline ----------------------


@dataclass
class FakeLayers:
    """for_function(name) → LayerVersions, as infra/layers_construct.py hands them out."""

    scope: Stack
    code: Path
    versions: dict[str, lambda_.LayerVersion] = field(default_factory=dict)

    def for_function(self, name: str) -> list[lambda_.ILayerVersion]:
        return [self._version(layer) for layer in LAMBDA_LAYERS[name]]

    def _version(self, layer: str) -> lambda_.LayerVersion:
        if layer not in self.versions:
            self.versions[layer] = lambda_.LayerVersion(
                self.scope, f"{layer.title()}Layer", code=lambda_.Code.from_asset(str(self.code))
            )
        return self.versions[layer]


@dataclass
class FakeWarehouse:
    """The warehouse's surface: names, the copy role, and Data API grants on one workgroup."""

    copy_role: iam.IRole
    workgroup_name: str = "credo-test"
    database_name: str = "credo"
    granted: list[iam.IGrantable] = field(default_factory=list)

    def grant_data_api(self, grantee: iam.IGrantable) -> None:
        self.granted.append(grantee)
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(actions=DATA_API_ACTIONS, resources=[WORKGROUP_ARN])
        )


@dataclass
class Built:
    app: App
    stack: Stack
    pipeline: TrainingPipeline
    lake: s3.Bucket
    models: s3.Bucket
    table: dynamodb.Table
    parameter: ssm.StringParameter
    warehouse: FakeWarehouse
    layers: FakeLayers
    bundle: Path
    outdir: Path


def _functions_root(root: Path) -> Path:
    for name in PIPELINE_FUNCTIONS:
        (root / name).mkdir(parents=True)
        (root / name / "handler.py").write_text("def handler(event, context):\n    return event\n")
    return root


def _pipeline(
    stack: Stack, *, functions_root: Path, layers: FakeLayers, storage: Stack, bundle: Path
) -> tuple[TrainingPipeline, s3.Bucket, s3.Bucket, dynamodb.Table, ssm.StringParameter, FakeWarehouse]:
    """The pipeline in `stack`, its buckets, table and parameter in `storage` (the same or another)."""
    lake_key = kms.Key(storage, "LakeKey", enable_key_rotation=True)
    lake = s3.Bucket(
        storage, "Lake", encryption=s3.BucketEncryption.KMS, encryption_key=lake_key, enforce_ssl=True
    )
    models = s3.Bucket(storage, "Models", encryption=s3.BucketEncryption.S3_MANAGED, enforce_ssl=True)
    for bucket in (lake, models):
        Validations.of(bucket).acknowledge(
            Acknowledgment(
                id="AwsSolutions::AwsSolutions-S1",
                reason="A stand-in of the data and serving stacks' buckets; those stacks own their access "
                "logs.",
            )
        )
    table = dynamodb.Table(
        storage,
        "Features",
        partition_key=dynamodb.Attribute(name="token", type=dynamodb.AttributeType.STRING),
        point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
            point_in_time_recovery_enabled=True
        ),
    )
    parameter = ssm.StringParameter(storage, "Policy", string_value="{}")
    warehouse = FakeWarehouse(
        copy_role=iam.Role(storage, "CopyRole", assumed_by=iam.ServicePrincipal("redshift.amazonaws.com"))
    )
    pipeline = TrainingPipeline(
        stack,
        "Training",
        environment_name=ENVIRONMENT,
        functions_root=functions_root,
        layers=layers,
        lake_bucket=lake,
        model_bucket=models,
        feature_table=table,
        policy_parameter=parameter,
        warehouse=warehouse,
        schedule=events.Schedule.expression(SCHEDULE),
        training_image_uri=IMAGE,
        training_instance_type=INSTANCE_TYPE,
        training_max_runtime=MAX_RUNTIME,
        source_bundle=bundle,
        log_retention=logs.RetentionDays.TWO_WEEKS,
    )
    return pipeline, lake, models, table, parameter, warehouse


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return training_bundle.build_bundle(build_dir=tmp_path_factory.mktemp("training-bundle"))


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, bundle: Path) -> Built:
    scratch = tmp_path_factory.mktemp("pipeline")
    (scratch / "layer" / "python").mkdir(parents=True)
    outdir = scratch / "cdk.out"
    app = App(outdir=str(outdir), context=NO_ASSET_STAGING)
    add_compliance_checks(app)
    stack = Stack(app, "Pipeline")
    layers = FakeLayers(stack, scratch / "layer")
    pipeline, lake, models, table, parameter, warehouse = _pipeline(
        stack,
        functions_root=_functions_root(scratch / "functions"),
        layers=layers,
        storage=stack,
        bundle=bundle,
    )
    return Built(app, stack, pipeline, lake, models, table, parameter, warehouse, layers, bundle, outdir)


@pytest.fixture(scope="module")
def template(built: Built) -> Template:
    return Template.from_stack(built.stack)  # synthesises the app: cdk-nag raises on a finding


# --- reading the template ------------------------------------------------------------------------


def _logical_id(built: Built, construct: Any) -> str:
    return built.stack.get_logical_id(construct.node.default_child)


def _render(value: Any) -> str:
    """A Fn::Join'd or Fn::Sub'd string, each reference written <LogicalId> or <LogicalId.Attribute>."""
    if isinstance(value, str):
        return value
    if "Ref" in value:
        return f"<{value['Ref']}>"
    if "Fn::GetAtt" in value:
        return "<{}.{}>".format(*value["Fn::GetAtt"])
    if "Fn::Sub" in value:
        return str(value["Fn::Sub"]).replace("${", "<").replace("}", ">")
    delimiter, parts = value["Fn::Join"]
    return str(delimiter).join(_render(part) for part in parts)


@pytest.fixture(scope="module")
def definition(template: Template, built: Built) -> dict[str, Any]:
    machine = template.find_resources("AWS::StepFunctions::StateMachine")[
        _logical_id(built, built.pipeline.state_machine)
    ]
    return dict(json.loads(_render(machine["Properties"]["DefinitionString"])))


def _render_all(value: Any) -> Any:
    """A policy fragment with every intrinsic function written out as _render writes it."""
    if isinstance(value, dict):
        if value.keys() & {"Ref", "Fn::GetAtt", "Fn::Sub", "Fn::Join"}:
            return _render(value)
        return {key: _render_all(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_render_all(item) for item in value]
    return value


def _statements(template: Template, role_id: str) -> set[tuple[tuple[str, ...], tuple[str, ...], str]]:
    """Every statement of a role's policies as (sorted actions, sorted resources, conditions JSON)."""
    found = set()
    for policy in template.find_resources("AWS::IAM::Policy").values():
        if {"Ref": role_id} not in policy["Properties"]["Roles"]:
            continue
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            assert statement["Effect"] == "Allow"
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            resources = (
                statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            )
            found.add(
                (
                    tuple(sorted(actions)),
                    tuple(sorted(_render(r) for r in resources)),
                    json.dumps(_render_all(statement.get("Condition", {})), sort_keys=True),
                )
            )
    return found


def _role_id(template: Template, function_id: str) -> str:
    function = template.find_resources("AWS::Lambda::Function")[function_id]
    return str(function["Properties"]["Role"]["Fn::GetAtt"][0])


def _via_s3() -> str:
    return json.dumps({"StringEquals": {"kms:ViaService": "s3.<AWS::Region>.amazonaws.com"}}, sort_keys=True)


@dataclass(frozen=True)
class Names:
    """How the template writes the stand-ins' ARNs."""

    lake: str
    lake_key: str
    models: str
    training_key: str
    table: str
    parameter: str
    log_group: dict[str, str]


@pytest.fixture(scope="module")
def names(template: Template, built: Built) -> Names:
    del template
    log_groups = {
        name: _logical_id(
            built, built.pipeline.node.find_child(f"{''.join(p.title() for p in name.split('_'))}Logs")
        )
        for name in PIPELINE_FUNCTIONS
    }
    return Names(
        lake=f"<{_logical_id(built, built.lake)}.Arn>",
        lake_key=f"<{_logical_id(built, built.lake.encryption_key)}.Arn>",
        models=f"<{_logical_id(built, built.models)}.Arn>",
        training_key=f"<{_logical_id(built, built.pipeline.key)}.Arn>",
        table=f"<{_logical_id(built, built.table)}.Arn>",
        parameter="arn:<AWS::Partition>:ssm:<AWS::Region>:<AWS::AccountId>:parameter/"
        f"<{_logical_id(built, built.parameter)}>",
        log_group=log_groups,
    )


def _common(names: Names, name: str) -> set[tuple[tuple[str, ...], tuple[str, ...], str]]:
    return {
        (XRAY[0], XRAY[1], "{}"),
        (("logs:CreateLogStream", "logs:PutLogEvents"), (f"<{names.log_group[name]}.Arn>",), "{}"),
    }


def _data_api() -> tuple[tuple[str, ...], tuple[str, ...], str]:
    return (tuple(sorted(DATA_API_ACTIONS)), (WORKGROUP_ARN,), "{}")


# --- the state machine ----------------------------------------------------------------------------


def test_given_pipeline_when_synthesized_then_states_run_load_features_train_evaluate_promote_materialise(
    definition: dict[str, Any],
) -> None:
    order, state = [], definition["StartAt"]
    while state in definition["States"]:
        order.append(state)
        state = definition["States"][state].get("Next")
    assert order == ["Load", "Features", "Train", "Evaluate", "Promote", "Materialise", "Succeeded"]
    assert definition["States"]["Succeeded"]["Type"] == "Succeed"
    assert definition["States"]["Train"]["Resource"].endswith(":states:::sagemaker:createTrainingJob.sync")
    for step in ("Load", "Features", "Evaluate", "Promote", "Materialise"):
        assert definition["States"][step]["Resource"].endswith(":states:::lambda:invoke")


def test_given_any_step_when_it_fails_then_a_catch_leads_to_a_fail_state_with_the_error_and_cause(
    definition: dict[str, Any],
) -> None:
    failed = definition["States"]["Failed"]
    assert failed["Type"] == "Fail"
    assert (failed["ErrorPath"], failed["CausePath"]) == ("$.error.Error", "$.error.Cause")
    for step in ("Load", "Features", "Train", "Evaluate", "Promote", "Materialise"):
        assert definition["States"][step]["Catch"] == [
            {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Failed"}
        ], step


def test_given_lambda_steps_when_the_lambda_service_fails_transiently_then_they_retry_with_backoff(
    definition: dict[str, Any],
) -> None:
    for step in ("Load", "Features", "Evaluate", "Promote", "Materialise"):
        [retry] = definition["States"][step]["Retry"]
        assert {
            "Lambda.ServiceException",
            "Lambda.TooManyRequestsException",
            "Lambda.SdkClientException",
        } <= set(retry["ErrorEquals"])
        assert "States.ALL" not in retry["ErrorEquals"]  # a failing function is not retried blindly
        assert (retry["IntervalSeconds"], retry["MaxAttempts"], retry["BackoffRate"]) == (2, 6, 2)
    # A retried CreateTrainingJob would reuse the job name, which SageMaker rejects.
    assert "Retry" not in definition["States"]["Train"]


def test_given_lambda_steps_when_chained_then_each_gets_exactly_its_contract_event(
    definition: dict[str, Any],
) -> None:
    states = definition["States"]
    assert states["Load"]["Parameters"]["Payload.$"] == (
        "States.JsonMerge($, States.StringToJson(States.Format("
        '\'\\{"execution":"{}"\\}\', $$.Execution.Name)), false)'
    )
    assert states["Features"]["Parameters"]["Payload.$"] == "States.JsonMerge($$.Execution.Input, $, false)"
    assert states["Evaluate"]["Parameters"]["Payload"] == {
        "run_id.$": "$.run_id",
        "as_of.$": "$.as_of",
        "model_artifacts.$": "$.training.model_artifacts",
    }
    assert states["Promote"]["Parameters"]["Payload.$"] == "$"
    assert states["Materialise"]["Parameters"]["Payload"] == {"as_of.$": "$.as_of"}
    selected = {
        step: set(states[step]["ResultSelector"]) for step in states if "ResultSelector" in states[step]
    }
    assert selected == {
        "Load": {"as_of.$", "run_id.$", "loaded.$"},
        "Features": {"as_of.$", "run_id.$", "training_data.$", "snapshots.$", "hyperparameters.$"},
        "Train": {"model_artifacts.$", "training_job_name.$"},
        "Evaluate": {"run_id.$", "as_of.$", "model_artifacts.$", "evaluation.$"},
        "Promote": {"as_of.$", "registered.$"},
        "Materialise": {"as_of.$", "customers_written.$"},
    }
    assert states["Train"]["ResultSelector"]["model_artifacts.$"] == "$.ModelArtifacts.S3ModelArtifacts"
    assert states["Train"]["ResultPath"] == "$.training"


def test_given_training_state_when_synthesized_then_the_job_runs_the_bundle_in_the_sklearn_container(
    definition: dict[str, Any], built: Built
) -> None:
    parameters = definition["States"]["Train"]["Parameters"]
    assert parameters["TrainingJobName.$"] == f"States.Format('credo-{ENVIRONMENT}-{{}}', $.run_id)"
    assert parameters["RoleArn"] == f"<{_logical_id(built, built.pipeline.training_role)}.Arn>"
    assert parameters["AlgorithmSpecification"] == {"TrainingImage": IMAGE, "TrainingInputMode": "File"}
    assert parameters["InputDataConfig"] == [
        {
            "ChannelName": "train",
            "ContentType": "application/x-parquet",
            "DataSource": {"S3DataSource": {"S3Uri.$": "$.training_data", "S3DataType": "S3Prefix"}},
        }
    ]
    training_key = f"<{_logical_id(built, built.pipeline.key)}.Arn>"
    assert parameters["OutputDataConfig"] == {
        "S3OutputPath": f"s3://<{_logical_id(built, built.models)}>/training-jobs/",
        "KmsKeyId": training_key,
    }
    assert parameters["ResourceConfig"] == {
        "InstanceCount": 1,
        "InstanceType": INSTANCE_TYPE,
        "VolumeSizeInGB": 30,
        "VolumeKmsKeyId": training_key,
    }
    assert parameters["StoppingCondition"] == {"MaxRuntimeInSeconds": MAX_RUNTIME.to_seconds()}
    assert parameters["EnableNetworkIsolation"] is False  # the toolkit pip-installs requirements.txt
    assert "HyperParameters" not in parameters


def _intrinsic_string(literal: str) -> str:
    """An intrinsic function's string literal, unescaped as Step Functions reads it."""
    return re.sub(r"\\(.)", r"\1", literal)


def test_given_training_state_when_synthesized_then_hyperparameters_merge_the_features_with_the_framework(
    definition: dict[str, Any], built: Built
) -> None:
    expression = definition["States"]["Train"]["Parameters"]["HyperParameters.$"]
    match = re.fullmatch(
        r"States\.JsonMerge\(\$\.hyperparameters, States\.StringToJson\('(.*)'\), false\)", expression
    )
    assert match, expression
    framework = json.loads(_intrinsic_string(match.group(1)))
    asset = built.pipeline.source_bundle
    bucket = Stack.of(asset).resolve(asset.s3_bucket_name)
    key = Stack.of(asset).resolve(asset.s3_object_key)
    assert framework == {
        "sagemaker_program": "train.py",
        "sagemaker_submit_directory": f"s3://{_render(bucket)}/{_render(key)}",
    }
    # SageMaker hyperparameters are strings; the framework's win over a clashing key of the features.
    assert all(isinstance(value, str) for value in framework.values())


def test_given_pipeline_when_synthesized_then_state_machine_is_standard_traced_logged_and_named(
    template: Template, built: Built
) -> None:
    _, machine = only(template, "AWS::StepFunctions::StateMachine")
    properties = machine["Properties"]
    assert properties["StateMachineName"] == f"credo-{ENVIRONMENT}-training"
    assert properties["StateMachineType"] == "STANDARD"
    assert properties["TracingConfiguration"] == {"Enabled": True}
    logging = properties["LoggingConfiguration"]
    assert (logging["Level"], logging["IncludeExecutionData"]) == ("ALL", True)
    log_group_id = _logical_id(built, built.pipeline.log_group)
    assert logging["Destinations"] == [
        {"CloudWatchLogsLogGroup": {"LogGroupArn": {"Fn::GetAtt": [log_group_id, "Arn"]}}}
    ]
    definition = json.loads(_render(properties["DefinitionString"]))
    lambda_minutes = 15 + 15 + 5 + 3 + 15
    assert definition["TimeoutSeconds"] == MAX_RUNTIME.to_seconds() + lambda_minutes * 60 + 3600


def test_given_schedule_when_synthesized_then_rule_starts_the_state_machine_with_the_event_time_as_as_of(
    template: Template, built: Built
) -> None:
    _, rule = only(template, "AWS::Events::Rule")
    assert rule["Properties"]["ScheduleExpression"] == SCHEDULE
    [target] = rule["Properties"]["Targets"]
    assert target["Arn"] == {"Ref": _logical_id(built, built.pipeline.state_machine)}
    transformer = target["InputTransformer"]
    assert transformer["InputPathsMap"] == {"time": "$.time"}
    assert transformer["InputTemplate"] == '{"as_of":<time>}'
    events_role = template.find_resources("AWS::IAM::Role")[target["RoleArn"]["Fn::GetAtt"][0]]
    assert events_role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "events.amazonaws.com"
    }


# --- the functions ----------------------------------------------------------------------------------


def test_given_pipeline_when_synthesized_then_five_functions_are_python312_arm64_traced_with_json_logs(
    template: Template, built: Built
) -> None:
    assert sorted(built.pipeline.functions) == sorted(PIPELINE_FUNCTIONS)
    functions = template.find_resources("AWS::Lambda::Function")
    assert len(functions) == 5
    for name, function in built.pipeline.functions.items():
        properties = functions[_logical_id(built, function)]["Properties"]
        step = TrainingPipeline.STEPS[name]
        assert properties["Runtime"] == "python3.12"
        assert properties["Architectures"] == ["arm64"]
        assert properties["Handler"] == "handler.handler"
        assert properties["TracingConfig"] == {"Mode": "Active"}
        assert properties["LoggingConfig"]["LogFormat"] == "JSON"
        log_group_id = properties["LoggingConfig"]["LogGroup"]["Ref"]
        assert (
            template.find_resources("AWS::Logs::LogGroup")[log_group_id]["Properties"]["RetentionInDays"]
            == 14
        )
        assert (properties["MemorySize"], properties["Timeout"]) == (
            step.memory_mb,
            step.timeout.to_seconds(),
        )
    timeouts = {name: step.timeout.to_minutes() for name, step in TrainingPipeline.STEPS.items()}
    assert timeouts[LOAD] == timeouts[FEATURES] == timeouts[MATERIALIZE] == 15
    assert timeouts[EVALUATE] <= 5 and timeouts[PROMOTE] <= 5


def test_given_pipeline_when_synthesized_then_functions_run_with_their_roles_and_their_layers(
    template: Template, built: Built
) -> None:
    functions = template.find_resources("AWS::Lambda::Function")
    roles = {
        _role_id(template, _logical_id(built, function)) for function in built.pipeline.functions.values()
    }
    assert len(roles) == 3  # evaluate, promote, and the warehouse steps' shared one
    for name, function in built.pipeline.functions.items():
        layers = functions[_logical_id(built, function)]["Properties"]["Layers"]
        expected = [
            {"Ref": _logical_id(built, built.layers.versions[layer])} for layer in LAMBDA_LAYERS[name]
        ]
        assert layers == expected, name


def test_given_pipeline_when_synthesized_then_each_function_gets_only_the_environment_it_reads(
    template: Template, built: Built
) -> None:
    functions = template.find_resources("AWS::Lambda::Function")
    warehouse = {
        constants.ENV_REDSHIFT_WORKGROUP,
        constants.ENV_REDSHIFT_DATABASE,
        constants.ENV_REDSHIFT_ROLE_ARN,
    }
    expected = {
        LOAD: {constants.ENV_LAKE_BUCKET} | warehouse,
        FEATURES: {constants.ENV_LAKE_BUCKET, constants.ENV_POLICY_PARAMETER} | warehouse,
        EVALUATE: {constants.ENV_MODEL_BUCKET},
        PROMOTE: {constants.ENV_MODEL_BUCKET},
        MATERIALIZE: {constants.ENV_LAKE_BUCKET, constants.ENV_FEATURE_TABLE} | warehouse,
    }
    for name, function in built.pipeline.functions.items():
        variables = functions[_logical_id(built, function)]["Properties"]["Environment"]["Variables"]
        assert set(variables) == expected[name] | {constants.ENV_ENVIRONMENT, "POWERTOOLS_SERVICE_NAME"}, name
        assert variables[constants.ENV_ENVIRONMENT] == ENVIRONMENT
    materialize = functions[_logical_id(built, built.pipeline.functions[MATERIALIZE])]["Properties"]
    variables = materialize["Environment"]["Variables"]
    assert variables[constants.ENV_FEATURE_TABLE] == {"Ref": _logical_id(built, built.table)}
    assert variables[constants.ENV_REDSHIFT_WORKGROUP] == "credo-test"
    assert variables[constants.ENV_REDSHIFT_ROLE_ARN] == {
        "Fn::GetAtt": [_logical_id(built, built.warehouse.copy_role), "Arn"]
    }


# --- least privilege, statement by statement ------------------------------------------------------


def _function_statements(template: Template, built: Built, name: str) -> set[Any]:
    return _statements(template, _role_id(template, _logical_id(built, built.pipeline.functions[name])))


def test_given_warehouse_steps_when_synthesized_then_they_share_one_role_that_runs_sql_and_nothing_more(
    template: Template, built: Built, names: Names
) -> None:
    # One IAM role is one Redshift user (IAMR:<role>): load's tables stay readable by the other two.
    roles = {built.pipeline.functions[name].role for name in (LOAD, FEATURES, MATERIALIZE)}
    assert roles == {built.pipeline.warehouse_role}
    log_writes = {
        (("logs:CreateLogStream", "logs:PutLogEvents"), (f"<{names.log_group[name]}.Arn>",), "{}")
        for name in (LOAD, FEATURES, MATERIALIZE)
    }
    assert _function_statements(template, built, LOAD) == log_writes | {
        (XRAY[0], XRAY[1], "{}"),
        _data_api(),
        # load: does a source's raw/ prefix hold anything (COPY itself reads with the copy role)
        (("s3:ListBucket",), (names.lake,), json.dumps({"StringLike": {"s3:prefix": ["raw/*"]}})),
        # features: the policy for the job, and the UNLOAD manifest
        (
            ("ssm:DescribeParameters", "ssm:GetParameter", "ssm:GetParameterHistory", "ssm:GetParameters"),
            (names.parameter,),
            "{}",
        ),
        (("s3:GetObject",), (f"{names.lake}/features/training/*",), "{}"),
        (("kms:Decrypt",), (names.lake_key,), _via_s3()),
        # materialise: the as-of features UNLOAD staged in the lake, batch-written to the online store
        (("s3:GetObject",), (f"{names.lake}/features/online/*",), "{}"),
        (("dynamodb:BatchWriteItem",), (names.table,), "{}"),
    }


def test_given_evaluate_role_when_synthesized_then_it_reads_training_outputs_and_registry_and_writes_nothing(
    template: Template, built: Built, names: Names
) -> None:
    registry = tuple(sorted(f"{names.models}/{target}/*" for target in constants.TARGETS))
    statements = _function_statements(template, built, EVALUATE)
    assert statements == _common(names, EVALUATE) | {
        (("s3:GetObject",), tuple(sorted((f"{names.models}/training-jobs/*", *registry))), "{}"),
        (("s3:ListBucket",), (names.models,), "{}"),
        (("kms:Decrypt",), (names.training_key,), _via_s3()),
    }
    assert not any(
        action.startswith(("s3:Put", "s3:Delete")) for actions, _, _ in statements for action in actions
    )


def test_given_promote_role_when_synthesized_then_it_writes_registry_folders_but_never_training_outputs(
    template: Template, built: Built, names: Names
) -> None:
    registry = tuple(sorted(f"{names.models}/{target}/*" for target in constants.TARGETS))
    assert _function_statements(template, built, PROMOTE) == _common(names, PROMOTE) | {
        (("s3:GetObject",), tuple(sorted((f"{names.models}/training-jobs/*", *registry))), "{}"),
        (("s3:PutObject",), registry, "{}"),
        (("s3:ListBucket",), (names.models,), "{}"),
        (("kms:Decrypt",), (names.training_key,), _via_s3()),
    }


def test_given_warehouse_when_pipeline_is_built_then_only_sql_steps_get_the_data_api(built: Built) -> None:
    assert built.warehouse.granted == [built.pipeline.warehouse_role]
    for name in (EVALUATE, PROMOTE):
        assert built.pipeline.functions[name].role is not built.pipeline.warehouse_role


def test_given_training_role_when_synthesized_then_sagemaker_reads_features_and_code_and_writes_outputs_only(
    template: Template, built: Built, names: Names
) -> None:
    role_id = _logical_id(built, built.pipeline.training_role)
    role = template.find_resources("AWS::IAM::Role")[role_id]["Properties"]
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "sagemaker.amazonaws.com"
    }
    assert "ManagedPolicyArns" not in role  # no AmazonSageMakerFullAccess
    asset = built.pipeline.source_bundle
    bundle_object = _render(Stack.of(asset).resolve(asset.bucket.arn_for_objects(asset.s3_object_key)))
    statements = _statements(template, role_id)
    assert statements == {
        (
            ("s3:ListBucket",),
            (names.lake,),
            json.dumps({"StringLike": {"s3:prefix": ["features/training/*"]}}),
        ),
        (("s3:GetObject",), (f"{names.lake}/features/training/*",), "{}"),
        (("kms:Decrypt",), (names.lake_key,), _via_s3()),
        (("s3:GetObject",), (bundle_object,), "{}"),
        (("s3:PutObject",), (f"{names.models}/training-jobs/*",), "{}"),
        (("kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"), (names.training_key,), "{}"),
        (
            ("kms:CreateGrant",),
            (names.training_key,),
            json.dumps({"Bool": {"kms:GrantIsForAWSResource": "true"}}),
        ),
        (("kms:DescribeKey",), (names.training_key,), "{}"),
        (
            ("logs:CreateLogGroup", "logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"),
            (
                "arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:/aws/sagemaker/TrainingJobs:*",
            ),
            "{}",
        ),
    }
    assert not any(action.startswith("dynamodb:") for actions, _, _ in statements for action in actions)


def test_given_state_machine_role_when_synthesized_then_it_invokes_the_steps_and_runs_only_training_jobs(
    template: Template, built: Built
) -> None:
    machine_role_id = _logical_id(built, built.pipeline.state_machine.role)
    statements = _statements(template, machine_role_id)
    actions = {action for statement_actions, _, _ in statements for action in statement_actions}
    assert {"lambda:InvokeFunction", "sagemaker:CreateTrainingJob", "iam:PassRole"} <= actions
    assert not any(a.startswith(("s3:", "dynamodb:", "redshift")) for a in actions)
    [(_, passed, condition)] = [s for s in statements if s[0] == ("iam:PassRole",)]
    assert passed == (f"<{_logical_id(built, built.pipeline.training_role)}.Arn>",)
    assert json.loads(condition) == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}
    invoked = {resource for s in statements if s[0] == ("lambda:InvokeFunction",) for resource in s[1]}
    functions = [f"<{_logical_id(built, function)}.Arn>" for function in built.pipeline.functions.values()]
    assert invoked == {*functions, *(f"{function}:*" for function in functions)}
    [(_, jobs, _)] = [s for s in statements if "sagemaker:CreateTrainingJob" in s[0]]
    assert jobs == ("arn:<AWS::Partition>:sagemaker:<AWS::Region>:<AWS::AccountId>:training-job/*",)


def test_given_training_key_when_synthesized_then_it_rotates_and_is_retained(
    template: Template, built: Built
) -> None:
    key = template.find_resources("AWS::KMS::Key")[_logical_id(built, built.pipeline.key)]
    assert key["Properties"]["EnableKeyRotation"] is True
    assert key["DeletionPolicy"] == "Retain"


# --- compliance -------------------------------------------------------------------------------------


def _validation_report(outdir: Path) -> dict[str, Any]:
    reports = json.loads((outdir / "validation-report.json").read_text())["pluginReports"]
    [report] = [report for report in reports if report["pluginName"] == PACK]
    return dict(report)


def test_given_pipeline_when_synthesized_then_cdk_nag_finds_nothing_unacknowledged_and_reasons_are_written(
    template: Template, built: Built
) -> None:
    del template  # synthesised: it would have raised on an unacknowledged finding
    report = _validation_report(built.outdir)
    assert report["violations"] == []
    suppressed = report["suppressedViolations"]
    assert suppressed
    for finding in suppressed:
        assert len(finding["reason"].split()) >= 8, finding
    used = {(f["acknowledgedAt"], f["acknowledgedId"]) for f in suppressed}
    pipeline_path = built.pipeline.node.path
    made = {
        (construct.node.path, rule_id)
        for construct in built.pipeline.node.find_all()
        for entry in construct.node.metadata
        if entry.type == Validations.ACKNOWLEDGED_RULES_METADATA_KEY
        for rule_id in entry.data
    }
    assert made and all(path.startswith(pipeline_path) for path, _ in made)
    assert made <= used  # no stale acknowledgement that could hide a future finding


def test_given_pipeline_when_linted_then_cfn_lint_reports_no_error(template: Template) -> None:
    assert cfn_lint_errors(template, REGION) == []


def test_given_lake_and_models_in_another_stack_when_synthesized_then_acknowledgements_follow_the_imports(
    tmp_path: Path, bundle: Path
) -> None:
    # In the app the buckets come from the data and serving stacks; cdk-nag then names them by export.
    (tmp_path / "layer").mkdir()
    app = App(outdir=str(tmp_path / "cdk.out"), context=NO_ASSET_STAGING)
    add_compliance_checks(app)
    storage, stack = Stack(app, "Storage"), Stack(app, "Pipeline")
    _pipeline(
        stack,
        functions_root=_functions_root(tmp_path / "functions"),
        layers=FakeLayers(stack, tmp_path / "layer"),
        storage=storage,
        bundle=bundle,
    )
    template = Template.from_stack(stack)  # raises on an unacknowledged finding
    imports = json.dumps(template.to_json())
    assert "Fn::ImportValue" in imports
    assert _validation_report(tmp_path / "cdk.out")["violations"] == []


def test_given_cfn_references_when_flattened_then_they_read_as_cdk_nag_writes_them() -> None:
    joined = {"Fn::Join": ["", [{"Fn::GetAtt": ["Lake1", "Arn"]}, "/features/*"]]}
    imported = {"Fn::Join": ["", [{"Fn::ImportValue": "Data:ExportsLakeArn"}, "/x/*"]]}
    assert nag_resource_name(joined) == "<Lake1.Arn>/features/*"
    assert nag_resource_name(imported) == "Data:ExportsLakeArn/x/*"
    assert nag_resource_name({"Ref": "AWS::Region"}) == "<AWS::Region>"
    assert nag_resource_name("*") == "*"


# --- arguments ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"environment_name": "a-very-long-environment"}, "63 characters"),
        ({"environment_name": "Dev"}, "lowercase"),
        ({"training_instance_type": "m5.xlarge"}, "ml"),
        ({"source_bundle": Path("/nonexistent/sourcedir.tar.gz")}, "infra.training_bundle"),
    ],
)
def test_given_a_bad_argument_when_pipeline_is_built_then_it_says_what_is_wrong(
    tmp_path: Path, bundle: Path, change: dict[str, Any], message: str
) -> None:
    stack = Stack(App(context=NO_ASSET_STAGING), "Pipeline")
    bucket = s3.Bucket(stack, "Bucket")
    arguments: dict[str, Any] = {
        "environment_name": ENVIRONMENT,
        "functions_root": _functions_root(tmp_path / "functions"),
        "layers": FakeLayers(stack, tmp_path),
        "lake_bucket": bucket,
        "model_bucket": bucket,
        "feature_table": dynamodb.Table(
            stack, "Table", partition_key=dynamodb.Attribute(name="token", type=dynamodb.AttributeType.STRING)
        ),
        "policy_parameter": ssm.StringParameter(stack, "Policy", string_value="{}"),
        "warehouse": FakeWarehouse(copy_role=iam.Role(stack, "Copy", assumed_by=iam.AccountRootPrincipal())),
        "schedule": events.Schedule.expression(SCHEDULE),
        "training_image_uri": IMAGE,
        "training_instance_type": INSTANCE_TYPE,
        "training_max_runtime": MAX_RUNTIME,
        "source_bundle": bundle,
        "log_retention": logs.RetentionDays.ONE_DAY,
    }
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        TrainingPipeline(stack, "Training", **{**arguments, **change})


def test_given_a_region_when_the_default_image_is_asked_then_it_is_the_regions_sklearn_container() -> None:
    assert sklearn_training_image_uri("ap-south-1") == (
        "720646828776.dkr.ecr.ap-south-1.amazonaws.com/sagemaker-scikit-learn:1.9-0-cpu-py3"
    )
    assert sklearn_training_image_uri("cn-north-1").startswith(
        "450853457545.dkr.ecr.cn-north-1.amazonaws.com.cn/"
    )
    with pytest.raises(ValueError, match="training_image_uri"):
        sklearn_training_image_uri("xx-nowhere-1")


# --- the source bundle ----------------------------------------------------------------------------------


def test_given_bundle_when_listed_then_train_py_and_requirements_are_at_the_top_beside_credo(
    bundle: Path,
) -> None:
    with tarfile.open(bundle, mode="r:gz") as archive:
        members = archive.getmembers()
    names = [member.name for member in members]
    assert names == sorted(names)
    assert {"train.py", "requirements.txt", "credo/__init__.py", "credo/training/train.py"} <= set(names)
    assert all(name in ("train.py", "requirements.txt") or name.startswith("credo/") for name in names)
    assert not [name for name in names if "__pycache__" in name or name.endswith(".pyc")]
    assert not [name for name in names if name.startswith("credo/synthetic/")]
    assert {(m.mtime, m.uid, m.gid, m.uname, m.gname, m.mode) for m in members} == {
        (training_bundle.MEMBER_MTIME, 0, 0, "", "", 0o644)
    }
    assert all(member.isfile() for member in members)


def test_given_bundle_when_extracted_then_the_entry_point_imports_credo_from_the_bundle(
    bundle: Path, tmp_path: Path
) -> None:
    with tarfile.open(bundle, mode="r:gz") as archive:
        archive.extractall(tmp_path, filter="data")
    # As the container runs it: train.py's directory first on sys.path, credo found there, not in
    # this checkout's editable install.
    probe = (
        "import sys; sys.path.insert(0, sys.argv[1]); import train, credo.training.train; "
        "print('\\n'.join(m.__file__ for n, m in sys.modules.items() if n.split('.')[0] == 'credo'))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe, str(tmp_path)], capture_output=True, text=True, check=True, timeout=120
    )
    files = result.stdout.split()
    assert files
    assert all(Path(file).is_relative_to(tmp_path) for file in files), files


def _copy_sources(root: Path) -> Path:
    repo = training_bundle.REPO_ROOT
    shutil.copytree(repo / "training", root / "training", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(
        repo / "layers" / "core" / "src" / "credo",
        root / "layers" / "core" / "src" / "credo",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    return root


def test_given_the_same_inputs_when_built_twice_then_the_bundles_are_byte_identical(tmp_path: Path) -> None:
    # A frozen copy: the checkout's credo package may change while the suite runs.
    root = _copy_sources(tmp_path / "repo")
    first = training_bundle.build_bundle(build_dir=tmp_path / "first", root=root)
    second = training_bundle.build_bundle(build_dir=tmp_path / "second", root=root, force=True)
    assert first.read_bytes() == second.read_bytes()
    assert first.read_bytes()[4:8] == b"\0\0\0\0"  # no build time in the gzip header


def test_given_unchanged_inputs_when_built_again_then_the_bundle_is_not_rewritten(tmp_path: Path) -> None:
    root = _copy_sources(tmp_path / "repo")
    build_dir = tmp_path / "build"
    first = training_bundle.build_bundle(build_dir=build_dir, root=root)
    written = first.stat().st_mtime_ns
    os.utime(first, ns=(written - 10**9, written - 10**9))  # any rewrite would move it
    training_bundle.build_bundle(build_dir=build_dir, root=root)
    assert first.stat().st_mtime_ns == written - 10**9


def test_given_a_changed_input_when_built_then_the_digest_and_the_bundle_change(tmp_path: Path) -> None:
    root = _copy_sources(tmp_path / "repo")
    build_dir = tmp_path / "build"
    before = training_bundle.build_bundle(build_dir=build_dir, root=root).read_bytes()
    digest = training_bundle.bundle_digest(root=root)
    with (root / "training" / "requirements.txt").open("a") as requirements:
        requirements.write("# changed\n")
    assert training_bundle.bundle_digest(root=root) != digest
    after = training_bundle.build_bundle(build_dir=build_dir, root=root).read_bytes()
    assert after != before
    with tarfile.open(fileobj=io.BytesIO(after), mode="r:gz") as archive:
        extracted = archive.extractfile("requirements.txt")
        assert extracted is not None and extracted.read().endswith(b"# changed\n")


def test_given_build_by_products_when_they_appear_then_the_digest_does_not_change(tmp_path: Path) -> None:
    root = _copy_sources(tmp_path / "repo")
    digest = training_bundle.bundle_digest(root=root)
    cache = root / "layers" / "core" / "src" / "credo" / "__pycache__"
    cache.mkdir(exist_ok=True)
    (cache / "constants.cpython-312.pyc").write_bytes(b"\0")
    (root / "layers" / "core" / "src" / "credo" / "synthetic" / "new_world.py").write_text("x = 1\n")
    assert training_bundle.bundle_digest(root=root) == digest
