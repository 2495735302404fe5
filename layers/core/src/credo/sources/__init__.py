"""One module per source: extraction, validation and pseudonymisation (pure logic, no AWS)."""

from typing import Final

from credo.sources import bureau, marketing, orders, payments, reference, registrations
from credo.sources.common import (
    BadRecord,
    ProcessedRows,
    RawBatch,
    SourceDatabase,
    SourceSpec,
    Transform,
    batches_by_cursor,
    process_rows,
)
from credo.sources.database import SqlDatabase, open_source_database

SOURCES: Final[dict[str, SourceSpec]] = {
    spec.name: spec
    for spec in (registrations.SPEC, orders.SPEC, payments.SPEC, marketing.SPEC, reference.SPEC, bureau.SPEC)
}


def source_spec(name: str) -> SourceSpec:
    try:
        return SOURCES[name]
    except KeyError:
        raise ValueError(f"unknown source {name!r}; known: {', '.join(SOURCES)}") from None


__all__ = [
    "SOURCES",
    "BadRecord",
    "ProcessedRows",
    "RawBatch",
    "SourceDatabase",
    "SourceSpec",
    "SqlDatabase",
    "Transform",
    "batches_by_cursor",
    "open_source_database",
    "process_rows",
    "source_spec",
]
