"""Training pipeline, step 5: register each challenger; move the champion where evaluation says so.

Thin: evaluate's output → credo.pipeline.promote.promote_models → {"as_of", "registered", …}.
Runs on the runtime layer: no scikit-learn, pandas or pyarrow is imported.
"""

from credo.pipeline.dependencies import PipelineDependencies
from credo.pipeline.events import PromoteInput, PromoteOutput
from credo.pipeline.handler import step_handler
from credo.pipeline.promote import promote_models


def promote(deps: PipelineDependencies, request: PromoteInput) -> PromoteOutput:
    return promote_models(
        s3=deps.s3,
        registry=deps.registry,
        run_id=request.run_id,
        as_of=request.as_of,
        model_artifacts=request.model_artifacts,
        evaluation=request.evaluation,
    )


handler = step_handler(
    PromoteInput,
    promote,
    counts=lambda out: {
        "ModelsRegistered": sum(not r.already_registered for r in out.registered.values()),
        "ModelsPromoted": sum(r.promoted for r in out.registered.values()),
    },
    message="promoted",
)
