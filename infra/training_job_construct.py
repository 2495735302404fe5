"""The training pipeline's SageMaker training job: its code, its key, its role and its Train state.

The job runs training/train.py (shipped as a source bundle asset) in AWS's scikit-learn container,
reads the Parquet training set the features step UNLOADed into the lake, and writes model.tar.gz to
the model bucket under a key of its own. Its role is written out statement by statement: CDK's task
would grant KMS and S3 on '*' for a dynamic input location.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from aws_cdk import ArnFormat, Duration, Size, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as sfn_tasks
from constructs import Construct

from credo import constants
from infra.keys import grant_key_through_s3, retained_key
from infra.nag import WildcardAcknowledgments
from infra.training_bundle import ENTRY_POINT

# AWS's scikit-learn framework container: scikit-learn 1.9 on Python 3.12 (Amazon Linux 2023), the
# Python of the Lambda runtime and of training/requirements.txt's wheels. The registry accounts are
# those of the SageMaker Python SDK's image_uri_config/sklearn.json.
SKLEARN_IMAGE_REPOSITORY: Final = "sagemaker-scikit-learn"
SKLEARN_IMAGE_TAG: Final = "1.9-0-cpu-py3"
SKLEARN_IMAGE_REGISTRIES: Final[Mapping[str, str]] = {
    "af-south-1": "510948584623",
    "ap-east-1": "651117190479",
    "ap-northeast-1": "354813040037",
    "ap-northeast-2": "366743142698",
    "ap-northeast-3": "867004704886",
    "ap-south-1": "720646828776",
    "ap-south-2": "628508329040",
    "ap-southeast-1": "121021644041",
    "ap-southeast-2": "783357654285",
    "ap-southeast-3": "951798379941",
    "ap-southeast-4": "106583098589",
    "ca-central-1": "341280168497",
    "ca-west-1": "190319476487",
    "cn-north-1": "450853457545",
    "cn-northwest-1": "451049120500",
    "eu-central-1": "492215442770",
    "eu-central-2": "680994064768",
    "eu-north-1": "662702820516",
    "eu-south-1": "978288397137",
    "eu-south-2": "104374241257",
    "eu-west-1": "141502667606",
    "eu-west-2": "764974769150",
    "eu-west-3": "659782779980",
    "me-central-1": "272398656194",
    "me-south-1": "801668240914",
    "sa-east-1": "737474898029",
    "us-east-1": "683313688378",
    "us-east-2": "257758044811",
    "us-gov-east-1": "237065988967",
    "us-gov-west-1": "414596584902",
    "us-west-1": "746614075791",
    "us-west-2": "246618743249",
}


def sklearn_training_image_uri(region: str) -> str:
    """The scikit-learn training container of a region: Credo's default `training_image_uri`."""
    try:
        account = SKLEARN_IMAGE_REGISTRIES[region]
    except KeyError:
        raise ValueError(
            f"no SageMaker scikit-learn image is known for region {region!r}; set training_image_uri"
        ) from None
    domain = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"{account}.dkr.ecr.{region}.{domain}/{SKLEARN_IMAGE_REPOSITORY}:{SKLEARN_IMAGE_TAG}"


