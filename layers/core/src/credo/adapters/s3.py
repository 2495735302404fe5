"""S3 access: put/get bytes, list keys, download to a local file."""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from credo.adapters import aws_client, aws_region


@dataclass(frozen=True)
class S3Object:
    key: str
    etag: str
    last_modified: datetime
    size: int


class S3Store:
    """A thin wrapper over a boto3 S3 client."""

    def __init__(self, client: Any) -> None:
        self._client = client

    @classmethod
    def create(cls) -> "S3Store":
        return cls(aws_client("s3"))

    def put_bytes(
        self, bucket: str, key: str, data: bytes, content_type: str = "application/octet-stream"
    ) -> None:
        self._client.put_object(Bucket=bucket, Key=key, Body=data, ContentType=content_type)

    def get_bytes(self, bucket: str, key: str) -> bytes:
        body: bytes = self._client.get_object(Bucket=bucket, Key=key)["Body"].read()
        return body

    def exists(self, bucket: str, key: str) -> bool:
        try:
            self._client.head_object(Bucket=bucket, Key=key)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def list_keys(self, bucket: str, prefix: str) -> Iterator[str]:
        """Every key under `prefix`, in S3's (lexicographic) order."""
        paginator = self._client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                yield str(item["Key"])

    def list_objects(self, bucket: str, prefix: str) -> Iterator[S3Object]:
        """Every object under `prefix` with its version tag (ETag), time and size."""
        paginator = self._client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                yield S3Object(
                    key=str(item["Key"]),
                    etag=str(item["ETag"]).strip('"'),
                    last_modified=item["LastModified"],
                    size=int(item["Size"]),
                )

    def put_file(self, bucket: str, key: str, path: Path) -> None:
        self._client.upload_file(str(path), bucket, key)

    def delete(self, bucket: str, key: str) -> None:
        self._client.delete_object(Bucket=bucket, Key=key)

    def download(self, bucket: str, key: str, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._client.download_file(bucket, key, str(path))
        return path

    def ensure_bucket(self, bucket: str) -> None:
        """Create the bucket if it is missing (local setup; in AWS the CDK stack owns buckets)."""
        try:
            self._client.head_bucket(Bucket=bucket)
            return
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket", "NotFound"):
                raise
        region = aws_region()
        if region == "us-east-1":
            self._client.create_bucket(Bucket=bucket)
        else:
            self._client.create_bucket(
                Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region}
            )


def split_s3_uri(uri: str) -> tuple[str, str]:
    """s3://bucket/key → (bucket, key)."""
    if not uri.startswith("s3://"):
        raise ValueError(f"not an s3:// URI: {uri!r}")
    bucket, _, key = uri[len("s3://") :].partition("/")
    return bucket, key
