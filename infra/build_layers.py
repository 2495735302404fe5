"""Build the Lambda layers without Docker, rebuilding a layer only when its inputs change.

    python -m infra.build_layers           # build what is stale; print each layer's and each function's size
    python -m infra.build_layers --force   # rebuild everything

Layers land in .build/layers/<name>/python/... (the layout Lambda expects). Each layer's input digest
(its input files plus its build recipe) is written to .build/layers/<name>.sha256 once the layer is
complete; the digest also serves as the CDK asset hash, so an unchanged layer is never re-uploaded.

Lambda allows 250 MB unzipped for a function's code and its layers together, so the check is per
function (FUNCTION_LAYERS): the runtime layer (onnxruntime) and the data layer (pyarrow) never meet.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

REPO_ROOT = Path(__file__).resolve().parent.parent
BUILD_DIR = REPO_ROOT / ".build" / "layers"
FUNCTIONS_DIR = REPO_ROOT / "functions"

LAMBDA_PYTHON_VERSION = "3.12"
# onnxruntime ships only manylinux_2_28 wheels; Lambda's arm64 python3.12 runs Amazon Linux 2023.
LAMBDA_PLATFORM_LEGACY = "manylinux2014_aarch64"
LAMBDA_PLATFORM = "manylinux_2_28_aarch64"
# Lambda's limit for a function and all its layers together, unzipped.
LAMBDA_UNZIPPED_LIMIT_BYTES = 250 * 1024 * 1024

# Build by-products of an editable install; they never decide whether a layer is stale.
_IGNORED_DIR_NAMES = frozenset({"__pycache__", "build", "dist", ".pytest_cache", ".mypy_cache"})
_IGNORED_SUFFIXES = (".egg-info", ".pyc")


class LayerNotBuiltError(FileNotFoundError):
    """A layer the stack needs has not been built yet."""


class FunctionTooLargeError(RuntimeError):
    """A function's code and layers together exceed Lambda's unzipped limit."""


@dataclass(frozen=True, kw_only=True)
class LayerSpec:
    """How one layer is built: what it is made from and the pip arguments that make it."""

    name: str
    inputs: tuple[Path, ...]
    """Files or directories whose content decides whether the layer is stale."""
    pip_args: tuple[str, ...]
    """Arguments after `pip install --target <layer>/python`."""
    project: Path | None = None
    """A local project to install; built from a clean copy so setuptools writes nothing into the tree."""
    trim: tuple[str, ...] = ()
    """Globs under python/ removed after installing (tests, tools and scripts Lambda never runs)."""
    description: str = ""
    """What the layer holds, for its LayerVersion."""

    def directory(self, build_dir: Path = BUILD_DIR) -> Path:
        return build_dir / self.name

    def stamp(self, build_dir: Path = BUILD_DIR) -> Path:
        return build_dir / f"{self.name}.sha256"


@dataclass(frozen=True, kw_only=True)
class LayerBuild:
    """A built layer: where it is, the digest of its inputs, its unzipped size."""

    name: str
    directory: Path
    digest: str
    size_bytes: int
    rebuilt: bool


CORE = LayerSpec(
    name="core",
    description="credo: Credo's domain package",
    inputs=(REPO_ROOT / "layers" / "core",),
    pip_args=("--no-deps",),
    project=REPO_ROOT / "layers" / "core",
    # The `credo` console script carries a shebang for this machine's Python; Lambda never runs it.
    trim=("bin",),
)

# How the heavy layers are installed: wheels for Lambda's arm64 Python, never built here, and from a
# requirements file that is the layer's whole lock (Lambda's runtime provides boto3).
LAMBDA_WHEELS: Final = (
    "--no-deps",
    "--platform",
    LAMBDA_PLATFORM,
    # pip matches explicit platforms exactly: pydantic-core still ships manylinux2014 wheels.
    "--platform",
    LAMBDA_PLATFORM_LEGACY,
    "--only-binary=:all:",
    "--python-version",
    LAMBDA_PYTHON_VERSION,
    "--implementation",
    "cp",
)

RUNTIME_REQUIREMENTS = REPO_ROOT / "layers" / "runtime" / "requirements.txt"
RUNTIME = LayerSpec(
    name="runtime",
    description="onnxruntime, numpy, pydantic, Powertools",
    inputs=(RUNTIME_REQUIREMENTS,),
    pip_args=(*LAMBDA_WHEELS, "-r", str(RUNTIME_REQUIREMENTS)),
    trim=(
        "bin",
        "onnxruntime/tools",
        "onnxruntime/transformers",
        "onnxruntime/quantization",
        "numpy/**/tests",
    ),
)

DATA_REQUIREMENTS = REPO_ROOT / "layers" / "data" / "requirements.txt"
DATA = LayerSpec(
    name="data",
    description="pyarrow, SQLAlchemy with the PostgreSQL and MySQL drivers, sqlglot",
    inputs=(DATA_REQUIREMENTS,),
    pip_args=(*LAMBDA_WHEELS, "-r", str(DATA_REQUIREMENTS)),
    trim=(
        "bin",
        "numpy/**/tests",
        "numpy/_core/include",
        "pyarrow/tests",
        "pyarrow/_pyarrow_cpp_tests.*",
        # Headers, C++ sources and Cython declarations: only for building against pyarrow.
        "pyarrow/include",
        "pyarrow/src",
        "pyarrow/**/*.pxd",
        "pyarrow/**/*.pxi",
        "pyarrow/**/*.pyx",
        # Link-time copies of libarrow_python*: the extensions load the `.so.<major>` soname only.
        "pyarrow/libarrow_python*.so",
        "pyarrow/libarrow_python*.so.*.*.*",
        # Arrow Flight (RPC, 30 MB) and Arrow's own S3 filesystem (16 MB): credo talks to S3 through
        # boto3 and never serves Arrow over the network. pyarrow.fs imports _s3fs only inside a
        # try/except ImportError; nothing else links against these.
        "pyarrow/flight.py",
        "pyarrow/__pycache__/flight.*",
        "pyarrow/_flight.*",
        "pyarrow/libarrow_flight.so*",
        "pyarrow/libarrow_python_flight.so*",
        "pyarrow/_s3fs.*",
        "pyarrow/libarrow_s3.so*",
    ),
)

LAYERS: tuple[LayerSpec, ...] = (CORE, RUNTIME, DATA)
LAYER_SPECS: Final[dict[str, LayerSpec]] = {spec.name: spec for spec in LAYERS}

_SERVING_LAYERS: Final = (CORE.name, RUNTIME.name)
_DATA_LAYERS: Final = (CORE.name, DATA.name)
# Which layers each function in functions/<name> runs with. No function takes both runtime and data:
# together they pass Lambda's 250 MB, so evaluate/promote stay off pyarrow and load/features/
# materialize off onnxruntime.
FUNCTION_LAYERS: Final[dict[str, tuple[str, ...]]] = {
    "score": _SERVING_LAYERS,
    "mine_registrations": _DATA_LAYERS,
    "mine_orders": _DATA_LAYERS,
    "mine_payments": _DATA_LAYERS,
    "mine_marketing": _DATA_LAYERS,
    "mine_reference": _DATA_LAYERS,
    "mine_bureau": _DATA_LAYERS,
    "pipeline_load": _DATA_LAYERS,
    "pipeline_features": _DATA_LAYERS,
    "pipeline_materialize": _DATA_LAYERS,
    "pipeline_evaluate": _SERVING_LAYERS,
    "pipeline_promote": _SERVING_LAYERS,
}


@dataclass(frozen=True, kw_only=True)
class FunctionSize:
    """A function's unzipped size as Lambda counts it: its code directory plus its layers."""

    name: str
    layers: tuple[str, ...]
    code_bytes: int
    layer_bytes: int
    has_code: bool
    """False while functions/<name> does not exist yet; its code then counts as 0 bytes."""
    limit_bytes: int = LAMBDA_UNZIPPED_LIMIT_BYTES

    @property
    def total_bytes(self) -> int:
        return self.code_bytes + self.layer_bytes

    @property
    def share(self) -> float:
        """The fraction of Lambda's limit the function takes."""
        return self.total_bytes / self.limit_bytes


