"""Stacks compose the capability constructs; they hold no resource settings of their own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aws_cdk import CfnOutput, Duration, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from infra.build_layers import BUILD_DIR, REPO_ROOT
from infra.config import EnvironmentConfig
from infra.feature_store_construct import FeatureStore
from infra.hmac_key_construct import HmacKey
from infra.lake_construct import AccessLogStore, DataLake, DropBox
from infra.layers_construct import LambdaLayers, ScoringLayers
from infra.mining_construct import Miners
from infra.model_store_construct import ModelStore
from infra.monitoring_construct import AlarmTopic, ServingMonitoring
from infra.pipeline_monitoring_construct import MiningMonitoring, TrainingMonitoring
from infra.policy_construct import DecisionPolicy
from infra.scoring_api_construct import ScoringApi
from infra.scoring_construct import ScoringFunction
from infra.training_bundle import build_bundle
from infra.training_job_construct import sklearn_training_image_uri
from infra.training_pipeline_construct import TrainingPipeline
from infra.warehouse_construct import Warehouse

FUNCTIONS_ROOT = REPO_ROOT / "functions"
SCORING_CODE = FUNCTIONS_ROOT / "score"


def hmac_key_secret_name(environment_name: str) -> str:
    return f"credo/{environment_name}/hmac-key"


def import_hmac_key(scope: Construct, environment_name: str) -> secretsmanager.ISecret:
    """The data stack's HMAC key, by name: a cross-stack reference would hand consumers a name that
    CloudFormation must split out of an ARN at deploy time, which cfn-lint rejects (E1022)."""
    return secretsmanager.Secret.from_secret_name_v2(scope, "HmacKey", hmac_key_secret_name(environment_name))


class ServingStack(Stack):
    """Online scoring: API → scoring Lambda → models (S3), features (DynamoDB), key, policy; its alarms."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        layers_build_dir: Path = BUILD_DIR,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.config = config
        # Its own log bucket rather than the data stack's: a cross-stack reference would tie the two
        # stacks' deploys together, and CDK scopes the log-delivery policy to the source bucket only
        # when both buckets share a stack.
        self.model_access_logs = AccessLogStore(self, "ModelAccessLogs")
        self.models = ModelStore(self, "Models", access_logs_bucket=self.model_access_logs.bucket)
        features = FeatureStore(self, "Features")
        hmac_secret = import_hmac_key(self, config.name)
        policy = DecisionPolicy(self, "Policy", parameter_name=f"/credo/{config.name}/policy")
        self.feature_table = features.table
        self.policy_parameter = policy.parameter
        layers = ScoringLayers(self, "Layers", build_dir=layers_build_dir)
        self.scoring = ScoringFunction(
            self,
            "Scoring",
            code_path=SCORING_CODE,
            layers=layers.all,
            model_bucket=self.models.bucket,
            feature_table=features.table,
            hmac_secret=hmac_secret,
            policy_parameter=policy.parameter,
            environment_name=config.name,
            timeout=Duration.seconds(config.scoring_timeout_seconds),
            log_retention=config.log_retention,
            provisioned_concurrency=config.scoring_provisioned_concurrency,
        )
        self.api = ScoringApi(
            self,
            "Api",
            handler=self.scoring.entry_point,
            stage_name=config.name,
            throttle_rate_limit=config.api_throttle_rate_limit,
            throttle_burst_limit=config.api_throttle_burst_limit,
            log_retention=config.log_retention,
        )
        self.monitoring = ServingMonitoring(
            self,
            "Monitoring",
            environment_name=config.name,
            api_stage=self.api.api.deployment_stage,
            function=self.scoring.function,
            function_timeout=Duration.seconds(config.scoring_timeout_seconds),
            api_latency_p99_alarm_ms=config.api_latency_p99_alarm_ms,
        )
        CfnOutput(self, "EligibilityUrl", value=self.api.api.url_for_path("/v1/eligibility"))
        CfnOutput(self, "ModelBucketName", value=self.models.bucket.bucket_name)
        CfnOutput(self, "FeatureTableName", value=features.table.table_name)
        CfnOutput(self, "AlarmTopicArn", value=self.monitoring.topic.topic_arn)


