"""Online feature store in DynamoDB: one item per customer token, read by the scoring Lambda.

Item: {"token": <HMAC token>, <feature>: Number …, "feature_schema_version": "1", "as_of": "YYYY-MM-DD"}.
A missing feature value is an absent attribute (DynamoDB has no NaN) and reads back as None.
No pandas here: the scoring Lambda imports this module and its layer carries only onnxruntime and numpy.
The store logic sees only the FeatureTable interface; `_DynamoFeatureTable` at the bottom is its small
DynamoDB adapter, on a table resource built by credo.adapters.
"""

import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final, Protocol

import numpy as np

from credo.adapters import aws_resource
from credo.features import FEATURE_NAMES, FEATURE_SCHEMA_VERSION

if TYPE_CHECKING:
    import pandas as pd

# Partition key of the feature table (infra creates the table with this key, type S).
TOKEN_ATTRIBUTE: Final = "token"
SCHEMA_VERSION_ATTRIBUTE: Final = "feature_schema_version"
AS_OF_ATTRIBUTE: Final = "as_of"


class FeatureStoreError(RuntimeError):
    """The online store cannot be read or written, or holds an item it cannot interpret."""


@dataclass(frozen=True)
class FeatureRecord:
    token: str
    values: dict[str, float | None]  # every name of FEATURE_NAMES; None = missing
    feature_schema_version: str
    as_of: str


class FeatureTable(Protocol):
    """The little of DynamoDB the store needs."""

    def put_items(self, items: Iterable[dict[str, Any]]) -> int: ...

    def get_item(self, token: str) -> dict[str, Any] | None: ...


class OnlineFeatureStore:
    """Materialise feature rows for serving and read one customer's features."""

    def __init__(self, table: FeatureTable) -> None:
        self._table = table

    @classmethod
    def for_table(cls, table_name: str, *, resource: Any = None) -> "OnlineFeatureStore":
        """A store on a DynamoDB table (boto3 finds region and endpoint in the environment)."""
        return cls(_DynamoFeatureTable(table_name, resource=resource))

    def materialise(
        self,
        rows: "Iterable[Mapping[str, Any]] | pd.DataFrame",
        *,
        as_of: date | str,
        token_column: str = TOKEN_ATTRIBUTE,
    ) -> int:
        """Write one item per row (columns: token + FEATURE_NAMES; others ignored); return rows written.

        A token written again replaces its earlier item.
        """
        records: Iterable[Mapping[str, Any]] = (
            rows.to_dict("records") if hasattr(rows, "to_dict") else rows  # a DataFrame, row by row
        )
        as_of_text = as_of.isoformat() if isinstance(as_of, date) else str(as_of)
        return self._table.put_items(_items(records, as_of_text, token_column))

    def get(self, token: str) -> FeatureRecord | None:
        """The customer's features, or None when the store has never seen this token."""
        item = self._table.get_item(token)
        if item is None:
            return None
        version = item.get(SCHEMA_VERSION_ATTRIBUTE)
        if version is None:
            raise FeatureStoreError("feature item lacks its feature_schema_version")
        values = {name: None if item.get(name) is None else float(item[name]) for name in FEATURE_NAMES}
        return FeatureRecord(
            token=token,
            values=values,
            feature_schema_version=str(version),
            as_of=str(item.get(AS_OF_ATTRIBUTE, "")),
        )


def _items(records: Iterable[Mapping[str, Any]], as_of: str, token_column: str) -> Iterator[dict[str, Any]]:
    for record in records:
        token = record.get(token_column)
        if not isinstance(token, str) or not token:
            raise FeatureStoreError(f"a feature row lacks its {token_column!r}")
        item: dict[str, Any] = {
            TOKEN_ATTRIBUTE: token,
            SCHEMA_VERSION_ATTRIBUTE: FEATURE_SCHEMA_VERSION,
            AS_OF_ATTRIBUTE: as_of,
        }
        for name in FEATURE_NAMES:
            number = _to_decimal(name, record.get(name))
            if number is not None:
                item[name] = number
        yield item


def _to_decimal(name: str, value: Any) -> Decimal | None:
    """DynamoDB numbers are Decimals; None, NaN and pandas' NA mean missing and are not stored."""
    if value is None:
        return None
    if isinstance(value, bool | np.bool_):
        return Decimal(int(value))
    if isinstance(value, int | np.integer):
        return Decimal(int(value))
    try:
        number = float(value)
    except TypeError:  # pandas.NA / NaT refuse float(): they are missing values
        return None
    except ValueError as error:
        raise FeatureStoreError(f"feature {name} is not a number: {value!r}") from error
    if math.isnan(number):
        return None
    if math.isinf(number):
        raise FeatureStoreError(f"feature {name} is infinite")
    return Decimal(repr(number))


class _DynamoFeatureTable:
    """DynamoDB adapter of the online store: batched writes, single-item reads."""

    def __init__(self, table_name: str, *, resource: Any = None) -> None:
        self._table = (resource if resource is not None else aws_resource("dynamodb")).Table(table_name)

    def put_items(self, items: Iterable[dict[str, Any]]) -> int:
        written = 0
        # overwrite_by_pkeys drops duplicate tokens inside one batch (DynamoDB rejects those).
        with self._table.batch_writer(overwrite_by_pkeys=[TOKEN_ATTRIBUTE]) as batch:
            for item in items:
                batch.put_item(Item=item)
                written += 1
        return written

    def get_item(self, token: str) -> dict[str, Any] | None:
        item = self._table.get_item(Key={TOKEN_ATTRIBUTE: token}).get("Item")
        return None if item is None else dict(item)
