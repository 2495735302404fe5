"""mine(): one incremental extraction of a source into the lake, idempotent and resumable.

Layout (keys are derived from the extraction window only, so re-running a window rewrites the
same objects instead of adding new ones):

    raw/<source>/dt=<date of window end>/part-<window id>.parquet         pseudonymised good rows
    quarantine/<source>/dt=…/part-<window id>.jsonl                       bad rows: key + reasons
    manifests/<source>/dt=…/part-<window id>.json                         counts, window, schema

The watermark moves after each batch's objects are written, so a run that dies half-way resumes
at the last finished batch.
"""

import hashlib
import io
import json
from collections.abc import Callable
from contextlib import closing
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Final

import pyarrow.parquet as pq

from credo import constants as c
from credo.adapters.dynamodb import WatermarkStore
from credo.adapters.s3 import S3Store
from credo.adapters.secrets import SecretStore
from credo.privacy import load_hmac_key
from credo.settings import CredoSettings
from credo.sources import (
    ProcessedRows,
    RawBatch,
    SourceDatabase,
    SourceSpec,
    batches_by_cursor,
    open_source_database,
    process_rows,
    source_spec,
)
from credo.sources.common import DEFAULT_BATCH_ROWS, as_utc_naive, parse_timestamp

MANIFEST_PREFIX: Final = "manifests"
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

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "batches": len(self.batches)}


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
) -> MineResult:
    """Extract rows of `source` changed since its watermark (up to `now`) into the lake."""
    spec = source_spec(source)
    state = watermarks.get(spec.name) or {}
    after: str | None = state.get("updated_at")
    total_rows = int(state.get("rows", 0))
    result = MineResult(source=spec.name, watermark=after)
    changes = db.read_changes(spec.table, spec.columns, key_column=spec.key_column, after=after)
    with closing(changes):
        for batch in batches_by_cursor(changes, after=after, now=now, batch_rows=batch_rows):
            processed = process_rows(spec, batch.rows, key)
            written = write_batch(spec, batch, processed, s3=s3, lake_bucket=lake_bucket, now=now)
            result.batches.append(written)
            result.good += written.good
            result.quarantined += written.quarantined
            total_rows += len(batch.rows)
            if batch.through is not None:
                # Only now that the batch is in the lake may the next run skip it. If an overlapping
                # run already got further, leave the rest to it.
                progress = {"rows": total_rows, "moved_at": _iso(now)}
                if not watermarks.advance(spec.name, batch.through, progress):
                    result.complete = False
                    break
                result.watermark = batch.through
            if should_stop is not None and should_stop():
                result.complete = False
                break
    return result


def window_id(spec: SourceSpec, after: str | None, through: str | None) -> str:
    """Deterministic name of an extraction window: same source, schema and bounds → same id."""
    text = f"{spec.name}|v{spec.schema_version}|{after or ''}|{through or ''}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]


def partition_date(batch: RawBatch) -> str:
    """dt= of a batch: the day of its window's end (not the run's day, so re-runs land in place)."""
    for bound in (batch.through, batch.after):
        parsed = None if bound is None else parse_timestamp(bound)
        if parsed is not None:
            return parsed.date().isoformat()
    return "unknown"


def write_batch(
    spec: SourceSpec,
    batch: RawBatch,
    processed: ProcessedRows,
    *,
    s3: S3Store,
    lake_bucket: str,
    now: datetime,
) -> BatchWritten:
    """Write a batch's Parquet part, its quarantine file and, last, its manifest."""
    wid = window_id(spec, batch.after, batch.through)
    suffix = f"{spec.name}/dt={partition_date(batch)}/part-{wid}"
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
    manifest_key = f"{MANIFEST_PREFIX}/{suffix}.json"
    manifest = {
        "source": spec.name,
        "schema_version": spec.schema_version,
        "window": {"after": batch.after, "through": batch.through},
        "rows_read": len(batch.rows),
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
    return BatchWritten(wid, part_key, quarantine_key, manifest_key, len(processed.good), len(processed.bad))


def _iso(moment: datetime) -> str:
    return as_utc_naive(moment).isoformat(timespec="seconds")


@dataclass
class MiningDependencies:
    """What a miner needs, built once per Lambda execution environment from CredoSettings."""

    db: SourceDatabase
    s3: S3Store
    watermarks: WatermarkStore
    key: bytes
    lake_bucket: str

    @classmethod
    def from_settings(cls, settings: CredoSettings) -> "MiningDependencies":
        return cls(
            db=open_source_database(settings.source_db_url),
            s3=S3Store.create(),
            watermarks=WatermarkStore.create(settings.watermark_table),
            key=load_hmac_key(SecretStore.create(), settings.hmac_secret_name),
            lake_bucket=settings.lake_bucket,
        )
