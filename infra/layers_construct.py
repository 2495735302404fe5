"""Lambda layers built by `python -m infra.build_layers` (no Docker), as LayerVersions for the functions."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from aws_cdk import Annotations, AssetHashType
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra.build_layers import (
    BUILD_DIR,
    FUNCTION_LAYERS,
    LAYER_SPECS,
    LayerSpec,
    input_digest,
    stamped_digest,
)
from infra.build_layers import CORE as CORE_LAYER
from infra.build_layers import RUNTIME as RUNTIME_LAYER
from infra.function_defaults import ARCHITECTURE, RUNTIME


class LambdaLayers(Construct):
    """The named layers (core, runtime, data) from .build/layers/, and which of them each function takes."""

    def __init__(
        self, scope: Construct, construct_id: str, *, names: Sequence[str], build_dir: Path = BUILD_DIR
    ) -> None:
        super().__init__(scope, construct_id)
        unknown = sorted(set(names) - LAYER_SPECS.keys())
        if unknown:
            raise ValueError(f"unknown layers: {', '.join(unknown)}; known: {', '.join(LAYER_SPECS)}")
        self._layers: dict[str, lambda_.ILayerVersion] = {
            name: self._layer(LAYER_SPECS[name], build_dir=build_dir) for name in dict.fromkeys(names)
        }

    def layer(self, name: str) -> lambda_.ILayerVersion:
        try:
            return self._layers[name]
        except KeyError:
            raise ValueError(
                f"layer {name!r} is not among this construct's layers ({', '.join(self._layers)})"
            ) from None

    def for_function(self, function_name: str) -> list[lambda_.ILayerVersion]:
        """The layers functions/<function_name> runs with (build_layers.FUNCTION_LAYERS), in order."""
        try:
            names = FUNCTION_LAYERS[function_name]
        except KeyError:
            raise ValueError(
                f"function {function_name!r} has no layers in infra.build_layers.FUNCTION_LAYERS"
            ) from None
        return [self.layer(name) for name in names]

    @property
    def all(self) -> list[lambda_.ILayerVersion]:
        return list(self._layers.values())

    def _layer(self, spec: LayerSpec, *, build_dir: Path) -> lambda_.LayerVersion:
        digest = stamped_digest(spec, build_dir=build_dir)
        if digest != input_digest(spec):
            Annotations.of(self).add_warning_v2(
                f"credo:stale-layer-{spec.name}",
                f"layer {spec.name!r} is older than its inputs; run `make build` before deploying",
            )
        return lambda_.LayerVersion(
            self,
            # "Core", "Runtime", "Data": the ids the scoring stack's layers always had.
            spec.name.capitalize(),
            # The input digest names the content, so an unchanged layer keeps its asset and version
            # without hashing a hundred megabytes on every synth.
            code=lambda_.Code.from_asset(
                str(spec.directory(build_dir)), asset_hash=digest, asset_hash_type=AssetHashType.CUSTOM
            ),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[ARCHITECTURE],
            description=f"{spec.description} ({digest[:12]})",
        )


class ScoringLayers(LambdaLayers):
    """The scoring Lambda's two layers: the `credo` core package and the onnxruntime + numpy runtime."""

    def __init__(self, scope: Construct, construct_id: str, *, build_dir: Path = BUILD_DIR) -> None:
        super().__init__(
            scope, construct_id, names=(CORE_LAYER.name, RUNTIME_LAYER.name), build_dir=build_dir
        )

    @property
    def core(self) -> lambda_.ILayerVersion:
        return self.layer(CORE_LAYER.name)

    @property
    def runtime(self) -> lambda_.ILayerVersion:
        return self.layer(RUNTIME_LAYER.name)