def _compile_bytecode() -> bool:
    """Precompiled .pyc files only help when they match Lambda's Python (else they are dead weight)."""
    return f"{sys.version_info.major}.{sys.version_info.minor}" == LAMBDA_PYTHON_VERSION


def _input_files(path: Path) -> Iterator[Path]:
    if path.is_file():
        yield path
        return
    for child in sorted(path.iterdir()):
        if child.name in _IGNORED_DIR_NAMES or child.name.endswith(_IGNORED_SUFFIXES):
            continue
        yield from _input_files(child)


def input_digest(spec: LayerSpec, *, root: Path = REPO_ROOT) -> str:
    """SHA-256 over the build recipe and every input file (path relative to root, and content)."""
    digest = hashlib.sha256()
    recipe = [spec.name, *spec.pip_args, *spec.trim, f"compile={_compile_bytecode()}"]
    # Absolute paths in the recipe would make the digest differ between clones.
    digest.update("\0".join(arg.replace(str(root), "<root>") for arg in recipe).encode())
    for source in spec.inputs:
        if not source.exists():
            raise FileNotFoundError(f"layer {spec.name!r}: input {source} does not exist")
        for file in _input_files(source):
            digest.update(b"\0" + file.relative_to(root).as_posix().encode() + b"\0")
            digest.update(file.read_bytes())
    return digest.hexdigest()


