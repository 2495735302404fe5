"""Bring your own table: `credo train --table FILE --label COLUMN …` trains the zoo on a lender's own data.

Any labelled table works: numeric and text-categorical columns, missing values, any column names.
Every zoo model's settings are searched within a time budget, then the chosen settings are
cross-validated — out of time (expanding windows) when a time column is given, stratified folds
otherwise; the best mean AUC is selected, refitted on every row, exported to ONNX with a parity
check, and DIR/report.json, DIR/report.html and DIR/model.onnx are written. The search ranks
settings on the same folds, so the chosen settings' figures lean slightly optimistic; the report
says how many settings each model tried.
"""

import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.model_selection import StratifiedKFold, TimeSeriesSplit

from credo.constants import TABLE_SEARCH_SECONDS
from credo.policy import Economics
from credo.training import metrics, search, zoo
from credo.training.compare import spread_rule
from credo.training.onnx_export import PARITY_TOLERANCE
from credo.training.report import ModelResult, TargetResult, build_report, write_report
from credo.training.table import MIN_ROWS_PER_CLASS, PreparedTable, TableError, prepare, read_table

FOLDS: Final = 3
PARITY_ROWS: Final = 2_000
SLOW_FOLD_SECONDS: Final = 30.0  # folds slower than this are reported as they finish
TABLE_TARGET: Final = "table"
SUMMARY_METRICS: Final = ("roc_auc", "f1", "pr_auc", "brier", "ks")
# Neutral costs for the cut-off table of a user's table: one unit lost per bad, one per good declined.
UNIT_COSTS: Final = Economics(target_bad_rate=0.05, loss_given_bad=1.0, margin_per_good=1.0)


Folds = list[tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]]  # (train rows, test rows) per fold


def _folds(table: PreparedTable, seed: int) -> tuple[Folds, list[str]]:
    """The folds to validate on, and a note for each out-of-time fold that had to be skipped."""
    if table.order is None:
        splitter = StratifiedKFold(n_splits=FOLDS, shuffle=True, random_state=seed)
        return list(splitter.split(table.features, table.labels)), []
    # Expanding windows: always train on the past, test on what follows. A window whose past holds
    # too few rows of a class cannot be fitted (nor its sigmoid calibrated), so it is skipped.
    splits = TimeSeriesSplit(n_splits=FOLDS).split(table.order)
    folds = [(table.order[train], table.order[test]) for train, test in splits]
    usable = [(train, test) for train, test in folds if _fittable(table.labels[train])]
    if not usable:
        raise TableError(
            f"out-of-time validation trains on the earliest rows, and even its largest window (the first "
            f"{len(folds[-1][0]):,} rows by time) holds fewer than {MIN_ROWS_PER_CLASS} rows of a class; "
            "validate without --time-column"
        )
    skipped = len(folds) - len(usable)
    if not skipped:
        return usable, []
    return usable, [
        f"{skipped} of {FOLDS} out-of-time folds skipped: their earlier rows hold fewer than "
        f"{MIN_ROWS_PER_CLASS} rows of a class"
    ]


def _fittable(labels: npt.NDArray[np.int64]) -> bool:
    return bool(np.bincount(labels, minlength=2).min() >= MIN_ROWS_PER_CLASS)


