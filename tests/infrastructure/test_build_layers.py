"""The layer build: real arm64 wheels, trimmed, rebuilt only when inputs change."""

from pathlib import Path

import pytest

from infra import build_layers
from infra.build_layers import LayerBuild, LayerSpec, input_digest


def test_given_built_layers_when_core_is_inspected_then_it_holds_the_installed_credo_package(
    built_layers: dict[str, LayerBuild],
) -> None:
    site = built_layers["core"].directory / "python"
    assert (site / "credo" / "constants.py").is_file()
    # A real install, not an editable one pointing back at this checkout.
    assert not list(site.glob("__editable__*"))
    assert not list(site.glob("*.pth"))
    assert not (site / "bin").exists()


def test_given_built_layers_when_runtime_is_inspected_then_its_binaries_are_for_lambda_arm64_py312(
    built_layers: dict[str, LayerBuild],
) -> None:
    site = built_layers["runtime"].directory / "python"
    assert list(site.glob("onnxruntime/capi/onnxruntime_pybind11_state.cpython-312-aarch64-linux-gnu.so"))
    assert list(site.glob("numpy/_core/_multiarray_umath.cpython-312-aarch64-linux-gnu.so"))
    assert not list(site.rglob("*x86_64*.so"))


def test_given_built_layers_when_runtime_is_inspected_then_tools_and_tests_are_trimmed(
    built_layers: dict[str, LayerBuild],
) -> None:
    site = built_layers["runtime"].directory / "python"
    for trimmed in ("onnxruntime/tools", "onnxruntime/transformers", "onnxruntime/quantization", "bin"):
        assert not (site / trimmed).exists(), trimmed
    assert not list(site.glob("numpy/**/tests"))


def test_given_built_layers_when_sizes_are_summed_then_they_fit_lambdas_unzipped_limit(
    built_layers: dict[str, LayerBuild],
) -> None:
    total = sum(build.size_bytes for build in built_layers.values())
    assert 0 < total < build_layers.LAMBDA_UNZIPPED_LIMIT_BYTES


def test_given_unchanged_inputs_when_built_again_then_nothing_is_rebuilt(
    built_layers: dict[str, LayerBuild],
) -> None:
    again = build_layers.build_all((build_layers.RUNTIME,))
    assert again["runtime"].rebuilt is False
    assert again["runtime"].digest == built_layers["runtime"].digest


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
