"""DynamoDB access: the mining watermarks (one item per source, hash key `source`)."""

from typing import Any, Final

from botocore.exceptions import ClientError

from credo.adapters import aws_client, aws_resource

WATERMARK_HASH_KEY: Final = "source"


class WatermarkStore:
    """Where each miner got to: {source, updated_at, rows, moved_at} items."""

    def __init__(self, table: Any) -> None:
        self._table = table

    @classmethod
    def create(cls, table_name: str) -> "WatermarkStore":
        return cls(aws_resource("dynamodb").Table(table_name))

    def get(self, source: str) -> dict[str, Any] | None:
        item: dict[str, Any] | None = self._table.get_item(
            Key={WATERMARK_HASH_KEY: source}, ConsistentRead=True
        ).get("Item")
        return item

    def put(self, source: str, values: dict[str, Any]) -> None:
        self._table.put_item(Item={**values, WATERMARK_HASH_KEY: source})

    def advance(self, source: str, updated_at: str, values: dict[str, Any]) -> bool:
        """Move the watermark forward to `updated_at`; False (and no change) if it is already beyond.

        Overlapping runs of one miner must not move a watermark backwards.
        """
        try:
            self._table.put_item(
                Item={**values, WATERMARK_HASH_KEY: source, "updated_at": updated_at},
                ConditionExpression="attribute_not_exists(updated_at) OR updated_at <= :new",
                ExpressionAttributeValues={":new": updated_at},
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def delete(self, source: str) -> None:
        self._table.delete_item(Key={WATERMARK_HASH_KEY: source})


def ensure_table(table_name: str, hash_key: str = WATERMARK_HASH_KEY, client: Any | None = None) -> None:
    """Create an on-demand table with a string hash key if it is missing (local setup)."""
    client = client or aws_client("dynamodb")
    try:
        client.describe_table(TableName=table_name)
        return
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
            raise
    client.create_table(
        TableName=table_name,
        AttributeDefinitions=[{"AttributeName": hash_key, "AttributeType": "S"}],
        KeySchema=[{"AttributeName": hash_key, "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    client.get_waiter("table_exists").wait(TableName=table_name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
