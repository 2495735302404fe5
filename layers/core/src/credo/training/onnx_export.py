"""scikit-learn Pipeline → ONNX bytes with Credo's contract in the metadata, and the parity check.

Conversion follows sklearn-onnx's advice: zipmap off (a plain probability tensor), a pinned
opset, float32 input named "features" of shape [None, n_features].
"""

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from functools import partial
from typing import Final

import numpy as np
import numpy.typing as npt
import onnx
from onnx import TensorProto
from skl2onnx import convert_sklearn, update_registered_converter
from skl2onnx.common._container import ModelComponentContainer
from skl2onnx.common._registration import get_converter, register_converter
from skl2onnx.common._topology import Operator, Scope
from skl2onnx.common.data_types import FloatTensorType
from skl2onnx.operator_converters.common import concatenate_variables
from skl2onnx.operator_converters.ordinal_encoder import convert_sklearn_ordinal_encoder
from skl2onnx.shape_calculators.ordinal_encoder import calculate_sklearn_ordinal_encoder_output_shapes
from sklearn.impute import MissingIndicator
from sklearn.pipeline import Pipeline

from credo.features import FEATURE_NAMES
from credo.scoring.model import INPUT_NAME, ScoringModel
from credo.training.encoding import BadRateOrderedEncoder

# Pinned so a library upgrade cannot silently change the operators a deployed runtime must support.
TARGET_OPSET: Final[dict[str, int]] = {"": 17, "ai.onnx.ml": 3}
PARITY_TOLERANCE: Final = 1e-4
_EXTRA_TREES: Final = "SklearnExtraTreesClassifier"


class ParityError(RuntimeError):
    """onnxruntime's probabilities differ from scikit-learn's by more than the tolerance."""


def export_pipeline(pipeline: Pipeline, metadata: Mapping[str, str]) -> bytes:
    """Convert a fitted binary classifier Pipeline to ONNX bytes carrying `metadata` as metadata_props."""
    model = convert_sklearn(
        pipeline,
        initial_types=[(INPUT_NAME, FloatTensorType([None, len(FEATURE_NAMES)]))],
        options={id(pipeline): {"zipmap": False}},
        target_opset=TARGET_OPSET,
    )
    onnx.helper.set_model_props(model, dict(metadata))
    onnx.checker.check_model(model)
    return bytes(model.SerializeToString())


def parity_max_abs_diff(pipeline: Pipeline, onnx_bytes: bytes, rows: npt.ArrayLike) -> float:
    """Largest |p_sklearn - p_onnxruntime| of the bad class over `rows`, through the serving code path."""
    matrix = np.asarray(rows, dtype=np.float32)
    expected = pipeline.predict_proba(matrix)[:, 1]
    served = ScoringModel(onnx_bytes).predict_bad_probability(matrix)
    return float(np.max(np.abs(expected - served))) if len(matrix) else 0.0


def check_parity(
    pipeline: Pipeline, onnx_bytes: bytes, rows: npt.ArrayLike, *, tolerance: float = PARITY_TOLERANCE
) -> float:
    """Return the parity gap, or raise ParityError when it exceeds `tolerance`."""
    gap = parity_max_abs_diff(pipeline, onnx_bytes, rows)
    if gap > tolerance:
        raise ParityError(f"ONNX parity failed: max |Δp| = {gap:.2e} > {tolerance:.0e}")
    return gap


@contextmanager
def zoo_converters() -> Iterator[None]:
    """While open, skl2onnx converts what the model zoo needs and it lacks; export_pipeline never needs it."""
    update_registered_converter(
        MissingIndicator, "CredoMissingIndicator", _missing_indicator_shape, _convert_missing_indicator
    )
    # An OrdinalEncoder with its own order of categories, which the stock converter already follows.
    update_registered_converter(
        BadRateOrderedEncoder,
        "CredoBadRateOrderedEncoder",
        calculate_sklearn_ordinal_encoder_output_shapes,
        convert_sklearn_ordinal_encoder,
    )
    # skl2onnx 1.20 asks an ExtraTreesClassifier inside CalibratedClassifierCV for raw scores, then fails
    # ("cannot implement decision_function"); scikit-learn calibrates ExtraTrees on predict_proba, as it
    # does RandomForest, so for the conversion the trees give probabilities.
    registered = get_converter(_EXTRA_TREES)
    register_converter(
        _EXTRA_TREES,
        partial(_convert_from_probabilities, registered),
        overwrite=True,
        options=registered.get_allowed_options(),
    )
    try:
        yield
    finally:
        register_converter(
            _EXTRA_TREES, registered._fct, overwrite=True, options=registered.get_allowed_options()
        )


def _convert_from_probabilities(
    converter: Callable[..., None], scope: Scope, operator: Operator, container: ModelComponentContainer
) -> None:
    container.add_options(id(operator.raw_operator), {"raw_scores": False})
    converter(scope, operator, container)


def _missing_indicator_shape(operator: Operator) -> None:
    width = len(operator.raw_operator.features_)
    operator.outputs[0].type = FloatTensorType([operator.inputs[0].get_first_dimension(), width])


def _convert_missing_indicator(scope: Scope, operator: Operator, container: ModelComponentContainer) -> None:
    """MissingIndicator as IsNaN over the inputs, then only the columns it kept, as 0.0 / 1.0."""
    indicator: MissingIndicator = operator.raw_operator
    if not (isinstance(indicator.missing_values, float) and np.isnan(indicator.missing_values)):
        raise NotImplementedError("only MissingIndicator(missing_values=np.nan) converts")
    values = concatenate_variables(scope, operator.inputs, container)
    is_nan = scope.get_unique_variable_name("is_nan")
    as_float = scope.get_unique_variable_name("is_nan_float")
    kept = scope.get_unique_variable_name("indicator_columns")
    container.add_node("IsNaN", [values], [is_nan], name=scope.get_unique_operator_name("IsNaN"))
    container.add_node(
        "Cast", [is_nan], [as_float], to=TensorProto.FLOAT, name=scope.get_unique_operator_name("Cast")
    )
    container.add_initializer(kept, TensorProto.INT64, [len(indicator.features_)], list(indicator.features_))
    container.add_node(
        "Gather",
        [as_float, kept],
        [operator.outputs[0].full_name],
        axis=1,
        name=scope.get_unique_operator_name("Gather"),
    )
