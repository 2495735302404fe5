"""Pipeline step 4: each challenger against its target's champion, on the challenger's out-of-time holdout.

Both are scored through the serving code (onnxruntime) and compared by ROC-AUC in numpy; the
decision is credo.registry.decide_promotion's. Nothing is registered here: promote does that.
No scikit-learn, pandas or pyarrow: this runs on the runtime layer.
"""

import tempfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import numpy.typing as npt

from credo.adapters.s3 import S3Store
from credo.auc import roc_auc
from credo.pipeline.artifacts import ArtifactError, fetch_model_artifacts
from credo.pipeline.events import EvaluateOutput, TargetEvaluation
from credo.registry import ModelRegistry, PromotionDecision, RegistryError, decide_promotion
from credo.scoring.model import ModelContractError, ScoringModel


@dataclass(frozen=True)
class Challenge:
    """A challenger's and its champion's AUC on one holdout, and the decision they lead to."""

    challenger_version: str
    champion_version: str | None
    decision: PromotionDecision


def challenge_champion(
    registry: ModelRegistry,
    target: str,
    challenger_onnx: bytes,
    features: npt.ArrayLike,
    labels: npt.ArrayLike,
) -> Challenge:
    """Score the challenger and the current champion on the same rows and decide (nothing is written).

    A champion that cannot be scored on these features (another feature schema) or whose file is
    gone cannot defend its place.
    """
    y = np.asarray(labels, dtype=np.int64)
    challenger = ScoringModel(challenger_onnx, expected_target=target)
    challenger_auc = _auc(challenger, features, y)
    champion = registry.champion(target)
    champion_auc = None
    if champion is not None:
        try:
            loaded = registry.load_champion(target)
            champion_auc = _auc(ScoringModel(loaded.onnx_bytes, expected_target=target), features, y)
        except (ModelContractError, RegistryError):
            champion_auc = None
    decision = decide_promotion(
        challenger_auc, champion_auc, champion_version=None if champion is None else champion.model_version
    )
    return Challenge(
        challenger_version=challenger.model_version,
        champion_version=None if champion is None else champion.model_version,
        decision=decision,
    )


def evaluate_models(
    *,
    s3: S3Store,
    registry: ModelRegistry,
    run_id: str,
    as_of: date,
    model_artifacts: str,
    scratch: Path | None = None,
) -> EvaluateOutput:
    """Download the training job's model.tar.gz and challenge each target's champion with its model."""
    with tempfile.TemporaryDirectory(prefix="credo-evaluate-", dir=scratch) as workdir:
        artifacts = fetch_model_artifacts(s3, model_artifacts, Path(workdir))
        evaluation = {}
        for target, files in artifacts.targets.items():
            holdout = files.holdout()
            result = challenge_champion(registry, target, files.onnx_bytes, holdout.features, holdout.labels)
            if result.challenger_version != files.model_version:
                raise ArtifactError(
                    f"{target}: model.onnx is {result.challenger_version}, its card {files.model_version}"
                )
            evaluation[target] = TargetEvaluation(
                challenger_version=result.challenger_version,
                challenger_auc=result.decision.challenger_auc,
                champion_version=result.champion_version,
                champion_auc=result.decision.champion_auc,
                promote=result.decision.promote,
                reason=result.decision.reason,
                holdout_rows=holdout.rows,
            )
    return EvaluateOutput(run_id=run_id, as_of=as_of, model_artifacts=model_artifacts, evaluation=evaluation)


def _auc(model: ScoringModel, features: npt.ArrayLike, labels: npt.NDArray[np.int64]) -> float:
    return roc_auc(labels, model.predict_bad_probability(features))
