"""The training pipeline: load → features → train → evaluate → promote → materialise, on a schedule.

A Step Functions state machine runs five Lambda steps (thin handlers over credo.pipeline) around one
SageMaker training job (infra/training_job_construct.py) that runs training/train.py; the states
and their order are in infra/training_pipeline_states.py.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Protocol

from aws_cdk import Acknowledgment, Duration, Stack, Validations
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as events_targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_ssm as ssm
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from credo import constants
from infra.function_defaults import function_basics, function_environment
from infra.keys import grant_key_through_s3
from infra.nag import WildcardAcknowledgments
from infra.training_job_construct import TrainingJob
from infra.training_pipeline_states import (
    EVALUATE,
    FEATURES,
    LOAD,
    MATERIALIZE,
    PIPELINE_FUNCTIONS,
    PROMOTE,
    pipeline_definition,
)


class PipelineLayers(Protocol):
    """The layers each pipeline function runs with (infra/layers_construct.py)."""

    def for_function(self, name: str) -> list[lambda_.ILayerVersion]: ...


class PipelineWarehouse(Protocol):
    """What the pipeline needs of the warehouse (infra/warehouse_construct.py's Warehouse)."""

    @property
    def workgroup_name(self) -> str: ...

    @property
    def database_name(self) -> str: ...

    @property
    def copy_role(self) -> iam.IRole: ...

    def grant_data_api(self, grantee: iam.IGrantable) -> None: ...


@dataclass(frozen=True, kw_only=True)
class PipelineStep:
    """One Lambda step: what it does, how long it may take, how much memory it gets."""

    name: str
    description: str
    memory_mb: int
    timeout: Duration


class TrainingPipeline(Construct):
    """The scheduled state machine, its five Lambda steps and the SageMaker training job it runs."""

    STEPS: Final = {
        # Only statements and their polling run here: COPY and MERGE run inside Redshift, whose
        # statements may each take up to 10 minutes (credo.warehouse.redshift.DEFAULT_TIMEOUT).
        LOAD: PipelineStep(
            name=LOAD,
            description="load the lake's raw/ into the warehouse (COPY, staging, MERGE)",
            memory_mb=512,
            timeout=Duration.minutes(15),
        ),
        # The feature SQL and the UNLOAD run in Redshift; the function reads the UNLOAD manifest.
        FEATURES: PipelineStep(
            name=FEATURES,
            description="build point-in-time features and labels, UNLOAD the training set as Parquet",
            memory_mb=512,
            timeout=Duration.minutes(15),
        ),
        # Unpacks model.tar.gz and scores the challenger and the champion of each target with
        # onnxruntime; forests reach tens of MB of ONNX each, and memory buys the CPU that scores.
        EVALUATE: PipelineStep(
            name=EVALUATE,
            description="score challenger and champion on the challenger's out-of-time holdout",
            memory_mb=2048,
            timeout=Duration.minutes(5),
        ),
        # Copies a few files per target from the training output into the registry.
        PROMOTE: PipelineStep(
            name=PROMOTE,
            description="register each challenger and move the champion pointer where it won",
            memory_mb=1024,
            timeout=Duration.minutes(3),
        ),
        # Holds every customer's as-of feature row (Data API pages → Arrow → Python dicts) while
        # batch-writing them: about 1-2 KB of Python objects per row.
        MATERIALIZE: PipelineStep(
            name=MATERIALIZE,
            description="write the as-of features of every customer to the DynamoDB online store",
            memory_mb=4096,
            timeout=Duration.minutes(15),
        ),
    }
    # The steps that run SQL through the Data API: one warehouse user between them (see __init__).
    WAREHOUSE_STEPS: Final = (LOAD, FEATURES, MATERIALIZE)
    # Where materialise stages the as-of features (credo.pipeline.materialize.online_features_uri).
    ONLINE_FEATURES_PREFIX = f"{constants.FEATURES_PREFIX}/online/"
    # boto3's batch_writer sends BatchWriteItem only (credo.online_store).
    MATERIALIZE_TABLE_ACTIONS = ("dynamodb:BatchWriteItem",)
    # Slack beyond the steps' own limits: SageMaker's wait for an instance, retries, transitions.
    EXECUTION_SLACK = Duration.hours(1)

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        environment_name: str,
        functions_root: Path,
        layers: PipelineLayers,
        lake_bucket: s3.IBucket,
        model_bucket: s3.IBucket,
        feature_table: dynamodb.ITable,
        policy_parameter: ssm.IStringParameter,
        warehouse: PipelineWarehouse,
        schedule: events.Schedule,
        training_image_uri: str,
        training_instance_type: str,
        training_max_runtime: Duration,
        source_bundle: Path,
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, construct_id)
        self._wildcards = WildcardAcknowledgments(self)
        # "Default" is left out of logical ids: the job's key, its alias and its role keep the ids they
        # had when they were the pipeline's own, so a deployed stack updates them in place instead of
        # replacing a retained key whose alias name the new one could not take.
        self.training_job = TrainingJob(
            self,
            "Default",
            environment_name=environment_name,
            lake_bucket=lake_bucket,
            model_bucket=model_bucket,
            source_bundle=source_bundle,
            training_image_uri=training_image_uri,
            training_instance_type=training_instance_type,
            training_max_runtime=training_max_runtime,
            wildcards=self._wildcards,
        )
        self.training_role = self.training_job.role
        self.key = self.training_job.key
        self.source_bundle = self.training_job.source_bundle
        self._check_functions(functions_root)
        self._lake_bucket = lake_bucket
        self._model_bucket = model_bucket

        environment = {
            constants.ENV_LAKE_BUCKET: lake_bucket.bucket_name,
            constants.ENV_MODEL_BUCKET: model_bucket.bucket_name,
            constants.ENV_FEATURE_TABLE: feature_table.table_name,
            constants.ENV_POLICY_PARAMETER: policy_parameter.parameter_name,
            constants.ENV_REDSHIFT_WORKGROUP: warehouse.workgroup_name,
            constants.ENV_REDSHIFT_DATABASE: warehouse.database_name,
            constants.ENV_REDSHIFT_ROLE_ARN: warehouse.copy_role.role_arn,
        }
        self._roles: dict[str, iam.Role] = {}
        # Redshift maps each IAM role the Data API signs in with to a database user of its own
        # (IAMR:<role>), and a table belongs to the user that created it. The steps that use the
        # warehouse share one role, so that what load creates, features and materialise may read
        # without GRANTs that would have to name users before they exist.
        self.warehouse_role = iam.Role(
            self,
            "WarehouseStepsRole",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Credo {environment_name} training pipeline: load, features and materialise, "
            "one warehouse user",
        )
        self.functions: dict[str, lambda_.Function] = {
            name: self._function(
                step,
                code_path=functions_root / name,
                layers=layers.for_function(name),
                environment={key: environment[key] for key in self.environment_names(name)},
                environment_name=environment_name,
                log_retention=log_retention,
                role=self.warehouse_role if name in self.WAREHOUSE_STEPS else None,
            )
            for name, step in self.STEPS.items()
        }
        warehouse.grant_data_api(self.warehouse_role)
        self._grant_load(self._roles[LOAD])
        self._grant_features(self._roles[FEATURES], policy_parameter)
        self._grant_evaluate(self._roles[EVALUATE])
        self._grant_promote(self._roles[PROMOTE])
        self._grant_materialize(self._roles[MATERIALIZE], feature_table)

        self.log_group = logs.LogGroup(self, "ExecutionLogs", retention=log_retention)
        definition = pipeline_definition(self, self.functions, self.training_job)
        steps_timeout = sum(step.timeout.to_seconds() for step in self.STEPS.values())
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            state_machine_name=f"credo-{environment_name}-training",
            state_machine_type=sfn.StateMachineType.STANDARD,
            definition_body=sfn.DefinitionBody.from_chainable(definition),
            timeout=Duration.seconds(
                training_max_runtime.to_seconds() + steps_timeout + self.EXECUTION_SLACK.to_seconds()
            ),
            tracing_enabled=True,
            # The states carry dates, run ids, S3 URIs, hyperparameters and metrics, never a
            # customer's row, so the execution data may be logged in full.
            logs=sfn.LogOptions(
                destination=self.log_group, level=sfn.LogLevel.ALL, include_execution_data=True
            ),
        )
        self.rule = events.Rule(
            self,
            "Schedule",
            schedule=schedule,
            description=f"Credo {environment_name}: run the training pipeline",
            targets=[
                events_targets.SfnStateMachine(
                    self.state_machine,
                    input=events.RuleTargetInput.from_object({"as_of": events.EventField.time}),
                )
            ],
        )
        self._acknowledge_checks()

    @staticmethod
    def environment_names(name: str) -> tuple[str, ...]:
        """The credo.constants environment variables a pipeline function reads."""
        warehouse = (
            constants.ENV_REDSHIFT_WORKGROUP,
            constants.ENV_REDSHIFT_DATABASE,
            constants.ENV_REDSHIFT_ROLE_ARN,
        )
        return {
            LOAD: (constants.ENV_LAKE_BUCKET, *warehouse),
            FEATURES: (constants.ENV_LAKE_BUCKET, constants.ENV_POLICY_PARAMETER, *warehouse),
            EVALUATE: (constants.ENV_MODEL_BUCKET,),
            PROMOTE: (constants.ENV_MODEL_BUCKET,),
            MATERIALIZE: (constants.ENV_LAKE_BUCKET, constants.ENV_FEATURE_TABLE, *warehouse),
        }[name]

    @staticmethod
    def _check_functions(functions_root: Path) -> None:
        missing = [
            name for name in PIPELINE_FUNCTIONS if not (functions_root / name / "handler.py").is_file()
        ]
        if missing:
            raise FileNotFoundError(f"no handler.py for {', '.join(missing)} under {functions_root}")

    # Functions and their permissions.

    def _function(
        self,
        step: PipelineStep,
        *,
        code_path: Path,
        layers: Sequence[lambda_.ILayerVersion],
        environment: Mapping[str, str],
        environment_name: str,
        log_retention: logs.RetentionDays,
        role: iam.Role | None,
    ) -> lambda_.Function:
        construct_id = "".join(part.title() for part in step.name.split("_"))
        log_group = logs.LogGroup(self, f"{construct_id}Logs", retention=log_retention)
        # An own role (or the warehouse steps' shared one) instead of the AWSLambdaBasicExecutionRole
        # managed policy: it writes to its own log groups and reaches only what its steps need.
        role = role or iam.Role(
            self,
            f"{construct_id}Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Credo {environment_name} training pipeline: {step.description}",
        )
        function = lambda_.Function(
            self,
            construct_id,
            description=f"Credo {environment_name}: {step.description}",
            **function_basics(code_path, layers),
            memory_size=step.memory_mb,
            timeout=step.timeout,
            role=role,
            log_group=log_group,
            environment={**environment, **function_environment(environment_name)},
        )
        log_group.grant_write(role)
        self._roles[step.name] = role
        return function

    def _registry_objects(self) -> list[str]:
        """The registry's folders: <target>/<version>/… and <target>/champion.json (credo.registry)."""
        return [self._model_bucket.arn_for_objects(f"{target}/*") for target in constants.TARGETS]

    def _grant_load(self, role: iam.IRole) -> None:
        # COPY reads raw/ with the warehouse's copy role; the function only asks whether a source's
        # prefix holds any object (RedshiftWarehouse._has_objects lists it).
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["s3:ListBucket"],
                resources=[self._lake_bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [f"{constants.RAW_PREFIX}/*"]}},
            )
        )

    def _grant_features(self, role: iam.IRole, policy_parameter: ssm.IStringParameter) -> None:
        # The policy JSON becomes a training hyperparameter; UNLOAD writes with the copy role, and the
        # function reads the manifest UNLOAD leaves under features/training/<run id>/.
        policy_parameter.grant_read(role)
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject"],
                resources=[self._lake_bucket.arn_for_objects(f"{TrainingJob.TRAINING_FEATURES_PREFIX}*")],
            )
        )
        grant_key_through_s3(self, role, self._lake_bucket.encryption_key, "kms:Decrypt")

    def _grant_materialize(self, role: iam.IRole, feature_table: dynamodb.ITable) -> None:
        # UNLOAD stages the as-of features under features/online/<as of>/ (the copy role writes them);
        # the function reads them part by part and batch-writes the online store.
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject"],
                resources=[self._lake_bucket.arn_for_objects(self.ONLINE_FEATURES_PREFIX + "*")],
            )
        )
        grant_key_through_s3(self, role, self._lake_bucket.encryption_key, "kms:Decrypt")
        feature_table.grant(role, *self.MATERIALIZE_TABLE_ACTIONS)

    def _grant_evaluate(self, role: iam.IRole) -> None:
        # Reads the job's model.tar.gz and each target's champion; writes nothing.
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject"],
                resources=[self.training_job.outputs, *self._registry_objects()],
            )
        )
        self._grant_registry_listing(role)
        self.training_job.grant_decrypt_outputs(role)

    def _grant_promote(self, role: iam.IRole) -> None:
        # Reads the job's output and the registry, writes versions and champion pointers, never the
        # training outputs.
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject"],
                resources=[self.training_job.outputs, *self._registry_objects()],
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=["s3:PutObject"], resources=self._registry_objects())
        )
        self._grant_registry_listing(role)
        self.training_job.grant_decrypt_outputs(role)

    def _grant_registry_listing(self, role: iam.IRole) -> None:
        # The registry lists a version's folder to see that it is registered, and S3 answers a HEAD on
        # a missing champion.json with 404 (not 403) only to a principal that may list the bucket.
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=["s3:ListBucket"], resources=[self._model_bucket.bucket_arn])
        )

    # cdk-nag.

    def _acknowledge_checks(self) -> None:
        for function in self.functions.values():
            Validations.of(function).acknowledge(
                Acknowledgment(
                    id="AwsSolutions::AwsSolutions-L1",
                    reason="Pinned to python3.12 on purpose: the core, data and runtime layers are built "
                    "for CPython 3.12 (pyarrow, numpy, onnxruntime wheels), and development and the "
                    "training container run 3.12 too. A newer runtime means rebuilding those layers.",
                )
            )
        acknowledge = self._wildcards.add
        for role in {id(role): role for role in self._roles.values()}.values():
            acknowledge(
                role,
                "*",
                "X-Ray's PutTraceSegments and PutTelemetryRecords support no resource-level permissions; "
                "'*' is the only resource they accept.",
            )
        acknowledge(
            self._roles[FEATURES],
            self._lake_bucket.arn_for_objects(f"{TrainingJob.TRAINING_FEATURES_PREFIX}*"),
            "Reads the UNLOAD manifest under features/training/<run id>/; run ids are made at run time. "
            "GetObject only, that prefix only.",
        )
        acknowledge(
            self._roles[MATERIALIZE],
            self._lake_bucket.arn_for_objects(self.ONLINE_FEATURES_PREFIX + "*"),
            "Reads the Parquet parts and manifest UNLOAD stages under features/online/<as of>/; the part "
            "names are Redshift's. GetObject only, that prefix only.",
        )
        for name, access in ((EVALUATE, "Reads"), (PROMOTE, "Reads and writes")):
            acknowledge(
                self._roles[name],
                self.training_job.outputs,
                "Reads the training job's model.tar.gz under training-jobs/<job name>/output/; job names "
                "are made at run time. GetObject only.",
            )
            for folder in self._registry_objects():
                acknowledge(
                    self._roles[name],
                    folder,
                    f"{access} the model registry's folder of a target (credo.registry): "
                    "<target>/<version>/ files and <target>/champion.json; versions are made by each run.",
                )
        state_machine_role = self.state_machine.role
        acknowledge(
            state_machine_role,
            "*",
            "Actions without resource-level permissions: X-Ray's PutTraceSegments, PutTelemetryRecords, "
            "GetSamplingRules and GetSamplingTargets; CloudWatch Logs' log-delivery actions for the "
            "execution log; and sagemaker:ListTags, which the .sync integration calls.",
        )
        acknowledge(
            state_machine_role,
            Stack.of(self).format_arn(service="sagemaker", resource="training-job", resource_name="*"),
            "Training job names are built at run time from the run id (credo-<env>-<run id>), so IAM "
            "cannot name them when the role is made; create, describe, stop and tag only.",
        )
        for function in self.functions.values():
            acknowledge(
                state_machine_role,
                f"{function.function_arn}:*",
                "Step Functions' Lambda integration may invoke the function's versions and aliases too "
                "(CDK's resourceArnsForGrantInvoke); lambda:InvokeFunction only.",
            )
