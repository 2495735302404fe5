"""Customer-managed KMS keys for data that outlives its stack."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
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
