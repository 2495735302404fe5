"""Per-environment settings, read from the CDK context (cdk.json `environments`, chosen by `env`)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aws_cdk import aws_logs as logs
from constructs import Node

from credo.miners import MINERS
from infra.warehouse_construct import Warehouse

DEFAULT_ENVIRONMENT = "dev"
# API Gateway gives up on an integration after 29 s; the function must answer before that.
API_GATEWAY_INTEGRATION_TIMEOUT_SECONDS = 29
DEFAULT_RAW_RETENTION_DAYS = 90
# Ten years: anything longer is not retention but keeping raw data for good.
MAX_RAW_RETENTION_DAYS = 3650
DEFAULT_API_LATENCY_P99_ALARM_MS = 300
# The sources each have a miner; their schedules must name exactly these.
MINED_SOURCES = MINERS
DEFAULT_MINING_SCHEDULES = {
    "registrations": "rate(1 hour)",
    "orders": "rate(1 hour)",
    "payments": "rate(1 hour)",
    "marketing": "rate(1 day)",
    "reference": "rate(7 days)",
    "bureau": "rate(1 day)",
}
# Monthly, after the month's snapshot date (features are built as of the 1st).
DEFAULT_TRAINING_SCHEDULE = "cron(0 2 2 * ? *)"
DEFAULT_SOURCE_DB_SECRET = "credo/{env}/source-db"
DEFAULT_WAREHOUSE_BASE_RPUS = 8
DEFAULT_TRAINING_INSTANCE_TYPE = "ml.m5.2xlarge"
DEFAULT_TRAINING_MAX_RUNTIME_HOURS = 4
DEFAULT_SCORING_PROVISIONED_CONCURRENCY = 0
# Lambda's VpcConfig takes at most 16 subnets and 5 security groups.
MAX_MINING_SUBNETS = 16
MAX_MINING_SECURITY_GROUPS = 5
# EC2 ids: a prefix and 8 (older) or 17 lowercase hex digits.
_EC2_ID = r"{prefix}-(?:[0-9a-f]{{8}}|[0-9a-f]{{17}})"
_MINING_NETWORK_KEYS = ("vpc_id", "subnet_ids", "security_group_ids")
_RATE = re.compile(r"^rate\((?P<value>[1-9][0-9]*) (?P<unit>minute|minutes|hour|hours|day|days)\)$")
_CRON = re.compile(r"^cron\((?P<fields>[^()]+)\)$")


@dataclass(frozen=True, kw_only=True)
class MiningNetwork:
    """The shop's VPC the miners run in (cdk.json `mining_network`); Credo creates nothing there."""

    vpc_id: str
    subnet_ids: tuple[str, ...]
    """Where Lambda puts the miners' network interfaces: they must reach the database and AWS."""
    security_group_ids: tuple[str, ...]


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
    mining_schedules: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_MINING_SCHEDULES))
    """EventBridge schedule expression of each miner."""
    source_db_secret_name: str = ""
    """The shop's RDS secret the table miners read (engine, host, port, username, password, dbname)."""
    training_schedule: str = DEFAULT_TRAINING_SCHEDULE
    """When the training pipeline runs (load → features → train → evaluate → promote → materialise)."""
    warehouse_base_rpus: int = DEFAULT_WAREHOUSE_BASE_RPUS
    """Redshift Serverless base capacity in RPUs (8-1024, steps of 8)."""
    training_instance_type: str = DEFAULT_TRAINING_INSTANCE_TYPE
    training_max_runtime_hours: int = DEFAULT_TRAINING_MAX_RUNTIME_HOURS
    training_image_uri: str = ""
    """The AWS scikit-learn container for the training job; empty means Credo's default for the region."""
    scoring_provisioned_concurrency: int = DEFAULT_SCORING_PROVISIONED_CONCURRENCY
    """Warm scoring environments kept ready (0: none, cold starts allowed)."""
    mining_network: MiningNetwork | None = None
    """The shop's VPC for the miners; None runs them outside any VPC."""
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
            "mining_schedules",
            "source_db_secret_name",
            "training_schedule",
            "warehouse_base_rpus",
            "training_instance_type",
            "training_max_runtime_hours",
            "training_image_uri",
            "scoring_provisioned_concurrency",
            "mining_network",
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
        schedules = {**DEFAULT_MINING_SCHEDULES, **settings.get("mining_schedules", {})}
        unknown_sources = sorted(set(schedules) - set(MINED_SOURCES))
        if unknown_sources:
            raise ValueError(
                f"environment {name!r}: mining_schedules names unknown sources {unknown_sources}; "
                f"known: {list(MINED_SOURCES)}"
            )
        for source, expression in schedules.items():
            _check_schedule(name, f"mining_schedules.{source}", expression)
        training_schedule = str(settings.get("training_schedule", DEFAULT_TRAINING_SCHEDULE))
        _check_schedule(name, "training_schedule", training_schedule)
        low, high, step = (
            Warehouse.MIN_BASE_CAPACITY_RPUS,
            Warehouse.MAX_BASE_CAPACITY_RPUS,
            Warehouse.BASE_CAPACITY_STEP_RPUS,
        )
        base_rpus = _whole_number(
            name, settings, "warehouse_base_rpus", "RPUs", DEFAULT_WAREHOUSE_BASE_RPUS, high
        )
        if base_rpus < low or base_rpus % step:
            raise ValueError(
                f"environment {name!r}: warehouse_base_rpus must be {low}-{high} in steps of {step} "
                f"(Redshift Serverless), got {base_rpus}"
            )
        instance_type = str(settings.get("training_instance_type", DEFAULT_TRAINING_INSTANCE_TYPE))
        if not instance_type.startswith("ml."):
            raise ValueError(
                f"environment {name!r}: training_instance_type must be a SageMaker type such as "
                f"ml.m5.2xlarge, got {instance_type!r}"
            )
        # SageMaker stops a training job after at most 28 days.
        max_runtime_hours = _whole_number(
            name, settings, "training_max_runtime_hours", "hours", DEFAULT_TRAINING_MAX_RUNTIME_HOURS, 28 * 24
        )
        provisioned = settings.get("scoring_provisioned_concurrency", DEFAULT_SCORING_PROVISIONED_CONCURRENCY)
        if isinstance(provisioned, bool) or not isinstance(provisioned, int) or not 0 <= provisioned <= 1000:
            raise ValueError(
                f"environment {name!r}: scoring_provisioned_concurrency must be a whole number 0-1000, "
                f"got {provisioned!r}"
            )
        return cls(
            name=name,
            mining_schedules=schedules,
            source_db_secret_name=str(
                settings.get("source_db_secret_name", DEFAULT_SOURCE_DB_SECRET.format(env=name))
            ),
            training_schedule=training_schedule,
            warehouse_base_rpus=base_rpus,
            training_instance_type=instance_type,
            training_max_runtime_hours=max_runtime_hours,
            training_image_uri=str(settings.get("training_image_uri", "")),
            scoring_provisioned_concurrency=provisioned,
            mining_network=_mining_network(name, settings.get("mining_network")),
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


def _mining_network(environment: str, value: Any) -> MiningNetwork | None:
    """cdk.json's `mining_network`, or None when it is absent; ValueError naming the bad key."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise ValueError(
            f"environment {environment!r}: mining_network must be an object with "
            f"{', '.join(_MINING_NETWORK_KEYS)}, got {value!r}"
        )
    unknown = sorted(set(value) - set(_MINING_NETWORK_KEYS))
    if unknown:
        raise ValueError(
            f"environment {environment!r}: mining_network has unknown keys {unknown}; "
            f"known: {list(_MINING_NETWORK_KEYS)}"
        )
    missing = [key for key in _MINING_NETWORK_KEYS if key not in value]
    if missing:
        raise ValueError(f"environment {environment!r}: mining_network lacks {missing}")
    vpc_id = value["vpc_id"]
    if not isinstance(vpc_id, str) or not re.fullmatch(_EC2_ID.format(prefix="vpc"), vpc_id):
        raise ValueError(
            f"environment {environment!r}: mining_network.vpc_id must be a VPC id such as "
            f"vpc-0123456789abcdef0, got {vpc_id!r}"
        )
    return MiningNetwork(
        vpc_id=vpc_id,
        subnet_ids=_ec2_ids(environment, "subnet_ids", value["subnet_ids"], "subnet", MAX_MINING_SUBNETS),
        security_group_ids=_ec2_ids(
            environment, "security_group_ids", value["security_group_ids"], "sg", MAX_MINING_SECURITY_GROUPS
        ),
    )


def _ec2_ids(environment: str, key: str, value: Any, prefix: str, maximum: int) -> tuple[str, ...]:
    """1 to `maximum` distinct EC2 ids, each `prefix`- and hex digits; ValueError naming the key."""
    where = f"environment {environment!r}: mining_network.{key}"
    if not isinstance(value, list) or not value:
        raise ValueError(
            f"{where} must be a non-empty list of ids such as {prefix}-0123456789abcdef0, got {value!r}"
        )
    pattern = re.compile(_EC2_ID.format(prefix=prefix))
    wrong = [item for item in value if not isinstance(item, str) or not pattern.fullmatch(item)]
    if wrong:
        raise ValueError(f"{where}: {wrong!r} not ids such as {prefix}-0123456789abcdef0")
    if len(value) > maximum:
        raise ValueError(f"{where}: {len(value)} ids, Lambda takes at most {maximum}")
    if len(set(value)) != len(value):
        raise ValueError(f"{where} names an id twice: {value!r}")
    return tuple(value)


def _check_schedule(environment: str, key: str, expression: str) -> None:
    """EventBridge takes a bad expression without complaint at synth time; fail here, naming the key."""
    rate = _RATE.match(expression)
    if rate:
        singular = rate["value"] == "1"
        if singular != (not rate["unit"].endswith("s")):
            raise ValueError(
                f"environment {environment!r}: {key} {expression!r}: EventBridge wants the singular unit "
                "for 1 and the plural otherwise, e.g. rate(1 hour), rate(2 hours)"
            )
        return
    cron = _CRON.match(expression)
    if cron and len(cron["fields"].split()) == 6:
        fields = cron["fields"].split()
        # EventBridge: one of day-of-month and day-of-week must be '?'.
        if "?" in (fields[2], fields[4]):
            return
    raise ValueError(
        f"environment {environment!r}: {key} {expression!r} is not an EventBridge schedule: use "
        "rate(N unit) or cron(minutes hours day-of-month month day-of-week year) with '?' in one of the "
        "day fields"
    )
