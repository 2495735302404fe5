"""How each feature reads in a reason: plain words with the customer's value, one entry per feature.

The features carry no PII, so neither do these texts: they quote a count, an amount, a share or a
flag, never who the customer is. A missing value (NaN) reads "no … on record".
"""

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

TURNOVER_BANDS: Final[Mapping[int, str]] = {1: "micro", 2: "small", 3: "medium", 4: "large"}


def _whole(value: float) -> str:
    return f"{round(value):,}"


def _inr(value: float) -> str:
    return f"INR {round(value):,}"


def _percent(value: float) -> str:
    return f"{round(100 * value)}%"


def _against_typical(log_ratio: float) -> str:
    """A mean log ratio of order value to the category's typical value, as a share or a multiple."""
    if log_ratio > math.log(1000):  # exp would overflow on absurd values; no order is this far off
        return "over 1,000 times"
    if log_ratio >= math.log(2):
        return f"{math.exp(log_ratio):,.1f} times"
    percent = round(100 * abs(math.expm1(log_ratio)))
    return "at" if percent == 0 else f"{percent}% {'above' if log_ratio > 0 else 'below'}"


def _years(value: float) -> str:
    return f"{value:.0f}" if value >= 1 else "less than 1"


def _confidence(value: float) -> str:
    return f"{value:.2f}"


def _turnover_band(value: float) -> str:
    return TURNOVER_BANDS.get(round(value), f"band {round(value)}")


@dataclass(frozen=True)
class ValueText:
    """`template` takes {value} (the customer's value in words) and plural endings that agree with it:
    {s} ("" or "s") and {ies} ("y" or "ies")."""

    template: str
    missing: str
    value: Callable[[float], str] = _whole

    def render(self, value: float) -> str:
        if math.isnan(value):
            return self.missing
        shown = self.value(value)
        singular = shown == "1" or shown.endswith(" 1")
        return self.template.format(value=shown, s="" if singular else "s", ies="y" if singular else "ies")


@dataclass(frozen=True)
class FlagText:
    """A 0/1 feature: the words for 1, for 0, and for missing."""

    yes: str
    no: str
    missing: str

    def render(self, value: float) -> str:
        if math.isnan(value):
            return self.missing
        return self.yes if value >= 0.5 else self.no


NO_ORDERS: Final = "no order history on record"
NO_BILLS: Final = "no bill history on record"
NO_ADS: Final = "no ad history on record"
NO_BUREAU: Final = "no credit bureau record"
NO_POSTPAID: Final = "no pay-later account on record"


def _rate_texts() -> dict[str, ValueText]:
    """The order-outcome rates come in 30/90/180-day windows with one wording each."""
    texts: dict[str, ValueText] = {}
    for days in (30, 90, 180):
        texts[f"cancellation_rate_in_{days}days"] = ValueText(
            f"{{value}} of orders in the last {days} days cancelled",
            f"no order on record in the last {days} days",
            _percent,
        )
        texts[f"cod_refusal_rate_in_{days}days"] = ValueText(
            f"{{value}} of cash-on-delivery orders in the last {days} days refused or returned",
            f"no cash-on-delivery order on record in the last {days} days",
            _percent,
        )
    return texts


