"""Train one target's model: one scikit-learn Pipeline, evaluated on a stratified holdout, exported to ONNX.

The shipped model is the one evaluated: it is fitted on 80% of the labelled rows and its ROC-AUC
is measured on the other 20%, so the number in the model card describes the bytes in the registry.
"""

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd
import sklearn
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.metrics import brier_score_loss, roc_auc_score, roc_curve
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from credo.features import FEATURE_NAMES, FEATURE_SCHEMA_VERSION
from credo.pipeline.holdout import MAX_HOLDOUT_ROWS, save_holdout
from credo.scoring import model as contract
from credo.scoring.scale import scale_parameters
from credo.training.baselines import reason_baselines
from credo.training.onnx_export import TARGET_OPSET, check_parity, export_pipeline

HOLDOUT_FRACTION: Final = 0.2
MIN_ROWS_PER_CLASS: Final = 5
MODEL_FILE: Final = "model.onnx"
MODEL_CARD_FILE: Final = "model_card.json"
SNAPSHOT_COLUMN: Final = "snapshot_date"

# Small, regularised trees: a credit/buying population has few bad outcomes and noisy features.
# class_weight stays None: the 300–900 scale reads probabilities as odds (600 = 30:1), and
# "balanced" weighting inflates them (a 9% bad rate came out as a 34% mean probability, 100+ points
# lower scores); it also makes HGB's binning compute weighted quantiles, 20–30x slower to fit.
DEFAULT_PARAMS: Final[Mapping[str, Any]] = {
    "max_iter": 200,
    "learning_rate": 0.05,
    "max_leaf_nodes": 15,
    "min_samples_leaf": 40,
    "l2_regularization": 1.0,
    "class_weight": None,
}


@dataclass(frozen=True)
class TrainedModel:
    """A trained, exported and parity-checked model; registry.ModelRegistry.register accepts it."""

    target: str
    label_column: str
    model_version: str
    onnx_bytes: bytes
    model_card: dict[str, Any]
    roc_auc: float
    parity_max_abs_diff: float
    pipeline: Pipeline = field(repr=False, compare=False)


def build_pipeline(*, seed: int, params: Mapping[str, Any] | None = None) -> Pipeline:
    """The whole model as one Pipeline: median imputation, then gradient-boosted trees."""
    estimator_params = {**DEFAULT_PARAMS, **(params or {})}
    return Pipeline(
        [
            ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
            ("model", HistGradientBoostingClassifier(random_state=seed, **estimator_params)),
        ]
    )


def train_target(
    table: pd.DataFrame,
    target: str,
    label_column: str,
    *,
    seed: int,
    params: Mapping[str, Any] | None = None,
    trained_at: datetime | None = None,
    n_threads: int | None = None,
) -> TrainedModel:
    """Fit, evaluate on a stratified 20% holdout, export to ONNX and check parity, for one target.

    n_threads caps the OpenMP/BLAS threads of the fit. Give 1 when several processes share few cores
    (parallel tests): oversubscribed OpenMP threads spin and made a 0.3 s fit take 30 s here.
    """
    features, labels = _labelled_matrix(table, label_column)
    trained_at = (trained_at or datetime.now(UTC)).astimezone(UTC)
    model_version = model_version_for(target, trained_at, data_fingerprint(features, labels))

    x_train, x_holdout, y_train, y_holdout = train_test_split(
        features, labels, test_size=HOLDOUT_FRACTION, stratify=labels, random_state=seed
    )
    with threadpool_limits(limits=n_threads):
        pipeline = build_pipeline(seed=seed, params=params).fit(x_train, y_train)
        p_holdout = pipeline.predict_proba(x_holdout)[:, 1]
    if list(pipeline.classes_) != [0, 1]:
        raise ValueError(f"expected classes [0, 1], the pipeline learnt {list(pipeline.classes_)}")
    metrics = _binary_metrics(y_holdout, p_holdout)

    metadata = {
        contract.META_FEATURE_NAMES: contract.FEATURE_SEPARATOR.join(FEATURE_NAMES),
        contract.META_FEATURE_SCHEMA_VERSION: FEATURE_SCHEMA_VERSION,
        contract.META_TARGET: target,
        contract.META_MODEL_VERSION: model_version,
        contract.META_TRAINED_AT: trained_at.isoformat(timespec="seconds"),
        contract.META_ROC_AUC: f"{metrics['roc_auc']:.6f}",
        "label_column": label_column,
    }
    baselines = reason_baselines(x_train, y_train)
    metadata[contract.META_REASON_BASELINES] = json.dumps(baselines, allow_nan=False)
    onnx_bytes = export_pipeline(pipeline, metadata)
    parity_gap = check_parity(pipeline, onnx_bytes, x_holdout)

    card = {
        "target": target,
        "model_version": model_version,
        "label_column": label_column,
        "trained_at": metadata[contract.META_TRAINED_AT],
        "feature_names": list(FEATURE_NAMES),
        "feature_schema_version": FEATURE_SCHEMA_VERSION,
        "estimator": "SimpleImputer(median) + HistGradientBoostingClassifier",
        "params": {**DEFAULT_PARAMS, **(params or {}), "random_state": seed},
        "rows": {
            "labelled": len(labels),
            "train": len(y_train),
            "holdout": len(y_holdout),
            "bad_rate_train": float(np.mean(y_train)),
            "bad_rate_holdout": float(np.mean(y_holdout)),
        },
        "holdout_metrics": metrics,
        "onnx": {"target_opset": TARGET_OPSET, "parity_max_abs_diff": parity_gap, "bytes": len(onnx_bytes)},
        "versions": {"scikit-learn": sklearn.__version__},
        # score = offset − factor · ln(p / (1 − p)), clipped: how the served probability becomes 300–900
        "score_scale": scale_parameters(),
        "reason_baselines": baselines,
    }
    return TrainedModel(
        target=target,
        label_column=label_column,
        model_version=model_version,
        onnx_bytes=onnx_bytes,
        model_card=card,
        roc_auc=metrics["roc_auc"],
        parity_max_abs_diff=parity_gap,
        pipeline=pipeline,
    )


