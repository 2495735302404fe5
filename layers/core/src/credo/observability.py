"""The one Logger, Tracer and Metrics of every Credo function. Log counts and tokens, never PII."""

from typing import Final

from aws_lambda_powertools import Logger, Metrics, Tracer

from credo.constants import SERVICE_NAME

METRICS_NAMESPACE: Final = "Credo"
# Every metric also carries the environment, so dev and prod in one account keep their own alarms.
ENVIRONMENT_DIMENSION: Final = "environment"

logger: Final = Logger(service=SERVICE_NAME)
tracer: Final = Tracer(service=SERVICE_NAME)
metrics: Final = Metrics(namespace=METRICS_NAMESPACE, service=SERVICE_NAME)
