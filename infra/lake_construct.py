"""The S3 lake (raw/, quarantine/, features/), the drop box other teams feed, and the access-log buckets."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from credo import constants
from infra.keys import retained_key


class AccessLogStore(Construct):
    """A private bucket that receives S3 server access logs from other buckets of its stack."""

    # S3 server access logging supports only SSE-S3 as its target's default encryption: it cannot
    # write to a KMS-encrypted bucket (CDK rejects KMS-managed targets too). The logs hold object keys
    # and requesters, never object contents.
    ENCRYPTION = s3.BucketEncryption.S3_MANAGED
    # Delivery is granted through a bucket policy to logging.s3.amazonaws.com (cdk.json's
    # `@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy`), not the log-delivery ACL, so ACLs can stay off.
    OBJECT_OWNERSHIP = s3.ObjectOwnership.BUCKET_OWNER_ENFORCED
    LOG_RETENTION = Duration.days(365)

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            encryption=self.ENCRYPTION,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            object_ownership=self.OBJECT_OWNERSHIP,
            lifecycle_rules=[s3.LifecycleRule(id="expire-access-logs", expiration=self.LOG_RETENTION)],
            # Access logs are the audit trail of who read the lake; they outlive the stack.
            removal_policy=RemovalPolicy.RETAIN,
        )


NONCURRENT_VERSION_RETENTION = Duration.days(30)
INCOMPLETE_UPLOAD_RETENTION = Duration.days(7)


def _encrypted_versioned_bucket(
    scope: Construct,
    *,
    key: kms.IKey,
    access_logs_bucket: s3.IBucket,
    access_logs_prefix: str,
    expiring_prefixes: dict[str, tuple[str, Duration]],
) -> s3.Bucket:
    """A private, KMS-encrypted, versioned, TLS-only, access-logged and retained bucket.

    `expiring_prefixes` maps a lifecycle rule id to the prefix it expires and after how long.
    """
    return s3.Bucket(
        scope,
        "Bucket",
        encryption=s3.BucketEncryption.KMS,
        encryption_key=key,
        # One data key per bucket instead of one KMS call per object: cheaper miners and loads.
        bucket_key_enabled=True,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        enforce_ssl=True,
        minimum_tls_version=1.2,
        versioned=True,
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        server_access_logs_bucket=access_logs_bucket,
        server_access_logs_prefix=access_logs_prefix,
        lifecycle_rules=[
            *(
                s3.LifecycleRule(id=rule_id, prefix=prefix, expiration=after)
                for rule_id, (prefix, after) in expiring_prefixes.items()
            ),
            # Expiring a current version in a versioned bucket only hides it behind a delete marker;
            # this rule removes the hidden versions (a replaced file too) and the markers left behind.
            s3.LifecycleRule(
                id="expire-noncurrent-versions",
                noncurrent_version_expiration=NONCURRENT_VERSION_RETENTION,
                expired_object_delete_marker=True,
                abort_incomplete_multipart_upload_after=INCOMPLETE_UPLOAD_RETENTION,
            ),
        ],
        removal_policy=RemovalPolicy.RETAIN,
    )


class DataLake(Construct):
    """The mined data: a versioned, KMS-encrypted bucket whose raw and quarantined data expire."""

    ACCESS_LOGS_PREFIX = "lake/"

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        environment_name: str,
        raw_retention_days: int,
        access_logs_bucket: s3.IBucket,
    ) -> None:
        super().__init__(scope, construct_id)
        # The lake holds pseudonymised customer data: reading it needs an explicit KMS grant.
        self.key = retained_key(
            self,
            "Key",
            alias=f"alias/credo-{environment_name}-lake",
            description=f"Credo {environment_name}: encrypts the data lake",
        )
        raw_retention = Duration.days(raw_retention_days)
        # Raw extracts are reloadable from the sources; keeping them longer than needed only widens
        # what an erasure request has to reach.
        self.bucket = _encrypted_versioned_bucket(
            self,
            key=self.key,
            access_logs_bucket=access_logs_bucket,
            access_logs_prefix=self.ACCESS_LOGS_PREFIX,
            expiring_prefixes={
                "expire-raw": (f"{constants.RAW_PREFIX}/", raw_retention),
                "expire-quarantine": (f"{constants.QUARANTINE_PREFIX}/", raw_retention),
            },
        )


class DropBox(Construct):
    """Where other teams drop files for the miners: ad / sales exports (ads/) and reference registries
    (reference/). Its own key, so writers to the drop box get no key that opens the lake."""

    ACCESS_LOGS_PREFIX = "drops/"

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        environment_name: str,
        ads_retention_days: int,
        access_logs_bucket: s3.IBucket,
    ) -> None:
        super().__init__(scope, construct_id)
        self.key = retained_key(
            self,
            "Key",
            alias=f"alias/credo-{environment_name}-drops",
            description=f"Credo {environment_name}: encrypts files dropped for the miners",
        )
        # Ad exports are mined once (the miner remembers each file); after that they only widen what
        # an erasure request has to reach. Registries under reference/ stay while they are current:
        # the reference miner matches every customer against them.
        self.bucket = _encrypted_versioned_bucket(
            self,
            key=self.key,
            access_logs_bucket=access_logs_bucket,
            access_logs_prefix=self.ACCESS_LOGS_PREFIX,
            expiring_prefixes={
                "expire-ad-exports": (constants.ADS_DROP_PREFIX, Duration.days(ads_retention_days)),
            },
        )