class DataStack(Stack):
    """Storage of the mined data: the lake, the drop box, the access logs, and the key behind every token."""

    def __init__(
        self, scope: Construct, construct_id: str, *, config: EnvironmentConfig, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.config = config
        self.access_logs = AccessLogStore(self, "AccessLogs")
        self.lake = DataLake(
            self,
            "Lake",
            environment_name=config.name,
            raw_retention_days=config.raw_retention_days,
            access_logs_bucket=self.access_logs.bucket,
        )
        self.drops = DropBox(
            self,
            "Drops",
            environment_name=config.name,
            ads_retention_days=config.raw_retention_days,
            access_logs_bucket=self.access_logs.bucket,
        )
        # Miners tokenise with it and the scoring API tokenises with it: the two must agree, so it lives
        # here, below both.
        self.hmac_key = HmacKey(self, "HmacKey", secret_name=hmac_key_secret_name(config.name))
        CfnOutput(self, "LakeBucketName", value=self.lake.bucket.bucket_name)
        CfnOutput(self, "DropsBucketName", value=self.drops.bucket.bucket_name)
        CfnOutput(self, "AccessLogBucketName", value=self.access_logs.bucket.bucket_name)


class WarehouseStack(Stack):
    """Redshift Serverless in its private VPC: COPY from the lake's raw/, UNLOAD to its features/."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        lake_bucket: s3.IBucket,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.config = config
        self.warehouse = Warehouse(
            self,
            "Warehouse",
            environment_name=config.name,
            lake_bucket=lake_bucket,
            base_capacity_rpus=config.warehouse_base_rpus,
            log_retention=config.log_retention,
        )
        CfnOutput(self, "WorkgroupName", value=self.warehouse.workgroup_name)
        CfnOutput(self, "DatabaseName", value=self.warehouse.database_name)


class MiningStack(Stack):
    """The six miners on their schedules, with their dead-letter queues, alarms and dashboard."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        lake_bucket: s3.IBucket,
        drops_bucket: s3.IBucket,
        layers_build_dir: Path = BUILD_DIR,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.config = config
        layers = LambdaLayers(self, "Layers", names=("core", "data"), build_dir=layers_build_dir)
        self.miners = Miners(
            self,
            "Miners",
            environment_name=config.name,
            functions_root=FUNCTIONS_ROOT,
            layers=layers,
            lake_bucket=lake_bucket,
            drops_bucket=drops_bucket,
            hmac_secret=import_hmac_key(self, config.name),
            source_db_secret_name=config.source_db_secret_name,
            schedules={
                source: events.Schedule.expression(expression)
                for source, expression in config.mining_schedules.items()
            },
            log_retention=config.log_retention,
            network=config.mining_network,
        )
        topic = AlarmTopic(self, "Alarms", environment_name=config.name).topic
        self.monitoring = MiningMonitoring(
            self, "Monitoring", environment_name=config.name, miners=self.miners.miners, topic=topic
        )
        CfnOutput(self, "WatermarkTableName", value=self.miners.watermark_table.table_name)
        CfnOutput(self, "AlarmTopicArn", value=topic.topic_arn)


class TrainingStack(Stack):
    """The scheduled training pipeline: load → features → train (SageMaker) → evaluate → promote →
    materialise, with its alarms and dashboard."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        lake_bucket: s3.IBucket,
        model_bucket: s3.IBucket,
        feature_table: dynamodb.ITable,
        policy_parameter: ssm.IStringParameter,
        warehouse: Warehouse,
        layers_build_dir: Path = BUILD_DIR,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.config = config
        layers = LambdaLayers(self, "Layers", names=("core", "data", "runtime"), build_dir=layers_build_dir)
        if not (config.training_image_uri or config.region):
            raise ValueError(
                f"environment {config.name!r}: set its region (or training_image_uri) in cdk.json: the "
                "scikit-learn training image is regional"
            )
        self.pipeline = TrainingPipeline(
            self,
            "Pipeline",
            environment_name=config.name,
            functions_root=FUNCTIONS_ROOT,
            layers=layers,
            lake_bucket=lake_bucket,
            model_bucket=model_bucket,
            feature_table=feature_table,
            policy_parameter=policy_parameter,
            warehouse=warehouse,
            schedule=events.Schedule.expression(config.training_schedule),
            training_image_uri=config.training_image_uri or sklearn_training_image_uri(str(config.region)),
            training_instance_type=config.training_instance_type,
            training_max_runtime=Duration.hours(config.training_max_runtime_hours),
            # Under a second, and a no-op when training/ and credo are unchanged.
            source_bundle=build_bundle(),
            log_retention=config.log_retention,
        )
        topic = AlarmTopic(self, "Alarms", environment_name=config.name).topic
        self.monitoring = TrainingMonitoring(
            self,
            "Monitoring",
            environment_name=config.name,
            state_machine=self.pipeline.state_machine,
            functions=self.pipeline.functions,
            topic=topic,
        )
        CfnOutput(self, "StateMachineArn", value=self.pipeline.state_machine.state_machine_arn)
        CfnOutput(self, "AlarmTopicArn", value=topic.topic_arn)
