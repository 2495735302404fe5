"""Runtime settings, read once from the environment (names in credo.constants)."""

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from credo import constants as c


class CredoSettings(BaseSettings):
    """Where Credo's resources are. Local runs point these at moto; AWS sets them from CDK."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    lake_bucket: str = Field("credo-lake-local", validation_alias=c.ENV_LAKE_BUCKET)
    model_bucket: str = Field("credo-models-local", validation_alias=c.ENV_MODEL_BUCKET)
    feature_table: str = Field("credo-features-local", validation_alias=c.ENV_FEATURE_TABLE)
    watermark_table: str = Field("credo-watermarks-local", validation_alias=c.ENV_WATERMARK_TABLE)
    hmac_secret_name: str = Field("credo/hmac-key", validation_alias=c.ENV_HMAC_SECRET_NAME)
    policy_parameter: str = Field("/credo/policy", validation_alias=c.ENV_POLICY_PARAMETER)
    source_db_url: str = Field("", validation_alias=c.ENV_SOURCE_DB_URL)
    environment: str = Field("local", validation_alias=c.ENV_ENVIRONMENT)
    drops_bucket: str = Field("credo-drops-local", validation_alias=c.ENV_DROPS_BUCKET)
    linkage_secret_name: str = Field("credo/linkage-key", validation_alias=c.ENV_LINKAGE_SECRET_NAME)
    bureau_secret_name: str = Field("credo/bureau", validation_alias=c.ENV_BUREAU_SECRET_NAME)
    bureau_rate_limit: float = Field(50.0, gt=0, validation_alias=c.ENV_BUREAU_RATE_LIMIT)
    bureau_backoff: float = Field(0.5, ge=0, validation_alias=c.ENV_BUREAU_BACKOFF)
    warehouse_path: str = Field("", validation_alias=c.ENV_WAREHOUSE_PATH)
    redshift_workgroup: str = Field("", validation_alias=c.ENV_REDSHIFT_WORKGROUP)
    redshift_database: str = Field("credo", validation_alias=c.ENV_REDSHIFT_DATABASE)
    redshift_role_arn: str = Field("", validation_alias=c.ENV_REDSHIFT_ROLE_ARN)
