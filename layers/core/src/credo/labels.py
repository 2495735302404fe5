"""The rows each target's model learns from, one per decision, with its 0/1 label.

Credit is decided per customer: a labelled row is a customer at a snapshot. Buying is decided per
COD order: the feature table counts the COD orders a customer places in the 6 months after the
snapshot and how many of them failed, and the customer's row is repeated once per order, the first
`failed` copies labelled 1. The customer's features are those at the snapshot, so the copies are
alike but for their label; the training job keeps a customer's copies on one side of every fold.

The copies are alike, so the training job fits on weighted rows instead (`weighted=True`): a
customer snapshot's failed orders as one row labelled 1 and its good orders as one row labelled 0,
each weighted (ROW_WEIGHT) by how many orders it stands for. A fit that honours the weights sees
the same likelihood from about 2 rows a customer snapshot instead of one per order (3 on average).
Holdouts stay one row per order, so every figure measured on them is per decision.
"""

from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from credo import constants as c
from credo.features import LABEL_BUYING, LABEL_BUYING_COD_ORDERS, LABEL_BUYING_FAILED_ORDERS, LABEL_CREDIT

LABEL_OF_TARGET: Final = {c.TARGET_CREDIT: LABEL_CREDIT, c.TARGET_BUYING: LABEL_BUYING}
ROW_UNIT: Final = {c.TARGET_CREDIT: "customer", c.TARGET_BUYING: "COD order"}
ROW_WEIGHT: Final = "row_weight"  # how many decisions (COD orders) a weighted row stands for


def labelled_rows(table: pd.DataFrame, target: str, *, weighted: bool = False) -> pd.DataFrame:
    """`table`'s labelled rows for `target`, with the 0/1 label in LABEL_OF_TARGET[target].

    A table that already holds that label column (a per-order table, or a test's own) is taken as
    it is; otherwise the buying rows are made from the two per-customer counts: one per COD order,
    or with `weighted`, one per outcome and customer snapshot weighted by its orders (ROW_WEIGHT).
    """
    label = LABEL_OF_TARGET[target]
    if label in table.columns:
        return table[table[label].notna()]
    counts = (LABEL_BUYING_COD_ORDERS, LABEL_BUYING_FAILED_ORDERS)
    missing = [name for name in counts if name not in table.columns]
    if target != c.TARGET_BUYING or missing:
        raise ValueError(f"training table lacks the {target} label: {label} or {', '.join(missing)}")
    return per_cod_outcome(table) if weighted else per_cod_order(table)


def per_cod_order(table: pd.DataFrame) -> pd.DataFrame:
    """One row per COD order counted in the table, labelled 1 for the failed ones."""
    orders, failed = _order_counts(table)
    source, is_failed = order_copies(orders, failed)
    rows = table.iloc[source].reset_index(drop=True)
    rows[LABEL_BUYING] = is_failed.astype(np.float64)
    return rows


def per_cod_outcome(table: pd.DataFrame) -> pd.DataFrame:
    """Per row of the table, its failed COD orders as one row labelled 1 and its good ones as one
    labelled 0, each weighted (ROW_WEIGHT) by its orders; an outcome without orders has no row."""
    orders, failed = _order_counts(table)
    good = orders - failed
    source = np.concatenate([np.flatnonzero(failed > 0), np.flatnonzero(good > 0)])
    label = np.repeat([1.0, 0.0], [int((failed > 0).sum()), int((good > 0).sum())])
    order = np.argsort(source, kind="stable")  # a customer snapshot's two rows side by side
    source, label = source[order], label[order]
    rows = table.iloc[source].reset_index(drop=True)
    rows[LABEL_BUYING] = label
    rows[ROW_WEIGHT] = np.where(label == 1.0, failed[source], good[source]).astype(np.float64)
    return rows


def _order_counts(table: pd.DataFrame) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    orders = table[LABEL_BUYING_COD_ORDERS].fillna(0).to_numpy(dtype=np.int64)
    failed = table[LABEL_BUYING_FAILED_ORDERS].fillna(0).to_numpy(dtype=np.int64)
    if (orders < 0).any() or (failed < 0).any() or (failed > orders).any():
        raise ValueError(
            f"{LABEL_BUYING_FAILED_ORDERS} must lie between 0 and {LABEL_BUYING_COD_ORDERS} in every row"
        )
    return orders, failed


def order_copies(
    cod_orders: npt.NDArray[np.int64], failed_orders: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """From counts per row: each COD order's row, and whether it failed (the first `failed` copies)."""
    source = np.repeat(np.arange(len(cod_orders)), cod_orders)
    position = np.arange(len(source)) - np.repeat(np.cumsum(cod_orders) - cod_orders, cod_orders)
    return source, position < failed_orders[source]
