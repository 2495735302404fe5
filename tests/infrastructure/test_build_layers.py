"""The layer build: real arm64 wheels, trimmed, rebuilt only when inputs change, each function within 250 MB.

This machine is x86_64 and the layers are for arm64, so nothing here imports a layer. Instead:
- every ELF file in a layer is read (its header and its DT_NEEDED entries): arm64, and every shared
  library it links against is in the layer or is one manylinux lets a wheel take from the system;
- every module a function's code imports, following credo's own imports from its handler, is found
  as a file in the function's layers, in Lambda's python3.12 runtime, or in the standard library.
"""

import ast
import re
import struct
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import pytest

from infra import build_layers
from infra.build_layers import (
    FUNCTION_LAYERS,
    FunctionTooLargeError,
    LayerBuild,
    LayerSpec,
    check_function_sizes,
    directory_size,
    format_function_sizes,
    function_sizes,
    input_digest,
)

REPO = Path(__file__).resolve().parents[2]
FUNCTIONS = REPO / "functions"
EXTENSION_SUFFIXES: Final = (".cpython-312-aarch64-linux-gnu.so", ".abi3.so")
# What Lambda's python3.12 runtime ships besides the standard library: boto3 and its dependencies.
LAMBDA_RUNTIME_PACKAGES: Final = frozenset({"boto3", "botocore", "s3transfer", "urllib3", "dateutil", "six"})
# Modules imported at run time without an import statement in credo: Powertools' Tracer, which
# credo.observability creates on import, imports the X-Ray SDK in its constructor.
IMPLICIT_IMPORTS: Final = {"credo.observability": ("aws_xray_sdk.core",)}
# Libraries a manylinux wheel may take from the system (auditwheel's policy), as Amazon Linux 2023 has them.
SYSTEM_LIBRARIES: Final = frozenset(
    {
        "libc.so.6",
        "libm.so.6",
        "libdl.so.2",
        "librt.so.1",
        "libpthread.so.0",
        "libstdc++.so.6",
        "libgcc_s.so.1",
        "libutil.so.1",
        "libresolv.so.2",
        "ld-linux-aarch64.so.1",
        # Not in manylinux's list, but psycopg-binary's OpenSSL links it; the runtime's Python has it
        # (its own zlib module links against it).
        "libz.so.1",
    }
)
# Modules loaded inside functions (so not on a cold start) that a layer exists to serve: the
# pipeline's Redshift warehouse (its DuckDB twin is the local stand-in and never runs in Lambda).
LAZY_ROOTS: Final = {"data": ("credo.warehouse.redshift",)}
ELF_MAGIC: Final = b"\x7fELF"
EM_AARCH64: Final = 183
SHT_DYNAMIC: Final = 6
DT_NEEDED: Final = 1


def _site(build: LayerBuild) -> Path:
    return build.directory / "python"


# --- the layers as built -------------------------------------------------------------------------


def test_given_built_layers_when_core_is_inspected_then_it_holds_the_installed_credo_package(
    built_layers: dict[str, LayerBuild],
) -> None:
    site = _site(built_layers["core"])
    assert (site / "credo" / "constants.py").is_file()
    # A real install, not an editable one pointing back at this checkout.
    assert not list(site.glob("__editable__*"))
    assert not list(site.glob("*.pth"))
    assert not (site / "bin").exists()


def test_given_built_layers_when_runtime_is_inspected_then_its_binaries_are_for_lambda_arm64_py312(
    built_layers: dict[str, LayerBuild],
) -> None:
    site = _site(built_layers["runtime"])
    assert list(site.glob("onnxruntime/capi/onnxruntime_pybind11_state.cpython-312-aarch64-linux-gnu.so"))
    assert list(site.glob("numpy/_core/_multiarray_umath.cpython-312-aarch64-linux-gnu.so"))
    assert not list(site.rglob("*x86_64*.so"))