class TrainingJob(Construct):
    """The SageMaker training job's source bundle, KMS key and role, and the task state that runs it."""

    # SageMaker job names: ^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}; run ids are at most 40 characters.
    MAX_JOB_NAME_LENGTH = 63
    MAX_RUN_ID_LENGTH = 40
    # train.py reads pip wheels (about 1.5 GB installed) and the Parquet training set from the volume.
    VOLUME = Size.gibibytes(30)
    CHANNEL = "train"
    CONTENT_TYPE = "application/x-parquet"
    TRAINING_FEATURES_PREFIX = f"{constants.FEATURES_PREFIX}/training/"
    OUTPUT_PREFIX = "training-jobs/"
    SAGEMAKER_LOG_GROUP = "/aws/sagemaker/TrainingJobs"
    SAGEMAKER_LOG_ACTIONS = (
        "logs:CreateLogGroup",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "logs:DescribeLogStreams",
    )

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        environment_name: str,
        lake_bucket: s3.IBucket,
        model_bucket: s3.IBucket,
        source_bundle: Path,
        training_image_uri: str,
        training_instance_type: str,
        training_max_runtime: Duration,
        wildcards: WildcardAcknowledgments,
    ) -> None:
        super().__init__(scope, construct_id)
        self.job_name_prefix = f"credo-{environment_name}-"
        self._check_arguments(training_instance_type, source_bundle)
        self._lake_bucket = lake_bucket
        self._model_bucket = model_bucket
        self._image_uri = training_image_uri
        self._instance_type = training_instance_type
        self._max_runtime = training_max_runtime

        self.source_bundle = s3_assets.Asset(self, "SourceBundle", path=str(source_bundle))
        # Training outputs hold each target's holdout sample (pseudonymised feature rows): the job's
        # volume and its model.tar.gz are encrypted with a key of the pipeline's own.
        # Outputs in the model bucket outlive the stack and are unreadable without it.
        self.key = retained_key(
            self,
            "Key",
            alias=f"alias/credo-{environment_name}-training",
            description=f"Credo {environment_name}: encrypts training job volumes and outputs",
        )
        self.role = self._role(environment_name)
        self._acknowledge_checks(wildcards)

    def _check_arguments(self, training_instance_type: str, source_bundle: Path) -> None:
        if not re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*-", self.job_name_prefix):
            raise ValueError(
                f"environment name in {self.job_name_prefix!r} must be lowercase letters, digits, '-'"
            )
        if len(self.job_name_prefix) + self.MAX_RUN_ID_LENGTH > self.MAX_JOB_NAME_LENGTH:
            raise ValueError(
                f"training job names {self.job_name_prefix}<run id> would exceed SageMaker's "
                f"{self.MAX_JOB_NAME_LENGTH} characters: shorten the environment name"
            )
        if not training_instance_type.startswith("ml."):
            raise ValueError(
                f"training_instance_type {training_instance_type!r} is not a SageMaker type (ml.*)"
            )
        if not source_bundle.is_file():
            raise FileNotFoundError(
                f"training source bundle {source_bundle} is missing; run `python -m infra.training_bundle`"
            )

    @property
    def outputs(self) -> str:
        """The objects the job writes: training-jobs/<job name>/output/model.tar.gz in the model bucket."""
        return self._model_bucket.arn_for_objects(f"{self.OUTPUT_PREFIX}*")

    def grant_decrypt_outputs(self, grantee: iam.IGrantable) -> None:
        """Let `grantee` read what the job wrote, through S3, under the training key."""
        grant_key_through_s3(self, grantee, self.key, "kms:Decrypt")

    def _sagemaker_log_streams(self) -> str:
        """SageMaker's log group of training jobs and its streams (log-group:<name>:*)."""
        return Stack.of(self).format_arn(
            service="logs",
            resource="log-group",
            resource_name=f"{self.SAGEMAKER_LOG_GROUP}:*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )

    def _role(self, environment_name: str) -> iam.Role:
        """The role the training job runs as: read its data and code, write its output and logs."""
        role = iam.Role(
            self,
            "TrainingRole",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description=f"Credo {environment_name}: SageMaker training job of the training pipeline",
        )
        # File mode lists the channel's prefix, then downloads every object under it.
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:ListBucket"],
                resources=[self._lake_bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [f"{self.TRAINING_FEATURES_PREFIX}*"]}},
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject"],
                resources=[self._lake_bucket.arn_for_objects(f"{self.TRAINING_FEATURES_PREFIX}*")],
            )
        )
        grant_key_through_s3(self, role, self._lake_bucket.encryption_key, "kms:Decrypt")
        # The toolkit downloads sagemaker_submit_directory: this one object, nothing else of the
        # assets bucket.
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject"],
                resources=[self.source_bundle.bucket.arn_for_objects(self.source_bundle.s3_object_key)],
            )
        )
        role.add_to_policy(iam.PolicyStatement(actions=["s3:PutObject"], resources=[self.outputs]))
        # model.tar.gz is uploaded under the training key: SSE-KMS makes a data key per object, and
        # SageMaker's documentation asks for Encrypt; multipart uploads read their parts back.
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["kms:Encrypt", "kms:GenerateDataKey", "kms:Decrypt"], resources=[self.key.key_arn]
            )
        )
        # The ML storage volume is encrypted under the training key through a grant to EBS.
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["kms:CreateGrant"],
                resources=[self.key.key_arn],
                conditions={"Bool": {"kms:GrantIsForAWSResource": "true"}},
            )
        )
        role.add_to_policy(iam.PolicyStatement(actions=["kms:DescribeKey"], resources=[self.key.key_arn]))
        role.add_to_policy(
            iam.PolicyStatement(
                actions=list(self.SAGEMAKER_LOG_ACTIONS), resources=[self._sagemaker_log_streams()]
            )
        )
        return role

    def task_state(self, state_name: str) -> sfn_tasks.SageMakerCreateTrainingJob:
        """The state that runs the job (once per state machine) and puts its output at $.training.

        It reads $.run_id (the job's name), $.training_data (the channel's S3 prefix) and
        $.hyperparameters (the features step's map).
        """
        # The SageMaker training toolkit unpacks sagemaker_submit_directory and runs sagemaker_program
        # from it; it looks for the directory among the hyperparameters only. On a clash these keys
        # win over the features step's. Braces are reserved in an intrinsic's string literal: escaped.
        framework = (
            '\\{"sagemaker_program":"' + ENTRY_POINT + '",'
            '"sagemaker_submit_directory":"' + self.source_bundle.s3_object_url + '"\\}'
        )
        hyperparameters = sfn.JsonPath.json_merge(
            sfn.JsonPath.object_at("$.hyperparameters"), sfn.JsonPath.string_to_json(framework)
        )
        return _TrainingJobState(
            self,
            state_name,
            hyperparameters_path=hyperparameters,
            integration_pattern=sfn.IntegrationPattern.RUN_JOB,
            training_job_name=sfn.JsonPath.format(
                f"{self.job_name_prefix}{{}}", sfn.JsonPath.string_at("$.run_id")
            ),
            # The task would grant the role KMS and S3 actions of its own, on '*' for a dynamic input
            # location; the role's statements are written out in _role instead.
            role=self.role.without_policy_updates(),
            algorithm_specification=sfn_tasks.AlgorithmSpecification(
                training_image=sfn_tasks.DockerImage.from_registry(self._image_uri),
                training_input_mode=sfn_tasks.InputMode.FILE,
            ),
            input_data_config=[
                sfn_tasks.Channel(
                    channel_name=self.CHANNEL,
                    content_type=self.CONTENT_TYPE,
                    data_source=sfn_tasks.DataSource(
                        s3_data_source=sfn_tasks.S3DataSource(
                            s3_location=sfn_tasks.S3Location.from_json_expression("$.training_data"),
                            s3_data_type=sfn_tasks.S3DataType.S3_PREFIX,
                        )
                    ),
                )
            ],
            output_data_config=sfn_tasks.OutputDataConfig(
                s3_output_location=_S3Uri(f"s3://{self._model_bucket.bucket_name}/{self.OUTPUT_PREFIX}"),
                encryption_key=self.key,
            ),
            resource_config=sfn_tasks.ResourceConfig(
                instance_count=1,
                # CDK writes the "ml." prefix itself.
                instance_type=ec2.InstanceType(self._instance_type.removeprefix("ml.")),
                volume_size=self.VOLUME,
                volume_encryption_key=self.key,
            ),
            stopping_condition=sfn_tasks.StoppingCondition(max_runtime=self._max_runtime),
            # The toolkit pip-installs requirements.txt from PyPI: the job needs the network.
            enable_network_isolation=False,
            result_selector={
                "model_artifacts": sfn.JsonPath.string_at("$.ModelArtifacts.S3ModelArtifacts"),
                "training_job_name": sfn.JsonPath.string_at("$.TrainingJobName"),
            },
            result_path="$.training",
        )

    def _acknowledge_checks(self, wildcards: WildcardAcknowledgments) -> None:
        wildcards.add(
            self.role,
            self._lake_bucket.arn_for_objects(f"{self.TRAINING_FEATURES_PREFIX}*"),
            "The training channel is features/training/<run id>/, made at run time; the job downloads "
            "every Parquet part UNLOAD wrote there. GetObject only, that prefix only.",
        )
        wildcards.add(
            self.role,
            self.outputs,
            "SageMaker writes <job name>/output/model.tar.gz under the output path; job names are made "
            "at run time. PutObject only, training-jobs/ only.",
        )
        wildcards.add(
            self.role,
            self._sagemaker_log_streams(),
            "SageMaker writes the job's container output to log streams named after the job in the "
            "fixed /aws/sagemaker/TrainingJobs group; the streams are made at run time.",
        )


