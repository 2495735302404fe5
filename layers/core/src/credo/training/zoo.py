"""The model zoo: seven calibrated scikit-learn Pipelines that each export to one ONNX graph with parity.

Every model is ONE Pipeline: preprocessing (median imputation + missing indicators, scaling where the
model needs it; text columns one-hot encoded for the linear models and the network, as one code per
column for the trees and for a column of many values) and the classifier inside a sigmoid (Platt)
CalibratedClassifierCV. Isotonic calibration does not survive ONNX conversion; sigmoid does.

Model input, the same for fitting and serving (`model_input` builds it from a DataFrame):
- numeric columns only: one float32 matrix, columns in `numeric` order; its ONNX input is the
  scoring contract's single "features" tensor [None, len(numeric)], NaN = missing;
- with text columns: one ONNX input per column, named exactly as the column: float32 [None, 1] for
  numeric ones (NaN = missing), string [None, 1] for categorical ones. ONNX strings cannot be NaN,
  so a missing category travels as MISSING_CATEGORY ("") in both scikit-learn and ONNX.
"""

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Protocol, TypeAlias

import numpy as np
import numpy.typing as npt
import onnx
import onnxruntime as ort
import pandas as pd
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType, StringTensorType
from sklearn.base import ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import ExtraTreesClassifier, HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.impute import MissingIndicator, SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.svm import LinearSVC
from sklearn.tree import DecisionTreeClassifier

from credo.scoring.model import BAD_CLASS_INDEX, INPUT_NAME, PROBABILITIES_OUTPUT
from credo.training.encoding import UNSEEN_CODE, BadRateOrderedEncoder
from credo.training.onnx_export import TARGET_OPSET, zoo_converters

MISSING_CATEGORY: Final = ""
CATEGORY_FILL: Final = "(missing)"
CALIBRATION_FOLDS: Final = 3
LATENCY_CALLS: Final = 300
THROUGHPUT_BATCH_ROWS: Final = 10_000
# The linear models and the network one-hot encode a text column of at most this many values (one
# input each); a column of more values reaches them as one input (see _preprocessor).
MAX_ONE_HOT_VALUES: Final = 100

ModelInput: TypeAlias = npt.NDArray[np.float32] | pd.DataFrame


class PipelineBuilder(Protocol):
    def __call__(self, numeric: Sequence[str], categorical: Sequence[str], *, seed: int) -> Pipeline: ...


@dataclass(frozen=True)
class ModelSpec:
    """One zoo model: how to build its unfitted Pipeline, and what to know before fitting it."""

    name: str
    build: PipelineBuilder
    description: str
    max_fit_rows: int | None = None  # fit on a random sample of at most this many rows
    notes: str = ""
    # the classifier's settings credo.training.search may try, besides the ones `build` sets
    search_space: Mapping[str, Sequence[Any]] = field(default_factory=dict)


def _preprocessor(numeric: Sequence[str], categorical: Sequence[str], *, tree: bool) -> Pipeline:
    numeric_steps: list[tuple[str, Any]] = [
        (
            "impute",
            FeatureUnion(
                [
                    # keep_empty_features: a column never seen filled still gets a (zero) slot.
                    ("median", SimpleImputer(strategy="median", keep_empty_features=True)),
                    # Missingness is itself a signal (no bureau file, no orders); error_on_new=False
                    # because a column complete in training may still arrive empty at serving time.
                    ("missing", MissingIndicator(features="missing-only", error_on_new=False)),
                ]
            ),
        )
    ]
    if not tree:
        numeric_steps.append(("scale", StandardScaler()))
    numeric_pipeline = Pipeline(numeric_steps)
    if not categorical:
        return numeric_pipeline

    def fill_missing() -> tuple[str, SimpleImputer]:
        return "impute", SimpleImputer(
            missing_values=MISSING_CATEGORY, strategy="constant", fill_value=CATEGORY_FILL
        )

    # One input per column serves a tree (credo.training.encoding): one-hot would give it one dense
    # input per value, and a wide table's trees were 10–20× slower for it. (Gradient boosting's own
    # categorical splits do not survive skl2onnx 1.20: parity off by 0.49.)
    def codes() -> tuple[str, BadRateOrderedEncoder]:
        return "codes", BadRateOrderedEncoder(handle_unknown="use_encoded_value", unknown_value=UNSEEN_CODE)

    text: list[tuple[str, Any, Any]]
    if tree:
        text = [("text", Pipeline([fill_missing(), codes()]), list(categorical))]
    else:
        # Sparse: where one-hot makes most inputs zero, the ColumnTransformer hands the models a sparse
        # matrix (its sparse_threshold), which a wide table needs at 1M rows; the ONNX graph is the same.
        one_hot = ("one_hot", OneHotEncoder(handle_unknown="ignore", sparse_output=True))
        # A column of many values takes its values' bad-rate order as one scaled input instead: skl2onnx
        # 1.20 cannot convert one-hot's grouping of rare values (max_categories / min_frequency).
        text = [
            ("text", Pipeline([fill_missing(), one_hot]), TextColumns(tuple(categorical), many_valued=False)),
            (
                "many_valued_text",
                Pipeline([fill_missing(), codes(), ("scale", StandardScaler())]),
                TextColumns(tuple(categorical), many_valued=True),
            ),
        ]
    return Pipeline([("columns", ColumnTransformer([("numeric", numeric_pipeline, list(numeric)), *text]))])


