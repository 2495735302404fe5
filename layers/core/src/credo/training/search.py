"""Hyperparameter search for one zoo model, cross-validated on the training rows, within a time budget.

Folds follow time when the rows come from several snapshots: each fold validates on one of the
latest snapshots and trains on the snapshots before it (always the past predicting the future, as
the out-of-time holdout does, though a fold's label windows may overlap its validation snapshot).
One snapshot (or none) gives stratified folds.

Candidates are scored by ROC-AUC of the uncalibrated classifier: the sigmoid calibration each zoo
model ships with is monotone, so it cannot change the ranking, and skipping it makes a candidate
four times cheaper. The zoo's own settings are always the first candidate, so a search that runs
out of time still has a measured answer; the others are drawn from the model's search space in a
seeded order and started only while the model's share of the budget lasts.

Weighted rows (credo.labels: one row per outcome standing for several COD orders) are fitted and
scored with their weights, so a fold ranks settings as it would on one row per order.
"""

import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import ParameterSampler, StratifiedGroupKFold, StratifiedKFold
from sklearn.pipeline import Pipeline

from credo.training.zoo import ModelSpec, customer_folds, model_input, weight_params

MAX_FOLDS: Final = 3
MAX_CANDIDATES: Final = 12
# Each fold's fit sees at most this many rows: at 1M customers the search ranks settings on a
# sample, and the final fit (after the search) uses every row.
SEARCH_MAX_FIT_ROWS: Final = 200_000

Fold = tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]


@dataclass(frozen=True)
class Candidate:
    params: dict[str, Any]
    cv_auc: float  # mean over the folds
    fold_aucs: tuple[float, ...]
    seconds: float


@dataclass(frozen=True)
class SearchResult:
    """The settings the model is finally fitted with, and how they were found."""

    best: Candidate
    candidates: tuple[Candidate, ...]
    budget_seconds: float  # this model's share of the target's budget
    seconds: float
    folds: str  # how the folds were cut, for the report
    space_size: int  # how many settings the search space holds
    rows_per_fit: int = 0

    def summary(self) -> dict[str, Any]:
        """The figures report.json keeps."""
        return {
            "params": self.best.params,
            "cv_auc": round(self.best.cv_auc, 4),
            "cv_auc_sd": round(float(np.std(self.best.fold_aucs)), 4),
            "fold_aucs": [round(a, 4) for a in self.best.fold_aucs],
            "candidates_tried": len(self.candidates),
            "space_size": self.space_size,
            "seconds": round(self.seconds, 1),
            "budget_seconds": round(self.budget_seconds, 1),
            "folds": self.folds,
            "rows_per_fit": self.rows_per_fit,
        }


def time_ordered_folds(
    snapshots: Sequence[Any] | None,
    labels: npt.ArrayLike,
    *,
    seed: int,
    customers: Sequence[Any] | None = None,
) -> tuple[list[Fold], str]:
    """Folds over the rows, and a sentence saying how they were cut.

    With `customers` (one id per row), a customer's rows never sit on both sides of a fold: the
    same customer a month apart has nearly the same features and the same future, so a fold that
    shares customers rewards memorising them (deep trees looked 0.05 AUC better in such folds and
    were worse out of time).
    """
    y = np.asarray(labels, dtype=np.int64)
    if snapshots is not None:
        values = np.asarray(pd.Series(snapshots).astype(str))
        distinct = sorted(set(values))
        if len(distinct) >= 2:
            validations = distinct[-min(MAX_FOLDS, len(distinct) - 1) :]
            group = _customer_groups(customers, len(values), len(validations), seed)
            folds = []
            for fold, snapshot in enumerate(validations):
                train = (values < snapshot) & (group != fold)
                valid = (values == snapshot) & ((group == fold) | (group < 0))
                folds.append((np.flatnonzero(train), np.flatnonzero(valid)))
            usable = [
                (train, valid)
                for train, valid in folds
                if _both_classes(y[train]) and _both_classes(y[valid])
            ]
            if usable:
                apart = "; each customer on one side only" if customers is not None else ""
                return (
                    usable,
                    f"{len(usable)} time-ordered folds (validate on {', '.join(validations)},"
                    f" train on earlier snapshots{apart})",
                )
    splits = min(MAX_FOLDS, int(min(np.bincount(y, minlength=2))))
    if splits < 2:
        raise ValueError("too few rows of the rarer class to cross-validate (need at least 2)")
    if customers is not None:
        grouped = StratifiedGroupKFold(n_splits=splits, shuffle=True, random_state=seed)
        split = grouped.split(np.zeros(len(y)), y, groups=np.asarray(customers))
        return [(train, valid) for train, valid in split], f"{splits} stratified folds, customers kept apart"
    stratified = StratifiedKFold(n_splits=splits, shuffle=True, random_state=seed).split(np.zeros(len(y)), y)
    return [(train, valid) for train, valid in stratified], f"{splits} stratified folds"


def _customer_groups(
    customers: Sequence[Any] | None, rows: int, folds: int, seed: int
) -> npt.NDArray[np.int64]:
    """Each row's customer's fold; −1 for every row without customer ids (no row is held apart)."""
    if customers is None:
        return np.full(rows, -1, dtype=np.int64)
    return customer_folds(customers, folds, seed)


