"""Where the scoring models live: ONNX files and the champion/challenger registry."""

from __future__ import annotations

from aws_cdk import aws_s3 as s3
from constructs import Construct


class ModelStore(Construct):
    """A private, versioned S3 bucket; versions let a bad model be rolled back."""

    # Models hold no personal data, so S3-managed keys suffice and keep readers free of KMS grants.
    ENCRYPTION = s3.BucketEncryption.S3_MANAGED
    ACCESS_LOGS_PREFIX = "models/"

    def __init__(
        self, scope: Construct, construct_id: str, *, access_logs_bucket: s3.IBucket | None = None
    ) -> None:
        super().__init__(scope, construct_id)
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            encryption=self.ENCRYPTION,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            versioned=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            server_access_logs_bucket=access_logs_bucket,
            server_access_logs_prefix=self.ACCESS_LOGS_PREFIX if access_logs_bucket else None,
        )
