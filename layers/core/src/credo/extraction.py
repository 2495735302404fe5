"""Where a miner's rows come from, cut into windows with deterministic ids.

A window is the unit a miner writes and then records in its watermark. Three kinds:
- table windows: rows of an operational table changed after the watermark (SQL sources);
- drop windows: one S3 object each, in key order after the watermark (the ad/sales drops);
- file windows: a user's own CSV or Parquet file (`credo mine --from FILE`); no watermark.

The id of a window depends only on what is in it (bounds, object version, file digest), so a
re-run writes the same lake objects instead of adding new ones.
"""

import csv
import hashlib
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Final, Protocol

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from credo.adapters.s3 import S3Object
from credo.sources import RawBatch, SourceDatabase, SourceSpec, batches_by_cursor
from credo.sources.common import DEFAULT_BATCH_ROWS, parse_timestamp

READABLE_SUFFIXES: Final = (".csv", ".parquet")


@dataclass(frozen=True)
class Window:
    """Rows of one extraction unit, its deterministic id, and the watermark it completes."""

    window_id: str
    partition: str  # the dt= of its lake objects: a date the window's content fixes
    rows: list[dict[str, Any]]
    origin: str  # where the rows came from, for the manifest
    after: str | None = None
    cursor: str | None = None  # the watermark once written; None leaves the watermark alone
    state: dict[str, Any] = field(default_factory=dict)  # more to record with the watermark


class DropStore(Protocol):
    def list_objects(self, bucket: str, prefix: str) -> Iterator[S3Object]: ...

    def get_bytes(self, bucket: str, key: str) -> bytes: ...


def _digest(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode("utf-8")).hexdigest()[:20]


def table_windows(
    spec: SourceSpec,
    db: SourceDatabase,
    *,
    after: str | None,
    now: datetime,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    version: str = "",
    state: dict[str, Any] | None = None,
) -> Iterator[Window]:
    """Rows of spec.table changed after `after` (up to `now`), in batches cut between timestamps.

    `version` names what else the output depends on (e.g. the registries matched against): it
    enters the window ids. `state` is recorded with the watermark after each window.
    """
    if spec.table is None:
        raise ValueError(f"source {spec.name!r} is not read from a table")
    changes = db.read_changes(spec.table, spec.columns, key_column=spec.key_column, after=after)
    try:
        for batch in batches_by_cursor(changes, after=after, now=now, batch_rows=batch_rows):
            yield Window(
                window_id=_digest(
                    spec.name, f"v{spec.schema_version}{version}", batch.after or "", batch.through or ""
                ),
                partition=partition_date(batch),
                rows=batch.rows,
                origin=f"table {spec.table}",
                after=batch.after,
                cursor=batch.through,
                state=state or {},
            )
    finally:
        changes.close()


def partition_date(batch: RawBatch) -> str:
    """dt= of a batch: the day of its window's end (not the run's day, so re-runs land in place)."""
    for bound in (batch.through, batch.after):
        parsed = None if bound is None else parse_timestamp(bound)
        if parsed is not None:
            return parsed.date().isoformat()
    return "unknown"


def drop_windows(
    spec: SourceSpec, store: DropStore, bucket: str, prefix: str, *, after: str | None
) -> Iterator[Window]:
    """One window per readable object under `prefix` whose key sorts after `after`.

    Drops are named so that they sort in arrival order (date-stamped names); a file that lands
    with an older name is not mined by schedule: import it with `credo mine --from`.
    """
    for obj in sorted(store.list_objects(bucket, prefix), key=lambda o: o.key):
        if (after is not None and obj.key <= after) or not obj.key.endswith(READABLE_SUFFIXES):
            continue
        rows = read_rows(store.get_bytes(bucket, obj.key), obj.key)
        yield Window(
            window_id=_digest(spec.name, f"v{spec.schema_version}", obj.key, obj.etag),
            partition=obj.last_modified.date().isoformat(),
            rows=rows,
            origin=f"s3://{bucket}/{obj.key}",
            after=after,
            cursor=obj.key,
        )
        after = obj.key


def file_windows(spec: SourceSpec, path: Path, *, batch_rows: int = DEFAULT_BATCH_ROWS) -> Iterator[Window]:
    """A user's own file, in batches of `batch_rows`; the watermark is not touched."""
    data = _read_file(path)
    digest = hashlib.sha256(data).hexdigest()
    rows = read_rows(data, path.name)
    for start in range(0, max(len(rows), 1), batch_rows):
        chunk = rows[start : start + batch_rows]
        yield Window(
            window_id=_digest(spec.name, f"v{spec.schema_version}", digest, str(start)),
            partition=_latest_date(chunk, spec.cursor_column),
            rows=chunk,
            origin=f"file {path.name}",
        )


def _read_file(path: Path) -> bytes:
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    if not path.name.endswith(READABLE_SUFFIXES):
        raise ValueError(f"{path.name}: only {' and '.join(READABLE_SUFFIXES)} files can be mined")
    return path.read_bytes()


def read_rows(data: bytes, name: str) -> list[dict[str, Any]]:
    """Rows of a CSV or Parquet file as dicts; CSV values stay text (the contract parses them).

    Empty CSV cells are missing values (None), as an unloaded database column would be.
    """
    try:
        if name.endswith(".parquet"):
            table = pq.read_table(io.BytesIO(data))
        else:
            header = next(csv.reader([data.split(b"\n", 1)[0].decode("utf-8-sig")]), [])
            as_text = dict.fromkeys(header, pa.string())
            table = pacsv.read_csv(
                io.BytesIO(data),
                convert_options=pacsv.ConvertOptions(column_types=as_text, strings_can_be_null=True),
            )
    except (pa.ArrowInvalid, OSError, UnicodeDecodeError) as error:
        raise ValueError(f"{name}: not a readable {name.rsplit('.', 1)[-1]} file ({error})") from None
    rows: list[dict[str, Any]] = table.to_pylist()
    return rows


def _latest_date(rows: list[dict[str, Any]], column: str) -> str:
    """The latest date in `column`, so an imported file's objects land where its data belongs."""
    latest: datetime | None = None
    for row in rows:
        value = row.get(column)
        moment = value if isinstance(value, datetime) else parse_timestamp(str(value)) if value else None
        if moment is not None and (latest is None or moment > latest):
            latest = moment
    return "unknown" if latest is None else latest.date().isoformat()