def train_table(
    path: Path,
    *,
    label: str,
    out: Path,
    positive: str | None = None,
    time_column: str | None = None,
    models: Sequence[str] | None = None,
    seed: int = 7,
    search_seconds: float = TABLE_SEARCH_SECONDS,
    progress: Any = print,
) -> dict[str, Any]:
    """Search and cross-validate the zoo on a user's table, ship the best model; returns report.json."""
    table = prepare(read_table(path), label=label, positive=positive, time_column=time_column)
    folds, fold_notes = _folds(table, seed)
    notes = table.notes + fold_notes
    for note in notes:
        progress(f"  note: {note}")
    progress(f"  {_shape(table)}")
    validation = "out-of-time" if table.order is not None else "stratified"
    specs = [zoo.model_spec(name) for name in models] if models else list(zoo.ZOO)
    searches: Iterable[tuple[zoo.ModelSpec, search.SearchResult | None]] = ((spec, None) for spec in specs)
    if search_seconds > 0:
        searches = search.search_each(
            specs, table.features, table.labels, table.numeric, table.categorical, folds,
            budget_seconds=search_seconds, seed=seed, folds_description=f"{len(folds)} {validation} folds",
        )  # fmt: skip
    # the rows as the models see them, built once: each fold's predictions take its slice
    model_rows = zoo.model_input(table.features, table.numeric, table.categorical)
    results = [
        _cross_validate(spec, table, model_rows, folds, seed, progress, found) for spec, found in searches
    ]
    fold_sizes = [len(test) for _, test in folds]
    summary = {
        r.name: {**_summary(r), "distinct_scores": _fewest_distinct_scores(r, fold_sizes)} for r in results
    }
    selected, reason = _select(summary, validation, len(folds))
    params = next(r.search for r in results if r.name == selected).get("params", {})
    pipeline = zoo.fit_zoo_model(
        zoo.model_spec(selected), table.features, table.labels, table.numeric, table.categorical,
        seed=seed, params=params,
    )  # fmt: skip
    metadata = {"model": selected, "label": label, "columns": ",".join(table.column_names.values())}
    onnx_bytes = zoo.export_zoo_model(pipeline, table.numeric, table.categorical, metadata)
    sample = table.features.sample(min(PARITY_ROWS, len(table.features)), random_state=seed)
    parity = zoo.onnx_parity(pipeline, onnx_bytes, sample, table.numeric, table.categorical)
    if parity > PARITY_TOLERANCE:
        raise RuntimeError(f"ONNX parity failed for {selected}: max |Δp| = {parity:.2e}")
    out.mkdir(parents=True, exist_ok=True)
    (out / "model.onnx").write_bytes(onnx_bytes)
    report = build_report(
        [TargetResult(TABLE_TARGET, results, UNIT_COSTS, selected=selected, selection_reason=reason)],
        metadata={
            "table": path.name, "label": label, "positive": positive or "1/true", "rows": len(table.labels),
            "validation": validation, "notes": "; ".join(notes),
        },
    )  # fmt: skip
    byo = {
        "selected": selected,
        "selection_reason": reason,
        "validation": validation,
        "folds": len(folds),
        "notes": notes,
        "search_seconds": search_seconds,
        "parity_max_abs_diff": parity,
        "columns": {"numeric": [table.column_names[c] for c in table.numeric],
                    "categorical": [table.column_names[c] for c in table.categorical]},
        "models": summary,
        **report,
    }  # fmt: skip
    write_report(byo, out)
    return byo


def _shape(table: PreparedTable) -> str:
    """What the models will see: rows, and columns by kind (each text value one input of the linear
    ones, but for a column of many values)."""
    shape = f"{len(table.labels):,} rows; numeric columns: {len(table.numeric)}"
    shape += f"; text columns: {len(table.categorical)}"
    # the columns the linear models and the network will one-hot encode, picked as their pipeline picks them
    one_hot = zoo.TextColumns(tuple(table.categorical), many_valued=False)(table.features)
    kinds = []
    if one_hot:
        values = sum(zoo.distinct_values(table.features[name]) for name in one_hot)
        kinds.append(f"{values:,} distinct values: one input each for the linear models and the network")
    if len(one_hot) < len(table.categorical):
        many = len(table.categorical) - len(one_hot)
        kinds.append(
            f"{many} of more than {zoo.MAX_ONE_HOT_VALUES} values: one input each, ordered by bad rate"
        )
    if kinds:
        shape += f" ({'; '.join(kinds)})"
    return shape