def test_given_built_layers_when_runtime_is_inspected_then_tools_and_tests_are_trimmed(
    built_layers: dict[str, LayerBuild],
) -> None:
    site = _site(built_layers["runtime"])
    for trimmed in ("onnxruntime/tools", "onnxruntime/transformers", "onnxruntime/quantization", "bin"):
        assert not (site / trimmed).exists(), trimmed
    assert not list(site.glob("numpy/**/tests"))


def test_given_built_layers_when_data_is_inspected_then_its_extensions_are_for_lambda_arm64_py312(
    built_layers: dict[str, LayerBuild],
) -> None:
    site = _site(built_layers["data"])
    for extension in (
        "pyarrow/lib",
        "pyarrow/_parquet",
        "pyarrow/_csv",
        "numpy/_core/_multiarray_umath",
        "pydantic_core/_pydantic_core",
        "psycopg_binary/pq",
        "wrapt/_wrappers",
    ):
        assert list(site.glob(f"{extension}.cpython-312-aarch64-linux-gnu.so")), extension
    assert not list(site.rglob("*x86_64*.so"))


def test_given_built_layers_when_data_is_inspected_then_headers_tests_and_unused_arrow_parts_are_trimmed(
    built_layers: dict[str, LayerBuild],
) -> None:
    site = _site(built_layers["data"])
    for trimmed in ("bin", "pyarrow/include", "pyarrow/src", "pyarrow/tests", "pyarrow/flight.py"):
        assert not (site / trimmed).exists(), trimmed
    for pattern in (
        "pyarrow/**/*.pxd",
        "pyarrow/**/*.pyx",
        "numpy/**/tests",
        "pyarrow/*flight*",
        "pyarrow/*s3*",
    ):
        assert not list(site.glob(pattern)), pattern
    # The runtime's boto3/botocore stay in charge: a layer copy would shadow them.
    assert not (site / "botocore").exists()
    assert not (site / "boto3").exists()


def test_given_the_data_requirements_when_compared_with_the_dev_pins_then_shared_packages_match(
    built_layers: dict[str, LayerBuild],
) -> None:
    data = _pins(REPO / "layers" / "data" / "requirements.txt")
    dev = _pins(REPO / "requirements-dev.txt")
    shared = data.keys() & dev.keys()
    assert {"pyarrow", "numpy", "sqlalchemy", "sqlglot", "pydantic", "pydantic-settings"} <= shared
    assert {name: data[name] for name in shared} == {name: dev[name] for name in shared}
    # ...and what pip installed is what the file pins.
    installed = {
        _normalise(match["name"]): match["version"]
        for info in _site(built_layers["data"]).glob("*.dist-info")
        if (match := re.fullmatch(r"(?P<name>.+)-(?P<version>[^-]+)\.dist-info", info.name))
    }
    assert installed == data


def test_given_each_layer_when_its_elf_files_are_read_then_they_are_arm64_and_link_only_what_is_there(
    built_layers: dict[str, LayerBuild],
) -> None:
    for name, build in built_layers.items():
        site = _site(build)
        read = {path: _elf(path) for path in site.rglob("*.so*") if path.is_file()}
        elves = {path: elf for path, elf in read.items() if elf is not None}
        shipped = {path.name for path in elves}
        assert all(machine == EM_AARCH64 for machine, _ in elves.values()), name
        missing = {
            f"{path.relative_to(site)} → {needed}"
            for path, (_, libraries) in elves.items()
            for needed in libraries
            if needed not in shipped and needed not in SYSTEM_LIBRARIES
        }
        assert not missing, f"layer {name!r}: {sorted(missing)}"


def test_given_built_layers_when_each_function_is_measured_then_it_fits_lambdas_unzipped_limit(
    built_layers: dict[str, LayerBuild],
) -> None:
    sizes = function_sizes(built_layers)
    assert sizes.keys() == FUNCTION_LAYERS.keys()
    for size in sizes.values():
        assert 0 < size.total_bytes <= build_layers.LAMBDA_UNZIPPED_LIMIT_BYTES, size.name
    assert sizes["mine_orders"].layer_bytes == (
        built_layers["core"].size_bytes + built_layers["data"].size_bytes
    )
    check_function_sizes(sizes)  # raises naming the function otherwise


