"""The classifier comparison for one of Credo's targets: every zoo model, one out-of-time holdout.

Each model is fitted on the training snapshots and measured on the later holdout snapshot; the
selected model is the best out-of-time AUC among those within the serving budget (ONNX size and
one-row latency), and it ships as a TrainedModel the registry takes. The F1 threshold of each model
is chosen on its training rows, so the holdout F1 is honest.
"""

import json
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Final

import numpy as np
import pandas as pd
import sklearn
from sklearn.exceptions import ConvergenceWarning
from sklearn.inspection import permutation_importance
from sklearn.pipeline import Pipeline

from credo.features import FEATURE_NAMES, FEATURE_SCHEMA_VERSION
from credo.labels import ROW_WEIGHT
from credo.policy import Economics
from credo.scoring import model as contract
from credo.scoring.scale import scale_parameters
from credo.training import metrics, search, zoo
from credo.training.baselines import reason_baselines
from credo.training.onnx_export import TARGET_OPSET, check_parity
from credo.training.report import (
    DEFAULT_COSTS,
    MAX_SERVING_ONE_ROW_MS,
    MAX_SERVING_ONNX_BYTES,
    ModelResult,
    TargetResult,
)
from credo.training.train import TrainedModel, data_fingerprint, model_version_for

LATENCY_SAMPLE_ROWS: Final = 2_000
SNAPSHOT_COLUMN: Final = "snapshot_date"
CUSTOMER_COLUMN: Final = "token"
IMPORTANCE_SAMPLE_ROWS: Final = 5_000
# A feature missing for more than this share of good training rows has "missing" as its reason baseline.
# The search budget per target when the caller names none: about a minute of a 2-core machine.
DEFAULT_SEARCH_SECONDS: Final = 60.0
# A model whose holdout scores take fewer distinct values cannot fill the policy's four bands and
# place a threshold: a calibrated MLP whose outputs had collapsed gave every demo customer a credit
# score of 565 (one value), with an out-of-time AUC of 0.76 from differences in the sixth decimal.
# A shallow decision tree (a dozen or so leaves) still qualifies.
MIN_DISTINCT_SCORES: Final = 5


@dataclass(frozen=True)
class ZooComparison:
    result: TargetResult  # every model's holdout predictions and measured costs, for the report
    selected: TrainedModel  # the model to register
    table: list[dict[str, Any]]  # one printable row per model


