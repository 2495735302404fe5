"""mine(): one incremental extraction of a source into the lake, idempotent and resumable.

Layout (keys are derived from the extraction window only, so re-running a window rewrites the
same objects instead of adding new ones):

    raw/<source>/dt=<date of window end>/part-<window id>.parquet         pseudonymised good rows
    quarantine/<source>/dt=…/part-<window id>.jsonl                       bad rows: key + reasons
    manifests/<source>/dt=…/part-<window id>.json                         counts, window, schema

The watermark moves after each batch's objects are written, so a run that dies half-way resumes
at the last finished batch.
"""

import io
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from typing import Any, Final

import pyarrow.parquet as pq

from credo import constants as c
from credo.adapters.dynamodb import WatermarkStore
from credo.adapters.s3 import S3Store
from credo.extraction import Window, drop_windows, file_windows, table_windows
from credo.sources import (
    ProcessedRows,
    SourceDatabase,
    SourceSpec,
    process_rows,
    source_spec,
)
from credo.sources.common import DEFAULT_BATCH_ROWS, Transform, as_utc_naive, parse_timestamp

CURSOR_ATTRIBUTE: Final = "updated_at"  # the watermark item's cursor (a timestamp, or a drop's key)
PARQUET_COMPRESSION: Final = "snappy"  # what Redshift COPY reads everywhere


@dataclass(frozen=True)
class BatchWritten:
    window_id: str
    part_key: str | None
    quarantine_key: str | None
    manifest_key: str
    good: int
    quarantined: int


@dataclass
class MineResult:
    source: str
    good: int = 0
    quarantined: int = 0
    batches: list[BatchWritten] = field(default_factory=list)
    watermark: str | None = None
    complete: bool = True  # False when the run stopped early (time budget); the next run resumes
    details: dict[str, int] = field(default_factory=dict)  # source-specific counts, for metrics

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "batches": len(self.batches)}


# Watermark state of a source → the windows to mine after it.
Extract = Callable[[dict[str, Any]], Iterable[Window]]


def mine_windows(
    spec: SourceSpec,
    extract: Extract,
    *,
    transform: Transform,
    key: bytes,
    s3: S3Store,
    watermarks: WatermarkStore | None,
    lake_bucket: str,
    now: datetime,
    should_stop: Callable[[], bool] | None = None,
) -> MineResult:
    """Validate, transform and write each window; move the watermark after each one is written.

    `watermarks` None mines without one (a user's file): nothing is skipped or recorded.
    """
    state = (watermarks.get(spec.name) if watermarks is not None else None) or {}
    total_rows = int(state.get("rows", 0))
    result = MineResult(source=spec.name, watermark=state.get(CURSOR_ATTRIBUTE))
    for window in extract(state):
        processed = process_rows(spec, window.rows, key, transform)
        written = write_window(spec, window, processed, s3=s3, lake_bucket=lake_bucket, now=now)
        result.batches.append(written)
        result.good += written.good
        result.quarantined += written.quarantined
        total_rows += len(window.rows)
        if watermarks is not None and window.cursor is not None:
            # Only now that the window is in the lake may the next run skip it. If an overlapping
            # run already got further, leave the rest to it.
            progress = {**window.state, "rows": total_rows, "moved_at": _iso(now)}
            if not watermarks.advance(spec.name, window.cursor, progress):
                result.complete = False
                break
        if window.cursor is not None:
            result.watermark = window.cursor  # how far this run got (recorded above when watermarked)
        if should_stop is not None and should_stop():
            result.complete = False
            break
    return result


def mine(
    source: str,
    *,
    db: SourceDatabase,
    s3: S3Store,
    watermarks: WatermarkStore,
    key: bytes,
    now: datetime,
    lake_bucket: str,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    should_stop: Callable[[], bool] | None = None,
    transform: Transform | None = None,
) -> MineResult:
    """Extract rows of a table source changed since its watermark (up to `now`) into the lake."""
    spec = source_spec(source)

    def extract(state: dict[str, Any]) -> Iterator[Window]:
        return table_windows(spec, db, after=state.get(CURSOR_ATTRIBUTE), now=now, batch_rows=batch_rows)

    return mine_windows(
        spec,
        extract,
        transform=transform or spec.transform(key),
        key=key,
        s3=s3,
        watermarks=watermarks,
        lake_bucket=lake_bucket,
        now=now,
        should_stop=should_stop,
    )


def backfill_slices(source: str, db: SourceDatabase, parts: int) -> list[tuple[str | None, str | None]]:
    """(after, through] bounds of `parts` contiguous slices of a table source, for a first load.

    Slices are mined side by side (`mine_slice`, one process or Lambda each) and the watermark is
    set once all are written (`finish_backfill`); the cut points come from the data, so the same
    plan always gives the same windows and the same lake objects.
    """
    spec = source_spec(source)
    if spec.table is None:
        raise ValueError(f"source {source!r} is not read from a table")
    bounds: list[str | None] = [None, *db.cursor_cuts(spec.table, parts), None]
    return list(pairwise(bounds))


