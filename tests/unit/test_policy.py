"""The policy document: thresholds, and the economics the training report prices its proposals with."""

import json

import pytest

from credo.policy import (
    DEFAULT_BUYING_ECONOMICS,
    Economics,
    PolicyError,
    offer_buying,
    offer_credit,
    parse_policy,
)


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

    costs = parse_policy(json.dumps(document)).economics("buying")

    assert costs == Economics(target_bad_rate=0.1, loss_given_bad=300.0, margin_per_good=90.0)


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

    credit = offer_credit(771, policy, features=in_arrears, cart_amount=None)
    buying = offer_buying(600, policy, new_customer=False, cart_amount=None)

    assert not credit.emi_eligible and buying.cod_eligible
    assert offer_credit(771, policy, features={"max_dpd_in_12months": 15.0}, cart_amount=None).emi_eligible
    assert offer_credit(771, policy, features={"max_dpd_in_12months": None}, cart_amount=None).emi_eligible


def test_given_a_policy_without_the_knock_out_then_the_score_alone_decides() -> None:
    document = {
        "version": "v1",
        "credit_threshold": 650,
        "buying_threshold": 550,
        "credit_max_dpd_in_12months": None,
    }

    policy = parse_policy(json.dumps(document))

    assert offer_credit(771, policy, features={"max_dpd_in_12months": 351.0}, cart_amount=None).emi_eligible


POLICY = parse_policy(json.dumps({"version": "v1", "credit_threshold": 600, "buying_threshold": 350}))
CLEAN = {"max_dpd_in_12months": 0.0}


@pytest.mark.parametrize(
    ("score", "band", "tenures", "limit"),
    [
        (800, "A", (3, 6, 9, 12, 18, 24), 200_000.0),
        (700, "B", (3, 6, 9, 12), 100_000.0),
        (600, "C", (3, 6), 40_000.0),
    ],
)
def test_given_a_score_then_its_band_sets_the_tenures_and_the_emi_limit(
    score: int, band: str, tenures: tuple[int, ...], limit: float
) -> None:
    offer = offer_credit(score, POLICY, features=CLEAN, cart_amount=10_000.0)

    assert (offer.band, offer.emi_eligible, offer.tenures_months, offer.max_emi_amount) == (
        band,
        True,
        tenures,
        limit,
    )


def test_given_a_cart_above_the_bands_limit_then_emi_is_withheld_with_the_reason() -> None:
    offer = offer_credit(600, POLICY, features=CLEAN, cart_amount=45_000.0)

    assert not offer.emi_eligible
    assert [r.code for r in offer.reasons] == ["cart_above_emi_limit"]
    assert "40,000" in offer.reasons[0].text


def test_given_a_small_cart_or_a_tenure_the_band_lacks_then_emi_says_why() -> None:
    small = offer_credit(800, POLICY, features=CLEAN, cart_amount=999.0)
    long = offer_credit(700, POLICY, features=CLEAN, cart_amount=20_000.0, requested_tenure_months=24)

    assert [r.code for r in small.reasons] == ["cart_below_emi_minimum"]
    assert not long.emi_eligible and [r.code for r in long.reasons] == ["tenure_not_offered"]
    assert "offered: 3, 6, 9, 12" in long.reasons[0].text


def test_given_a_buying_score_then_the_band_caps_cod_and_the_threshold_gates_it() -> None:
    fits = offer_buying(700, POLICY, new_customer=False, cart_amount=45_000.0)
    too_big = offer_buying(370, POLICY, new_customer=False, cart_amount=9_000.0)
    below = offer_buying(330, POLICY, new_customer=False, cart_amount=500.0)

    assert (fits.band, fits.cod_eligible, fits.max_cod_order_value) == ("A", True, 50_000.0)
    assert (too_big.band, too_big.cod_eligible) == ("C", False)
    assert [r.code for r in too_big.reasons] == ["cart_above_cod_limit"]
    assert [r.code for r in below.reasons] == ["below_threshold"]


def test_given_a_new_customer_then_cod_only_up_to_the_new_customer_cap_and_no_emi() -> None:
    small = offer_buying(None, POLICY, new_customer=True, cart_amount=1_500.0)
    large = offer_buying(None, POLICY, new_customer=True, cart_amount=2_500.0)
    credit = offer_credit(None, POLICY, features=None, cart_amount=1_500.0)

    assert small.cod_eligible and not large.cod_eligible
    assert small.max_cod_order_value == POLICY.new_customer_max_cod_order_value
    assert not credit.emi_eligible and [r.code for r in credit.reasons] == ["new_customer"]


def test_given_bands_that_leave_low_scores_without_terms_then_the_policy_is_refused() -> None:
    document = {
        "version": "v9",
        "credit_threshold": 600,
        "buying_threshold": 450,
        "buying_bands": [{"name": "A", "min_score": 500, "max_cod_order_value": 1000}],
    }

    with pytest.raises(PolicyError, match="lowest band"):
        parse_policy(json.dumps(document))
