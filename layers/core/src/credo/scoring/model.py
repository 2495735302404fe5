"""A scoring model: an ONNX graph run by onnxruntime. No scikit-learn here (cold starts stay short).

The model carries its contract in its ONNX metadata: the feature order, the feature schema
version, its target and version. A model whose feature order or schema version differs from
credo.features is refused rather than fed columns it was not trained on. Models trained since
reasons exist also carry each feature's good-customer baseline, which credo.scoring.reasons uses.
"""

import json
import math
from collections.abc import Mapping
from typing import Final

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from credo.features import FEATURE_NAMES, FEATURE_SCHEMA_VERSION

# Names shared with credo.training.onnx_export (which writes them); the scoring side only reads them.
INPUT_NAME: Final = "features"
PROBABILITIES_OUTPUT: Final = "probabilities"
BAD_CLASS_INDEX: Final = 1  # label 1 = bad outcome; skl2onnx orders probability columns by class
META_FEATURE_NAMES: Final = "feature_names"
META_FEATURE_SCHEMA_VERSION: Final = "feature_schema_version"
META_TARGET: Final = "target"
META_MODEL_VERSION: Final = "model_version"
META_TRAINED_AT: Final = "trained_at"
META_ROC_AUC: Final = "roc_auc"
# JSON object feature → the typical good customer's value (null = missing); read by credo.scoring.reasons
META_REASON_BASELINES: Final = "reason_baselines"
FEATURE_SEPARATOR: Final = ","


class ModelContractError(ValueError):
    """The ONNX model does not carry the contract this code scores with."""


class ScoringModel:
    """One target's model, loaded once per execution environment and reused for every request."""

    def __init__(self, onnx_bytes: bytes, *, expected_target: str | None = None) -> None:
        options = ort.SessionOptions()
        # One request scores one row: thread pools cost more than they give on a small Lambda.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        try:
            self._session = ort.InferenceSession(
                onnx_bytes, sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as error:  # onnxruntime raises its own untyped Fail/InvalidGraph errors
            raise ModelContractError(f"onnxruntime cannot load the model: {error}") from error
        metadata = dict(self._session.get_modelmeta().custom_metadata_map)
        _check_contract(metadata, expected_target)
        self.metadata: Mapping[str, str] = metadata
        self.target: str = metadata[META_TARGET]
        self.model_version: str = metadata[META_MODEL_VERSION]
        # empty for a model trained before baselines existed: it scores, but gives no reasons
        self.reason_baselines: dict[str, float | None] = _reason_baselines(metadata)

    def predict_bad_probability(self, rows: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Probability of the bad outcome for each row (columns in FEATURE_NAMES order, NaN = missing)."""
        matrix = np.asarray(rows, dtype=np.float32)
        if matrix.ndim == 1:
            matrix = matrix.reshape(1, -1)
        if matrix.shape[1] != len(FEATURE_NAMES):
            raise ValueError(f"expected {len(FEATURE_NAMES)} feature columns, got {matrix.shape[1]}")
        (probabilities,) = self._session.run([PROBABILITIES_OUTPUT], {INPUT_NAME: matrix})
        return np.asarray(probabilities, dtype=np.float64)[:, BAD_CLASS_INDEX]


def feature_vector(values: Mapping[str, float | None]) -> npt.NDArray[np.float32]:
    """One row in FEATURE_NAMES order; a feature that is absent or None becomes NaN (missing)."""
    row = [values.get(name) for name in FEATURE_NAMES]
    return np.array([np.nan if value is None else float(value) for value in row], dtype=np.float32)


def _check_contract(metadata: Mapping[str, str], expected_target: str | None) -> None:
    missing = [
        key
        for key in (META_FEATURE_NAMES, META_FEATURE_SCHEMA_VERSION, META_TARGET, META_MODEL_VERSION)
        if not metadata.get(key)
    ]
    if missing:
        raise ModelContractError(f"model metadata lacks {', '.join(missing)}")
    feature_names = tuple(metadata[META_FEATURE_NAMES].split(FEATURE_SEPARATOR))
    if feature_names != FEATURE_NAMES:
        raise ModelContractError(
            "model feature order differs from credo.features.FEATURE_NAMES: "
            f"model has {list(feature_names)}, code has {list(FEATURE_NAMES)}"
        )
    if metadata[META_FEATURE_SCHEMA_VERSION] != FEATURE_SCHEMA_VERSION:
        raise ModelContractError(
            f"model feature schema version {metadata[META_FEATURE_SCHEMA_VERSION]!r} "
            f"differs from the code's {FEATURE_SCHEMA_VERSION!r}"
        )
    if expected_target is not None and metadata[META_TARGET] != expected_target:
        raise ModelContractError(f"model target is {metadata[META_TARGET]!r}, expected {expected_target!r}")


def _reason_baselines(metadata: Mapping[str, str]) -> dict[str, float | None]:
    text = metadata.get(META_REASON_BASELINES)
    if not text:
        return {}
    try:
        baselines = json.loads(text)
    except json.JSONDecodeError as error:
        raise ModelContractError(f"model metadata {META_REASON_BASELINES} is not JSON: {error}") from error
    if not isinstance(baselines, dict):
        raise ModelContractError(f"model metadata {META_REASON_BASELINES} is not a JSON object")
    unknown = sorted(set(baselines) - set(FEATURE_NAMES))
    if unknown:
        raise ModelContractError(f"model reason baselines name unknown features: {', '.join(unknown)}")
    parsed: dict[str, float | None] = {}
    for name, value in baselines.items():
        # bool is an int in Python, and JSON true/false is no feature value
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise ModelContractError(f"model reason baseline of {name} is {value!r}, not a number or null")
        if value is not None and not math.isfinite(value):
            raise ModelContractError(f"model reason baseline of {name} is {value!r}, not a finite number")
        parsed[name] = None if value is None else float(value)
    return parsed