@dataclass(frozen=True)
class TextColumns:
    """The text columns whose values in the fitting rows are few enough to one-hot encode (or, with
    `many_valued`, the others). A ColumnTransformer calls it once, when it is fitted."""

    names: tuple[str, ...]
    many_valued: bool

    def __call__(self, frame: pd.DataFrame) -> list[str]:
        return [
            name
            for name in self.names
            if (distinct_values(frame[name]) > MAX_ONE_HOT_VALUES) == self.many_valued
        ]


def distinct_values(text: pd.Series) -> int:
    """How many values a text column of model input holds, missing (MISSING_CATEGORY) not counted."""
    return int(text[text != MISSING_CATEGORY].nunique())


def _calibrated(
    numeric: Sequence[str], categorical: Sequence[str], classifier: ClassifierMixin, *, tree: bool
) -> Pipeline:
    """Trees take numbers as they are and one code per text column; the linear models and the network
    sum weighted inputs, so they need their numbers scaled and each text value as its own input (a
    column of more than MAX_ONE_HOT_VALUES values: its bad-rate code, scaled)."""
    # The zoo's own settings keep class_weight=None; the search may try "balanced" (see _BALANCE).
    # ensemble=False: one classifier fitted on all rows (one model's size in ONNX), its sigmoid fitted
    # on out-of-fold scores, so the calibration never sees scores of rows the classifier learnt from.
    calibrated = CalibratedClassifierCV(classifier, method="sigmoid", cv=CALIBRATION_FOLDS, ensemble=False)
    return Pipeline([("prepare", _preprocessor(numeric, categorical, tree=tree)), ("model", calibrated)])


def build_decision_tree(numeric: Sequence[str], categorical: Sequence[str], *, seed: int) -> Pipeline:
    decision_tree = DecisionTreeClassifier(max_depth=6, min_samples_leaf=50, random_state=seed)
    return _calibrated(numeric, categorical, decision_tree, tree=True)


def build_svm(numeric: Sequence[str], categorical: Sequence[str], *, seed: int) -> Pipeline:
    svm = LinearSVC(C=0.1, dual=False, max_iter=2000, random_state=seed)
    return _calibrated(numeric, categorical, svm, tree=False)


def build_logistic_regression(numeric: Sequence[str], categorical: Sequence[str], *, seed: int) -> Pipeline:
    regression = LogisticRegression(C=1.0, max_iter=2000, random_state=seed)
    return _calibrated(numeric, categorical, regression, tree=False)


def build_mlp(numeric: Sequence[str], categorical: Sequence[str], *, seed: int) -> Pipeline:
    # No early_stopping: its validation score is accuracy, which sits at the majority rate on a 5–35 %
    # bad rate and stopped a 1.5k-row table after a dozen epochs (AUC below chance). Strong L2 and ≤ 30
    # epochs instead: on 50k rows with 58 noise columns α=1 gave AUC 0.784 vs 0.714 with α=1e-3.
    network = MLPClassifier(
        hidden_layer_sizes=(64, 32, 16),
        alpha=1.0,
        batch_size=256,
        learning_rate_init=1e-3,
        max_iter=30,
        n_iter_no_change=5,
        random_state=seed,
    )
    return _calibrated(numeric, categorical, network, tree=False)


