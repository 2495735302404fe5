"""Per-environment settings from cdk.json: every environment is valid, mistakes fail loudly."""

from typing import Any

import pytest
from aws_cdk import App
from aws_cdk import aws_logs as logs

from infra.config import DEFAULT_MINING_SCHEDULES, MINED_SOURCES, EnvironmentConfig, MiningNetwork
from infra.credo_app import cdk_json_context

VALID: dict[str, Any] = {
    "scoring_timeout_seconds": 10,
    "log_retention": "TWO_WEEKS",
    "api_throttle_rate_limit": 50,
    "api_throttle_burst_limit": 100,
}
VPC = "vpc-0123456789abcdef0"
SUBNETS = ["subnet-0aaaaaaaaaaaaaaaa", "subnet-1b2c3d4e"]
SECURITY_GROUPS = ["sg-0123456789abcdef0"]
NETWORK: dict[str, Any] = {"vpc_id": VPC, "subnet_ids": SUBNETS, "security_group_ids": SECURITY_GROUPS}


@pytest.mark.parametrize("name", sorted(cdk_json_context()["environments"]))
def test_given_cdk_json_when_each_environment_is_read_then_it_is_valid(name: str) -> None:
    config = EnvironmentConfig.from_node(App(context={**cdk_json_context(), "env": name}).node)
    assert config.name == name


def test_given_no_env_in_context_when_read_then_dev_is_chosen() -> None:
    context = {key: value for key, value in cdk_json_context().items() if key != "env"}
    assert EnvironmentConfig.from_node(App(context=context).node).name == "dev"


def test_given_valid_settings_when_read_then_retention_is_a_cdk_enum() -> None:
    assert EnvironmentConfig.from_mapping("x", VALID).log_retention is logs.RetentionDays.TWO_WEEKS


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"scoring_timeout_seconds": 29}, "scoring_timeout_seconds"),
        ({"log_retention": "FORTNIGHT"}, "log_retention"),
        ({"api_throttle_rate_limit": 0}, "throttling"),
        ({"memory": 2048}, "unknown settings"),
        ({"api_latency_p99_alarm_ms": 0}, "api_latency_p99_alarm_ms"),
        ({"api_latency_p99_alarm_ms": 29000}, "api_latency_p99_alarm_ms"),
        ({"api_latency_p99_alarm_ms": True}, "api_latency_p99_alarm_ms"),
        ({"mining_schedules": {"orders": "rate(1 hours)"}}, "mining_schedules.orders"),
        ({"mining_schedules": {"invoices": "rate(1 hour)"}}, "unknown sources \\['invoices'\\]"),
        ({"training_schedule": "cron(0 2 2 * * *)"}, "training_schedule"),
        ({"training_schedule": "every month"}, "training_schedule"),
        ({"warehouse_base_rpus": 12}, "steps of 8"),
        ({"warehouse_base_rpus": 0}, "warehouse_base_rpus"),
        ({"training_instance_type": "m5.large"}, "training_instance_type"),
        ({"training_max_runtime_hours": 0}, "training_max_runtime_hours"),
        ({"scoring_provisioned_concurrency": -1}, "scoring_provisioned_concurrency"),
        ({"scoring_provisioned_concurrency": True}, "scoring_provisioned_concurrency"),
    ],
)
def test_given_bad_settings_when_read_then_value_error_names_the_problem(
    change: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        EnvironmentConfig.from_mapping("x", {**VALID, **change})


def test_given_unknown_env_when_read_then_value_error_lists_the_configured_ones() -> None:
    with pytest.raises(ValueError, match="'staging' is not configured"):
        EnvironmentConfig.from_node(App(context={**cdk_json_context(), "env": "staging"}).node)


def test_given_some_mining_schedules_when_read_then_the_others_keep_their_defaults() -> None:
    config = EnvironmentConfig.from_mapping(
        "x", {**VALID, "mining_schedules": {"orders": "rate(15 minutes)"}}
    )
    assert config.mining_schedules["orders"] == "rate(15 minutes)"
    assert set(config.mining_schedules) == set(MINED_SOURCES)
    assert config.mining_schedules["bureau"] == DEFAULT_MINING_SCHEDULES["bureau"]


@pytest.mark.parametrize(
    "expression", ["rate(1 hour)", "rate(15 minutes)", "rate(7 days)", "cron(0 2 2 * ? *)"]
)
def test_given_valid_schedules_when_read_then_they_are_kept(expression: str) -> None:
    assert EnvironmentConfig.from_mapping(
        "x", {**VALID, "training_schedule": expression}
    ).training_schedule == (expression)


def test_given_no_source_db_secret_when_read_then_it_is_named_after_the_environment() -> None:
    assert EnvironmentConfig.from_mapping("qa", VALID).source_db_secret_name == "credo/qa/source-db"


# --- mining_network ------------------------------------------------------------------------------


def test_given_no_mining_network_when_read_then_the_miners_stay_outside_any_vpc() -> None:
    assert EnvironmentConfig.from_mapping("x", VALID).mining_network is None


def test_given_a_mining_network_when_read_then_its_ids_are_kept_in_order() -> None:
    config = EnvironmentConfig.from_mapping("x", {**VALID, "mining_network": NETWORK})
    assert config.mining_network == MiningNetwork(
        vpc_id=VPC, subnet_ids=tuple(SUBNETS), security_group_ids=tuple(SECURITY_GROUPS)
    )


@pytest.mark.parametrize(
    ("network", "message"),
    [
        ([VPC, *SUBNETS], "mining_network must be an object with vpc_id, subnet_ids, security_group_ids"),
        (
            {**NETWORK, "route_table_ids": ["rtb-0123abcd"]},
            "mining_network has unknown keys \\['route_table_ids'\\]",
        ),
        ({"vpc_id": VPC, "subnet_ids": SUBNETS}, "mining_network lacks \\['security_group_ids'\\]"),
        ({**NETWORK, "vpc_id": "subnet-0aaaaaaaaaaaaaaaa"}, "mining_network.vpc_id must be a VPC id"),
        ({**NETWORK, "vpc_id": "vpc-0123"}, "mining_network.vpc_id must be a VPC id"),
        ({**NETWORK, "vpc_id": "vpc-0123456789ABCDEF0"}, "mining_network.vpc_id must be a VPC id"),
        ({**NETWORK, "subnet_ids": []}, "mining_network.subnet_ids must be a non-empty list"),
        ({**NETWORK, "subnet_ids": SUBNETS[0]}, "mining_network.subnet_ids must be a non-empty list"),
        (
            {**NETWORK, "subnet_ids": [SUBNETS[0], "sg-0123abcd"]},
            "mining_network.subnet_ids: \\['sg-0123abcd'\\]",
        ),
        ({**NETWORK, "subnet_ids": [SUBNETS[0], SUBNETS[0]]}, "mining_network.subnet_ids names an id twice"),
        ({**NETWORK, "security_group_ids": []}, "mining_network.security_group_ids must be a non-empty list"),
        ({**NETWORK, "security_group_ids": ["subnet-0123abcd"]}, "mining_network.security_group_ids: "),
        ({**NETWORK, "security_group_ids": [f"sg-0000000{n}" for n in range(6)]}, "at most 5"),
        ({**NETWORK, "subnet_ids": [f"subnet-{n:08x}" for n in range(17)]}, "at most 16"),
    ],
)
def test_given_a_bad_mining_network_when_read_then_value_error_names_the_key(
    network: Any, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        EnvironmentConfig.from_mapping("x", {**VALID, "mining_network": network})