def test_given_unchanged_inputs_when_built_again_then_nothing_is_rebuilt(
    built_layers: dict[str, LayerBuild],
) -> None:
    again = build_layers.build_all((build_layers.RUNTIME, build_layers.DATA))
    assert again["runtime"].rebuilt is False
    assert again["data"].rebuilt is False
    assert again["data"].digest == built_layers["data"].digest


# --- what each function imports ------------------------------------------------------------------


@pytest.mark.parametrize(
    "function", [name for name in FUNCTION_LAYERS if (FUNCTIONS / name / "handler.py").is_file()]
)
def test_given_a_function_when_its_imports_are_followed_then_each_module_is_in_its_layers_or_lambda(
    built_layers: dict[str, LayerBuild], function: str
) -> None:
    """Miners: every import, inside functions too (the mining path has no local-only branch). Others: what
    runs on a cold start, plus the modules their layer is for that they load lazily (LAZY_ROOTS)."""
    layers = FUNCTION_LAYERS[function]
    missing = _unresolved_imports(
        FUNCTIONS / function / "handler.py",
        extra_roots=tuple(root for layer in layers for root in LAZY_ROOTS.get(layer, ())),
        core=_site(built_layers["core"]),
        sites=[_site(built_layers[name]) for name in layers],
        lazy=function.startswith("mine_"),
    )
    assert missing == [], f"{function} ({'+'.join(layers)}) imports modules Lambda will not find"


def test_given_the_mining_path_when_followed_then_it_reaches_pyarrow_sqlalchemy_and_the_drivers_it_needs(
    built_layers: dict[str, LayerBuild],
) -> None:
    """The import walk itself: it must see through credo to the third-party modules the miners use."""
    imported = _external_imports(
        [FUNCTIONS / "mine_orders" / "handler.py"],
        ["credo.warehouse.redshift"],
        _site(built_layers["core"]),
        lazy=True,
    )
    tops = {module.split(".")[0] for module in imported}
    assert {"pyarrow", "sqlalchemy", "pydantic", "aws_lambda_powertools", "aws_xray_sdk", "sqlglot"} <= tops
    assert "pyarrow.parquet" in imported
    assert not tops & {"onnxruntime", "pandas", "sklearn", "duckdb"}


# --- function sizes, on small fakes --------------------------------------------------------------


def _fake_layer(root: Path, name: str, size: int) -> LayerBuild:
    site = root / "layers" / name / "python"
    site.mkdir(parents=True)
    (site / "blob.bin").write_bytes(b"\0" * size)
    directory = site.parent
    return LayerBuild(
        name=name, directory=directory, digest="0", size_bytes=directory_size(directory), rebuilt=False
    )


def test_given_a_function_over_a_tiny_limit_when_checked_then_the_error_names_that_function(
    tmp_path: Path,
) -> None:
    builds = {"small": _fake_layer(tmp_path, "small", 1_000), "big": _fake_layer(tmp_path, "big", 5_000)}
    functions = tmp_path / "functions"
    for name in ("fits", "too_big"):
        (functions / name).mkdir(parents=True)
        (functions / name / "handler.py").write_bytes(b"#" * 500)
    (functions / "too_big" / "__pycache__").mkdir()
    (functions / "too_big" / "__pycache__" / "handler.cpython-312.pyc").write_bytes(b"\0" * 9_000)

    sizes = function_sizes(
        builds,
        function_layers={"fits": ("small",), "too_big": ("small", "big")},
        functions_dir=functions,
        limit_bytes=3_000,
    )

    assert sizes["fits"].total_bytes == 1_500  # bytecode caches never reach the asset
    assert sizes["too_big"].total_bytes == 6_500
    with pytest.raises(
        FunctionTooLargeError, match=r"function 'too_big' takes .* layers small\+big"
    ) as error:
        check_function_sizes(sizes)
    assert "'fits'" not in str(error.value)


