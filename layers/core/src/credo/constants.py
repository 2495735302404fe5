"""Names shared by infra/ and credo: environment variables, prefixes, table keys.

Resource names reach code only through the environment variables named here, never as literals.
"""

from typing import Final

# Environment variable names (infra sets them, credo.settings reads them).
ENV_LAKE_BUCKET: Final = "CREDO_LAKE_BUCKET"
ENV_MODEL_BUCKET: Final = "CREDO_MODEL_BUCKET"
ENV_FEATURE_TABLE: Final = "CREDO_FEATURE_TABLE"
ENV_WATERMARK_TABLE: Final = "CREDO_WATERMARK_TABLE"
ENV_HMAC_SECRET_NAME: Final = "CREDO_HMAC_SECRET_NAME"
ENV_POLICY_PARAMETER: Final = "CREDO_POLICY_PARAMETER"
ENV_SOURCE_DB_URL: Final = "CREDO_SOURCE_DB_URL"
ENV_ENVIRONMENT: Final = "CREDO_ENVIRONMENT"
ENV_DROPS_BUCKET: Final = "CREDO_DROPS_BUCKET"  # where the ad/sales and reference teams drop files
ENV_LINKAGE_SECRET_NAME: Final = "CREDO_LINKAGE_SECRET_NAME"  # key of the record-linkage encodings
ENV_BUREAU_SECRET_NAME: Final = "CREDO_BUREAU_SECRET_NAME"  # {"base_url", "api_key", "lookup_key"}
ENV_BUREAU_RATE_LIMIT: Final = "CREDO_BUREAU_RATE_LIMIT"  # requests per second the bureau allows
ENV_BUREAU_BACKOFF: Final = "CREDO_BUREAU_BACKOFF"  # retry backoff factor, seconds
ENV_WAREHOUSE_PATH: Final = "CREDO_WAREHOUSE_PATH"  # DuckDB file (local); empty in AWS
ENV_REDSHIFT_WORKGROUP: Final = "CREDO_REDSHIFT_WORKGROUP"
ENV_REDSHIFT_DATABASE: Final = "CREDO_REDSHIFT_DATABASE"
ENV_REDSHIFT_ROLE_ARN: Final = "CREDO_REDSHIFT_ROLE_ARN"  # the role Redshift assumes for COPY/UNLOAD

# Lake layout.
RAW_PREFIX: Final = "raw"
QUARANTINE_PREFIX: Final = "quarantine"
FEATURES_PREFIX: Final = "features"
MANIFEST_PREFIX: Final = "manifests"
# Drop prefixes in the drops bucket, one per file-shaped source.
ADS_DROP_PREFIX: Final = "ads/"
REFERENCE_DROP_PREFIX: Final = "reference/"

# Targets: each has its own model. credit gates EMI, buying gates COD.
TARGET_CREDIT: Final = "credit"
TARGET_BUYING: Final = "buying"
TARGETS: Final = (TARGET_CREDIT, TARGET_BUYING)

# Powertools service name, one for all functions.
SERVICE_NAME: Final = "credo"

# `credo train --table`: seconds to search the zoo models' settings, shared by the zoo (0: none).
TABLE_SEARCH_SECONDS: Final = 60.0
