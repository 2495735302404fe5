"""Customer-managed KMS keys for data that outlives its stack, and grants to use them through S3."""

from __future__ import annotations

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct


def retained_key(scope: Construct, construct_id: str, *, alias: str, description: str) -> kms.Key:
    """A key rotated every year and kept when its stack is deleted.

    A key policy that can be audited, and reads that need an explicit grant; kept, because whatever
    it encrypted (lake objects, warehouse snapshots, model outputs) is unreadable without it.
    """
    return kms.Key(
        scope,
        construct_id,
        alias=alias,
        description=description,
        enable_key_rotation=True,
        removal_policy=RemovalPolicy.RETAIN,
    )


def grant_key_through_s3(
    scope: Construct, grantee: iam.IGrantable, key: kms.IKey | None, *actions: str
) -> None:
    """Let `grantee` use `key` only through S3: it reads or writes objects, it never calls KMS itself."""
    if key is None:
        return
    grantee.grant_principal.add_to_principal_policy(
        iam.PolicyStatement(
            actions=list(actions),
            resources=[key.key_arn],
            conditions={"StringEquals": {"kms:ViaService": f"s3.{Stack.of(scope).region}.amazonaws.com"}},
        )
    )
