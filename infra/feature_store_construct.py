"""The online feature store: one item of materialised features per customer token."""

from __future__ import annotations

from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct


class FeatureStore(Construct):
    """A DynamoDB table keyed by the customer's HMAC token (never a customer id)."""

    PARTITION_KEY = "token"

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.table = dynamodb.Table(
            self,
            "Table",
            partition_key=dynamodb.Attribute(name=self.PARTITION_KEY, type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
        )