def compare_zoo(
    train: pd.DataFrame,
    holdout: pd.DataFrame,
    target: str,
    label_column: str,
    *,
    seed: int,
    models: Sequence[str] | None = None,
    oracle_auc: float | None = None,
    search_seconds: float = DEFAULT_SEARCH_SECONDS,
    costs: Economics | None = None,
    progress: Callable[[str], None] | None = None,
) -> ZooComparison:
    """Fit every zoo model on `train`, measure it on `holdout` (out of time), select and package one.

    Before its final fit, each model's settings are searched by cross-validation on `train` within
    its share of `search_seconds` (0: the zoo's own settings, still cross-validated). `costs` (the
    policy's economics for the target; DEFAULT_POLICY's when None) price the threshold proposal.
    """
    fitting = _labelled(train, label_column)
    x_train, y_train, w_train = fitting.features, fitting.labels, fitting.weights
    measuring = _labelled(holdout, label_column)
    if measuring.weights is not None:
        raise ValueError(f"the holdout must hold one row per decision, not weighted rows ({ROW_WEIGHT})")
    x_holdout, y_holdout = measuring.features, measuring.labels
    folds, folds_description = search.time_ordered_folds(
        fitting.snapshots, y_train, seed=seed, customers=fitting.customers
    )
    decisions = len(y_train) if w_train is None else round(float(w_train.sum()))
    trained_at = datetime.now(UTC)
    version = model_version_for(target, trained_at, data_fingerprint(_matrix(x_train), y_train, w_train))
    baselines = reason_baselines(x_train, y_train)
    specs = [zoo.model_spec(name) for name in models] if models else list(zoo.ZOO)
    fitted: dict[str, tuple[Pipeline, bytes]] = {}
    results, rows = [], []
    searches = search.search_each(
        specs, x_train, y_train, FEATURE_NAMES, (), folds,
        budget_seconds=search_seconds, seed=seed, folds_description=folds_description, weights=w_train,
    )  # fmt: skip
    fit_rows = f"{len(y_train):,} rows" + ("" if w_train is None else f" for {decisions:,} decisions")
    for spec, searched in searches:
        if progress is not None:  # at a million rows a final fit takes minutes
            progress(f"{target}: {spec.name} settings chosen; final calibrated fit on {fit_rows}")
        started = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            pipeline = zoo.fit_zoo_model(
                spec, x_train, y_train, FEATURE_NAMES, (), seed=seed, params=searched.best.params,
                customers=fitting.customers, sample_weight=w_train,
            )  # fmt: skip
        fit_seconds = time.perf_counter() - started
        # the report says so instead of a console full of warnings
        unconverged = any(issubclass(w.category, ConvergenceWarning) for w in caught)
        notes = spec.notes + (" Stopped at its iteration limit before converging." if unconverged else "")
        p_holdout = pipeline.predict_proba(_matrix(x_holdout))[:, 1]
        p_train = pipeline.predict_proba(_matrix(x_train))[:, 1]
        threshold = metrics.best_f1_threshold(y_train, p_train, sample_weight=w_train)
        figures = metrics.classification_metrics(y_holdout, p_holdout, threshold=threshold)
        # every candidate is exported as it would ship, so the selected one is not converted twice
        metadata = _metadata(target, version, label_column, trained_at, baselines)
        metadata[contract.META_ROC_AUC] = f"{figures['roc_auc']:.6f}"
        onnx_bytes = zoo.export_zoo_model(pipeline, FEATURE_NAMES, (), metadata)
        cost = zoo.serving_cost(onnx_bytes, x_holdout.head(LATENCY_SAMPLE_ROWS), FEATURE_NAMES, ())
        fitted[spec.name] = (pipeline, onnx_bytes)
        results.append(
            ModelResult(
                name=spec.name,
                y_true=y_holdout,
                p_bad=p_holdout,
                threshold=threshold,
                fit_seconds=round(fit_seconds, 2),
                onnx_bytes=len(onnx_bytes),
                one_row_ms=cost["one_row_latency_p50_ms"],
                batch_rows_per_s=cost["batch_rows_per_second"],
                notes=notes.strip(),
                cv_folds={"roc_auc": searched.best.fold_aucs},
                search=searched.summary(),
            )
        )
        rows.append(
            {
                "model": spec.name,
                **figures,
                "fit_seconds": fit_seconds,
                **cost,
                "cv_auc": searched.best.cv_auc,
                "distinct_scores": metrics.distinct_scores(p_holdout),
                "search_seconds": searched.seconds,
                "candidates_tried": len(searched.candidates),
                "params": searched.best.params,
            }
        )
        if progress is not None:
            progress(
                f"{target}: {spec.name} cross-validated AUC {searched.best.cv_auc:.3f}"
                f" ({len(searched.candidates)} settings tried), out-of-time AUC {figures['roc_auc']:.3f},"
                f" F1 {figures['f1'] or 0:.3f}, fitted in {fit_seconds:.1f} s"
            )
    selected, reason = _select(rows)
    for row in rows:
        row["selected"] = row["model"] == selected
    pipeline, onnx_bytes = fitted[selected]
    importances = _permutation_importances(pipeline, x_holdout, y_holdout, seed=seed)
    results = [replace(r, feature_importances=importances) if r.name == selected else r for r in results]
    shipped = _package(
        pipeline, onnx_bytes, target, label_column, version, trained_at, x_holdout, rows, selected, reason,
        decisions, baselines,
    )  # fmt: skip
    result = TargetResult(
        target=target,
        models=results,
        costs=costs if costs is not None else DEFAULT_COSTS[target],
        selected=selected,
        selection_reason=reason,
        oracle_auc=oracle_auc,
    )
    return ZooComparison(result=result, selected=shipped, table=rows)


def _permutation_importances(
    pipeline: Pipeline, x: pd.DataFrame, y: np.ndarray[Any, np.dtype[np.int64]], *, seed: int
) -> dict[str, float]:
    """Holdout AUC lost when each feature is shuffled: model-agnostic, so every zoo model has one."""
    if len(np.unique(y)) < 2:
        return {}
    rows = np.random.default_rng(seed).permutation(len(y))[:IMPORTANCE_SAMPLE_ROWS]
    found = permutation_importance(
        pipeline, _matrix(x.iloc[rows]), y[rows], scoring="roc_auc", n_repeats=3, random_state=seed
    )
    return {name: round(float(v), 5) for name, v in zip(FEATURE_NAMES, found.importances_mean, strict=True)}


def _select(rows: list[dict[str, Any]]) -> tuple[str, str]:
    """Best out-of-time AUC among the models within the serving budget whose scores spread."""
    eligible, left_out = spread_rule({r["model"]: r["distinct_scores"] for r in rows})
    spread = [r for r in rows if r["model"] in eligible]
    within = [
        r
        for r in spread
        if r["onnx_bytes"] <= MAX_SERVING_ONNX_BYTES and r["one_row_latency_p50_ms"] <= MAX_SERVING_ONE_ROW_MS
    ]
    best = max(within or spread, key=lambda r: r["roc_auc"] or 0.0)
    budget = "within the serving budget" if within else "none was within the serving budget"
    return best["model"], (
        f"best out-of-time ROC-AUC ({best['roc_auc']:.4f}) of {len(rows)} models, {budget}{left_out}"
    )


def spread_rule(distinct_scores: Mapping[str, int], where: str = "") -> tuple[list[str], str]:
    """The models a selection may pick, and what its reason says of those whose scores did not spread.

    `distinct_scores` maps each model to how many distinct scores it gave (`where` says where, for
    the reason). A model with fewer than MIN_DISTINCT_SCORES is left out, unless every model is:
    leaving them all out would ship nothing, so then the rule is waived, and the reason says so.
    """
    spread = [name for name, count in distinct_scores.items() if count >= MIN_DISTINCT_SCORES]
    collapsed = ", ".join(f"{name} ({n})" for name, n in distinct_scores.items() if name not in spread)
    few = f"fewer than {MIN_DISTINCT_SCORES} distinct values{where}"
    if not collapsed:
        return spread, ""
    if not spread:
        return list(distinct_scores), f"; every model's scores took {few} ({collapsed}), so none was left out"
    return spread, f"; left out for scores with {few}: {collapsed}"


