"""`credo models list` and `credo models promote`: the model registry from the command line.

The commands run the registry code (credo.registry) against S3 either way: the bucket the
environment names (`--aws`), or a local copy of a registry — a directory `make demo` fills with
the demo's model bucket — loaded into a moto server for the command and, after a promotion,
written back, so a rollback persists between commands.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

from credo import constants as c
from credo.registry import ModelRegistry

DEFAULT_REGISTRY_DIR: Final = Path(".demo/registry")
# The moto bucket lives for one command only; the directory is the registry that lasts.
_LOCAL_BUCKET: Final = "credo-local-models"


class ModelCommandError(Exception):
    """A mistake the command line reports in one line, with what to do instead (exit code 2)."""


@dataclass(frozen=True)
class VersionRow:
    """One registered version as `credo models list` shows it."""

    target: str
    model_version: str
    estimator: str | None
    created_at: str | None
    holdout_auc: float | None  # out-of-time ROC-AUC from the model card
    champion: bool
    promoted_at: str | None  # when it became champion (the champion only)
    files: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "files": list(self.files)}


@dataclass(frozen=True)
class Promotion:
    target: str
    previous: str | None  # the champion before, None when the target had none
    current: str

    @property
    def message(self) -> str:
        if self.previous == self.current:
            return f"{self.target}: {self.current} was already the champion; promoted again"
        before = f"was {self.previous}" if self.previous else "there was none before"
        return f"{self.target}: champion is now {self.current} ({before})"


@dataclass(frozen=True)
class OpenedRegistry:
    registry: ModelRegistry
    where: str  # s3://bucket, or the local directory


def list_versions(registry: ModelRegistry, target: str | None = None) -> list[VersionRow]:
    """Every registered version, target by target and oldest first; only `target`'s when given."""
    targets = [_known_target(registry, target)] if target else registry.targets()
    return [_row(entry) for name in targets for entry in registry.versions(name)]


def format_versions(rows: list[VersionRow]) -> str:
    """A text table: target, version, estimator, created, out-of-time AUC, and the champion marked."""
    if not rows:
        return "no model versions registered"
    header = ("target", "version", "estimator", "created_at", "out-of-time AUC")
    cells = [
        (
            r.target,
            r.model_version,
            r.estimator or "-",
            r.created_at or "-",
            "-" if r.holdout_auc is None else f"{r.holdout_auc:.3f}",
        )
        for r in rows
    ]
    widths = [max(len(line[i]) for line in (header, *cells)) for i in range(len(header))]
    lines = ["  ".join(text.ljust(width) for text, width in zip(header, widths, strict=True)).rstrip()]
    for row, line in zip(rows, cells, strict=True):
        text = "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True))
        if row.champion:
            since = f" since {row.promoted_at}" if row.promoted_at else ""
            text += f"  ← champion{since}"
        lines.append(text.rstrip())
    return "\n".join(lines)


def promote_version(registry: ModelRegistry, target: str, model_version: str) -> Promotion:
    """Make a registered version the target's champion; an older one makes this a rollback."""
    registered = [v["model_version"] for v in registry.versions(_known_target(registry, target))]
    if model_version not in registered:
        raise ModelCommandError(
            f"{target} has no registered version {model_version!r}; registered: {', '.join(registered)}"
        )
    before = registry.champion(target)
    registry.promote(target, model_version)
    return Promotion(target, None if before is None else before.model_version, model_version)


@contextmanager
def open_registry(directory: Path, *, use_environment: bool, save: bool = False) -> Iterator[OpenedRegistry]:
    """The registry in the environment's model bucket, or the local copy in `directory` (via moto).

    With `save`, the local copy is rewritten from the bucket once the command succeeded.
    """
    from credo.settings import CredoSettings

    if use_environment:
        bucket = CredoSettings().model_bucket
        yield OpenedRegistry(ModelRegistry.for_bucket(bucket), f"s3://{bucket}")
        return
    from credo.local import local_aws, save_bucket_to_directory, seed_bucket_from_directory

    if not directory.is_dir():
        raise ModelCommandError(
            f"no registry at {directory}: run `make demo` first (it copies the demo's registry there),"
            " or pass --registry DIR or --aws"
        )
    with local_aws({c.ENV_MODEL_BUCKET: _LOCAL_BUCKET}):
        bucket = CredoSettings().model_bucket
        seed_bucket_from_directory(directory, bucket)
        yield OpenedRegistry(ModelRegistry.for_bucket(bucket), str(directory))
        if save:
            save_bucket_to_directory(bucket, directory)


def _known_target(registry: ModelRegistry, target: str) -> str:
    known = registry.targets()
    if target not in known:
        listed = ", ".join(known) if known else "none"
        raise ModelCommandError(f"no target {target!r} in the registry; registered targets: {listed}")
    return target


def _row(entry: dict[str, Any]) -> VersionRow:
    return VersionRow(
        target=entry["target"],
        model_version=entry["model_version"],
        estimator=_text(entry["estimator"]),
        created_at=_text(entry["created_at"]),
        holdout_auc=entry["holdout_auc"],
        champion=entry["champion"],
        promoted_at=entry["promoted_at"],
        files=tuple(entry["files"]),
    )


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
