"""What every Credo Lambda function shares: one place to move all of them to another Python.

The layers are built for CPython 3.12 on ARM (infra/build_layers.py: the pyarrow, numpy and
onnxruntime wheels of that interpreter and architecture), so the functions and the layers' declared
compatibility take their runtime and architecture from here.
"""

from collections.abc import Sequence
from pathlib import Path
from typing import Final, TypedDict

from aws_cdk import aws_lambda as lambda_

from credo import constants

RUNTIME: Final = lambda_.Runtime.PYTHON_3_12
ARCHITECTURE: Final = lambda_.Architecture.ARM_64
HANDLER: Final = "handler.handler"  # every function directory holds a handler.py with handler()


class FunctionBasics(TypedDict):
    """lambda_.Function's settings that are the same for every Credo function."""

    runtime: lambda_.Runtime
    architecture: lambda_.Architecture
    handler: str
    code: lambda_.Code
    layers: list[lambda_.ILayerVersion]
    tracing: lambda_.Tracing
    logging_format: lambda_.LoggingFormat


def function_basics(code_path: Path, layers: Sequence[lambda_.ILayerVersion]) -> FunctionBasics:
    """The shared settings for the function whose handler.py lies in `code_path`."""
    return FunctionBasics(
        runtime=RUNTIME,
        architecture=ARCHITECTURE,
        handler=HANDLER,
        code=lambda_.Code.from_asset(str(code_path), exclude=["__pycache__", "*.pyc"]),
        layers=list(layers),
        tracing=lambda_.Tracing.ACTIVE,
        # Powertools' Logger writes JSON; Lambda's own lines (START, REPORT) match it.
        logging_format=lambda_.LoggingFormat.JSON,
    )


def function_environment(environment_name: str) -> dict[str, str]:
    """The variables every function reads besides its own: its environment and its service name."""
    return {constants.ENV_ENVIRONMENT: environment_name, "POWERTOOLS_SERVICE_NAME": constants.SERVICE_NAME}