def directory_size(path: Path) -> int:
    """Unzipped size in bytes: what counts against Lambda's 250 MB limit."""
    return sum(file.stat().st_size for file in path.rglob("*") if file.is_file() and not file.is_symlink())


def code_size(path: Path) -> int:
    """A function directory's unzipped size as deployed: its CDK asset leaves bytecode caches out."""
    if not path.is_dir():
        return 0
    return sum(
        file.stat().st_size
        for file in path.rglob("*")
        if file.is_file()
        and not file.is_symlink()
        and "__pycache__" not in file.relative_to(path).parts
        and file.suffix != ".pyc"
    )


def function_sizes(
    builds: Mapping[str, LayerBuild],
    *,
    function_layers: Mapping[str, tuple[str, ...]] = FUNCTION_LAYERS,
    functions_dir: Path = FUNCTIONS_DIR,
    limit_bytes: int = LAMBDA_UNZIPPED_LIMIT_BYTES,
) -> dict[str, FunctionSize]:
    """Each function's code + layers, for the functions whose layers are all among `builds`."""
    sizes = {}
    for name, layers in function_layers.items():
        if not all(layer in builds for layer in layers):
            continue
        code = functions_dir / name
        sizes[name] = FunctionSize(
            name=name,
            layers=layers,
            code_bytes=code_size(code),
            layer_bytes=sum(builds[layer].size_bytes for layer in layers),
            has_code=code.is_dir(),
            limit_bytes=limit_bytes,
        )
    return sizes


def check_function_sizes(sizes: Mapping[str, FunctionSize]) -> None:
    """Raise FunctionTooLargeError naming every function over Lambda's unzipped limit."""
    over = [size for size in sizes.values() if size.total_bytes > size.limit_bytes]
    if over:
        raise FunctionTooLargeError(
            "; ".join(
                f"function {size.name!r} takes {size.total_bytes / 2**20:.1f} MB unzipped (code "
                f"{size.code_bytes / 2**20:.1f} MB + layers {'+'.join(size.layers)} "
                f"{size.layer_bytes / 2**20:.1f} MB); Lambda allows {size.limit_bytes / 2**20:.1f} MB "
                "for a function and its layers"
                for size in over
            )
        )


def stamped_digest(spec: LayerSpec, *, build_dir: Path = BUILD_DIR) -> str:
    """The digest of the layer as built; raises LayerNotBuiltError when it is missing or incomplete."""
    stamp, directory = spec.stamp(build_dir), spec.directory(build_dir)
    if not stamp.is_file() or not (directory / "python").is_dir():
        raise LayerNotBuiltError(
            f"Lambda layer {spec.name!r} is not built ({directory}); run `make build` "
            "or `python -m infra.build_layers`"
        )
    return stamp.read_text().strip()


