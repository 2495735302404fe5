"""One module per source: extraction, validation and pseudonymisation (pure logic, no AWS)."""

from typing import Final

from credo.sources import orders, payments, registrations
from credo.sources.common import (
    BadRecord,
    ProcessedRows,
    RawBatch,
    SourceDatabase,
    SourceSpec,
    SqliteDatabase,
    batches_by_cursor,
    open_source_database,
    process_rows,
)

SOURCES: Final[dict[str, SourceSpec]] = {
    spec.name: spec for spec in (registrations.SPEC, orders.SPEC, payments.SPEC)
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
    "SqliteDatabase",
    "batches_by_cursor",
    "open_source_database",
    "process_rows",
    "source_spec",
]
