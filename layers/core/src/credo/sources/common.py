"""What every source shares: reading changed rows, validating them, and splitting them into batches.

Extraction is incremental on `updated_at` (the watermark). Rows come ordered by
(updated_at, key) and a batch only ends where updated_at changes, so the watermark is one
timestamp (no raw key ever needs to be stored) and the same window always yields the same batches.
"""

from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Protocol

import pyarrow as pa
from pydantic import ValidationError

from credo.models.sources import SourceRecord
from credo.privacy import tokenize, tokenize_key

CURSOR_COLUMN: Final = "updated_at"
DEFAULT_BATCH_ROWS: Final = 200_000


class SourceDatabase(Protocol):
    """An operational database to read changed rows from (credo.sources.database: SQLite, RDS)."""

    def read_changes(
        self, table: str, columns: Sequence[str], *, key_column: str, after: str | None
    ) -> Generator[dict[str, Any], None, None]:
        """Rows whose updated_at is after `after` (all rows when None), ordered by (updated_at, key)."""
        ...

    def cursor_cuts(self, table: str, parts: int) -> list[str]:
        """updated_at values cutting the table's rows into `parts` slices of about equal size."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class BadRecord:
    """A row that broke its contract: where it came from and why, never its content."""

    source: str
    record_key: str | None  # the row's natural key as a keyed token (order_id, bill_id); None for people
    token: str | None  # the customer's token when a customer id could be read
    updated_at: str | None
    reasons: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "record_key": self.record_key,
            "token": self.token,
            "updated_at": self.updated_at,
            "reasons": list(self.reasons),
        }


# Turns a batch of valid records into output rows (pseudonymised, perhaps enriched).
Transform = Callable[[Sequence[SourceRecord]], list[dict[str, Any]]]


@dataclass(frozen=True)
class SourceSpec:
    """One source: where its rows come from, their contract, and the pseudonymised output schema.

    `pseudonymise` maps one valid record to one output row; sources that enrich whole batches
    (bureau lookups, record linkage) leave it None and are mined with their own Transform.
    """

    name: str
    key_column: str
    contract: type[SourceRecord]
    schema: pa.Schema
    schema_version: str
    pseudonymise: Callable[[Any, bytes], dict[str, Any]] | None = None
    table: str | None = None  # the operational table it is read from; None for file drops
    record_key_is_pii: bool = False
    cursor_column: str = CURSOR_COLUMN  # the column that dates a row (partitions file imports)

    @property
    def columns(self) -> list[str]:
        return list(self.contract.model_fields)

    def transform(self, key: bytes) -> Transform:
        """The record-by-record pseudonymisation of this source under `key`."""
        pseudonymise = self.pseudonymise
        if pseudonymise is None:
            raise ValueError(f"source {self.name!r} enriches whole batches: mine it with its own transform")
        return lambda records: [pseudonymise(record, key) for record in records]


@dataclass
class ProcessedRows:
    good: list[dict[str, Any]] = field(default_factory=list)
    bad: list[BadRecord] = field(default_factory=list)

    def to_arrow(self, schema: pa.Schema) -> pa.Table:
        columns = {name: [row[name] for row in self.good] for name in schema.names}
        return pa.Table.from_pydict(columns, schema=schema)


def safe_reasons(error: ValidationError) -> tuple[str, ...]:
    """Validation messages without the offending input (Pydantic puts it in 'input', not in 'msg')."""
    reasons = []
    for detail in error.errors(include_url=False, include_input=False, include_context=False):
        location = ".".join(str(part) for part in detail["loc"]) or "record"
        reasons.append(f"{location}: {detail['msg']}")
    return tuple(reasons)


def process_rows(
    spec: SourceSpec, rows: Iterable[dict[str, Any]], key: bytes, transform: Transform | None = None
) -> ProcessedRows:
    """Validate each row against its contract; transform the good ones (default: pseudonymise)."""
    result = ProcessedRows()
    records: list[SourceRecord] = []
    for row in rows:
        try:
            record = spec.contract.model_validate(row)
        except ValidationError as error:
            result.bad.append(_bad_record(spec, row, key, safe_reasons(error)))
            continue
        except (TypeError, ValueError) as error:
            # e.g. comparing a zoned with a naive timestamp inside a validator; the type only,
            # since an exception's text may quote the value.
            result.bad.append(_bad_record(spec, row, key, (f"record: {type(error).__name__}",)))
            continue
        records.append(record)
    # Outside the try: a failure here is a bug or a bad key, not a bad record.
    result.good = (transform or spec.transform(key))(records)
    return result


def _bad_record(spec: SourceSpec, row: dict[str, Any], key: bytes, reasons: tuple[str, ...]) -> BadRecord:
    customer_id = row.get("customer_id")
    record_key = row.get(spec.key_column)
    updated_at = row.get(CURSOR_COLUMN)
    return BadRecord(
        source=spec.name,
        record_key=(
            None
            if spec.record_key_is_pii or record_key is None
            else tokenize_key(spec.key_column, str(record_key), key)
        ),
        token=tokenize(customer_id, key) if isinstance(customer_id, str) and customer_id else None,
        updated_at=None if updated_at is None else str(updated_at),
        reasons=reasons,
    )


@dataclass(frozen=True)
class RawBatch:
    """Source rows of one extraction window (after, through]: `through` is the new watermark.

    `through` is None only for rows that all lack updated_at (they are quarantined, never skipped).
    """

    after: str | None
    through: str | None
    rows: list[dict[str, Any]]


def batches_by_cursor(
    rows: Iterable[dict[str, Any]], *, after: str | None, now: datetime, batch_rows: int = DEFAULT_BATCH_ROWS
) -> Iterator[RawBatch]:
    """Cut ordered rows into batches of about `batch_rows`, only between different updated_at values.

    Stops at the first row updated after `now`: those belong to a later run.
    """
    if batch_rows < 1:
        raise ValueError("batch_rows must be positive")
    limit = as_utc_naive(now)
    current: list[dict[str, Any]] = []
    window_start, through = after, after
    for row in rows:
        value = row.get(CURSOR_COLUMN)
        cursor = None if value is None else str(value)
        parsed = None if cursor is None else parse_timestamp(cursor)
        if parsed is not None and parsed > limit:
            break
        if len(current) >= batch_rows and cursor is not None and cursor != through:
            yield RawBatch(after=window_start, through=through, rows=current)
            window_start, current = through, []
        current.append(row)
        if cursor is not None:
            through = cursor
    if current:
        yield RawBatch(after=window_start, through=through, rows=current)


def parse_timestamp(text: str) -> datetime | None:
    """ISO 8601 text (space or T separator, optional zone) as naive UTC, None when unreadable."""
    try:
        return as_utc_naive(datetime.fromisoformat(text))
    except ValueError:
        return None


def as_utc_naive(moment: datetime) -> datetime:
    """Naive UTC: the lake stores UTC timestamps without a zone, as the sources deliver them."""
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None)