def build_extra_trees(numeric: Sequence[str], categorical: Sequence[str], *, seed: int) -> Pipeline:
    forest = ExtraTreesClassifier(
        n_estimators=100, max_depth=8, min_samples_leaf=50, max_features="sqrt", n_jobs=-1, random_state=seed
    )
    return _calibrated(numeric, categorical, forest, tree=True)


def build_random_forest(numeric: Sequence[str], categorical: Sequence[str], *, seed: int) -> Pipeline:
    forest = RandomForestClassifier(
        n_estimators=100,
        max_depth=8,
        min_samples_leaf=50,
        max_features="sqrt",
        max_samples=0.5,
        n_jobs=-1,
        random_state=seed,
    )
    return _calibrated(numeric, categorical, forest, tree=True)


def build_hist_gradient_boosting(
    numeric: Sequence[str], categorical: Sequence[str], *, seed: int
) -> Pipeline:
    boosting = HistGradientBoostingClassifier(
        max_iter=200,
        learning_rate=0.05,
        max_leaf_nodes=15,
        min_samples_leaf=40,
        l2_regularization=1.0,
        random_state=seed,
    )
    return _calibrated(numeric, categorical, boosting, tree=True)


# Searched settings (credo.training.search). class_weight="balanced" is among them: it re-weights the
# rare class while the classifier learns, and the sigmoid calibration fitted afterwards on
# unweighted out-of-fold scores brings the probabilities back to honest odds.
_BALANCE: Final = {"class_weight": [None, "balanced"]}
# The two forests differ in how they split, not in what is worth searching.
_FOREST_SPACE: Final[Mapping[str, Sequence[Any]]] = {
    "max_depth": [6, 8, 12],
    "min_samples_leaf": [20, 50, 100],
    "max_features": ["sqrt", 0.3],
}

ZOO: Final[tuple[ModelSpec, ...]] = (
    ModelSpec(
        "decision_tree",
        build_decision_tree,
        "one decision tree, depth ≤ 6, ≥ 50 rows a leaf",
        search_space={"max_depth": [4, 6, 8, 10], "min_samples_leaf": [20, 50, 100, 200], **_BALANCE},
    ),
    ModelSpec(
        "svm",
        build_svm,
        "linear support vector machine (LinearSVC, C=0.1) on scaled features",
        max_fit_rows=500_000,
        notes="Linear variant: kernel SVC is O(n²) and its ONNX grows with the support vectors; "
        "skl2onnx converts no kernel approximation (Nystroem, RBFSampler). Capped at 500k rows.",
        search_space={"C": [0.01, 0.1, 1.0], **_BALANCE},
    ),
    ModelSpec(
        "logistic_regression",
        build_logistic_regression,
        "L2 logistic regression on scaled features",
        search_space={"C": [0.01, 0.1, 1.0, 10.0], **_BALANCE},
    ),
    ModelSpec(
        "mlp",
        build_mlp,
        "deep network: 3 hidden ReLU layers (64, 32, 16), Adam, L2 α=1, ≤ 30 epochs",
        max_fit_rows=500_000,
        notes="Stops on a training-loss plateau (5 epochs) or at 30 epochs, not on accuracy; capped so the "
        "four fits calibration needs stay bounded.",
        search_space={
            "alpha": [0.3, 1.0, 3.0],
            "hidden_layer_sizes": [(64, 32, 16), (128, 64, 32), (32, 16, 8)],
            "learning_rate_init": [3e-4, 1e-3, 3e-3],
        },
    ),
    ModelSpec(
        "extra_trees",
        build_extra_trees,
        "100 extremely randomised trees, depth ≤ 8",
        search_space=_FOREST_SPACE,
    ),
    ModelSpec(
        "random_forest",
        build_random_forest,
        "100 trees on half-samples, depth ≤ 8",
        search_space=_FOREST_SPACE,
    ),
    ModelSpec(
        "hist_gradient_boosting",
        build_hist_gradient_boosting,
        "gradient-boosted trees: 200 rounds of ≤ 15 leaves, learning rate 0.05",
        search_space={
            "learning_rate": [0.03, 0.05, 0.1],
            "max_iter": [100, 200, 400],
            "max_leaf_nodes": [7, 15, 31],
            "min_samples_leaf": [40, 100, 200],
            "l2_regularization": [0.0, 1.0],
        },
    ),
)


