"""Champion / challenger: a new model replaces the champion only if it is not worse out of time.

Both are scored on the challenger's out-of-time holdout through the serving code (onnxruntime), so
the comparison is like for like; a champion built on another feature schema cannot be scored on
these features and gives way.
"""

import numpy as np
import numpy.typing as npt
from sklearn.metrics import roc_auc_score

from credo.registry import (
    ModelRef,
    ModelRegistry,
    PromotionDecision,
    RegistrableModel,
    RegistryError,
    decide_promotion,
)
from credo.scoring.model import ModelContractError, ScoringModel


def challenge(
    registry: ModelRegistry,
    challenger: RegistrableModel,
    holdout: npt.NDArray[np.float32],
    labels: npt.ArrayLike,
) -> tuple[ModelRef, PromotionDecision]:
    """Register the challenger; promote it unless the champion scores a higher AUC on the same holdout."""
    y = np.asarray(labels, dtype=np.int64)
    challenger_auc = _auc(challenger.onnx_bytes, challenger.target, holdout, y)
    champion = registry.champion(challenger.target)
    champion_auc = None
    if champion is not None:
        try:
            champion_auc = _auc(
                registry.load_champion(challenger.target).onnx_bytes, challenger.target, holdout, y
            )
        except (ModelContractError, RegistryError):
            champion_auc = None  # another feature schema, or its file is gone: it cannot defend its place
    decision = decide_promotion(
        challenger_auc, champion_auc, champion_version=None if champion is None else champion.model_version
    )
    ref = registry.register(challenger, promote=decision.promote)
    return ref, decision


def _auc(onnx_bytes: bytes, target: str, holdout: npt.NDArray[np.float32], y: npt.NDArray[np.int64]) -> float:
    model = ScoringModel(onnx_bytes, expected_target=target)
    return float(roc_auc_score(y, model.predict_bad_probability(holdout)))