def _trim(site: Path, globs: Sequence[str]) -> None:
    for pattern in globs:
        # Deepest first, so a removed directory is never visited again.
        for match in sorted(site.glob(pattern), key=lambda p: len(p.parts), reverse=True):
            if match.is_dir() and not match.is_symlink():
                shutil.rmtree(match)
            elif match.exists():
                match.unlink()


def _pip_install(spec: LayerSpec, site: Path) -> None:
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    command += ["--target", str(site)]
    if not _compile_bytecode():
        command.append("--no-compile")
    command += spec.pip_args
    with tempfile.TemporaryDirectory(prefix=f"credo-layer-{spec.name}-") as scratch:
        if spec.project is not None:
            copy = Path(scratch) / spec.project.name
            shutil.copytree(
                spec.project,
                copy,
                ignore=shutil.ignore_patterns(*_IGNORED_DIR_NAMES, *(f"*{s}" for s in _IGNORED_SUFFIXES)),
            )
            command.append(str(copy))
        subprocess.run(command, check=True)


def build_layer(spec: LayerSpec, *, build_dir: Path = BUILD_DIR, force: bool = False) -> LayerBuild:
    """Build one layer unless its stamp already matches its inputs."""
    digest = input_digest(spec)
    directory, stamp = spec.directory(build_dir), spec.stamp(build_dir)
    try:
        current = stamped_digest(spec, build_dir=build_dir) == digest
    except LayerNotBuiltError:
        current = False
    rebuild = force or not current
    if rebuild:
        # Build beside the old layer and swap at the end: an interrupted build leaves no half layer
        # behind a valid stamp.
        stamp.unlink(missing_ok=True)
        partial = build_dir / f"{spec.name}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        site = partial / "python"
        site.mkdir(parents=True)
        _pip_install(spec, site)
        _trim(site, spec.trim)
        shutil.rmtree(directory, ignore_errors=True)
        partial.rename(directory)
        stamp.write_text(digest + "\n")
    return LayerBuild(
        name=spec.name,
        directory=directory,
        digest=digest,
        size_bytes=directory_size(directory),
        rebuilt=rebuild,
    )


def build_all(
    specs: Sequence[LayerSpec] = LAYERS, *, build_dir: Path = BUILD_DIR, force: bool = False
) -> dict[str, LayerBuild]:
    """Build every stale layer. A file lock keeps parallel test workers from building at once."""
    build_dir.mkdir(parents=True, exist_ok=True)
    with (build_dir / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        builds = {spec.name: build_layer(spec, build_dir=build_dir, force=force) for spec in specs}
    check_function_sizes(function_sizes(builds))
    return builds


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.build_layers", description=__doc__.split("\n")[0])
    parser.add_argument("--force", action="store_true", help="rebuild even when the inputs are unchanged")
    args = parser.parse_args(argv)
    builds = build_all(force=args.force)
    for build in builds.values():
        state = "built" if build.rebuilt else "up to date"
        print(
            f"layer {build.name:<8} {build.size_bytes / 2**20:7.1f} MB unzipped  ({state})  {build.directory}"
        )
    print()
    print(format_function_sizes(function_sizes(builds).values()))
    return 0


def format_function_sizes(sizes: Iterable[FunctionSize]) -> str:
    """The per-function table: function, layers, unzipped MB (code + layers), share of the limit."""
    rows = list(sizes)
    limit = f"{LAMBDA_UNZIPPED_LIMIT_BYTES / 2**20:.0f} MB"
    lines = [f"{'function':<22} {'layers':<14} {'MB':>7}  share of {limit}"]
    for size in rows:
        note = "" if size.has_code else f"  (no functions/{size.name} yet: code counted as 0)"
        lines.append(
            f"{size.name:<22} {'+'.join(size.layers):<14} {size.total_bytes / 2**20:7.1f}  "
            f"{size.share:6.1%}{note}"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
