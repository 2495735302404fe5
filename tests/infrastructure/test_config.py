"""Per-environment settings from cdk.json: every environment is valid, mistakes fail loudly."""

from typing import Any

import pytest
from aws_cdk import App
from aws_cdk import aws_logs as logs

from infra.config import EnvironmentConfig
from infra.credo_app import cdk_json_context

VALID: dict[str, Any] = {
    "scoring_timeout_seconds": 10,
    "log_retention": "TWO_WEEKS",
    "api_throttle_rate_limit": 50,
    "api_throttle_burst_limit": 100,
}


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