def model_spec(name: str) -> ModelSpec:
    """The zoo model called `name`; ValueError naming the known models otherwise."""
    for spec in ZOO:
        if spec.name == name:
            return spec
    raise ValueError(f"unknown model {name!r}; the zoo has: {', '.join(spec.name for spec in ZOO)}")


def model_input(frame: pd.DataFrame, numeric: Sequence[str], categorical: Sequence[str]) -> ModelInput:
    """The rows as the Pipeline and its ONNX graph see them (float32 numbers, "" for a missing category)."""
    missing = [name for name in (*numeric, *categorical) if name not in frame.columns]
    if missing:
        raise ValueError(f"frame lacks columns: {', '.join(missing)}")
    # float32 in fitting too, so tree split thresholds sit where onnxruntime's float32 input sees them.
    numbers = frame[list(numeric)].to_numpy(dtype=np.float32, na_value=np.nan)
    if not categorical:
        return numbers
    columns: dict[str, Any] = {name: numbers[:, i] for i, name in enumerate(numeric)}
    for name in categorical:
        values = frame[name]
        columns[name] = np.where(values.isna(), MISSING_CATEGORY, values.astype(str)).astype(object)
    return pd.DataFrame(columns, index=frame.index)


def fit_zoo_model(
    spec: ModelSpec,
    frame: pd.DataFrame,
    labels: npt.ArrayLike,
    numeric: Sequence[str],
    categorical: Sequence[str],
    *,
    seed: int,
    params: Mapping[str, Any] | None = None,
    customers: npt.ArrayLike | None = None,
    sample_weight: npt.ArrayLike | None = None,
) -> Pipeline:
    """Build and fit `spec` on the rows (a seeded random sample when the spec caps its rows).

    `params` replace the classifier's own settings (a search result, credo.training.search).
    With `customers` (one id per row), each customer's rows sit in one calibration fold: a customer's
    snapshots, or its COD orders' copies of one row, would otherwise let the sigmoid be fitted on
    scores of rows the classifier learnt from, which look more certain than new customers' scores.
    `sample_weight` (one per row) weighs both the classifier's fit and its sigmoid's.
    """
    y = np.asarray(labels, dtype=np.int64)
    rows = np.arange(len(frame))
    if spec.max_fit_rows is not None and len(rows) > spec.max_fit_rows:
        rows = np.sort(np.random.default_rng(seed).choice(rows, size=spec.max_fit_rows, replace=False))
    # all rows: no copy of the frame (at a million customers' COD orders, gigabytes)
    x = model_input(frame if len(rows) == len(frame) else frame.iloc[rows], numeric, categorical)
    pipeline = spec.build(numeric, categorical, seed=seed)
    if params:
        # the classifier sits inside the calibration wrapper (see _calibrated)
        pipeline.set_params(**{f"model__estimator__{name}": value for name, value in params.items()})
    if customers is not None:
        folds = _calibration_folds(np.asarray(customers)[rows], y[rows], seed)
        if folds:
            pipeline.set_params(model__cv=folds)
    return pipeline.fit(x, y[rows], **weight_params(sample_weight, rows))


def weight_params(sample_weight: npt.ArrayLike | None, rows: npt.NDArray[np.int64]) -> dict[str, Any]:
    """The fit parameters that pass `rows`' weights to a zoo pipeline's classifier step (none without)."""
    if sample_weight is None:
        return {}
    return {"model__sample_weight": np.asarray(sample_weight, dtype=np.float64)[rows]}


def customer_folds(customers: npt.ArrayLike, folds: int, seed: int) -> npt.NDArray[np.int64]:
    """Each row's fold (0 … folds − 1), drawn per customer: a customer's rows share one fold."""
    codes, uniques = pd.factorize(pd.Series(np.asarray(customers)))
    fold_of_customer = np.random.default_rng(seed).integers(0, folds, size=len(uniques))
    return np.asarray(fold_of_customer[codes], dtype=np.int64)


def _calibration_folds(
    customers: npt.NDArray[Any], y: npt.NDArray[np.int64], seed: int
) -> list[tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]]:
    """CALIBRATION_FOLDS folds keeping customers apart; empty (the default folds) when one lacks a class."""
    fold = customer_folds(customers, CALIBRATION_FOLDS, seed)
    splits = [(np.flatnonzero(fold != k), np.flatnonzero(fold == k)) for k in range(CALIBRATION_FOLDS)]
    both = all(len(np.unique(y[part])) == 2 for split in splits for part in split)
    return splits if both else []