def mine_slice(
    source: str,
    *,
    after: str | None,
    through: str | None,
    db: SourceDatabase,
    s3: S3Store,
    key: bytes,
    now: datetime,
    lake_bucket: str,
    batch_rows: int = DEFAULT_BATCH_ROWS,
) -> MineResult:
    """Mine one backfill slice: rows with after < updated_at <= through (and <= now); no watermark."""
    spec = source_spec(source)
    limit = as_utc_naive(now)
    bound = None if through is None else parse_timestamp(through)
    if bound is not None and bound < limit:
        limit = bound
    return mine_windows(
        spec,
        lambda _state: table_windows(spec, db, after=after, now=limit, batch_rows=batch_rows),
        transform=spec.transform(key),
        key=key,
        s3=s3,
        watermarks=None,
        lake_bucket=lake_bucket,
        now=now,
    )


def finish_backfill(
    source: str, slices: list[MineResult], *, watermarks: WatermarkStore, now: datetime
) -> str | None:
    """Set the watermark where the last slice ended, once every slice is complete; returns it."""
    if not slices or not all(result.complete for result in slices):
        raise ValueError("a backfill finishes only when every slice is complete")
    through = max((r.watermark for r in slices if r.watermark is not None), default=None)
    if through is not None:
        rows = sum(r.good + r.quarantined for r in slices)
        watermarks.advance(source_spec(source).name, through, {"rows": rows, "moved_at": _iso(now)})
    return through


def mine_drops(
    source: str,
    *,
    s3: S3Store,
    watermarks: WatermarkStore,
    key: bytes,
    now: datetime,
    lake_bucket: str,
    drops_bucket: str,
    prefix: str,
    should_stop: Callable[[], bool] | None = None,
) -> MineResult:
    """Mine the drop files under s3://drops_bucket/prefix that arrived after the watermark."""
    spec = source_spec(source)

    def extract(state: dict[str, Any]) -> Iterator[Window]:
        return drop_windows(spec, s3, drops_bucket, prefix, after=state.get(CURSOR_ATTRIBUTE))

    return mine_windows(
        spec,
        extract,
        transform=spec.transform(key),
        key=key,
        s3=s3,
        watermarks=watermarks,
        lake_bucket=lake_bucket,
        now=now,
        should_stop=should_stop,
    )


def mine_file(
    source: str,
    path: Path,
    *,
    s3: S3Store,
    key: bytes,
    now: datetime,
    lake_bucket: str,
    batch_rows: int = DEFAULT_BATCH_ROWS,
) -> MineResult:
    """Mine a user's own CSV/Parquet file that follows the source's contract (no watermark)."""
    spec = source_spec(source)
    if spec.pseudonymise is None:
        raise ValueError(f"source {source!r} cannot be imported from a file")
    return mine_windows(
        spec,
        lambda _state: file_windows(spec, path, batch_rows=batch_rows),
        transform=spec.transform(key),
        key=key,
        s3=s3,
        watermarks=None,
        lake_bucket=lake_bucket,
        now=now,
    )


def write_window(
    spec: SourceSpec,
    window: Window,
    processed: ProcessedRows,
    *,
    s3: S3Store,
    lake_bucket: str,
    now: datetime,
) -> BatchWritten:
    """Write a window's Parquet part, its quarantine file and, last, its manifest."""
    suffix = f"{spec.name}/dt={window.partition}/part-{window.window_id}"
    part_key = quarantine_key = None
    if processed.good:
        part_key = f"{c.RAW_PREFIX}/{suffix}.parquet"
        buffer = io.BytesIO()
        pq.write_table(processed.to_arrow(spec.schema), buffer, compression=PARQUET_COMPRESSION)
        s3.put_bytes(lake_bucket, part_key, buffer.getvalue(), "application/vnd.apache.parquet")
    if processed.bad:
        quarantine_key = f"{c.QUARANTINE_PREFIX}/{suffix}.jsonl"
        lines = "".join(json.dumps(bad.as_dict(), sort_keys=True) + "\n" for bad in processed.bad)
        s3.put_bytes(lake_bucket, quarantine_key, lines.encode("utf-8"), "application/x-ndjson")
    manifest_key = f"{c.MANIFEST_PREFIX}/{suffix}.json"
    manifest = {
        "source": spec.name,
        "schema_version": spec.schema_version,
        "origin": window.origin,
        "window": {"after": window.after, "through": window.cursor},
        "rows_read": len(window.rows),
        "good_rows": len(processed.good),
        "quarantined_rows": len(processed.bad),
        "part": part_key,
        "quarantine": quarantine_key,
        "columns": spec.schema.names,
        "written_at": _iso(now),
    }
    s3.put_bytes(
        lake_bucket, manifest_key, json.dumps(manifest, indent=2).encode("utf-8"), "application/json"
    )
    return BatchWritten(
        window.window_id, part_key, quarantine_key, manifest_key, len(processed.good), len(processed.bad)
    )


def _iso(moment: datetime) -> str:
    return as_utc_naive(moment).isoformat(timespec="seconds")
