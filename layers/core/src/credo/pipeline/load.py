"""Pipeline step 1: the schema migration and every source of the lake into the warehouse.

create_tables creates what is missing; each source is COPYed into staging and MERGEd on its natural
key, so a re-run (a retried step, a second execution the same day) changes nothing.
"""

from datetime import date

from credo.pipeline.events import LoadOutput
from credo.pipeline.runs import run_id_for
from credo.warehouse import load_lake
from credo.warehouse.protocol import Warehouse


def load_warehouse(warehouse: Warehouse, *, lake_bucket: str, as_of: date, execution: str) -> LoadOutput:
    """Load the lake; name the run after `as_of` and the execution, for the steps that follow."""
    results = load_lake(warehouse, lake_bucket=lake_bucket)
    return LoadOutput(
        as_of=as_of,
        run_id=run_id_for(as_of, execution),
        loaded={r.source: r.rows_in_table for r in results},
        staged={r.source: r.rows_staged for r in results},
    )
