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

# Lake layout.
RAW_PREFIX: Final = "raw"
QUARANTINE_PREFIX: Final = "quarantine"
FEATURES_PREFIX: Final = "features"

# Targets: each has its own model. credit gates EMI, buying gates COD.
TARGET_CREDIT: Final = "credit"
TARGET_BUYING: Final = "buying"
TARGETS: Final = (TARGET_CREDIT, TARGET_BUYING)

# Powertools service name, one for all functions.
SERVICE_NAME: Final = "credo"
