"""Training pipeline, step 6: write every customer's as-of features to the DynamoDB online store.

Thin: {"as_of"} → credo.pipeline.materialize.materialize_as_of → {"as_of", "customers_written"}.
"""

from credo.pipeline.dependencies import PipelineDependencies
from credo.pipeline.events import MaterializeInput, MaterializeOutput
from credo.pipeline.handler import step_handler
from credo.pipeline.materialize import materialize_as_of


def materialize(deps: PipelineDependencies, request: MaterializeInput) -> MaterializeOutput:
    return materialize_as_of(
        deps.warehouse,
        deps.feature_store,
        as_of=request.as_of,
        s3=deps.s3,
        lake_bucket=deps.settings.lake_bucket,
    )


handler = step_handler(
    MaterializeInput,
    materialize,
    counts=lambda out: {"CustomersMaterialized": out.customers_written},
    message="materialised",
)