REASON_TEXTS: Final[Mapping[str, ValueText | FlagText]] = {
    # profile
    "age": ValueText("age {value}", "no age on record"),
    "tenure_days": ValueText("registered {value} day{s} ago", "no registration date on record"),
    "city_tier": ValueText("registered in a tier-{value} city", "no city tier on record"),
    "device_ios": FlagText(
        "registered on an iOS device", "registered on a device other than iOS", "no device on record"
    ),
    "email_corporate": FlagText(
        "a corporate email domain", "no corporate email domain", "no email domain type on record"
    ),
    "phone_verified": FlagText(
        "phone number verified", "phone number not verified", "no phone verification on record"
    ),
    "is_premium_member": FlagText("a premium member", "not a premium member", "no membership on record"),
    "is_auto_billing": FlagText(
        "auto-billing switched on", "auto-billing not switched on", "no auto-billing setting on record"
    ),
    "is_postpaid": FlagText("a pay-later account open", "no pay-later account open", NO_POSTPAID),
    "postpaid_outstanding": ValueText("{value} unpaid on pay-later statements", NO_POSTPAID, _inr),
    # buying behaviour
    "orders_placed_in_6months": ValueText("{value} order{s} placed in the last 6 months", NO_ORDERS),
    "orders_placed_in_6months_via_epay": ValueText(
        "{value} order{s} paid by wallet or e-pay in the last 6 months", NO_ORDERS
    ),
    "orders_cod_in_6months": ValueText("{value} cash-on-delivery order{s} in the last 6 months", NO_ORDERS),
    "order_value_in_6months": ValueText("{value} spent on orders in the last 6 months", NO_ORDERS, _inr),
    "orders_cancelled_in_6months": ValueText("{value} order{s} cancelled in the last 6 months", NO_ORDERS),
    "orders_returned_in_6months": ValueText("{value} order{s} returned in the last 6 months", NO_ORDERS),
    "cod_refused_in_6months": ValueText("{value} COD order{s} refused in the last 6 months", NO_ORDERS),
    # repayment behaviour
    "bills_late_in_12months": ValueText("{value} bill{s} paid late in the last 12 months", NO_BILLS),
    "max_dpd_in_12months": ValueText("a bill {value} day{s} past due in the last 12 months", NO_BILLS),
    # credit lines
    "postpaid_limit": ValueText("a pay-later limit of {value}", NO_POSTPAID, _inr),
    "postpaid_utilisation": ValueText("{value} of the pay-later limit in use", NO_POSTPAID, _percent),
    "postpaid_account_age_days": ValueText("a pay-later account opened {value} day{s} ago", NO_POSTPAID),
    "emi_plans_active": ValueText("{value} EMI plan{s} still running", "no EMI history on record"),
    # order outcomes over several windows
    "orders_placed_in_30days": ValueText("{value} order{s} placed in the last 30 days", NO_ORDERS),
    "orders_placed_in_90days": ValueText("{value} order{s} placed in the last 90 days", NO_ORDERS),
    "orders_placed_in_12months": ValueText("{value} order{s} placed in the last 12 months", NO_ORDERS),
    "orders_cod_in_12months": ValueText("{value} COD order{s} in the last 12 months", NO_ORDERS),
    "cod_refused_in_12months": ValueText("{value} COD order{s} refused in the last 12 months", NO_ORDERS),
    "orders_cod_in_24months": ValueText("{value} COD order{s} in the last 24 months", NO_ORDERS),
    "cod_refused_in_24months": ValueText("{value} COD order{s} refused in the last 24 months", NO_ORDERS),
    "cod_refusal_rate_in_24months": ValueText(
        "{value} of cash-on-delivery orders in the last 24 months refused or returned",
        "no cash-on-delivery order on record in the last 24 months",
        _percent,
    ),
    "orders_cancelled_before_dispatch_in_6months": ValueText(
        "{value} order{s} cancelled before dispatch in the last 6 months", NO_ORDERS
    ),
    "orders_cancelled_after_dispatch_in_6months": ValueText(
        "{value} order{s} cancelled after dispatch in the last 6 months", NO_ORDERS
    ),
    **_rate_texts(),
    "return_rate_in_180days": ValueText(
        "{value} of orders in the last 180 days returned", "no order on record in the last 180 days", _percent
    ),
    "cod_share_in_180days": ValueText(
        "{value} of orders in the last 180 days paid cash on delivery",
        "no order on record in the last 180 days",
        _percent,
    ),
    # spend, recency and breadth
    "order_value_mean_in_180days": ValueText(
        "an average order of {value} in the last 180 days", "no order on record in the last 180 days", _inr
    ),
    "order_value_max_in_180days": ValueText(
        "a largest order of {value} in the last 180 days", "no order on record in the last 180 days", _inr
    ),
    "order_value_vs_category_in_12months": ValueText(
        "orders in the last 12 months priced {value} the typical order of their category",
        "no order on record in the last 12 months",
        _against_typical,
    ),
    "days_since_last_order": ValueText("last order {value} day{s} ago", "no order in the last 12 months"),
    "days_since_last_cod_refusal": ValueText(
        "a COD order refused {value} day{s} ago", "no COD refusal in the last 12 months"
    ),
    "categories_in_180days": ValueText(
        "orders from {value} product categor{ies} in the last 180 days", NO_ORDERS
    ),
    # repayment history
    "bills_due_in_12months": ValueText("{value} bill{s} due in the last 12 months", NO_BILLS),
    "late_payment_rate_in_12months": ValueText(
        "{value} of bills in the last 12 months paid late",
        "no bill due on record in the last 12 months",
        _percent,
    ),
    "bills_30dpd_in_12months": ValueText(
        "{value} bill{s} 30 or more days past due in the last 12 months", NO_BILLS
    ),
    "max_dpd_in_24months": ValueText("a bill {value} day{s} past due in the last 24 months", NO_BILLS),
    "bills_due_in_24months": ValueText("{value} bill{s} due in the last 24 months", NO_BILLS),
    "bills_late_in_24months": ValueText("{value} bill{s} paid late in the last 24 months", NO_BILLS),
    "late_payment_rate_in_24months": ValueText(
        "{value} of bills in the last 24 months paid late",
        "no bill due on record in the last 24 months",
        _percent,
    ),
    # marketing engagement
    "ads_received_in_180days": ValueText("{value} ad{s} received in the last 180 days", NO_ADS),
    "ad_clicks_in_180days": ValueText("{value} ad{s} clicked in the last 180 days", NO_ADS),
    "ad_click_rate_in_180days": ValueText(
        "{value} of ads clicked in the last 180 days", "no ad on record in the last 180 days", _percent
    ),
    "purchase_after_click_rate_in_180days": ValueText(
        "{value} of ad clicks followed by an order in the last 180 days",
        "no ad click on record in the last 180 days",
        _percent,
    ),
    "days_since_last_ad_click": ValueText(
        "last ad click {value} day{s} ago", "no ad click in the last 12 months"
    ),
    # reference registries
    "business_match": FlagText(
        "linked to a registered business",
        "not linked to a registered business",
        "no business registry check on record",
    ),
    "business_match_confidence": ValueText(
        "a business registry link of confidence {value}", "no business registry check on record", _confidence
    ),
    "business_turnover_band": ValueText(
        "a linked business of {value} turnover", "no business turnover on record", _turnover_band
    ),
    "business_years_registered": ValueText(
        "a linked business registered {value} year{s} ago", "no business registration date on record", _years
    ),
    "professional_match": FlagText(
        "linked to a professional registry",
        "not linked to a professional registry",
        "no professional registry check on record",
    ),
    "professional_match_confidence": ValueText(
        "a professional registry link of confidence {value}",
        "no professional registry check on record",
        _confidence,
    ),
    # credit bureau
    "bureau_hit": FlagText("a credit bureau file on record", "no credit bureau file", NO_BUREAU),
    "bureau_score": ValueText("a credit bureau score of {value}", "no credit bureau score on record"),
    "bureau_tradelines": ValueText("{value} credit account{s} at the bureau", NO_BUREAU),
    "bureau_enquiries_6m": ValueText("{value} credit enquir{ies} in the last 6 months", NO_BUREAU),
    "bureau_max_dpd_24m": ValueText(
        "a credit account {value} day{s} past due in the last 24 months", NO_BUREAU
    ),
}


def reason_text(feature: str, value: float) -> str:
    """The feature with the customer's value in plain words; NaN (missing) reads "no … on record"."""
    return REASON_TEXTS[feature].render(float(value))
