"""Training pipeline, step 4: each challenger against its champion on the out-of-time holdout.

Thin: {"run_id", "as_of", "model_artifacts"} → credo.pipeline.evaluate.evaluate_models.
Runs on the runtime layer (onnxruntime, numpy): no scikit-learn, pandas or pyarrow is imported.
"""

from credo.pipeline.dependencies import PipelineDependencies
from credo.pipeline.evaluate import evaluate_models
from credo.pipeline.events import EvaluateInput, EvaluateOutput
from credo.pipeline.handler import step_handler


def evaluate(deps: PipelineDependencies, request: EvaluateInput) -> EvaluateOutput:
    return evaluate_models(
        s3=deps.s3,
        registry=deps.registry,
        run_id=request.run_id,
        as_of=request.as_of,
        model_artifacts=request.model_artifacts,
    )


handler = step_handler(
    EvaluateInput,
    evaluate,
    counts=lambda out: {
        "ModelsEvaluated": len(out.evaluation),
        "PromotionsRecommended": sum(verdict.promote for verdict in out.evaluation.values()),
    },
    message="evaluated",
)
