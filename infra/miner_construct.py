"""One miner: a scheduled Lambda that brings one source into the lake, with only the access it needs.

Its role writes the miner's raw/, quarantine/ and manifests/ prefixes in the lake, reads its own
watermark item and the HMAC key, and what MINER_ACCESS adds for its source (infra/mining_construct.py
shows it as a table); in the shop's VPC it also holds the EC2 actions Lambda needs for its network
interfaces.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from aws_cdk import Acknowledgment, Annotations, Duration, Fn, Validations
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from credo import constants
from credo.miners import MINERS, PENDING_LOOKUPS_KEY
from credo.mining_handler import RESERVE_MILLIS
from credo.sources.database import SECRET_SCHEME
from infra.config import MiningNetwork
from infra.function_defaults import function_basics, function_environment
from infra.nag import WildcardAcknowledgments

# Where every miner writes in the lake: <prefix>/<miner>/... (credo.mining.write_window).
LAKE_WRITE_PREFIXES: Final = (constants.RAW_PREFIX, constants.QUARANTINE_PREFIX, constants.MANIFEST_PREFIX)


def miner_function_name(environment_name: str, source: str) -> str:
    return f"credo-{environment_name}-mine-{source}"


@dataclass(frozen=True, kw_only=True)
class MinerAccess:
    """What one miner reads beyond its own lake prefixes, its watermark and the HMAC key."""

    source_db: bool = False
    drops_prefix: str | None = None
    linkage_key: bool = False
    bureau: bool = False
    lake_state_key: str | None = None
    """One lake object the miner reads back and rewrites on every run."""


MINER_ACCESS: Final[dict[str, MinerAccess]] = {
    "registrations": MinerAccess(source_db=True),
    "orders": MinerAccess(source_db=True),
    "payments": MinerAccess(source_db=True),
    "marketing": MinerAccess(drops_prefix=constants.ADS_DROP_PREFIX),
    "reference": MinerAccess(source_db=True, drops_prefix=constants.REFERENCE_DROP_PREFIX, linkage_key=True),
    "bureau": MinerAccess(source_db=True, bureau=True, lake_state_key=PENDING_LOOKUPS_KEY),
}
if MINER_ACCESS.keys() != set(MINERS):
    raise RuntimeError(f"MINER_ACCESS must name exactly credo.miners.MINERS: {', '.join(MINERS)}")


@dataclass(frozen=True, kw_only=True)
class MinerNetwork:
    """The shop's VPC, subnets and security groups, imported: the miners run there, Credo adds nothing."""

    vpc: ec2.IVpc
    subnets: Sequence[ec2.ISubnet]
    security_groups: Sequence[ec2.ISecurityGroup]

    @classmethod
    def import_from(cls, scope: Construct, settings: MiningNetwork) -> MinerNetwork:
        """References to the ids in `settings`, made offline: no lookup, no credentials at synth."""
        network = cls(
            # The VPC is imported without its subnets, so its availability zones are never read; the
            # region's own (a token) satisfy the import without a lookup.
            vpc=ec2.Vpc.from_vpc_attributes(
                scope, "Vpc", vpc_id=settings.vpc_id, availability_zones=Fn.get_azs()
            ),
            subnets=[
                ec2.Subnet.from_subnet_id(scope, subnet_id, subnet_id) for subnet_id in settings.subnet_ids
            ],
            # Immutable: the shop owns its security groups; CDK must not add rules to them.
            security_groups=[
                ec2.SecurityGroup.from_security_group_id(scope, group_id, group_id, mutable=False)
                for group_id in settings.security_group_ids
            ],
        )
        annotations = Annotations.of(scope)
        annotations.acknowledge_warning(
            "@aws-cdk/aws-ec2:vpcAttributeIsListTokenavailabilityZones",
            "The VPC is imported only to place the miners in subnets named by id; nothing reads its "
            "availability zones or asks it for subnets.",
        )
        annotations.acknowledge_warning(
            "@aws-cdk/aws-ec2:noSubnetRouteTableId",
            "Nothing reads the subnets' route tables: Credo adds no route or endpoint to the shop's VPC.",
        )
        return network


@dataclass(frozen=True, kw_only=True)
class MiningResources:
    """What the miners share: the stores they write, the secrets they read, how they log."""

    environment_name: str
    lake_bucket: s3.IBucket
    drops_bucket: s3.IBucket
    watermark_table: dynamodb.ITable
    hmac_secret: secretsmanager.ISecret
    source_db_secret: secretsmanager.ISecret
    linkage_secret: secretsmanager.ISecret
    bureau_secret: secretsmanager.ISecret
    log_retention: logs.RetentionDays
    network: MinerNetwork | None = None
    """None: the miners run outside any VPC."""


