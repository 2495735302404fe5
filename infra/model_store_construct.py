"""Where the scoring models live: ONNX files and the champion/challenger registry."""

from __future__ import annotations

from aws_cdk import aws_s3 as s3
from constructs import Construct


class ModelStore(Construct):
    """A private, versioned S3 bucket; versions let a bad model be rolled back."""

    # SSE-KMS under the account's AWS-managed S3 key: models and reports hold no personal data, so
    # readers need no grant on a key of ours. The training job's outputs under training-jobs/ (which
    # carry holdout feature rows) are written under the training pipeline's own key instead.
    ENCRYPTION = s3.BucketEncryption.KMS_MANAGED
    ACCESS_LOGS_PREFIX = "models/"

    def __init__(
        self, scope: Construct, construct_id: str, *, access_logs_bucket: s3.IBucket | None = None
    ) -> None:
        super().__init__(scope, construct_id)
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            encryption=self.ENCRYPTION,
            # One data key per bucket rather than a KMS call per object read.
            bucket_key_enabled=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            versioned=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            server_access_logs_bucket=access_logs_bucket,
            server_access_logs_prefix=self.ACCESS_LOGS_PREFIX if access_logs_bucket else None,
        )
