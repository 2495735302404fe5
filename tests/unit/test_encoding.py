"""Text as codes for the trees: ordered by bad rate, the unseen beside the riskiest."""

import numpy as np
from sklearn.base import clone

from credo.training.encoding import UNSEEN_CODE, BadRateOrderedEncoder


def encoder() -> BadRateOrderedEncoder:
    return BadRateOrderedEncoder(handle_unknown="use_encoded_value", unknown_value=UNSEEN_CODE)


def rows(counts: dict[str, tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """One text column: for each value, (rows, of which bad)."""
    values, labels = [], []
    for value, (total, bad) in counts.items():
        values += [value] * total
        labels += [1] * bad + [0] * (total - bad)
    return np.array(values, dtype=object).reshape(-1, 1), np.array(labels)


def test_given_labels_when_fitted_then_codes_run_from_the_highest_bad_rate_to_the_lowest() -> None:
    x, y = rows({"alpha": (200, 20), "bravo": (200, 120), "charlie": (200, 60), "delta": (200, 2)})

    codes = (
        encoder().fit(x, y).transform(np.array([["bravo"], ["charlie"], ["alpha"], ["delta"]], dtype=object))
    )

    assert codes.ravel().tolist() == [0, 1, 2, 3]


def test_given_a_value_never_seen_when_encoded_then_it_sits_below_the_riskiest() -> None:
    x, y = rows({"alpha": (100, 5), "bravo": (100, 50)})

    codes = encoder().fit(x, y).transform(np.array([["zulu"], ["bravo"]], dtype=object))

    assert codes.ravel().tolist() == [UNSEEN_CODE, 0]


def test_given_a_value_seen_once_and_bad_when_fitted_then_it_does_not_outrank_a_well_measured_risky_one() -> (
    None
):
    # raw rates: once 1/1 = 100 %, risky 150/300 = 50 %; with 20 prior rows at the overall rate, once ≈ 15 %
    x, y = rows({"once": (1, 1), "risky": (300, 150), "safe": (3000, 30)})

    fitted = encoder().fit(x, y)

    assert fitted.categories_[0].tolist() == ["risky", "once", "safe"]


def test_given_no_labels_when_fitted_then_codes_keep_scikit_learns_order() -> None:
    x, _ = rows({"charlie": (5, 0), "alpha": (5, 0), "bravo": (5, 0)})

    assert encoder().fit(x).categories_[0].tolist() == ["alpha", "bravo", "charlie"]


def test_given_two_columns_when_cloned_and_fitted_then_each_column_has_its_own_order() -> None:
    first, y = rows({"a": (100, 10), "b": (100, 40)})
    second = np.where(y == 1, "late", "prompt").astype(object).reshape(-1, 1)

    fitted = clone(encoder()).fit(np.hstack([first, second]), y)

    assert [c.tolist() for c in fitted.categories_] == [["b", "a"], ["late", "prompt"]]