def export_zoo_model(
    pipeline: Pipeline, numeric: Sequence[str], categorical: Sequence[str], metadata: Mapping[str, str]
) -> bytes:
    """Convert a fitted zoo Pipeline to ONNX bytes (inputs as in the module docstring), metadata attached."""
    initial_types: list[tuple[str, Any]]
    if categorical:
        initial_types = [(name, FloatTensorType([None, 1])) for name in numeric]
        initial_types += [(name, StringTensorType([None, 1])) for name in categorical]
    else:
        initial_types = [(INPUT_NAME, FloatTensorType([None, len(numeric)]))]
    with zoo_converters():
        model = convert_sklearn(
            pipeline,
            initial_types=initial_types,
            options={id(pipeline): {"zipmap": False}},
            target_opset=TARGET_OPSET,
        )
    onnx.helper.set_model_props(model, dict(metadata))
    onnx.checker.check_model(model)
    return bytes(model.SerializeToString())


def onnx_session(onnx_bytes: bytes) -> ort.InferenceSession:
    """A single-threaded CPU session, as the scoring Lambda runs it."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(onnx_bytes, sess_options=options, providers=["CPUExecutionProvider"])


def onnx_feeds(frame: pd.DataFrame, numeric: Sequence[str], categorical: Sequence[str]) -> dict[str, Any]:
    """onnxruntime's input dictionary for the rows, in either input form."""
    x = model_input(frame, numeric, categorical)
    if isinstance(x, np.ndarray):
        return {INPUT_NAME: x}
    feeds: dict[str, Any] = {name: x[name].to_numpy(dtype=np.float32).reshape(-1, 1) for name in numeric}
    feeds.update({name: x[name].to_numpy(dtype=object).reshape(-1, 1) for name in categorical})
    return feeds


def predict_onnx(
    onnx_bytes: bytes, frame: pd.DataFrame, numeric: Sequence[str], categorical: Sequence[str]
) -> npt.NDArray[np.float64]:
    """Bad-class probability of each row, computed by onnxruntime."""
    return _bad_probability(onnx_session(onnx_bytes), onnx_feeds(frame, numeric, categorical))


def onnx_parity(
    pipeline: Pipeline,
    onnx_bytes: bytes,
    frame: pd.DataFrame,
    numeric: Sequence[str],
    categorical: Sequence[str],
) -> float:
    """Largest |p_sklearn - p_onnxruntime| of the bad class over the rows of `frame`."""
    if frame.empty:
        return 0.0
    expected = pipeline.predict_proba(model_input(frame, numeric, categorical))[:, BAD_CLASS_INDEX]
    served = predict_onnx(onnx_bytes, frame, numeric, categorical)
    return float(np.max(np.abs(expected - served)))


def serving_cost(
    onnx_bytes: bytes, frame: pd.DataFrame, numeric: Sequence[str], categorical: Sequence[str]
) -> dict[str, float]:
    """ONNX size, one-row onnxruntime latency (p50, ms) and batch throughput (rows/s). Measurement only."""
    session = onnx_session(onnx_bytes)
    single_rows = [
        onnx_feeds(frame.iloc[[i % len(frame)]], numeric, categorical) for i in range(LATENCY_CALLS)
    ]
    _bad_probability(session, single_rows[0])  # first run allocates; not what a warm Lambda pays
    latencies = []
    for feeds in single_rows:
        started = time.perf_counter()
        _bad_probability(session, feeds)
        latencies.append(time.perf_counter() - started)
    batch = frame.iloc[np.arange(THROUGHPUT_BATCH_ROWS) % len(frame)]
    batch_feeds = onnx_feeds(batch, numeric, categorical)
    started = time.perf_counter()
    _bad_probability(session, batch_feeds)
    batch_seconds = time.perf_counter() - started
    return {
        "onnx_bytes": float(len(onnx_bytes)),
        "one_row_latency_p50_ms": float(np.median(latencies) * 1e3),
        "batch_rows_per_second": THROUGHPUT_BATCH_ROWS / batch_seconds,
    }


def _bad_probability(session: ort.InferenceSession, feeds: Mapping[str, Any]) -> npt.NDArray[np.float64]:
    (probabilities,) = session.run([PROBABILITIES_OUTPUT], dict(feeds))
    return np.asarray(probabilities, dtype=np.float64)[:, BAD_CLASS_INDEX]
