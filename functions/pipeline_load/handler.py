"""Training pipeline, step 1: create the warehouse tables if missing and load the lake into them.

Thin: {"as_of"?, "execution"} → credo.pipeline.load.load_warehouse → {"as_of", "run_id", "loaded", …}.
"""

from credo.pipeline.dependencies import PipelineDependencies
from credo.pipeline.events import LoadInput, LoadOutput
from credo.pipeline.handler import step_handler
from credo.pipeline.load import load_warehouse


def load(deps: PipelineDependencies, request: LoadInput) -> LoadOutput:
    return load_warehouse(
        deps.warehouse,
        lake_bucket=deps.settings.lake_bucket,
        as_of=request.as_of,
        execution=request.execution,
    )


handler = step_handler(
    LoadInput,
    load,
    counts=lambda out: {"RowsLoaded": sum(out.staged.values()), "WarehouseRows": sum(out.loaded.values())},
    message="loaded",
)