def test_given_a_function_without_code_yet_when_measured_then_its_code_counts_as_zero(tmp_path: Path) -> None:
    builds = {"small": _fake_layer(tmp_path, "small", 1_000)}
    sizes = function_sizes(builds, function_layers={"later": ("small",)}, functions_dir=tmp_path / "none")
    assert sizes["later"].has_code is False
    assert sizes["later"].total_bytes == sizes["later"].layer_bytes == 1_000
    assert "no functions/later yet" in format_function_sizes(sizes.values())


def test_given_a_function_whose_layers_were_not_built_when_measured_then_it_is_left_out(
    tmp_path: Path,
) -> None:
    builds = {"small": _fake_layer(tmp_path, "small", 1_000)}
    sizes = function_sizes(builds, function_layers={"other": ("small", "unbuilt")}, functions_dir=tmp_path)
    assert sizes == {}


# --- the function → layers map -------------------------------------------------------------------


def test_given_the_functions_folder_when_listed_then_every_function_has_its_layers() -> None:
    folders = {path.name for path in FUNCTIONS.iterdir() if (path / "handler.py").is_file()}
    assert folders <= FUNCTION_LAYERS.keys(), sorted(folders - FUNCTION_LAYERS.keys())


def test_given_the_function_layers_when_read_then_no_function_takes_both_runtime_and_data() -> None:
    for function, layers in FUNCTION_LAYERS.items():
        assert layers[0] == "core", function
        assert not {"runtime", "data"} <= set(layers), function
        assert set(layers) <= build_layers.LAYER_SPECS.keys(), function


# --- digests ------------------------------------------------------------------------------------


def test_given_an_input_file_when_its_content_changes_then_the_digest_changes(tmp_path: Path) -> None:
    source = tmp_path / "requirements.txt"
    source.write_text("numpy==2.5.5\n")
    spec = LayerSpec(name="x", inputs=(source,), pip_args=("-r", str(source)))
    before = input_digest(spec, root=tmp_path)
    source.write_text("numpy==2.5.4\n")
    assert input_digest(spec, root=tmp_path) != before


def test_given_build_by_products_when_they_appear_then_the_digest_does_not_change(tmp_path: Path) -> None:
    project = tmp_path / "core"
    (project / "src" / "pkg").mkdir(parents=True)
    (project / "src" / "pkg" / "__init__.py").write_text("")
    spec = LayerSpec(name="x", inputs=(project,), pip_args=())
    before = input_digest(spec, root=tmp_path)
    (project / "src" / "pkg.egg-info").mkdir()
    (project / "src" / "pkg" / "__pycache__").mkdir()
    (project / "src" / "pkg" / "__pycache__" / "x.cpython-312.pyc").write_bytes(b"\0")
    assert input_digest(spec, root=tmp_path) == before


def test_given_a_missing_layer_when_its_digest_is_read_then_the_error_says_how_to_build_it(
    tmp_path: Path,
) -> None:
    with pytest.raises(build_layers.LayerNotBuiltError, match="make build"):
        build_layers.stamped_digest(build_layers.CORE, build_dir=tmp_path)


# --- helpers -------------------------------------------------------------------------------------


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins(requirements: Path) -> dict[str, str]:
    pins = {}
    for line in requirements.read_text().splitlines():
        if match := re.fullmatch(r"(?P<name>[A-Za-z0-9._-]+)(?:\[[^]]*\])?==(?P<version>\S+)", line.strip()):
            pins[_normalise(match["name"])] = match["version"]
    return pins


