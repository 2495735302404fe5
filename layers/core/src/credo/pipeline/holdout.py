"""The out-of-time holdout sample the training job leaves beside each model, read with numpy alone.

    <target>/holdout.npz   features      float32 [rows, len(FEATURE_NAMES)], NaN = missing
                           labels        int8 [rows], 1 = bad outcome
                           feature_names str [len(FEATURE_NAMES)], the column order
                           snapshot      str [] (the holdout's snapshot date, or "")

The training job writes it (credo.training.train.write_holdout_sample); the evaluate step scores
the challenger and the champion on it. numpy only: the evaluate Lambda has no pandas or pyarrow.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

from credo.features import FEATURE_NAMES

HOLDOUT_FILE: Final = "holdout.npz"
# Enough rows for an AUC to 3 decimals; small enough for a Lambda's memory (~50 MB of features).
MAX_HOLDOUT_ROWS: Final = 200_000


class HoldoutError(ValueError):
    """A holdout sample is missing, damaged or in another feature order."""


@dataclass(frozen=True)
class Holdout:
    features: npt.NDArray[np.float32]
    labels: npt.NDArray[np.int8]
    snapshot: str

    @property
    def rows(self) -> int:
        return len(self.labels)


def stratified_sample(labels: npt.ArrayLike, max_rows: int, *, seed: int) -> npt.NDArray[np.int64]:
    """Row indices (ascending) of at most `max_rows` rows keeping each class's share; the same for a seed.

    Every class present keeps at least one row, so a sample of a rare outcome can still be scored.
    """
    y = np.asarray(labels)
    if max_rows < 1:
        raise ValueError("max_rows must be at least 1")
    if len(y) <= max_rows:
        return np.arange(len(y), dtype=np.int64)
    classes, counts = np.unique(y, return_counts=True)
    if len(classes) > max_rows:
        raise ValueError(f"{len(classes)} classes do not fit in {max_rows} rows")
    exact = counts * max_rows / len(y)
    quotas = np.maximum(np.floor(exact).astype(np.int64), 1)
    # hand the rows rounding left over to the classes with the largest remainders, trimming if the
    # at-least-one rule overshot
    for index in np.argsort(-(exact - np.floor(exact)), kind="stable"):
        if quotas.sum() >= max_rows:
            break
        quotas[index] = min(quotas[index] + 1, counts[index])
    while quotas.sum() > max_rows:
        quotas[int(np.argmax(quotas))] -= 1
    rng = np.random.default_rng(seed)
    chosen = [
        rng.choice(np.flatnonzero(y == value), size=int(quota), replace=False)
        for value, quota in zip(classes, quotas, strict=True)
    ]
    return np.sort(np.concatenate(chosen)).astype(np.int64)


def save_holdout(
    directory: Path,
    features: npt.ArrayLike,
    labels: npt.ArrayLike,
    *,
    seed: int,
    snapshot: str = "",
    max_rows: int = MAX_HOLDOUT_ROWS,
) -> Path:
    """Write a stratified sample of at most `max_rows` labelled rows as <directory>/holdout.npz."""
    x = np.asarray(features, dtype=np.float32)
    y = np.asarray(labels)
    if x.ndim != 2 or x.shape[1] != len(FEATURE_NAMES) or len(x) != len(y):
        raise HoldoutError(
            f"expected {len(FEATURE_NAMES)} feature columns and one label per row, got {x.shape}"
        )
    if not np.isin(y, (0, 1)).all():
        raise HoldoutError("holdout labels must be 0 or 1")
    keep = stratified_sample(y, max_rows, seed=seed)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / HOLDOUT_FILE
    with path.open("wb") as out:
        np.savez_compressed(
            out,
            features=x[keep],
            labels=y[keep].astype(np.int8),
            feature_names=np.array(FEATURE_NAMES),
            snapshot=np.array(snapshot),
        )
    return path


def load_holdout(path: Path) -> Holdout:
    """Read a holdout sample; HoldoutError when it is missing, damaged or in another feature order."""
    if not path.is_file():
        raise HoldoutError(f"no holdout sample at {path}: the training job writes one per target")
    try:
        with np.load(path, allow_pickle=False) as archive:
            features = np.asarray(archive["features"], dtype=np.float32)
            labels = np.asarray(archive["labels"], dtype=np.int8)
            names = tuple(str(name) for name in archive["feature_names"])
            snapshot = str(archive["snapshot"]) if "snapshot" in archive.files else ""
    except (OSError, KeyError, ValueError) as error:
        raise HoldoutError(f"cannot read the holdout sample {path}: {error}") from error
    if names != FEATURE_NAMES:
        raise HoldoutError(f"holdout sample {path} has another feature order than credo.features")
    if features.ndim != 2 or features.shape != (len(labels), len(FEATURE_NAMES)):
        raise HoldoutError(
            f"holdout sample {path} has features of shape {features.shape} for {len(labels)} labels"
        )
    if not np.isin(labels, (0, 1)).all():
        raise HoldoutError(f"holdout sample {path} has labels other than 0 and 1")
    return Holdout(features=features, labels=labels, snapshot=snapshot)
