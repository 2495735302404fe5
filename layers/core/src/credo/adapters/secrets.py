"""Secrets Manager access: the HMAC tokenisation key."""

import secrets as stdlib_secrets
from typing import Any

from botocore.exceptions import ClientError

from credo.adapters import aws_client


class SecretStore:
    def __init__(self, client: Any) -> None:
        self._client = client

    @classmethod
    def create(cls) -> "SecretStore":
        return cls(aws_client("secretsmanager"))

    def get_string(self, name: str) -> str:
        value: str = self._client.get_secret_value(SecretId=name)["SecretString"]
        return value

    def ensure_random_hex(self, name: str, n_bytes: int = 32) -> str:
        """The secret's value; creates it with `n_bytes` random bytes (hex) if missing (local setup)."""
        try:
            return self.get_string(name)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                raise
        value = stdlib_secrets.token_hex(n_bytes)
        self._client.create_secret(Name=name, SecretString=value)
        return value

    def put_string(self, name: str, value: str) -> None:
        """Create the secret, or store `value` as its new version (local setup)."""
        try:
            self._client.put_secret_value(SecretId=name, SecretString=value)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                raise
            self._client.create_secret(Name=name, SecretString=value)
