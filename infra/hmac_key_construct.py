"""The key that turns customer ids into tokens, for miners and the scoring API alike."""

from __future__ import annotations

from aws_cdk import Acknowledgment, RemovalPolicy, Validations
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct


def hex_key_generator(
    length: int, *, template: str | None = None, key: str | None = None
) -> secretsmanager.SecretStringGenerator:
    """Random lowercase hex: the keys are read with bytes.fromhex (credo.privacy.hmac_key_from_secret)."""
    return secretsmanager.SecretStringGenerator(
        password_length=length,
        exclude_uppercase=True,
        exclude_punctuation=True,
        include_space=False,
        exclude_characters="ghijklmnopqrstuvwxyz",
        secret_string_template=template,
        generate_string_key=key,
    )


class HmacKey(Construct):
    """A generated Secrets Manager secret. Never rotated automatically: a new key makes new tokens."""

    KEY_HEX_CHARS = 64  # 32 bytes, hex-encoded

    def __init__(self, scope: Construct, construct_id: str, *, secret_name: str) -> None:
        super().__init__(scope, construct_id)
        self.secret = secretsmanager.Secret(
            self,
            "Secret",
            secret_name=secret_name,
            description="Credo: HMAC key that pseudonymises customer ids into tokens",
            generate_secret_string=hex_key_generator(self.KEY_HEX_CHARS),
            # Every stored token derives from this key; losing it orphans all of them.
            removal_policy=RemovalPolicy.RETAIN,
        )
        Validations.of(self.secret).acknowledge(
            Acknowledgment(
                id="AwsSolutions::AwsSolutions-SMG4",
                reason="Not rotated on a schedule: every token in S3, Redshift and DynamoDB is the HMAC of "
                "a customer id under this key, so a new key would orphan all of them. Changing it is a "
                "planned re-tokenisation, not a rotation.",
            )
        )