def _cross_validate(
    spec: zoo.ModelSpec,
    table: PreparedTable,
    model_rows: zoo.ModelInput,
    folds: Folds,
    seed: int,
    progress: Any,
    searched: search.SearchResult | None = None,
) -> ModelResult:
    """Out-of-fold predictions of one model with its searched settings (the zoo's own without a search)."""
    params = searched.best.params if searched is not None else {}
    y_parts: list[npt.NDArray[np.int64]] = []
    p_parts: list[npt.NDArray[np.float64]] = []
    per_fold: dict[str, list[float]] = {m: [] for m in SUMMARY_METRICS}  # NaN: undefined in that fold
    seconds = 0.0
    for number, (train, test) in enumerate(folds, start=1):
        started = time.perf_counter()
        pipeline = zoo.fit_zoo_model(
            spec, table.features.iloc[train], table.labels[train], table.numeric, table.categorical,
            seed=seed, params=params,
        )  # fmt: skip
        fold_seconds = time.perf_counter() - started
        seconds += fold_seconds
        if fold_seconds >= SLOW_FOLD_SECONDS:  # a big table: say it is still going
            progress(f"    {spec.name}: fold {number} of {len(folds)} fitted in {fold_seconds:.0f} s")
        p = pipeline.predict_proba(_take(model_rows, test))[:, 1]
        # the F1 threshold is chosen on the training rows, so the fold's F1 is honest
        p_train = pipeline.predict_proba(_take(model_rows, train))[:, 1]
        threshold = metrics.best_f1_threshold(table.labels[train], p_train)
        figures = metrics.classification_metrics(table.labels[test], p, threshold=threshold)
        for name in SUMMARY_METRICS:
            value = figures[name]
            per_fold[name].append(float("nan") if value is None else float(value))
        y_parts.append(table.labels[test])
        p_parts.append(p)
    tried = ""
    if searched is not None:
        tried = f", {len(searched.candidates)} setting{'s' if len(searched.candidates) > 1 else ''} tried"
    progress(f"  {spec.name}: mean ROC-AUC {np.nanmean(per_fold['roc_auc']):.4f}{tried}")
    return ModelResult(
        name=spec.name,
        y_true=np.concatenate(y_parts),
        p_bad=np.concatenate(p_parts),
        cv_folds=per_fold,
        fit_seconds=round(seconds / len(folds), 3),
        notes=spec.notes,
        search=searched.summary() if searched is not None else {},
    )


def _take(model_rows: zoo.ModelInput, rows: npt.NDArray[np.int64]) -> zoo.ModelInput:
    """Some of the model's input rows, by position (a float32 array, or a frame with text columns)."""
    return model_rows.iloc[rows] if isinstance(model_rows, pd.DataFrame) else model_rows[rows]


def _fewest_distinct_scores(result: ModelResult, fold_sizes: Sequence[int]) -> int:
    """The fewest distinct scores the model gave in any one fold (its predictions are in fold order)."""
    per_fold = np.split(np.asarray(result.p_bad, dtype=np.float64), np.cumsum(fold_sizes)[:-1])
    return min(metrics.distinct_scores(p) for p in per_fold)


def _select(summary: dict[str, dict[str, Any]], validation: str, folds: int) -> tuple[str, str]:
    """Best mean cross-validated AUC among the models whose scores spread in every fold (as compare_zoo)."""
    counts = {name: s["distinct_scores"] for name, s in summary.items()}
    eligible, left_out = spread_rule(counts, " in a fold")
    selected = max(eligible, key=lambda name: summary[name]["roc_auc"] or 0.0)
    best_auc = summary[selected]["roc_auc"] or 0.0
    over = f"{folds} fold{'s' if folds > 1 else ''}"
    best = f"best mean {validation} cross-validated ROC-AUC ({best_auc:.4f}) over {over}"
    return selected, best + left_out


def _summary(result: ModelResult) -> dict[str, float | None]:
    """Mean of each summary metric over the folds (None when a fold could not compute it)."""
    out: dict[str, float | None] = {}
    for name in SUMMARY_METRICS:
        values = [v for v in result.cv_folds[name] if not np.isnan(v)]
        out[name] = float(np.mean(values)) if values else None
    return out
