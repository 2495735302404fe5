"""Pipeline step 6: the features as of the run's date into the DynamoDB online store, for scoring."""

from datetime import date

from credo.materialize import materialize_features
from credo.online_store import OnlineFeatureStore
from credo.pipeline.events import MaterializeOutput
from credo.warehouse.protocol import Warehouse


def materialize_as_of(warehouse: Warehouse, store: OnlineFeatureStore, *, as_of: date) -> MaterializeOutput:
    """Write every customer's point-in-time features as of `as_of` (batch writes, one item each)."""
    return MaterializeOutput(as_of=as_of, customers_written=materialize_features(warehouse, as_of, store))
