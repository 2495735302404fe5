"""The training job's output as the pipeline reads it: SageMaker's model.tar.gz of SM_MODEL_DIR.

    <target>/model.onnx, <target>/model_card.json, <target>/holdout.npz   one folder per target
    report.html, report.json                                              the comparison of them all

The archive comes from a bucket other jobs write to, so extraction refuses anything but plain
files and folders inside the destination (no ../, no absolute paths, no links or devices).
"""

import json
import tarfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Final

from credo.adapters.s3 import S3Store, split_s3_uri
from credo.constants import TARGETS
from credo.pipeline.holdout import HOLDOUT_FILE, Holdout, load_holdout
from credo.registry import MODEL_CARD_FILE, MODEL_FILE, REPORT_HTML_FILE, REPORT_JSON_FILE

ARCHIVE_NAME: Final = "model.tar.gz"
REPORT_FILES: Final = (REPORT_HTML_FILE, REPORT_JSON_FILE)


class ArtifactError(ValueError):
    """The model archive is unsafe, or lacks what the pipeline needs."""


@dataclass(frozen=True)
class TargetArtifacts:
    """One target's files in an extracted archive."""

    target: str
    directory: Path

    @property
    def onnx_bytes(self) -> bytes:
        return (self.directory / MODEL_FILE).read_bytes()

    @property
    def model_card(self) -> dict[str, Any]:
        path = self.directory / MODEL_CARD_FILE
        if not path.is_file():
            raise ArtifactError(f"{self.target} has no {MODEL_CARD_FILE} in the model archive")
        return dict(json.loads(path.read_text()))

    @property
    def model_version(self) -> str:
        return str(self.model_card["model_version"])

    def holdout(self) -> Holdout:
        return load_holdout(self.directory / HOLDOUT_FILE)


@dataclass(frozen=True)
class ModelArtifacts:
    """An extracted model archive: each target's files and the comparison report."""

    root: Path
    targets: dict[str, TargetArtifacts]

    def reports(self) -> dict[str, bytes]:
        """report.html and report.json by name, those the job wrote."""
        return {
            name: (self.root / name).read_bytes() for name in REPORT_FILES if (self.root / name).is_file()
        }


def fetch_model_artifacts(s3: S3Store, uri: str, directory: Path) -> ModelArtifacts:
    """Download s3://…/model.tar.gz into `directory` and extract it there, safely."""
    bucket, key = split_s3_uri(uri)
    if not key.endswith(".tar.gz"):
        raise ArtifactError(f"model artifacts must be a .tar.gz, got {uri!r}")
    archive = s3.download(bucket, key, directory / ARCHIVE_NAME)
    root = directory / "model"
    extract_archive(archive, root)
    return read_model_artifacts(root)


def extract_archive(archive: Path, destination: Path) -> list[Path]:
    """Extract a .tar.gz of plain files and folders into `destination`; ArtifactError on any other member.

    Every member is checked before anything is written, so a rejected archive leaves nothing behind.
    """
    destination.mkdir(parents=True, exist_ok=True)
    root = destination.resolve()
    try:
        with tarfile.open(archive, "r:gz") as tar:
            members = tar.getmembers()
            for member in members:
                _check_member(member, root)
            # the "data" filter repeats the checks inside tarfile and drops owners and modes
            tar.extractall(root, members=members, filter="data")
    except (tarfile.TarError, EOFError) as error:
        raise ArtifactError(f"cannot extract {archive.name}: {error}") from error
    return [root / member.name for member in members if member.isfile()]


def _check_member(member: tarfile.TarInfo, root: Path) -> None:
    name = PurePosixPath(member.name)
    if not (member.isfile() or member.isdir()):
        raise ArtifactError(f"model archive member {member.name!r} is not a plain file or folder")
    if name.is_absolute() or ".." in name.parts:
        raise ArtifactError(f"model archive member {member.name!r} points outside the archive")
    if not (root / name).resolve().is_relative_to(root):
        raise ArtifactError(f"model archive member {member.name!r} would be written outside {root}")


def read_model_artifacts(root: Path) -> ModelArtifacts:
    """The targets found in an extracted archive (folders holding a model.onnx)."""
    found = {path.parent.name: path.parent for path in sorted(root.glob(f"*/{MODEL_FILE}"))}
    unknown = sorted(set(found) - set(TARGETS))
    if unknown:
        raise ArtifactError(f"model archive holds unknown targets {unknown}; known: {list(TARGETS)}")
    if not found:
        raise ArtifactError(f"model archive holds no <target>/{MODEL_FILE}")
    return ModelArtifacts(
        root=root, targets={target: TargetArtifacts(target, folder) for target, folder in found.items()}
    )
