"""The scoring Lambda: tokenises the customer, reads features, runs the models, applies the policy."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from aws_cdk import Acknowledgment, CfnElement, Duration, Stack, Validations
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_ssm as ssm
from constructs import Construct, IConstruct

from credo import constants
from infra.function_defaults import function_basics, function_environment


class ScoringFunction(Construct):
    """The function, its log group and a role that may only read what scoring needs."""

    MEMORY_MB = 1024
    # Point lookups by token only: no Scan, no Query, no streams.
    FEATURE_TABLE_ACTIONS = ("dynamodb:GetItem", "dynamodb:BatchGetItem")

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        code_path: Path,
        layers: Sequence[lambda_.ILayerVersion],
        model_bucket: s3.IBucket,
        feature_table: dynamodb.ITable,
        hmac_secret: secretsmanager.ISecret,
        policy_parameter: ssm.IStringParameter,
        environment_name: str,
        timeout: Duration,
        log_retention: logs.RetentionDays,
        provisioned_concurrency: int = 0,
    ) -> None:
        super().__init__(scope, construct_id)
        self.log_group = logs.LogGroup(self, "Logs", retention=log_retention)
        # An own role instead of the AWSLambdaBasicExecutionRole managed policy: it writes to this log
        # group only.
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Credo scoring function: reads models, features, HMAC key and policy",
        )
        self.function = lambda_.Function(
            self,
            "Function",
            **function_basics(code_path, layers),
            memory_size=self.MEMORY_MB,
            timeout=timeout,
            role=self.role,
            log_group=self.log_group,
            environment={
                constants.ENV_MODEL_BUCKET: model_bucket.bucket_name,
                constants.ENV_FEATURE_TABLE: feature_table.table_name,
                constants.ENV_HMAC_SECRET_NAME: hmac_secret.secret_name,
                constants.ENV_POLICY_PARAMETER: policy_parameter.parameter_name,
                **function_environment(environment_name),
            },
        )
        self.entry_point: lambda_.IFunction = self.function
        """What the API invokes: the function itself, or its `live` alias when environments are kept warm."""
        if provisioned_concurrency:
            # Provisioned concurrency belongs to a version; the alias moves to each new version on deploy,
            # so the warm environments always run the code just deployed.
            self.entry_point = lambda_.Alias(
                self,
                "Live",
                alias_name="live",
                version=self.function.current_version,
                provisioned_concurrent_executions=provisioned_concurrency,
            )
        self.log_group.grant_write(self.role)
        model_bucket.grant_read(self.role)
        feature_table.grant(self.role, *self.FEATURE_TABLE_ACTIONS)
        hmac_secret.grant_read(self.role)
        policy_parameter.grant_read(self.role)
        self._acknowledge_checks(model_bucket)

    def _acknowledge_checks(self, model_bucket: s3.IBucket) -> None:
        Validations.of(self.function).acknowledge(
            Acknowledgment(
                id="AwsSolutions::AwsSolutions-L1",
                reason="Pinned to python3.12 on purpose: the runtime layer's onnxruntime and numpy "
                "wheels are built for CPython 3.12, and development runs on 3.12 too. Moving to a "
                "newer runtime means rebuilding that layer and re-testing score parity.",
            )
        )
        model_read = "Read-only access to the model bucket, CDK's read grant:"
        Validations.of(self.role).acknowledge(
            Acknowledgment(
                id="AwsSolutions::AwsSolutions-IAM5[Resource::*]",
                reason="X-Ray's PutTraceSegments and PutTelemetryRecords support no resource-level "
                "permissions; '*' is the only resource they accept.",
            ),
            Acknowledgment(
                id=f"AwsSolutions::AwsSolutions-IAM5[Resource::{_arn_reference(model_bucket)}/*]",
                reason=f"{model_read} the function loads whichever model version the registry names, "
                "so it reads any object key in that one bucket.",
            ),
            *(
                Acknowledgment(
                    id=f"AwsSolutions::AwsSolutions-IAM5[Action::{action}]",
                    reason=f"{model_read} object reads, including earlier versions for a rollback, and "
                    "listing the registry; scoped to the model bucket and its objects.",
                )
                for action in ("s3:GetObject*", "s3:GetBucket*", "s3:List*")
            ),
        )


def _arn_reference(resource: IConstruct) -> str:
    """How cdk-nag names a resource's ARN inside a finding's id: `<LogicalId.Arn>`."""
    element = resource.node.default_child
    if not isinstance(element, CfnElement):
        raise TypeError(f"{resource.node.path} has no CloudFormation resource of its own")
    return f"<{Stack.of(element).get_logical_id(element)}.Arn>"