class Miner(Construct):
    """One source's Lambda, its schedule, its log group, its dead letters and a role scoped to that source."""

    # A batch holds up to 200,000 rows as dicts, then as an Arrow table and a Parquet buffer: the six
    # first runs of the 100,000-customer world peaked at 1.4 GB (docs/benchmarks.md). Lambda also
    # scales CPU with memory (1,769 MB = one vCPU), and tokenising and Parquet encoding are CPU-bound.
    MEMORY_MB = 2048
    # Lambda's maximum. The handler stops starting batches RESERVE_MILLIS before the end and the
    # next run resumes from the watermark.
    TIMEOUT = Duration.minutes(15)
    # One run per source at a time: a watermark is one cursor, and two runs of one miner would mine
    # the same window twice. A scheduled event that finds a run going waits in Lambda's async queue.
    RESERVED_CONCURRENCY = 1
    # Mining is idempotent and resumable, so a failed run may simply run again.
    ASYNC_RETRY_ATTEMPTS = 2
    RULE_RETRY_ATTEMPTS = 4
    # An event still waiting after this is superseded by the next scheduled one; the DLQ records it.
    MAX_EVENT_AGE = Duration.hours(1)
    DEAD_LETTER_RETENTION = Duration.days(14)
    # WatermarkStore.get / put / advance (a conditional put). delete is an operator's reset, not a run's.
    WATERMARK_ACTIONS = ("dynamodb:GetItem", "dynamodb:PutItem")
    # What Lambda does with the function's own role to give it network interfaces in the shop's
    # subnets: the EC2 half of the AWSLambdaVPCAccessExecutionRole managed policy, without its
    # rights on every log group.
    NETWORK_INTERFACE_ACTIONS = (
        "ec2:CreateNetworkInterface",
        "ec2:DescribeNetworkInterfaces",
        "ec2:DescribeSubnets",
        "ec2:DeleteNetworkInterface",
        "ec2:AssignPrivateIpAddresses",
        "ec2:UnassignPrivateIpAddresses",
    )

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        source: str,
        code_path: Path,
        layers: Sequence[lambda_.ILayerVersion],
        schedule: events.Schedule,
        resources: MiningResources,
    ) -> None:
        super().__init__(scope, construct_id)
        if self.TIMEOUT.to_seconds() * 1000 <= RESERVE_MILLIS:
            raise ValueError("the miner's timeout must leave time beyond the handler's reserve")
        access = MINER_ACCESS[source]
        network = resources.network
        self.source = source
        self.log_group = logs.LogGroup(self, "Logs", retention=resources.log_retention)
        self.dead_letter_queue = sqs.Queue(
            self,
            "DeadLetters",
            queue_name=f"{miner_function_name(resources.environment_name, source)}-dead-letters",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=self.DEAD_LETTER_RETENTION,
        )
        # An own role instead of the AWSLambdaBasicExecutionRole managed policy: it writes to this log
        # group only.
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Credo {source} miner: writes its own lake prefixes, reads only its own inputs",
        )
        self.function = lambda_.Function(
            self,
            "Function",
            # A known name, so that ops can run a miner by hand (docs/operations.md).
            function_name=miner_function_name(resources.environment_name, source),
            description=f"Credo {resources.environment_name}: mines {source} into the lake",
            **function_basics(code_path, layers),
            memory_size=self.MEMORY_MB,
            timeout=self.TIMEOUT,
            reserved_concurrent_executions=self.RESERVED_CONCURRENCY,
            role=self.role,
            log_group=self.log_group,
            environment=_environment(source, access, resources),
            retry_attempts=self.ASYNC_RETRY_ATTEMPTS,
            max_event_age=self.MAX_EVENT_AGE,
            on_failure=destinations.SqsDestination(self.dead_letter_queue),
            vpc=network.vpc if network else None,
            vpc_subnets=ec2.SubnetSelection(subnets=list(network.subnets)) if network else None,
            security_groups=list(network.security_groups) if network else None,
        )
        # The handler parses the scheduled event itself (EventBridgeModel) and mines up to its time.
        self.rule = events.Rule(
            self,
            "Schedule",
            description=f"Credo {resources.environment_name}: runs the {source} miner",
            schedule=schedule,
            targets=[
                targets.LambdaFunction(
                    self.function,
                    retry_attempts=self.RULE_RETRY_ATTEMPTS,
                    max_event_age=self.MAX_EVENT_AGE,
                    dead_letter_queue=self.dead_letter_queue,
                )
            ],
        )
        self.log_group.grant_write(self.role)
        self._grant_lake(access, resources.lake_bucket)
        if access.drops_prefix is not None:
            self._grant_drops(access.drops_prefix, resources.drops_bucket)
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=list(self.WATERMARK_ACTIONS),
                resources=[resources.watermark_table.table_arn],
                # Its own item only: the watermark table is keyed by miner.
                conditions={"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": [source]}},
            )
        )
        resources.hmac_secret.grant_read(self.role)
        if access.source_db:
            resources.source_db_secret.grant_read(self.role)
        if access.linkage_key:
            resources.linkage_secret.grant_read(self.role)
        if access.bureau:
            resources.bureau_secret.grant_read(self.role)
        if network is not None:
            # In the role's default policy, which the function depends on: Lambda checks these
            # permissions when it creates the function.
            self.role.add_to_principal_policy(
                iam.PolicyStatement(actions=list(self.NETWORK_INTERFACE_ACTIONS), resources=["*"])
            )
        self._acknowledge_checks(access, resources)

    def _grant_lake(self, access: MinerAccess, lake: s3.IBucket) -> None:
        # Write-only, and only under this miner's name: a miner never reads, lists or deletes the lake.
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["s3:PutObject"],
                resources=[
                    lake.arn_for_objects(f"{prefix}/{self.source}/*") for prefix in LAKE_WRITE_PREFIXES
                ],
            )
        )
        if lake.encryption_key is not None:
            # One PutObject under SSE-KMS needs a data key; nothing the miners write is multipart.
            lake.encryption_key.grant(self.role, "kms:GenerateDataKey")
        if access.lake_state_key is None:
            return
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject", "s3:PutObject"],
                resources=[lake.arn_for_objects(access.lake_state_key)],
            )
        )
        # The state object is missing until a run leaves lookups pending: only with ListBucket does S3
        # answer HeadObject with 404 (missing) instead of 403, which the miner would take for an error.
        self.role.add_to_principal_policy(
            iam.PolicyStatement(actions=["s3:ListBucket"], resources=[lake.bucket_arn])
        )
        if lake.encryption_key is not None:
            lake.encryption_key.grant(self.role, "kms:Decrypt")

    def _grant_drops(self, prefix: str, drops: s3.IBucket) -> None:
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["s3:ListBucket"],
                resources=[drops.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [f"{prefix}*"]}},
            )
        )
        self.role.add_to_principal_policy(
            iam.PolicyStatement(actions=["s3:GetObject"], resources=[drops.arn_for_objects(f"{prefix}*")])
        )
        if drops.encryption_key is not None:
            drops.encryption_key.grant(self.role, "kms:Decrypt")

    def _acknowledge_checks(self, access: MinerAccess, resources: MiningResources) -> None:
        Validations.of(self.function).acknowledge(
            Acknowledgment(
                id="AwsSolutions::AwsSolutions-L1",
                reason="Pinned to python3.12 on purpose: the data layer's pyarrow, numpy, pydantic-core "
                "and psycopg wheels are built for CPython 3.12, and development runs on 3.12 too. A newer "
                "runtime means rebuilding that layer.",
            )
        )
        Validations.of(self.dead_letter_queue).acknowledge(
            Acknowledgment(
                id="AwsSolutions::AwsSolutions-SQS3",
                reason="This queue is itself the dead-letter queue: of the miner's failed asynchronous "
                "invocations (on-failure destination) and of the schedule events EventBridge could not "
                "deliver. Its messages are read by an operator, never redriven to another queue.",
            )
        )
        wildcards = WildcardAcknowledgments(self)
        any_resource_reason = (
            "X-Ray's PutTraceSegments and PutTelemetryRecords support no resource-level permissions; '*' is "
            "the only resource they accept."
        )
        if resources.network is not None:
            any_resource_reason += (
                " So do the EC2 actions through which Lambda gives the miner network interfaces in the "
                "shop's VPC: ec2:DescribeNetworkInterfaces supports no resource-level permission, and the "
                "interfaces Lambda creates, re-addresses and deletes get their ids only when it creates "
                "them (Lambda's guide: DeleteNetworkInterface must cover them all, or the function can "
                "lose the VPC)."
            )
        wildcards.add(self.role, "*", any_resource_reason)
        for prefix in LAKE_WRITE_PREFIXES:
            wildcards.add(
                self.role,
                resources.lake_bucket.arn_for_objects(f"{prefix}/{self.source}/*"),
                f"PutObject only, under this miner's own {prefix}/{self.source}/ prefix: object keys carry "
                "the window's date and id (credo.mining.write_window), so they cannot be named in advance.",
            )
        if access.drops_prefix is not None:
            wildcards.add(
                self.role,
                resources.drops_bucket.arn_for_objects(f"{access.drops_prefix}*"),
                f"GetObject only, under the {access.drops_prefix} drop prefix this miner imports: partners "
                "name their files, so the keys are not known in advance.",
            )


def _environment(source: str, access: MinerAccess, resources: MiningResources) -> dict[str, str]:
    """Only the variables this miner reads (credo.settings.CredoSettings); the rest keep local defaults."""
    environment = {
        constants.ENV_LAKE_BUCKET: resources.lake_bucket.bucket_name,
        constants.ENV_WATERMARK_TABLE: resources.watermark_table.table_name,
        constants.ENV_HMAC_SECRET_NAME: resources.hmac_secret.secret_name,
        **function_environment(resources.environment_name),
    }
    if access.source_db:
        environment[constants.ENV_SOURCE_DB_URL] = SECRET_SCHEME + resources.source_db_secret.secret_name
    if access.drops_prefix is not None:
        environment[constants.ENV_DROPS_BUCKET] = resources.drops_bucket.bucket_name
    if access.linkage_key:
        environment[constants.ENV_LINKAGE_SECRET_NAME] = resources.linkage_secret.secret_name
    if access.bureau:
        environment[constants.ENV_BUREAU_SECRET_NAME] = resources.bureau_secret.secret_name
    return environment
