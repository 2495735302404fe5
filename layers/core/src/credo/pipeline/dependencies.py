"""The adapters the pipeline steps take, built from CredoSettings, each on first use.

A handler keeps one PipelineDependencies per execution environment. Nothing heavy is imported
here: the warehouse modules (pyarrow, sqlglot; duckdb locally) load only when a step asks for the
warehouse, so evaluate and promote stay on the runtime layer.
"""

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from credo import constants as c
from credo.adapters.s3 import S3Store
from credo.adapters.ssm import ParameterStore
from credo.online_store import OnlineFeatureStore
from credo.registry import ModelRegistry
from credo.settings import CredoSettings

if TYPE_CHECKING:
    from credo.warehouse.protocol import Warehouse


class PipelineConfigError(ValueError):
    """The environment does not say where a resource is: the message names what to set."""


@dataclass
class PipelineDependencies:
    settings: CredoSettings
    s3: S3Store = field(default_factory=S3Store.create)

    @cached_property
    def warehouse(self) -> "Warehouse":
        """Redshift Serverless when a workgroup is set, else the DuckDB file at CREDO_WAREHOUSE_PATH."""
        settings = self.settings
        if settings.redshift_workgroup:
            if not settings.redshift_role_arn:
                raise PipelineConfigError(
                    f"{c.ENV_REDSHIFT_WORKGROUP} is set but {c.ENV_REDSHIFT_ROLE_ARN} is not: set it to the "
                    "role Redshift assumes for COPY and UNLOAD"
                )
            from credo.warehouse.redshift import RedshiftWarehouse

            return RedshiftWarehouse.create(
                settings.redshift_workgroup, settings.redshift_database, settings.redshift_role_arn
            )
        if settings.warehouse_path:
            from credo.warehouse.duckdb import DuckDBWarehouse

            Path(settings.warehouse_path).parent.mkdir(parents=True, exist_ok=True)
            return DuckDBWarehouse(settings.warehouse_path, s3=self.s3)
        raise PipelineConfigError(
            f"no warehouse configured: set {c.ENV_REDSHIFT_WORKGROUP} (with {c.ENV_REDSHIFT_DATABASE} and "
            f"{c.ENV_REDSHIFT_ROLE_ARN}) for Redshift Serverless, or {c.ENV_WAREHOUSE_PATH} for a DuckDB file"
        )

    @cached_property
    def registry(self) -> ModelRegistry:
        return ModelRegistry.for_bucket(self.settings.model_bucket, s3=self.s3)

    @cached_property
    def feature_store(self) -> OnlineFeatureStore:
        return OnlineFeatureStore.for_table(self.settings.feature_table)

    @cached_property
    def parameters(self) -> ParameterStore:
        return ParameterStore.create()

    def policy_document(self) -> str | None:
        """The policy JSON in SSM; None when the parameter does not exist (any other error raises).

        Read on every call, not cached: a policy changed between runs applies to the next one.
        """
        return self.parameters.get_optional(self.settings.policy_parameter)