def search_each(
    specs: Sequence[ModelSpec],
    frame: pd.DataFrame,
    labels: npt.ArrayLike,
    numeric: Sequence[str],
    categorical: Sequence[str],
    folds: Sequence[Fold],
    *,
    budget_seconds: float,
    seed: int,
    folds_description: str = "",
    weights: npt.NDArray[np.float64] | None = None,
) -> Iterator[tuple[ModelSpec, SearchResult]]:
    """Search each model in turn within an equal share of what is left of `budget_seconds`.

    The budget is the search's alone: the caller's work between two models (a final fit, an
    export) does not come out of it. When it did, the final fits of the models before left the last
    one, gradient boosting, 2 s of a 120 s budget for credit at 100k customers: its zoo settings
    only. A model that finishes its search early leaves its time to the next ones.
    """
    searched = 0.0
    for position, spec in enumerate(specs):
        share = max(budget_seconds - searched, 0.0) / (len(specs) - position)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # candidates' fits; the final fit reports it
            result = search(
                spec, frame, labels, numeric, categorical, folds,
                budget_seconds=share, seed=seed, folds_description=folds_description, weights=weights,
            )  # fmt: skip
        searched += result.seconds
        yield spec, result


def search(
    spec: ModelSpec,
    frame: pd.DataFrame,
    labels: npt.ArrayLike,
    numeric: Sequence[str],
    categorical: Sequence[str],
    folds: Sequence[Fold],
    *,
    budget_seconds: float,
    seed: int,
    folds_description: str = "",
    weights: npt.NDArray[np.float64] | None = None,
) -> SearchResult:
    """Try the zoo settings, then sampled settings while the budget lasts; return the best mean AUC."""
    y = np.asarray(labels, dtype=np.int64)
    started = time.perf_counter()
    space = dict(spec.search_space)
    settings = _candidate_settings(space, seed)
    cap = min(SEARCH_MAX_FIT_ROWS, spec.max_fit_rows or SEARCH_MAX_FIT_ROWS)
    rng = np.random.default_rng(seed)
    capped = [(_cap(train, cap, rng), valid) for train, valid in folds]
    tried: list[Candidate] = []
    for params in settings:
        elapsed = time.perf_counter() - started
        slowest = max((c.seconds for c in tried), default=0.0)
        if tried and elapsed + slowest > budget_seconds:
            break  # the next candidate would likely overrun this model's share
        tried.append(_evaluate(spec, params, frame, y, numeric, categorical, capped, seed, weights))
    best = max(tried, key=lambda c: c.cv_auc)
    return SearchResult(
        best=best,
        candidates=tuple(tried),
        budget_seconds=budget_seconds,
        seconds=time.perf_counter() - started,
        folds=folds_description,
        space_size=_space_size(space),
        rows_per_fit=max(len(train) for train, _ in capped),
    )


def _evaluate(
    spec: ModelSpec,
    params: dict[str, Any],
    frame: pd.DataFrame,
    y: npt.NDArray[np.int64],
    numeric: Sequence[str],
    categorical: Sequence[str],
    folds: Sequence[Fold],
    seed: int,
    weights: npt.NDArray[np.float64] | None = None,
) -> Candidate:
    started = time.perf_counter()
    aucs = []
    for train, valid in folds:
        pipeline = _uncalibrated(spec.build(numeric, categorical, seed=seed), params)
        x_train = model_input(frame.iloc[train], numeric, categorical)
        pipeline.fit(x_train, y[train], **weight_params(weights, train))
        score = _ranking_score(pipeline, model_input(frame.iloc[valid], numeric, categorical))
        valid_weights = None if weights is None else weights[valid]
        aucs.append(float(roc_auc_score(y[valid], score, sample_weight=valid_weights)))
    return Candidate(
        params=params,
        cv_auc=float(np.mean(aucs)),
        fold_aucs=tuple(aucs),
        seconds=time.perf_counter() - started,
    )


def _uncalibrated(pipeline: Pipeline, params: Mapping[str, Any]) -> Pipeline:
    classifier = clone(pipeline.named_steps["model"].estimator).set_params(**params)
    return pipeline.set_params(model=classifier)


def _ranking_score(pipeline: Pipeline, x: Any) -> npt.NDArray[np.float64]:
    # A linear SVM has no probabilities before calibration; its margin ranks the rows just as well.
    if hasattr(pipeline.named_steps["model"], "predict_proba"):
        return np.asarray(pipeline.predict_proba(x)[:, 1], dtype=np.float64)
    return np.asarray(pipeline.decision_function(x), dtype=np.float64)


def _candidate_settings(space: Mapping[str, Sequence[Any]], seed: int) -> list[dict[str, Any]]:
    """The zoo's own settings first ({}), then up to MAX_CANDIDATES − 1 distinct sampled ones."""
    if not space:
        return [{}]
    sampled = ParameterSampler(
        {name: list(values) for name, values in space.items()},
        n_iter=min(MAX_CANDIDATES - 1, _space_size(space)),
        random_state=seed,
    )
    return [{}, *(dict(params) for params in sampled)]


def _space_size(space: Mapping[str, Sequence[Any]]) -> int:
    return int(np.prod([len(values) for values in space.values()])) if space else 1


def _cap(rows: npt.NDArray[np.int64], cap: int, rng: np.random.Generator) -> npt.NDArray[np.int64]:
    return rows if len(rows) <= cap else np.sort(rng.choice(rows, size=cap, replace=False))


def _both_classes(y: npt.NDArray[np.int64]) -> bool:
    return len(y) > 0 and 0 < int(y.sum()) < len(y)
