"""Champion / challenger: a new model replaces the champion only if it is not worse out of time.

Both are scored on the challenger's out-of-time holdout through the serving code (onnxruntime), so
the comparison is like for like; a champion built on another feature schema cannot be scored on
these features and gives way. The comparison itself is credo.pipeline.evaluate.challenge_champion
(numpy AUC, no scikit-learn), the one the pipeline's evaluate Lambda runs.
"""

import numpy as np
import numpy.typing as npt

from credo.pipeline.evaluate import challenge_champion
from credo.registry import ModelRef, ModelRegistry, PromotionDecision, RegistrableModel


def challenge(
    registry: ModelRegistry,
    challenger: RegistrableModel,
    holdout: npt.NDArray[np.float32],
    labels: npt.ArrayLike,
) -> tuple[ModelRef, PromotionDecision]:
    """Register the challenger; promote it unless the champion scores a higher AUC on the same holdout."""
    result = challenge_champion(registry, challenger.target, challenger.onnx_bytes, holdout, labels)
    ref = registry.register(challenger, promote=result.decision.promote)
    return ref, result.decision
