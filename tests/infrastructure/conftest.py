"""Infrastructure tests: CDK Template assertions, cfn-lint, and the layer build they depend on."""

import os

import pytest

# Before anything imports aws_cdk: jsii prints an end-of-life banner for Node 20 on every start.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

from infra import build_layers


@pytest.fixture(scope="session")
def built_layers() -> dict[str, build_layers.LayerBuild]:
    """The real layers, built once (a no-op when their stamps match their inputs)."""
    return build_layers.build_all()
