"""The rows each target's model learns from, one per decision, with its 0/1 label.

Credit is decided per customer: a labelled row is a customer at a snapshot. Buying is decided per
COD order: the feature table counts the COD orders a customer places in the 6 months after the
snapshot and how many of them failed, and the customer's row is repeated once per order, the first
`failed` copies labelled 1. The customer's features are those at the snapshot, so the copies are
alike but for their label; the training job keeps a customer's copies on one side of every fold.
"""

from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from credo import constants as c
from credo.features import LABEL_BUYING, LABEL_BUYING_COD_ORDERS, LABEL_BUYING_FAILED_ORDERS, LABEL_CREDIT

LABEL_OF_TARGET: Final = {c.TARGET_CREDIT: LABEL_CREDIT, c.TARGET_BUYING: LABEL_BUYING}
ROW_UNIT: Final = {c.TARGET_CREDIT: "customer", c.TARGET_BUYING: "COD order"}


def labelled_rows(table: pd.DataFrame, target: str) -> pd.DataFrame:
    """`table`'s labelled rows for `target`, with the 0/1 label in LABEL_OF_TARGET[target].

    A table that already holds that label column (a per-order table, or a test's own) is taken as
    it is; otherwise the buying rows are made from the two per-customer counts.
    """
    label = LABEL_OF_TARGET[target]
    if label in table.columns:
        return table[table[label].notna()]
    counts = (LABEL_BUYING_COD_ORDERS, LABEL_BUYING_FAILED_ORDERS)
    missing = [name for name in counts if name not in table.columns]
    if target != c.TARGET_BUYING or missing:
        raise ValueError(f"training table lacks the {target} label: {label} or {', '.join(missing)}")
    return per_cod_order(table)


def per_cod_order(table: pd.DataFrame) -> pd.DataFrame:
    """One row per COD order counted in the table, labelled 1 for the failed ones."""
    orders = table[LABEL_BUYING_COD_ORDERS].fillna(0).to_numpy(dtype=np.int64)
    failed = table[LABEL_BUYING_FAILED_ORDERS].fillna(0).to_numpy(dtype=np.int64)
    if (orders < 0).any() or (failed < 0).any() or (failed > orders).any():
        raise ValueError(
            f"{LABEL_BUYING_FAILED_ORDERS} must lie between 0 and {LABEL_BUYING_COD_ORDERS} in every row"
        )
    source, is_failed = order_copies(orders, failed)
    rows = table.iloc[source].reset_index(drop=True)
    rows[LABEL_BUYING] = is_failed.astype(np.float64)
    return rows


def order_copies(
    cod_orders: npt.NDArray[np.int64], failed_orders: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """From counts per row: each COD order's row, and whether it failed (the first `failed` copies)."""
    source = np.repeat(np.arange(len(cod_orders)), cod_orders)
    position = np.arange(len(source)) - np.repeat(np.cumsum(cod_orders) - cod_orders, cod_orders)
    return source, position < failed_orders[source]
