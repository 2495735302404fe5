"""The scoring Lambda's two layers: the `credo` core package and the onnxruntime + numpy runtime."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Annotations, AssetHashType
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra.build_layers import BUILD_DIR, CORE, RUNTIME, LayerSpec, input_digest, stamped_digest


class ScoringLayers(Construct):
    """Lambda layers built by `python -m infra.build_layers` (no Docker) into .build/layers/."""

    RUNTIME = lambda_.Runtime.PYTHON_3_12
    ARCHITECTURE = lambda_.Architecture.ARM_64

    def __init__(self, scope: Construct, construct_id: str, *, build_dir: Path = BUILD_DIR) -> None:
        super().__init__(scope, construct_id)
        self.core = self._layer(
            "Core", spec=CORE, build_dir=build_dir, description="credo: Credo's domain package"
        )
        self.runtime = self._layer(
            "Runtime", spec=RUNTIME, build_dir=build_dir, description="onnxruntime and numpy"
        )

    @property
    def all(self) -> list[lambda_.ILayerVersion]:
        return [self.core, self.runtime]

    def _layer(
        self, construct_id: str, *, spec: LayerSpec, build_dir: Path, description: str
    ) -> lambda_.LayerVersion:
        digest = stamped_digest(spec, build_dir=build_dir)
        if digest != input_digest(spec):
            Annotations.of(self).add_warning_v2(
                f"credo:stale-layer-{spec.name}",
                f"layer {spec.name!r} is older than its inputs; run `make build` before deploying",
            )
        return lambda_.LayerVersion(
            self,
            construct_id,
            # The input digest names the content, so an unchanged layer keeps its asset and version
            # without hashing a hundred megabytes on every synth.
            code=lambda_.Code.from_asset(
                str(spec.directory(build_dir)), asset_hash=digest, asset_hash_type=AssetHashType.CUSTOM
            ),
            compatible_runtimes=[self.RUNTIME],
            compatible_architectures=[self.ARCHITECTURE],
            description=f"{description} ({digest[:12]})",
        )