class _TrainingJobState(sfn_tasks.SageMakerCreateTrainingJob):
    """SageMakerCreateTrainingJob whose HyperParameters come whole from a JSONPath expression.

    CDK types `hyperparameters` as a static map, which renders each key on its own; SageMaker needs
    the features step's map merged with the framework's keys, a value only an intrinsic function
    computes at run time. This puts that expression in place of the static map.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, hyperparameters_path: str, **props: Any
    ) -> None:
        super().__init__(scope, construct_id, **props)
        self._hyperparameters_path = hyperparameters_path

    def to_state_json(self, top_level_query_language: sfn.QueryLanguage | None = None) -> dict[str, Any]:
        state = dict(super().to_state_json(top_level_query_language))
        parameters = dict(state["Parameters"])
        parameters.pop("HyperParameters", None)
        parameters["HyperParameters.$"] = self._hyperparameters_path
        state["Parameters"] = parameters
        return state


class _S3Uri(sfn_tasks.S3Location):
    """A fixed s3:// location that grants nothing: the training role's statements say what it may do.

    CDK's S3Location.from_bucket renders an https:// URL and grants write, delete and abort on the
    prefix; SageMaker needs only PutObject there.
    """

    def __init__(self, uri: str) -> None:
        super().__init__()
        self._uri = uri

    # jsii passes the bind options as one struct, not as the keyword arguments of the generated stub.
    def bind(  # type: ignore[override]
        self, task: sfn_tasks.ISageMakerTask, opts: sfn_tasks.S3LocationBindOptions
    ) -> sfn_tasks.S3LocationConfig:
        del task, opts
        return sfn_tasks.S3LocationConfig(uri=self._uri)
