"""Model training (scikit-learn lives only here; the scoring Lambda never imports this package)."""

from credo.training.onnx_export import PARITY_TOLERANCE, ParityError, check_parity, export_pipeline
from credo.training.train import (
    TrainedModel,
    build_pipeline,
    model_version_for,
    train_target,
    write_model_artifacts,
)

__all__ = [
    "PARITY_TOLERANCE",
    "ParityError",
    "TrainedModel",
    "build_pipeline",
    "check_parity",
    "export_pipeline",
    "model_version_for",
    "train_target",
    "write_model_artifacts",
]
