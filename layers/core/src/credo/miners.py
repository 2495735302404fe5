"""The six miners: what each one reads, how it transforms, and what it needs (the one call a handler makes).

| miner          | reads                                   | writes raw/<miner>/ rows of           |
| -------------- | --------------------------------------- | ------------------------------------- |
| registrations  | operational DB, changed rows            | coarse, non-PII customer attributes   |
| orders         | operational DB, changed rows            | orders                                |
| payments       | operational DB, changed rows            | postpaid statements, EMI instalments  |
| marketing      | s3://<drops>/ads/ files, new ones       | ad sends, clicks, purchases-after-click |
| reference      | registrations + s3://<drops>/reference/ | registry matches with a confidence    |
| bureau         | registrations + the bureau's HTTP API   | bureau reports (score band, …)        |
"""

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any, Final

from credo import constants as c
from credo.adapters.dynamodb import WatermarkStore
from credo.adapters.s3 import S3Store
from credo.adapters.secrets import SecretStore
from credo.bureau import BureauClient, RateLimiter, load_bureau_config
from credo.extraction import Window, read_rows, table_windows
from credo.mining import CURSOR_ATTRIBUTE, MineResult, mine, mine_drops, mine_windows, write_window
from credo.privacy import load_hmac_key
from credo.settings import CredoSettings
from credo.sources import SourceDatabase, open_source_database, source_spec
from credo.sources import bureau as bureau_source
from credo.sources import reference as reference_source
from credo.sources.common import DEFAULT_BATCH_ROWS, ProcessedRows
from credo.sources.reference import RegistryIndex

TABLE_MINERS: Final = ("registrations", "orders", "payments")
MINERS: Final = (*TABLE_MINERS, "marketing", "reference", "bureau")
# Sources whose rows a user's own file can carry (`credo mine --from`): one record, one output row.
FILE_MINERS: Final = (*TABLE_MINERS, "marketing")
# The enrichment miners send people to a matcher or an API: smaller batches keep each call short.
ENRICHMENT_BATCH_ROWS: Final = 20_000
REGISTRY_FINGERPRINT: Final = "registry_fingerprint"
# Lookups the bureau could not answer, {token: lookup token}, asked again by the next run.
PENDING_LOOKUPS_KEY: Final = "state/bureau/pending-lookups.json"


@dataclass
class MiningDependencies:
    """What the miners need, built once per execution environment, each part on first use."""

    settings: CredoSettings
    s3: S3Store = field(default_factory=S3Store.create)
    secrets: SecretStore = field(default_factory=SecretStore.create)

    @cached_property
    def watermarks(self) -> WatermarkStore:
        return WatermarkStore.create(self.settings.watermark_table)

    @cached_property
    def key(self) -> bytes:
        return load_hmac_key(self.secrets, self.settings.hmac_secret_name)

    @cached_property
    def db(self) -> SourceDatabase:
        return open_source_database(self.settings.source_db_url, self.secrets)

    @cached_property
    def linkage_key(self) -> bytes:
        return load_hmac_key(self.secrets, self.settings.linkage_secret_name)

    @cached_property
    def bureau(self) -> tuple[BureauClient, bytes]:
        """The bureau client and the lookup key shared with the bureau."""
        config = load_bureau_config(self.secrets, self.settings.bureau_secret_name)
        client = BureauClient(
            config,
            backoff_factor=self.settings.bureau_backoff,
            rate_limiter=RateLimiter(self.settings.bureau_rate_limit, burst=5),
        )
        return client, config.lookup_key_bytes


def run_miner(
    source: str,
    deps: MiningDependencies,
    *,
    now: datetime,
    should_stop: Callable[[], bool] | None = None,
    batch_rows: int | None = None,
) -> MineResult:
    """Run one miner once, from its watermark up to `now`."""
    settings = deps.settings
    common: dict[str, Any] = {
        "s3": deps.s3,
        "watermarks": deps.watermarks,
        "key": deps.key,
        "now": now,
        "lake_bucket": settings.lake_bucket,
        "should_stop": should_stop,
    }
    if source in TABLE_MINERS:
        return mine(source, db=deps.db, batch_rows=batch_rows or DEFAULT_BATCH_ROWS, **common)
    if source == "marketing":
        return mine_drops(source, drops_bucket=settings.drops_bucket, prefix=c.ADS_DROP_PREFIX, **common)
    if source == "bureau":
        client, lookup_key = deps.bureau
        enrichment = bureau_source.BureauEnrichment(client, deps.key, lookup_key, looked_up_at=now)
        retried = _retry_pending_lookups(deps, enrichment, now=now)
        result = mine(
            source, db=deps.db, batch_rows=batch_rows or ENRICHMENT_BATCH_ROWS, transform=enrichment, **common
        )
        _save_pending_lookups(deps, enrichment)
        result.details.update({f"bureau_{name}": value for name, value in enrichment.counts.items()})
        result.details["bureau_retried_from_earlier_runs"] = retried
        return result
    if source == "reference":
        return _mine_reference(deps, batch_rows=batch_rows or ENRICHMENT_BATCH_ROWS, **common)
    raise ValueError(f"unknown miner {source!r}; known: {', '.join(MINERS)}")


