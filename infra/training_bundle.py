"""Build the SageMaker training job's source bundle, byte for byte the same from the same inputs.

    python -m infra.training_bundle           # build when stale, print where and how big
    python -m infra.training_bundle --force   # rebuild even when the inputs are unchanged

The bundle is .build/training/sourcedir.tar.gz, the `sagemaker_submit_directory` of the job. The
scikit-learn container's training toolkit unpacks it into /opt/ml/code, pip-installs the
requirements.txt found there, and runs the `sagemaker_program` (train.py) from that directory, so
`credo` sits at the top of the archive next to train.py and imports like any top-level package.

Its members are sorted, and carry a fixed time, owner and mode; the gzip header carries no time or
file name. The digest of the members (names and contents) is stamped next to the bundle in
sourcedir.sha256: a build whose stamp matches is skipped, so an unchanged bundle is never rewritten
and never re-uploaded.
"""

from __future__ import annotations

import argparse
import fcntl
import gzip
import hashlib
import io
import sys
import tarfile
from collections.abc import Sequence
from pathlib import Path
from typing import Final

# _input_files is the layer build's walk: it skips __pycache__, .pyc and build by-products.
from infra.build_layers import REPO_ROOT, _input_files

BUILD_DIR: Final = REPO_ROOT / ".build" / "training"
BUNDLE_NAME: Final = "sourcedir.tar.gz"
STAMP_NAME: Final = "sourcedir.sha256"
ENTRY_POINT: Final = "train.py"
REQUIREMENTS: Final = "requirements.txt"
PACKAGE: Final = "credo"
# The synthetic world generates demo and test data; no training import reaches it.
EXCLUDED_SUBPACKAGES: Final = frozenset({"synthetic"})
# 1980-01-01T00:00:00Z: the oldest time every archive tool accepts without complaint.
MEMBER_MTIME: Final = 315_532_800
MEMBER_MODE: Final = 0o644
# Bumped when the archive layout changes, so old stamps no longer match.
RECIPE: Final = (
    f"sourcedir-v1 mtime={MEMBER_MTIME} mode={MEMBER_MODE:o} excluded={sorted(EXCLUDED_SUBPACKAGES)}"
)


def _sources(root: Path) -> tuple[Path, Path, Path]:
    training = root / "training"
    return training / ENTRY_POINT, training / REQUIREMENTS, root / "layers" / "core" / "src" / PACKAGE


def bundle_members(*, root: Path = REPO_ROOT) -> list[tuple[str, Path]]:
    """Every (name in the archive, source file), sorted by name: what the bundle holds."""
    entry_point, requirements, package = _sources(root)
    for required in (entry_point, requirements, package / "__init__.py"):
        if not required.is_file():
            raise FileNotFoundError(f"training bundle: {required} does not exist")
    members = [(ENTRY_POINT, entry_point), (REQUIREMENTS, requirements)]
    members += [
        (f"{PACKAGE}/{file.relative_to(package).as_posix()}", file)
        for file in _input_files(package)
        if file.relative_to(package).parts[0] not in EXCLUDED_SUBPACKAGES
    ]
    return sorted(members)


def bundle_digest(*, root: Path = REPO_ROOT) -> str:
    """SHA-256 over the recipe and every member's name and content: equal digests, equal bundles."""
    digest = hashlib.sha256(RECIPE.encode())
    for name, source in bundle_members(root=root):
        digest.update(b"\0" + name.encode() + b"\0")
        digest.update(source.read_bytes())
    return digest.hexdigest()


def _archive(members: Sequence[tuple[str, Path]]) -> bytes:
    raw = io.BytesIO()
    # filename="" and mtime=0 keep the build's time and path out of the gzip header.
    with (
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as compressed,
        tarfile.open(fileobj=compressed, mode="w", format=tarfile.PAX_FORMAT) as archive,
    ):
        for name, source in members:
            content = source.read_bytes()
            info = tarfile.TarInfo(name)
            info.size = len(content)
            info.mtime = MEMBER_MTIME
            info.mode = MEMBER_MODE
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            archive.addfile(info, io.BytesIO(content))
    return raw.getvalue()


def _stamped(bundle: Path, stamp: Path) -> str | None:
    if not bundle.is_file() or not stamp.is_file():
        return None
    return stamp.read_text().strip()


def build_bundle(*, build_dir: Path = BUILD_DIR, root: Path = REPO_ROOT, force: bool = False) -> Path:
    """The bundle's path, after (re)building it if its stamp does not match its inputs."""
    bundle, stamp = build_dir / BUNDLE_NAME, build_dir / STAMP_NAME
    digest = bundle_digest(root=root)
    build_dir.mkdir(parents=True, exist_ok=True)
    # Test workers synthesize the training stack in parallel; one builds while the others wait.
    with (build_dir / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if force or _stamped(bundle, stamp) != digest:
            # Write beside the old bundle and swap: an interrupted build never leaves half an archive
            # behind a valid stamp.
            stamp.unlink(missing_ok=True)
            partial = build_dir / f"{BUNDLE_NAME}.partial"
            partial.write_bytes(_archive(bundle_members(root=root)))
            partial.replace(bundle)
            stamp.write_text(digest + "\n")
    return bundle


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m infra.training_bundle", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--force", action="store_true", help="rebuild even when the inputs are unchanged")
    args = parser.parse_args(argv)
    current = _stamped(BUILD_DIR / BUNDLE_NAME, BUILD_DIR / STAMP_NAME) == bundle_digest()
    bundle = build_bundle(force=args.force)
    with tarfile.open(bundle, mode="r:gz") as archive:
        files = len(archive.getmembers())
    state = "up to date" if current and not args.force else "built"
    print(f"training bundle {bundle.stat().st_size / 1024:7.1f} KB, {files} files ({state})  {bundle}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
