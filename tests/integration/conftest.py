"""moto-backed AWS for integration tests: a lake bucket, a watermark table and the HMAC secret."""

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from moto import mock_aws

from credo import constants as c
from credo.adapters.dynamodb import WatermarkStore, ensure_table
from credo.adapters.s3 import S3Store
from credo.adapters.secrets import SecretStore
from credo.privacy import hmac_key_from_secret

LAKE_BUCKET = "credo-lake-test"
WATERMARK_TABLE = "credo-watermarks-test"
HMAC_SECRET = "credo/hmac-key-test"


@dataclass
class Aws:
    s3: S3Store
    watermarks: WatermarkStore
    secrets: SecretStore
    key: bytes
    lake_bucket: str = LAKE_BUCKET

    def lake_objects(self) -> dict[str, bytes]:
        """Every object in the lake bucket, by key."""
        return {
            key: self.s3.get_bytes(self.lake_bucket, key) for key in self.s3.list_keys(self.lake_bucket, "")
        }


@pytest.fixture
def aws_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials and a region; no endpoint override, so boto3 goes to in-process moto."""
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ap-south-1")
    monkeypatch.setenv(c.ENV_LAKE_BUCKET, LAKE_BUCKET)
    monkeypatch.setenv(c.ENV_WATERMARK_TABLE, WATERMARK_TABLE)
    monkeypatch.setenv(c.ENV_HMAC_SECRET_NAME, HMAC_SECRET)


@pytest.fixture
def aws(aws_environment: None) -> Iterator[Aws]:
    with mock_aws():
        s3 = S3Store.create()
        s3.ensure_bucket(LAKE_BUCKET)
        ensure_table(WATERMARK_TABLE)
        secrets = SecretStore.create()
        key = hmac_key_from_secret(secrets.ensure_random_hex(HMAC_SECRET))
        yield Aws(s3=s3, watermarks=WatermarkStore.create(WATERMARK_TABLE), secrets=secrets, key=key)
