"""Small vectorised helpers the simulator uses everywhere: string building and group positions."""

from functools import reduce
from typing import Any

import numpy as np
from numpy.typing import NDArray


def strcat(*parts: Any) -> NDArray[np.str_]:
    """Element-wise concatenation of string arrays and plain strings, left to right."""
    return np.asarray(reduce(np.char.add, parts))


def padded(numbers: NDArray[np.integer[Any]], width: int, prefix: str = "") -> NDArray[np.str_]:
    """Zero-padded decimal strings with an optional prefix: padded([7], 4, "ID") → ["ID0007"]."""
    return strcat(prefix, np.char.zfill(numbers.astype(str), width))


def position_in_group(sorted_keys: NDArray[Any]) -> NDArray[np.int64]:
    """0, 1, … within each run of equal keys (keys must be sorted)."""
    return np.arange(len(sorted_keys), dtype=np.int64) - np.searchsorted(sorted_keys, sorted_keys)


def positions_for_counts(counts: NDArray[np.int64]) -> NDArray[np.int64]:
    """0, 1, …, k−1 for each group of size k, concatenated (the groups of np.repeat(x, counts))."""
    return position_in_group(np.repeat(np.arange(len(counts)), counts))
