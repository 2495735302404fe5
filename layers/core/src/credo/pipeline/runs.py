"""What a pipeline run is about: its as-of date, its id, and the snapshots it trains on."""

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Final

from credo.features import LABEL_HORIZON_MONTHS

# Training snapshots before the out-of-time holdout (the demo trains on as many).
TRAINING_SNAPSHOTS: Final = 3
# SageMaker job names allow [a-zA-Z0-9-] up to 63 characters; the run id leaves room for a prefix.
RUN_ID_MAX_LENGTH: Final = 40
RUN_ID_PATTERN: Final = r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38}[A-Za-z0-9])?$"
_NOT_ALLOWED: Final = re.compile(r"[^A-Za-z0-9]+")
_HASH_LENGTH: Final = 8


def parse_as_of(value: date | str | None, *, today: date | None = None) -> date:
    """A run's as-of date from a date, "YYYY-MM-DD" or an ISO datetime (EventBridge's `time`, read
    in UTC); None means today in UTC."""
    if value is None:
        return today or datetime.now(UTC).date()
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        return value
    else:
        text = value.strip()
        try:
            return date.fromisoformat(text)
        except ValueError:
            pass
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"as_of must be YYYY-MM-DD or an ISO datetime, got {value!r}") from None
    return (moment.astimezone(UTC) if moment.tzinfo else moment).date()


def run_id_for(as_of: date, execution: str) -> str:
    """A run id for SageMaker job names and S3 keys: the date, a readable slug of the execution name
    and a hash of the whole name (two executions whose slugs collide still differ).

    The same as-of date and execution name always give the same id, so a retried step reuses it.
    """
    if not execution:
        raise ValueError("execution name must not be empty")
    digest = hashlib.sha256(execution.encode()).hexdigest()[:_HASH_LENGTH]
    prefix = f"{as_of:%Y%m%d}"
    room = RUN_ID_MAX_LENGTH - len(prefix) - len(digest) - 2
    slug = _NOT_ALLOWED.sub("-", execution).strip("-")[:room].strip("-")
    return "-".join(part for part in (prefix, slug, digest) if part)


def add_months(day: date, months: int) -> date:
    """The same day of the month `months` later (callers use the 1st, which every month has)."""
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, day.day)


@dataclass(frozen=True)
class SnapshotPlan:
    """Training snapshots whose label windows close before the holdout, and the out-of-time holdout."""

    training: tuple[date, ...]
    holdout: date

    @property
    def all(self) -> tuple[date, ...]:
        return (*self.training, self.holdout)


def out_of_time_snapshots(candidates: Sequence[date], *, count: int = TRAINING_SNAPSHOTS) -> SnapshotPlan:
    """The latest candidate is the holdout; train on the last `count` whose labels close before it.

    This is how `credo demo` picks from the world's snapshots, and what training/train.py expects:
    a training row's 6-month outcome must be known before the holdout's starts, or the holdout
    is not out of time.
    """
    if not candidates:
        raise ValueError("no snapshot dates to choose from")
    holdout = max(candidates)
    closed = sorted(s for s in set(candidates) if add_months(s, LABEL_HORIZON_MONTHS) <= holdout)
    if not closed:
        raise ValueError(f"no snapshot's label window closes before the holdout {holdout}")
    return SnapshotPlan(training=tuple(closed[-count:]), holdout=holdout)


def training_snapshots(as_of: date, *, count: int = TRAINING_SNAPSHOTS) -> SnapshotPlan:
    """The month starts a run on `as_of` trains on: only snapshots whose labels are mature by `as_of`.

    The holdout is the latest month start whose label window (LABEL_HORIZON_MONTHS) has closed by
    `as_of`; the training snapshots are the `count` month starts before it whose windows closed
    before the holdout began.
    """
    if count < 1:
        raise ValueError("a run trains on at least one snapshot")
    holdout = add_months(date(as_of.year, as_of.month, 1), -LABEL_HORIZON_MONTHS)
    earliest = add_months(holdout, -LABEL_HORIZON_MONTHS - count + 1)
    candidates = [add_months(earliest, m) for m in range(LABEL_HORIZON_MONTHS + count)]
    return out_of_time_snapshots(candidates, count=count)
