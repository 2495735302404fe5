"""Training rows per decision: a customer for credit, a COD order for buying."""

import numpy as np
import pandas as pd
import pytest

from credo import constants as c
from credo.features import LABEL_BUYING, LABEL_BUYING_COD_ORDERS, LABEL_BUYING_FAILED_ORDERS, LABEL_CREDIT
from credo.labels import ROW_WEIGHT, labelled_rows


def _table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "token": ["a", "b", "c", "d"],
            "orders_cod_in_6months": [1.0, 2.0, 3.0, 4.0],  # stands in for the features
            LABEL_CREDIT: [0.0, None, 1.0, 0.0],
            LABEL_BUYING_COD_ORDERS: [3.0, None, 1.0, 2.0],
            LABEL_BUYING_FAILED_ORDERS: [1.0, None, 0.0, 2.0],
        }
    )


def test_given_credit_then_one_row_per_customer_in_its_population() -> None:
    rows = labelled_rows(_table(), c.TARGET_CREDIT)
    assert rows["token"].tolist() == ["a", "c", "d"]
    assert rows[LABEL_CREDIT].tolist() == [0.0, 1.0, 0.0]


def test_given_buying_then_one_row_per_cod_order_and_one_label_per_failed_order() -> None:
    rows = labelled_rows(_table(), c.TARGET_BUYING)
    assert rows["token"].tolist() == ["a", "a", "a", "c", "d", "d"]
    assert rows[LABEL_BUYING].tolist() == [1.0, 0.0, 0.0, 0.0, 1.0, 1.0]
    # each copy keeps its customer's features as of the snapshot
    assert rows["orders_cod_in_6months"].tolist() == [1.0, 1.0, 1.0, 3.0, 4.0, 4.0]
    per_customer = rows.groupby("token")[LABEL_BUYING].agg(["size", "sum"])
    assert per_customer.loc["a"].tolist() == [3, 1]


def test_given_buying_weighted_then_one_row_per_outcome_weighted_by_its_orders() -> None:
    rows = labelled_rows(_table(), c.TARGET_BUYING, weighted=True)
    # a: 1 failed, 2 good; c: 1 good; d: 2 failed (no good row); b is outside the population
    assert rows["token"].tolist() == ["a", "a", "c", "d"]
    assert rows[LABEL_BUYING].tolist() == [1.0, 0.0, 0.0, 1.0]
    assert rows[ROW_WEIGHT].tolist() == [1.0, 2.0, 1.0, 2.0]
    assert rows["orders_cod_in_6months"].tolist() == [1.0, 1.0, 3.0, 4.0]


def test_given_weighted_rows_then_each_outcome_weighs_what_its_copies_counted() -> None:
    table = _table()
    copies = labelled_rows(table, c.TARGET_BUYING)
    weighted = labelled_rows(table, c.TARGET_BUYING, weighted=True)
    counted = copies.groupby(["token", LABEL_BUYING]).size()
    weighed = weighted.groupby(["token", LABEL_BUYING])[ROW_WEIGHT].sum()
    assert weighed.astype(int).to_dict() == counted.to_dict()


def test_given_a_table_that_already_has_the_per_order_label_then_it_is_taken_as_it_is() -> None:
    table = pd.DataFrame({"token": ["a", "b"], LABEL_BUYING: [1.0, np.nan]})
    assert labelled_rows(table, c.TARGET_BUYING)["token"].tolist() == ["a"]


def test_given_more_failed_than_placed_orders_then_a_clear_error() -> None:
    table = _table()
    table.loc[2, LABEL_BUYING_FAILED_ORDERS] = 5.0
    with pytest.raises(ValueError, match=f"{LABEL_BUYING_FAILED_ORDERS} must lie between 0 and"):
        labelled_rows(table, c.TARGET_BUYING)


def test_given_no_buying_counts_then_the_error_names_the_missing_columns() -> None:
    table = _table().drop(columns=[LABEL_BUYING_FAILED_ORDERS])
    with pytest.raises(ValueError, match=LABEL_BUYING_FAILED_ORDERS):
        labelled_rows(table, c.TARGET_BUYING)
