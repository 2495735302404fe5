"""Reference: probable matches of customers in the purchased registries, by privacy-preserving linkage.

Both sides are encoded at the edge (credo.linkage: keyed Bloom filters of name and address, a
keyed pincode token for blocking) and only the encodings meet in the matcher. What the lake gets
per customer and registry is whether they matched, with what confidence, and the matched entry's
non-PII attributes (category, turnover band, registration date) — never the entry itself.
"""

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import ValidationError

from credo import linkage
from credo.models.sources import RegistrationRecord, RegistryRecord, SourceRecord
from credo.privacy import tokenize
from credo.sources.common import BadRecord, SourceSpec, as_utc_naive, safe_reasons

SCHEMA_VERSION: Final = "1"

SCHEMA: Final = pa.schema(
    [
        pa.field("token", pa.string(), nullable=False),
        pa.field("registry", pa.string(), nullable=False),
        pa.field("matched", pa.bool_(), nullable=False),
        pa.field("match_confidence", pa.float64(), nullable=False),
        pa.field("candidates", pa.int32(), nullable=False),
        pa.field("category", pa.string()),
        pa.field("turnover_band", pa.string()),
        pa.field("registered_on", pa.date32()),
        pa.field("updated_at", pa.timestamp("us"), nullable=False),  # when the match was computed
    ]
)


@dataclass(frozen=True)
class Registry:
    """One registry as the matcher may see it: encodings, record ids and non-PII attributes."""

    name: str
    encodings: linkage.Encodings
    records: pa.Table  # record_id + linkage.REGISTRY_ATTRIBUTES


@dataclass
class RegistryIndex:
    registries: list[Registry]
    fingerprint: str  # changes when any registry drop changes: every customer is matched again
    bad: list[BadRecord] = field(default_factory=list)


def index_registries(files: Iterable[tuple[str, list[dict[str, Any]]]], linkage_key: bytes) -> RegistryIndex:
    """Validate and encode the registry drops ((name + version, rows) per file); drop their PII."""
    by_registry: dict[str, list[RegistryRecord]] = {}
    bad: list[BadRecord] = []
    versions = []
    for version, rows in files:
        versions.append(version)
        for row in rows:
            try:
                record = RegistryRecord.model_validate(row)
            except ValidationError as error:
                record_id = row.get("record_id")
                bad.append(
                    BadRecord(
                        "reference",
                        None if record_id is None else str(record_id),
                        None,
                        None,
                        safe_reasons(error),
                    )
                )
                continue
            by_registry.setdefault(record.registry, []).append(record)
    registries = [
        Registry(
            name=name,
            encodings=linkage.encode_people(
                [r.registrant_name for r in records],
                [r.address for r in records],
                [r.pincode for r in records],
                linkage_key,
            ),
            records=pa.table(
                {
                    "record_id": [r.record_id for r in records],
                    "category": [r.category for r in records],
                    "turnover_band": [r.turnover_band for r in records],
                    "registered_on": pa.array([r.registered_on for r in records], pa.date32()),
                }
            ),
        )
        for name, records in sorted(by_registry.items())
    ]
    fingerprint = hashlib.sha256("|".join(sorted(versions)).encode()).hexdigest()[:20]
    return RegistryIndex(registries=registries, fingerprint=fingerprint, bad=bad)


@dataclass
class RegistryMatcher:
    """The reference miner's Transform: registrations in, one row per customer and registry out."""

    index: RegistryIndex
    token_key: bytes
    linkage_key: bytes
    matched_at: datetime
    matches: int = 0  # customer-registry matches found over the run, for metrics

    def __call__(self, records: Sequence[SourceRecord]) -> list[dict[str, Any]]:
        people = [record for record in records if isinstance(record, RegistrationRecord)]
        if not people:
            return []
        tokens = [tokenize(p.customer_id, self.token_key) for p in people]
        encodings = linkage.encode_people(
            [p.full_name for p in people],
            [p.street_address for p in people],
            [p.pincode for p in people],
            self.linkage_key,
        )
        when = as_utc_naive(self.matched_at)
        rows: list[dict[str, Any]] = []
        for registry in self.index.registries:
            record_ids = registry.records.column("record_id").to_pylist()
            found = linkage.match(encodings, tokens, registry.encodings, record_ids)
            with_attributes = linkage.attach_attributes(found, registry.records, registry=registry.name)
            self.matches += int(pc.sum(found.column("matched")).as_py() or 0)
            for row in with_attributes.to_pylist():
                rows.append(
                    {
                        "token": row["token"],
                        "registry": row["registry"],
                        "matched": row["matched"],
                        "match_confidence": float(row["confidence"]),
                        "candidates": int(row["candidates"]),
                        **{name: row[name] for name in linkage.REGISTRY_ATTRIBUTES},
                        "updated_at": when,
                    }
                )
        return rows


SPEC: Final = SourceSpec(
    name="reference",
    table="registrations",  # who to match: the registrations source, read at the edge
    key_column="customer_id",
    contract=RegistrationRecord,
    schema=SCHEMA,
    schema_version=SCHEMA_VERSION,
    record_key_is_pii=True,
)
