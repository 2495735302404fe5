"""Bureau: a credit-bureau report for each new or changed registration, looked up by keyed token.

The miner reads registrations (at the edge, where PII is), derives each person's bureau lookup
key (credo.privacy.bureau_lookup_key: HMAC of phone and birth date under the key shared with the
bureau) and sends only those keys. What comes back is kept under the customer's own token.
A lookup the bureau could not answer after its retries is recorded as `unavailable`, never a
failed run; the next lookup of that customer replaces it.
"""

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Protocol

import pyarrow as pa

from credo.models.sources import RegistrationRecord, SourceRecord
from credo.privacy import bureau_lookup_key, tokenize
from credo.sources.common import SourceSpec, as_utc_naive

SCHEMA_VERSION: Final = "1"

SCHEMA: Final = pa.schema(
    [
        pa.field("token", pa.string(), nullable=False),
        pa.field("status", pa.string(), nullable=False),  # hit | no_hit | unavailable
        pa.field("bureau_score", pa.int32()),
        pa.field("score_band", pa.string()),
        pa.field("tradelines", pa.int32()),
        pa.field("enquiries_6m", pa.int32()),
        pa.field("max_dpd_24m", pa.int32()),
        pa.field("updated_at", pa.timestamp("us"), nullable=False),  # when it was looked up
    ]
)
REPORT_FIELDS: Final = ("bureau_score", "score_band", "tradelines", "enquiries_6m", "max_dpd_24m")


class Report(Protocol):
    @property
    def status(self) -> str: ...


class Outcome(Protocol):
    @property
    def reports(self) -> Mapping[str, Report]: ...

    def metrics(self) -> dict[str, int]: ...


class Bureau(Protocol):
    def lookup(self, keys: Sequence[str]) -> Outcome: ...


@dataclass
class BureauEnrichment:
    """The bureau miner's Transform: registrations in, one report row per customer out."""

    bureau: Bureau
    token_key: bytes
    lookup_key: bytes
    looked_up_at: datetime
    counts: dict[str, int] = field(default_factory=dict)  # summed over the run, for metrics
    # (token, lookup key) of lookups the bureau could not answer: the next run asks again
    pending: dict[str, str] = field(default_factory=dict)

    def __call__(self, records: Sequence[SourceRecord]) -> list[dict[str, Any]]:
        people = [record for record in records if isinstance(record, RegistrationRecord)]
        tokens = [tokenize(p.customer_id, self.token_key) for p in people]
        keys = [bureau_lookup_key(p.phone, p.date_of_birth, self.lookup_key) for p in people]
        return self.look_up(tokens, keys)

    def look_up(self, tokens: Sequence[str], keys: Sequence[str]) -> list[dict[str, Any]]:
        """One report row per token, from the bureau's answer for its lookup key."""
        if not keys:
            return []
        outcome = self.bureau.lookup(keys)
        for name, value in outcome.metrics().items():
            self.counts[name] = self.counts.get(name, 0) + value
        when = as_utc_naive(self.looked_up_at)
        rows = []
        for token, key in zip(tokens, keys, strict=True):
            report = outcome.reports[key]
            rows.append(report_row(token, report, when))
            if report.status == "unavailable":
                self.pending[token] = key
            else:
                self.pending.pop(token, None)
        return rows


def pending_digest(pending: Mapping[str, str], now: datetime) -> str:
    """Deterministic id of a retry of pending lookups: the same pending set at the same time, the same id."""
    text = "|".join(sorted(pending)) + "|" + now.isoformat()
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]


def report_row(token: str, report: Report, looked_up_at: datetime) -> dict[str, Any]:
    values = {name: getattr(report, name, None) for name in REPORT_FIELDS}
    return {"token": token, "status": report.status, **values, "updated_at": looked_up_at}


SPEC: Final = SourceSpec(
    name="bureau",
    table="registrations",  # who to look up: the registrations source, read at the edge
    key_column="customer_id",
    contract=RegistrationRecord,
    schema=SCHEMA,
    schema_version=SCHEMA_VERSION,
    record_key_is_pii=True,
)
