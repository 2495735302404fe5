"""The policy document: thresholds, and the economics the training report prices its proposals with."""

import json

import pytest

from credo.policy import DEFAULT_BUYING_ECONOMICS, PolicyError, decide, parse_policy
from credo.training.report import CostAssumptions


def test_given_a_policy_without_economics_then_the_defaults_apply() -> None:
    policy = parse_policy(json.dumps({"version": "v1", "credit_threshold": 650, "buying_threshold": 550}))

    assert policy.economics("buying") == DEFAULT_BUYING_ECONOMICS


def test_given_the_policys_economics_then_the_training_report_prices_with_them() -> None:
    document = {
        "version": "v2",
        "credit_threshold": 650,
        "buying_threshold": 550,
        "buying_economics": {"target_bad_rate": 0.1, "loss_given_bad": 300, "margin_per_good": 90},
    }

    costs = CostAssumptions.from_policy(parse_policy(json.dumps(document)), "buying")

    assert costs == CostAssumptions(target_bad_rate=0.1, loss_given_bad=300.0, margin_per_good=90.0)


def test_given_a_negative_cost_then_the_policy_is_refused_naming_the_field() -> None:
    document = {
        "version": "v3",
        "credit_threshold": 650,
        "buying_threshold": 550,
        "credit_economics": {"target_bad_rate": 0.02, "loss_given_bad": -1, "margin_per_good": 100},
    }

    with pytest.raises(PolicyError, match="loss_given_bad"):
        parse_policy(json.dumps(document))


def test_given_an_unknown_target_then_economics_says_so() -> None:
    policy = parse_policy(json.dumps({"version": "v1", "credit_threshold": 650, "buying_threshold": 550}))

    with pytest.raises(ValueError, match="unknown target"):
        policy.economics("loans")


def test_given_a_customer_in_arrears_with_a_high_score_then_emi_is_knocked_out_but_cod_is_not() -> None:
    policy = parse_policy(json.dumps({"version": "v1", "credit_threshold": 650, "buying_threshold": 550}))
    in_arrears = {"max_dpd_in_12months": 351.0}

    decision = decide(771, 600, policy, in_arrears)

    assert not decision.emi_eligible and decision.cod_eligible
    assert decide(771, 600, policy, {"max_dpd_in_12months": 15.0}).emi_eligible
    assert decide(771, 600, policy, {"max_dpd_in_12months": None}).emi_eligible


def test_given_a_policy_without_the_knock_out_then_the_score_alone_decides() -> None:
    document = {
        "version": "v1",
        "credit_threshold": 650,
        "buying_threshold": 550,
        "credit_max_dpd_in_12months": None,
    }

    assert decide(771, 600, parse_policy(json.dumps(document)), {"max_dpd_in_12months": 351.0}).emi_eligible
