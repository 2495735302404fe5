"""Builds the CDK app: cdk.json's context, the stacks of the chosen environment, their tags, their checks."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aws_cdk import App, Environment, Stack, Tags, Validations
from cdk_nag import AwsSolutionsChecks

from infra.build_layers import REPO_ROOT
from infra.config import EnvironmentConfig
from infra.credo_stack import DataStack, MiningStack, ServingStack, TrainingStack, WarehouseStack

CDK_JSON = REPO_ROOT / "cdk.json"
PROJECT_TAG = "credo"


def cdk_json_context(path: Path = CDK_JSON) -> dict[str, Any]:
    """cdk.json's context. The CDK CLI passes it to the app itself; `python app.py` reads it here."""
    context: dict[str, Any] = json.loads(path.read_text())["context"]
    return context


def create_app(*, outdir: str | None = None, context: Mapping[str, Any] | None = None) -> App:
    """An App with cdk.json's context overlaid by `context`; the CLI's own context wins over both."""
    return App(outdir=outdir, context={**cdk_json_context(), **(context or {})})


def warehouse_stack_id(environment: str) -> str:
    return f"Credo-{environment}-Warehouse"


def mining_stack_id(environment: str) -> str:
    return f"Credo-{environment}-Mining"


def training_stack_id(environment: str) -> str:
    return f"Credo-{environment}-Training"


def serving_stack_id(environment: str) -> str:
    return f"Credo-{environment}-Serving"


def data_stack_id(environment: str) -> str:
    return f"Credo-{environment}-Data"


def _add_environment_stacks(app: App) -> tuple[Stack, ...]:
    config = EnvironmentConfig.from_node(app.node)
    env = Environment(account=config.account, region=config.region)
    data = DataStack(
        app,
        data_stack_id(config.name),
        config=config,
        env=env,
        description=f"Credo {config.name}: the data lake, the drop box, their access logs and the HMAC key",
    )
    warehouse = WarehouseStack(
        app,
        warehouse_stack_id(config.name),
        config=config,
        lake_bucket=data.lake.bucket,
        env=env,
        description=f"Credo {config.name}: Redshift Serverless in a private VPC",
    )
    serving = ServingStack(
        app,
        serving_stack_id(config.name),
        config=config,
        env=env,
        description=f"Credo {config.name}: online EMI / COD eligibility scoring",
    )
    mining = MiningStack(
        app,
        mining_stack_id(config.name),
        config=config,
        lake_bucket=data.lake.bucket,
        drops_bucket=data.drops.bucket,
        env=env,
        description=f"Credo {config.name}: the six scheduled miners, their dead-letter queues and alarms",
    )
    training = TrainingStack(
        app,
        training_stack_id(config.name),
        config=config,
        lake_bucket=data.lake.bucket,
        model_bucket=serving.models.bucket,
        feature_table=serving.feature_table,
        policy_parameter=serving.policy_parameter,
        warehouse=warehouse.warehouse,
        env=env,
        description=f"Credo {config.name}: the scheduled training pipeline (Step Functions, SageMaker)",
    )
    # Serving and mining read the HMAC key the data stack creates, by name.
    serving.add_stack_dependency(data)
    mining.add_stack_dependency(data)
    stacks = (data, warehouse, serving, mining, training)
    for stack in stacks:
        Tags.of(stack).add("project", PROJECT_TAG)
        Tags.of(stack).add("environment", config.name)
    add_compliance_checks(app)
    return stacks


def add_compliance_checks(app: App) -> None:
    """cdk-nag's AwsSolutions pack on every stack of the app.

    cdk-nag 3 is a CDK validation plugin, not an Aspect: synthesis (and `Template.from_stack`) fails on
    any finding not acknowledged with `Validations.of(construct).acknowledge(...)`, and the assembly's
    validation-report.json lists each acknowledgement with its reason.
    """
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))


def add_all_stacks(app: App) -> dict[str, Stack]:
    """Add every stack of the environment named by context `env`, keyed by stack id."""
    return {stack.node.id: stack for stack in _add_environment_stacks(app)}


def add_stacks(app: App) -> ServingStack:
    """Add every stack of the environment named by context `env`; return the serving stack."""
    [serving] = [stack for stack in _add_environment_stacks(app) if isinstance(stack, ServingStack)]
    return serving