def model_version_for(target: str, trained_at: datetime, data_hash: str) -> str:
    return f"{target}-{trained_at.astimezone(UTC):%Y%m%d%H%M%S}-{data_hash}"


def data_fingerprint(
    features: npt.NDArray[np.float32],
    labels: npt.NDArray[np.int64],
    weights: npt.NDArray[np.float64] | None = None,
) -> str:
    """Short, stable hash of exactly the rows a model learnt from, and their weights if any (same data →
    same hash)."""
    digest = hashlib.sha256()
    # the array's own buffer: tobytes() would copy it (gigabytes at a million customers)
    digest.update(memoryview(np.ascontiguousarray(features)))
    digest.update(memoryview(np.ascontiguousarray(labels)))
    if weights is not None:
        digest.update(memoryview(np.ascontiguousarray(weights)))
    return digest.hexdigest()[:10]


def write_model_artifacts(model: TrainedModel, directory: Path) -> Path:
    """Write model.onnx and model_card.json into `directory` (created if needed); return it."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / MODEL_FILE).write_bytes(model.onnx_bytes)
    (directory / MODEL_CARD_FILE).write_text(json.dumps(model.model_card, indent=2, sort_keys=True) + "\n")
    return directory


def write_holdout_sample(
    holdout: pd.DataFrame,
    label_column: str,
    directory: Path,
    *,
    seed: int,
    max_rows: int = MAX_HOLDOUT_ROWS,
) -> Path:
    """Write the labelled rows of an out-of-time holdout as <directory>/holdout.npz for the evaluate step.

    At most `max_rows` rows, sampled per class in proportion (the same rows for the same seed),
    float32 features in FEATURE_NAMES order: the step scores a challenger and its champion on them
    with numpy and onnxruntime alone (credo.pipeline.holdout reads it).
    """
    features, labels = _labelled_rows(holdout, label_column)
    snapshots = holdout[SNAPSHOT_COLUMN].dropna() if SNAPSHOT_COLUMN in holdout.columns else None
    latest = "" if snapshots is None or snapshots.empty else pd.Timestamp(snapshots.max()).date().isoformat()
    return save_holdout(directory, features, labels, seed=seed, snapshot=latest, max_rows=max_rows)


def _labelled_matrix(
    table: pd.DataFrame, label_column: str
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
    x, y = _labelled_rows(table, label_column)
    counts = np.bincount(y, minlength=2)
    if counts.min() < MIN_ROWS_PER_CLASS:
        raise ValueError(
            f"{label_column} has {counts[0]} good and {counts[1]} bad rows; "
            f"each class needs at least {MIN_ROWS_PER_CLASS}"
        )
    return x, y


def _labelled_rows(
    table: pd.DataFrame, label_column: str
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
    """Features (float32, FEATURE_NAMES order, NaN = missing) and 0/1 labels of the labelled rows."""
    missing = [name for name in (*FEATURE_NAMES, label_column) if name not in table.columns]
    if missing:
        raise ValueError(f"training table lacks columns: {', '.join(missing)}")
    labelled = table.loc[table[label_column].notna()]
    labels = labelled[label_column].to_numpy(dtype=np.float64)
    if not np.isin(labels, (0.0, 1.0)).all():
        raise ValueError(f"{label_column} must hold 0, 1 or null")
    # float32 in training too, so split thresholds sit where onnxruntime's float32 input sees them.
    x = labelled[list(FEATURE_NAMES)].to_numpy(dtype=np.float32, na_value=np.nan)
    return x, labels.astype(np.int64)


def _binary_metrics(y_true: npt.NDArray[np.int64], p_bad: npt.NDArray[np.float64]) -> dict[str, float]:
    auc = float(roc_auc_score(y_true, p_bad))
    fpr, tpr, _ = roc_curve(y_true, p_bad)
    return {
        "roc_auc": auc,
        "gini": 2.0 * auc - 1.0,
        "ks": float(np.max(tpr - fpr)),
        "brier": float(brier_score_loss(y_true, p_bad)),
    }
