"""Per-environment settings, read from the CDK context (cdk.json `environments`, chosen by `env`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aws_cdk import aws_logs as logs
from constructs import Node

DEFAULT_ENVIRONMENT = "dev"
# API Gateway gives up on an integration after 29 s; the function must answer before that.
API_GATEWAY_INTEGRATION_TIMEOUT_SECONDS = 29
DEFAULT_RAW_RETENTION_DAYS = 90
# Ten years: anything longer is not retention but keeping raw data for good.
MAX_RAW_RETENTION_DAYS = 3650
DEFAULT_API_LATENCY_P99_ALARM_MS = 300


@dataclass(frozen=True, kw_only=True)
class EnvironmentConfig:
    """What differs between dev and prod. Everything else is a constant of its construct."""

    name: str
    scoring_timeout_seconds: int
    log_retention: logs.RetentionDays
    api_throttle_rate_limit: float
    api_throttle_burst_limit: int
    raw_retention_days: int = DEFAULT_RAW_RETENTION_DAYS
    """Days the lake keeps raw and quarantined extracts before S3 expires them."""
    api_latency_p99_alarm_ms: int = DEFAULT_API_LATENCY_P99_ALARM_MS
    """The API's p99 latency over five minutes above which ops is alarmed."""
    account: str | None = None
    region: str | None = None

    @classmethod
    def from_mapping(cls, name: str, settings: Mapping[str, Any]) -> EnvironmentConfig:
        """Validate one entry of cdk.json's `environments`; raise ValueError naming the bad key."""
        known = {
            "scoring_timeout_seconds",
            "log_retention",
            "api_throttle_rate_limit",
            "api_throttle_burst_limit",
            "raw_retention_days",
            "api_latency_p99_alarm_ms",
            "account",
            "region",
        }
        unknown = sorted(set(settings) - known)
        if unknown:
            raise ValueError(f"environment {name!r}: unknown settings {unknown}; known: {sorted(known)}")
        timeout = int(settings["scoring_timeout_seconds"])
        if not 1 <= timeout < API_GATEWAY_INTEGRATION_TIMEOUT_SECONDS:
            raise ValueError(
                f"environment {name!r}: scoring_timeout_seconds must be 1-"
                f"{API_GATEWAY_INTEGRATION_TIMEOUT_SECONDS - 1} (API Gateway stops waiting at "
                f"{API_GATEWAY_INTEGRATION_TIMEOUT_SECONDS} s), got {timeout}"
            )
        retention_name = str(settings["log_retention"])
        try:
            retention = logs.RetentionDays[retention_name]
        except KeyError:
            choices = ", ".join(member.name for member in logs.RetentionDays)
            raise ValueError(
                f"environment {name!r}: log_retention {retention_name!r} is not one of {choices}"
            ) from None
        rate, burst = float(settings["api_throttle_rate_limit"]), int(settings["api_throttle_burst_limit"])
        if rate <= 0 or burst <= 0:
            raise ValueError(f"environment {name!r}: API throttling limits must be positive")
        raw_retention_days = _whole_number(
            name, settings, "raw_retention_days", "days", DEFAULT_RAW_RETENTION_DAYS, MAX_RAW_RETENTION_DAYS
        )
        # At or beyond API Gateway's own timeout the alarm could never fire.
        latency_alarm_ms = _whole_number(
            name,
            settings,
            "api_latency_p99_alarm_ms",
            "milliseconds",
            DEFAULT_API_LATENCY_P99_ALARM_MS,
            API_GATEWAY_INTEGRATION_TIMEOUT_SECONDS * 1000 - 1,
        )
        return cls(
            name=name,
            scoring_timeout_seconds=timeout,
            log_retention=retention,
            api_throttle_rate_limit=rate,
            api_throttle_burst_limit=burst,
            raw_retention_days=raw_retention_days,
            api_latency_p99_alarm_ms=latency_alarm_ms,
            account=settings.get("account"),
            region=settings.get("region"),
        )

    @classmethod
    def from_node(cls, node: Node) -> EnvironmentConfig:
        """The environment named by context `env` (default dev), from context `environments`."""
        name = str(node.try_get_context("env") or DEFAULT_ENVIRONMENT)
        environments = node.try_get_context("environments") or {}
        if name not in environments:
            raise ValueError(
                f"environment {name!r} is not configured; cdk.json `environments` has {sorted(environments)}"
            )
        return cls.from_mapping(name, environments[name])


def _whole_number(
    environment: str, settings: Mapping[str, Any], key: str, unit: str, default: int, maximum: int
) -> int:
    """settings[key] (or the default), a whole number from 1 to `maximum`; ValueError naming the key."""
    value = settings.get(key, default)
    # bool is an int in Python; `true` in cdk.json must not become 1.
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= maximum:
        raise ValueError(
            f"environment {environment!r}: {key} must be a whole number of {unit}, 1-{maximum}, got {value!r}"
        )
    return value
