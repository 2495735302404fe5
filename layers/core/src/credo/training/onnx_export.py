"""scikit-learn Pipeline → ONNX bytes with Credo's contract in the metadata, and the parity check.

Conversion follows sklearn-onnx's advice: zipmap off (a plain probability tensor), a pinned
opset, float32 input named "features" of shape [None, n_features].
"""

from collections.abc import Mapping
from typing import Final

import numpy as np
import numpy.typing as npt
import onnx
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType
from sklearn.pipeline import Pipeline

from credo.features import FEATURE_NAMES
from credo.scoring.model import INPUT_NAME, ScoringModel

# Pinned so a library upgrade cannot silently change the operators a deployed runtime must support.
TARGET_OPSET: Final[dict[str, int]] = {"": 17, "ai.onnx.ml": 3}
PARITY_TOLERANCE: Final = 1e-4


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
