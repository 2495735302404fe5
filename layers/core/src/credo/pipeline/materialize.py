"""Pipeline step 6: the features as of the run's date into the DynamoDB online store, for scoring."""

from datetime import date

from credo import constants as c
from credo.adapters.s3 import S3Store
from credo.materialize import materialize_through_s3
from credo.online_store import OnlineFeatureStore
from credo.pipeline.events import MaterializeOutput
from credo.warehouse.protocol import Warehouse

ONLINE_FOLDER = "online"


def online_features_uri(lake_bucket: str, as_of: date) -> str:
    """Where the as-of features are staged between the warehouse and DynamoDB."""
    return f"s3://{lake_bucket}/{c.FEATURES_PREFIX}/{ONLINE_FOLDER}/{as_of.isoformat()}/"


def materialize_as_of(
    warehouse: Warehouse, store: OnlineFeatureStore, *, as_of: date, s3: S3Store, lake_bucket: str
) -> MaterializeOutput:
    """Write every customer's point-in-time features as of `as_of` (batch writes, one item each),
    through Parquet staged in the lake so that the size of the customer base is no limit."""
    written = materialize_through_s3(
        warehouse, as_of, store, s3=s3, staging=online_features_uri(lake_bucket, as_of)
    )
    return MaterializeOutput(as_of=as_of, customers_written=written)