def _package(
    pipeline: Pipeline,
    onnx_bytes: bytes,
    target: str,
    label_column: str,
    version: str,
    trained_at: datetime,
    x_holdout: pd.DataFrame,
    rows: list[dict[str, Any]],
    selected: str,
    reason: str,
    training_rows: int,
    baselines: Mapping[str, float | None],
) -> TrainedModel:
    """The selected model's ONNX, parity-checked, with its model card."""
    chosen = next(r for r in rows if r["model"] == selected)
    parity = check_parity(pipeline, onnx_bytes, _matrix(x_holdout))
    card = {
        "target": target,
        "model_version": version,
        "created_at": trained_at.isoformat(timespec="seconds"),
        "label_column": label_column,
        "feature_names": list(FEATURE_NAMES),
        "feature_schema_version": FEATURE_SCHEMA_VERSION,
        "estimator": selected,
        "selection": reason,
        "rows": {"train": training_rows, "holdout": int(chosen["n"])},
        "holdout_metrics": {
            k: chosen[k] for k in ("roc_auc", "gini", "ks", "pr_auc", "brier", "calibration_error")
        },
        "comparison": {r["model"]: {"roc_auc": r["roc_auc"], "f1": r["f1"]} for r in rows},
        "hyperparameters": chosen["params"],
        "cross_validated_auc": chosen["cv_auc"],
        "onnx": {"target_opset": TARGET_OPSET, "parity_max_abs_diff": parity, "bytes": len(onnx_bytes)},
        "versions": {"scikit-learn": sklearn.__version__},
        # score = offset − factor · ln(p / (1 − p)), clipped: how the served probability becomes 300–900
        "score_scale": scale_parameters(),
        # what credo.scoring.reasons swaps in to find the features that lowered a score
        "reason_baselines": dict(baselines),
    }
    return TrainedModel(
        target=target,
        label_column=label_column,
        model_version=version,
        onnx_bytes=onnx_bytes,
        model_card=card,
        roc_auc=float(chosen["roc_auc"]),
        parity_max_abs_diff=parity,
        pipeline=pipeline,
    )


def _metadata(
    target: str,
    version: str,
    label_column: str,
    trained_at: datetime,
    baselines: Mapping[str, float | None],
) -> dict[str, str]:
    return {
        contract.META_FEATURE_NAMES: contract.FEATURE_SEPARATOR.join(FEATURE_NAMES),
        contract.META_FEATURE_SCHEMA_VERSION: FEATURE_SCHEMA_VERSION,
        contract.META_TARGET: target,
        contract.META_MODEL_VERSION: version,
        contract.META_TRAINED_AT: trained_at.isoformat(timespec="seconds"),
        "label_column": label_column,
        contract.META_REASON_BASELINES: json.dumps(dict(baselines), allow_nan=False),
    }


def with_float32_features(table: pd.DataFrame) -> pd.DataFrame:
    """`table` with its feature columns in float32, the type the models and their ONNX graphs take.

    The job casts its table so on reading: every copy after it (the split, a COD order's row per
    order, the models' input) is then half the size of a float64 one.
    """
    present = [name for name in FEATURE_NAMES if name in table.columns]
    return table.astype(dict.fromkeys(present, "float32"))


@dataclass(frozen=True)
class _Labelled:
    features: pd.DataFrame
    labels: np.ndarray[Any, np.dtype[np.int64]]
    snapshots: pd.Series | None
    customers: pd.Series | None
    weights: np.ndarray[Any, np.dtype[np.float64]] | None  # decisions per row (credo.labels.ROW_WEIGHT)


def _labelled(table: pd.DataFrame, label_column: str) -> _Labelled:
    """Features and labels of the labelled rows, with their snapshot dates, customer tokens and row
    weights where the table has them.

    The features are float32, as the models and their ONNX graphs take them: at a million customers,
    buying's 2.1 million weighted rows of 70 features are 1.2 GB in float64, half of it in float32.
    """
    labelled = table[label_column].notna().to_numpy()

    def column(name: str) -> pd.Series | None:
        return table.loc[labelled, name] if name in table.columns else None

    weights = column(ROW_WEIGHT)
    return _Labelled(
        features=table.loc[labelled, list(FEATURE_NAMES)].astype("float32"),
        labels=table.loc[labelled, label_column].to_numpy(dtype=np.int64),
        snapshots=column(SNAPSHOT_COLUMN),
        customers=column(CUSTOMER_COLUMN),
        weights=None if weights is None else weights.to_numpy(dtype=np.float64),
    )


def _matrix(frame: pd.DataFrame) -> np.ndarray[Any, np.dtype[np.float32]]:
    return frame.to_numpy(dtype=np.float32, na_value=np.nan)