def _retry_pending_lookups(
    deps: MiningDependencies, enrichment: bureau_source.BureauEnrichment, *, now: datetime
) -> int:
    """Ask the bureau again for the lookups earlier runs could not get; returns how many were asked.

    Only the customer token and the keyed lookup token were kept (never the phone or birth date),
    in the lake's state/ prefix, which no warehouse load reads.
    """
    settings = deps.settings
    if not deps.s3.exists(settings.lake_bucket, PENDING_LOOKUPS_KEY):
        return 0
    pending: dict[str, str] = json.loads(deps.s3.get_bytes(settings.lake_bucket, PENDING_LOOKUPS_KEY))
    enrichment.pending.update(pending)
    if not pending:
        return 0
    spec = source_spec("bureau")
    rows = enrichment.look_up(list(pending), list(pending.values()))
    window = Window(
        window_id=f"retry-{bureau_source.pending_digest(pending, now)}",
        partition=now.date().isoformat(),
        rows=rows,
        origin=f"s3://{settings.lake_bucket}/{PENDING_LOOKUPS_KEY}",
    )
    write_window(
        spec, window, ProcessedRows(good=rows), s3=deps.s3, lake_bucket=settings.lake_bucket, now=now
    )
    return len(pending)


def _save_pending_lookups(deps: MiningDependencies, enrichment: bureau_source.BureauEnrichment) -> None:
    settings = deps.settings
    if enrichment.pending or deps.s3.exists(settings.lake_bucket, PENDING_LOOKUPS_KEY):
        body = json.dumps(enrichment.pending, sort_keys=True).encode("utf-8")
        deps.s3.put_bytes(settings.lake_bucket, PENDING_LOOKUPS_KEY, body, "application/json")


def _mine_reference(
    deps: MiningDependencies,
    *,
    batch_rows: int,
    s3: S3Store,
    watermarks: WatermarkStore,
    key: bytes,
    now: datetime,
    lake_bucket: str,
    should_stop: Callable[[], bool] | None,
) -> MineResult:
    """Match changed registrations against the registries; match everyone again when a registry changes."""
    spec = source_spec("reference")
    drops = list(s3.list_objects(deps.settings.drops_bucket, c.REFERENCE_DROP_PREFIX))
    files = (
        (f"{o.key}@{o.etag}", read_rows(s3.get_bytes(deps.settings.drops_bucket, o.key), o.key))
        for o in sorted(drops, key=lambda o: o.key)
        if o.key.endswith((".csv", ".parquet"))
    )
    index = reference_source.index_registries(files, deps.linkage_key)
    state = watermarks.get(spec.name) or {}
    details: dict[str, int] = {}
    if state.get(REGISTRY_FINGERPRINT) != index.fingerprint:
        # New registry content: the old cursor no longer means "matched", so start again.
        watermarks.put(spec.name, {REGISTRY_FINGERPRINT: index.fingerprint})
        if index.bad:
            _write_registry_quarantine(s3, lake_bucket, index)
        details["registry_records_indexed"] = sum(len(r.encodings) for r in index.registries)
        details["registry_records_quarantined"] = len(index.bad)
    matcher = reference_source.RegistryMatcher(index, key, deps.linkage_key, matched_at=now)
    fingerprint_state = {REGISTRY_FINGERPRINT: index.fingerprint}

    def extract(state: dict[str, Any]) -> Iterator[Window]:
        return table_windows(
            spec,
            deps.db,
            after=state.get(CURSOR_ATTRIBUTE),
            now=now,
            batch_rows=batch_rows,
            version=index.fingerprint,
            state=fingerprint_state,
        )

    result = mine_windows(
        spec,
        extract,
        transform=matcher,
        key=key,
        s3=s3,
        watermarks=watermarks,
        lake_bucket=lake_bucket,
        now=now,
        should_stop=should_stop,
    )
    details["reference_matches"] = matcher.matches
    result.details.update(details)
    return result


def _write_registry_quarantine(s3: S3Store, bucket: str, index: RegistryIndex) -> None:
    lines = "".join(json.dumps(bad.as_dict(), sort_keys=True) + "\n" for bad in index.bad)
    key = f"{c.QUARANTINE_PREFIX}/reference/registries/registry-{index.fingerprint}.jsonl"
    s3.put_bytes(bucket, key, lines.encode("utf-8"), "application/x-ndjson")
