"""The only modules that touch boto3. Logic receives these small adapters as arguments.

boto3 honours AWS_ENDPOINT_URL (and AWS_ENDPOINT_URL_<SERVICE>) by itself, so the same factory
builds clients for AWS, for a ThreadedMotoServer, or for in-process `mock_aws`.
"""

import os
from functools import cache
from typing import Any, Final

import boto3
from botocore.config import Config

DEFAULT_REGION: Final = "ap-south-1"  # Mumbai: where the platform and its customers are
_RETRIES: Final = Config(retries={"max_attempts": 5, "mode": "standard"})


def aws_region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION


@cache
def _session() -> boto3.session.Session:
    # One session per process: a fresh session re-reads every service model (~0.3 s a client).
    # Sessions are not thread-safe; build clients on one thread, then share the clients.
    return boto3.session.Session()


def aws_client(service: str) -> Any:
    """A boto3 client for `service` in the configured region (endpoint from the environment)."""
    return _session().client(service, region_name=aws_region(), config=_RETRIES)


def aws_resource(service: str) -> Any:
    return _session().resource(service, region_name=aws_region(), config=_RETRIES)