def _elf(path: Path) -> tuple[int, set[str]] | None:
    """(machine, DT_NEEDED libraries) of a 64-bit little-endian ELF file; None if it is not one."""
    data = path.read_bytes()
    if data[:4] != ELF_MAGIC:
        return None
    assert data[4:6] == b"\x02\x01", f"{path}: not a 64-bit little-endian ELF"
    (machine,) = struct.unpack_from("<H", data, 0x12)
    (section_offset,) = struct.unpack_from("<Q", data, 0x28)
    entry_size, count = struct.unpack_from("<HH", data, 0x3A)
    # (type, offset, size, link) of each section header
    sections = [
        struct.unpack_from("<4xI16xQQI", data, section_offset + index * entry_size) for index in range(count)
    ]
    needed: set[str] = set()
    for kind, offset, size, link in sections:
        if kind != SHT_DYNAMIC:
            continue
        strings = sections[link][1]
        for entry in range(offset, offset + size, 16):
            tag, value = struct.unpack_from("<qQ", data, entry)
            if tag == DT_NEEDED:
                start = strings + value
                needed.add(data[start : data.index(b"\0", start)].decode())
    return machine, needed


def _module_path(site: Path, module: str) -> Path | None:
    """The file (or package directory) that provides `module` under `site`, as Python would find it."""
    base = site.joinpath(*module.split("."))
    if (base / "__init__.py").is_file() or base.with_suffix(".py").is_file() or base.is_dir():
        return base
    for suffix in EXTENSION_SUFFIXES:
        if base.with_name(base.name + suffix).is_file():
            return base
    return None


def _imports(
    tree: ast.AST, module: str, is_package: bool, *, lazy: bool
) -> Iterator[tuple[str, tuple[str, ...]]]:
    """(module, names imported from it) for each import, leaving out `if TYPE_CHECKING:` blocks.

    lazy=False leaves out imports inside functions too: what remains runs on every cold start.
    """
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            yield from (
                item for child in node.orelse for item in _imports(child, module, is_package, lazy=lazy)
            )
            continue
        if not lazy and isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            continue
        if isinstance(node, ast.Import):
            yield from ((alias.name, ()) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                package = module.split(".") if is_package else module.split(".")[:-1]
                anchor = package[: len(package) - node.level + 1]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            yield base, tuple(alias.name for alias in node.names)
        else:
            yield from _imports(node, module, is_package, lazy=lazy)


def _external_imports(roots: list[Path], root_modules: list[str], core: Path, *, lazy: bool) -> set[str]:
    """Every non-credo module imported by the roots and, transitively, by the credo modules they reach."""
    external: set[str] = set()
    seen: set[str] = set()
    pending: list[tuple[str, Path]] = [("__main__", root) for root in roots]

    def reach(module: str) -> None:
        parts = module.split(".")
        for depth in range(1, len(parts) + 1):
            name = ".".join(parts[:depth])
            if name in seen:
                continue
            path = _module_path(core, name)
            assert path is not None, f"{name} is not in the core layer"
            seen.add(name)
            source = path / "__init__.py" if (path / "__init__.py").is_file() else path.with_suffix(".py")
            pending.append((name, source))
            external.update(IMPLICIT_IMPORTS.get(name, ()))

    for module in root_modules:
        reach(module)
    while pending:
        module, source = pending.pop()
        tree = ast.parse(source.read_text(), filename=str(source))
        for base, names in _imports(tree, module, source.name == "__init__.py", lazy=lazy):
            if base.split(".")[0] == "credo":
                reach(base)
                for name in names:
                    if _module_path(core, f"{base}.{name}") is not None:
                        reach(f"{base}.{name}")
            else:
                # `from package import name` may name an attribute: only the package itself must exist.
                external.add(base)
    return external


def _unresolved_imports(
    handler: Path, *, extra_roots: tuple[str, ...], core: Path, sites: list[Path], lazy: bool
) -> list[str]:
    """Modules the function imports that neither its layers, Lambda's runtime nor the stdlib provide."""
    missing = []
    for module in sorted(_external_imports([handler], list(extra_roots), core, lazy=lazy)):
        top = module.split(".")[0]
        if top in sys.stdlib_module_names or top in LAMBDA_RUNTIME_PACKAGES:
            continue
        owner = next((site for site in sites if _module_path(site, top) is not None), None)
        if owner is None or _module_path(owner, module) is None:
            missing.append(module)
    return missing
