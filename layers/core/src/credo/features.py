"""The one feature list: it feeds the feature SQL, the training set, the ONNX input and the online store.

Order matters: it is the column order of the model input. A model records this order and
FEATURE_SCHEMA_VERSION in its ONNX metadata; scoring refuses a model whose order differs.
docs/features.md is generated from this module: `python -m credo.features > docs/features.md`.
"""

from dataclasses import dataclass
from typing import Final

FEATURE_SCHEMA_VERSION: Final = "5"

# Sources (warehouse tables) a feature is computed from.
REGISTRATIONS: Final = "registrations"
ORDERS: Final = "orders"
PAYMENTS: Final = "payments"
MARKETING: Final = "ad_events"
REFERENCE: Final = "reference_matches"
BUREAU: Final = "bureau_reports"

# Windows: all end at the snapshot (exclusive); months are calendar months back from it.
AT_SNAPSHOT: Final = "at snapshot"
DAYS_30: Final = "30 days"
DAYS_90: Final = "90 days"
DAYS_180: Final = "180 days"
LABEL_HORIZON_MONTHS: Final = 6  # labels look this many months past the snapshot (features.sql)
MONTHS_6: Final = "6 months"
MONTHS_12: Final = "12 months"
MONTHS_24: Final = "24 months"
LATEST: Final = "latest before snapshot"

NEVER_MISSING: Final = "never"
NO_ORDERS_180: Final = "no order placed in the 180 days"
NO_ADS: Final = "no ad was ever sent to the customer before the snapshot"
NO_BUREAU: Final = "no bureau report (hit or no-hit) before the snapshot"
NO_BUREAU_HIT: Final = "no bureau report, or the bureau had no file (no-hit)"


@dataclass(frozen=True)
class Feature:
    name: str
    description: str
    source: str = REGISTRATIONS
    window: str = AT_SNAPSHOT
    missing: str = NEVER_MISSING  # when the value is NULL (missing), in plain words


FEATURES: Final[tuple[Feature, ...]] = (
    # profile: the registration version current at the snapshot (no PII)
    Feature("age", "age in whole years at the snapshot date"),
    Feature("tenure_days", "days since registration at the snapshot date"),
    Feature("city_tier", "tier of the registered city: 1 metro, 2 large city, 3 other"),
    Feature("device_ios", "1 when the customer registered on iOS"),
    Feature("email_corporate", "1 when the email domain is a corporate domain"),
    Feature("phone_verified", "1 when the phone number was verified"),
    Feature("is_premium_member", "1 for premium members"),
    Feature("is_auto_billing", "1 when auto-billing is enabled"),
    Feature("is_postpaid", "1 when a postpaid (pay-later) account was open at the snapshot"),
    Feature("postpaid_outstanding", "unpaid postpaid statement amounts at the snapshot, INR", PAYMENTS),
    # buying behaviour, last 6 months before the snapshot
    Feature(
        "orders_placed_in_6months", "orders placed in the 6 months before the snapshot", ORDERS, MONTHS_6
    ),
    Feature(
        "orders_placed_in_6months_via_epay",
        "orders placed in the 6 months paid by wallet / e-pay",
        ORDERS,
        MONTHS_6,
    ),
    Feature("orders_cod_in_6months", "orders placed in the 6 months paid cash on delivery", ORDERS, MONTHS_6),
    Feature("order_value_in_6months", "total value of orders placed in the 6 months, INR", ORDERS, MONTHS_6),
    Feature(
        "orders_cancelled_in_6months",
        "orders cancelled (before or after dispatch) known by the snapshot",
        ORDERS,
        MONTHS_6,
    ),
    Feature(
        "orders_returned_in_6months", "orders returned after delivery known by the snapshot", ORDERS, MONTHS_6
    ),
    Feature(
        "cod_refused_in_6months",
        "COD orders refused at the door / RTO / cancelled after dispatch",
        ORDERS,
        MONTHS_6,
    ),
    # repayment behaviour, last 12 months before the snapshot
    Feature(
        "bills_late_in_12months",
        "postpaid/EMI bills due in the 12 months paid late or still unpaid after their due date",
        PAYMENTS,
        MONTHS_12,
    ),
    Feature(
        "max_dpd_in_12months",
        "worst days past due on any bill, as known at the snapshot",
        PAYMENTS,
        MONTHS_12,
    ),
    # credit lines at the snapshot
    Feature(
        "postpaid_limit", "credit limit of the postpaid account open at the snapshot, INR; 0 without one"
    ),
    Feature(
        "postpaid_utilisation",
        "share of the postpaid limit in unpaid statements at the snapshot",
        PAYMENTS,
        missing="no postpaid account open at the snapshot (or a zero limit)",
    ),
    Feature(
        "postpaid_account_age_days",
        "days since the postpaid account was opened",
        missing="no postpaid account open at the snapshot",
    ),
    Feature(
        "emi_plans_active",
        "EMI purchases whose instalment term was still running at the snapshot",
        ORDERS,
        AT_SNAPSHOT,
    ),
    # order outcomes over several windows; outcomes count once their status was set before the snapshot
    Feature("orders_placed_in_30days", "orders placed in the 30 days before the snapshot", ORDERS, DAYS_30),
    Feature("orders_placed_in_90days", "orders placed in the 90 days before the snapshot", ORDERS, DAYS_90),
    Feature(
        "orders_placed_in_12months", "orders placed in the 12 months before the snapshot", ORDERS, MONTHS_12
    ),
    Feature(
        "orders_cod_in_12months", "orders placed in the 12 months paid cash on delivery", ORDERS, MONTHS_12
    ),
    Feature(
        "cod_refused_in_12months",
        "COD orders placed in the 12 months refused at the door / RTO / cancelled after dispatch",
        ORDERS,
        MONTHS_12,
    ),
    # COD reliability shows in a few COD orders a year: 24 months read it better than 12
    Feature(
        "orders_cod_in_24months", "orders placed in the 24 months paid cash on delivery", ORDERS, MONTHS_24
    ),
    Feature(
        "cod_refused_in_24months",
        "COD orders placed in the 24 months refused at the door / RTO / cancelled after dispatch",
        ORDERS,
        MONTHS_24,
    ),
    Feature(
        "cod_refusal_rate_in_24months",
        "share of COD orders placed in the 24 months refused at the door, returned to origin "
        "or cancelled after dispatch",
        ORDERS,
        MONTHS_24,
        "no COD order placed in the 24 months",
    ),
    Feature(
        "orders_cancelled_before_dispatch_in_6months",
        "orders cancelled before they were dispatched",
        ORDERS,
        MONTHS_6,
    ),
    Feature(
        "orders_cancelled_after_dispatch_in_6months",
        "orders cancelled after they were dispatched (a wasted shipment)",
        ORDERS,
        MONTHS_6,
    ),
    *(
        Feature(
            f"cancellation_rate_in_{days}days",
            f"share of orders placed in the {days} days that were cancelled (before or after dispatch)",
            ORDERS,
            window,
            f"no order placed in the {days} days",
        )
        for days, window in ((30, DAYS_30), (90, DAYS_90), (180, DAYS_180))
    ),
    *(
        Feature(
            f"cod_refusal_rate_in_{days}days",
            f"share of COD orders placed in the {days} days refused at the door, returned to origin "
            "or cancelled after dispatch",
            ORDERS,
            window,
            f"no COD order placed in the {days} days",
        )
        for days, window in ((30, DAYS_30), (90, DAYS_90), (180, DAYS_180))
    ),
    Feature(
        "return_rate_in_180days",
        "share of orders placed in the 180 days that were returned after delivery",
        ORDERS,
        DAYS_180,
        NO_ORDERS_180,
    ),
    Feature(
        "cod_share_in_180days",
        "share of orders placed in the 180 days paid cash on delivery",
        ORDERS,
        DAYS_180,
        NO_ORDERS_180,
    ),
    # spend, recency and breadth
    Feature(
        "order_value_mean_in_180days",
        "mean value of orders placed in the 180 days, INR",
        ORDERS,
        DAYS_180,
        NO_ORDERS_180,
    ),
    Feature(
        "order_value_max_in_180days",
        "largest order placed in the 180 days, INR",
        ORDERS,
        DAYS_180,
        NO_ORDERS_180,
    ),
    # raw values mostly tell which categories a customer buys; against its category's, an order's value
    # tells how much the customer spends
    Feature(
        "order_value_vs_category_in_12months",
        "how pricey the orders placed in the 12 months are for their category: mean natural log of an "
        "order's value over the geometric mean value of its category's orders (all customers, same 12 "
        "months); 0 is typical, 0.7 twice the typical",
        ORDERS,
        MONTHS_12,
        "no order placed in the 12 months",
    ),
    Feature(
        "days_since_last_order",
        "days from the latest order placed in the 12 months to the snapshot",
        ORDERS,
        MONTHS_12,
        "no order placed in the 12 months",
    ),
    Feature(
        "days_since_last_cod_refusal",
        "days from the latest COD refusal (RTO or cancelled after dispatch) in the 12 months to the snapshot",
        ORDERS,
        MONTHS_12,
        "no COD refusal known in the 12 months",
    ),
    Feature("categories_in_180days", "distinct product categories ordered in the 180 days", ORDERS, DAYS_180),
    # repayment history
    Feature(
        "bills_due_in_12months", "postpaid/EMI bills that fell due in the 12 months", PAYMENTS, MONTHS_12
    ),
    Feature(
        "late_payment_rate_in_12months",
        "share of bills due in the 12 months that were late (paid late or still unpaid after the due date)",
        PAYMENTS,
        MONTHS_12,
        "no bill fell due in the 12 months",
    ),
    Feature(
        "bills_30dpd_in_12months",
        "bills due in the 12 months that reached 30 or more days past due",
        PAYMENTS,
        MONTHS_12,
    ),
    Feature(
        "max_dpd_in_24months",
        "worst days past due on any bill due in the 24 months, as known at the snapshot",
        PAYMENTS,
        MONTHS_24,
    ),
    # a late bill is rarer than a bill a month: 24 months read a customer's discipline better than 12
    Feature(
        "bills_due_in_24months", "postpaid/EMI bills that fell due in the 24 months", PAYMENTS, MONTHS_24
    ),
    Feature(
        "bills_late_in_24months",
        "bills due in the 24 months that were late (paid late or still unpaid after the due date)",
        PAYMENTS,
        MONTHS_24,
    ),
    Feature(
        "late_payment_rate_in_24months",
        "share of bills due in the 24 months that were late",
        PAYMENTS,
        MONTHS_24,
        "no bill fell due in the 24 months",
    ),
    # marketing engagement
    *(
        Feature(name, description, MARKETING, DAYS_180, NO_ADS)
        for name, description in (
            ("ads_received_in_180days", "ads sent to the customer in the 180 days"),
            (
                "ad_clicks_in_180days",
                "ads sent in the 180 days that the customer clicked before the snapshot",
            ),
        )
    ),
    Feature(
        "ad_click_rate_in_180days",
        "share of ads sent in the 180 days that were clicked before the snapshot",
        MARKETING,
        DAYS_180,
        "no ad sent in the 180 days",
    ),
    Feature(
        "purchase_after_click_rate_in_180days",
        "share of ad clicks in the 180 days followed by an order placed before the snapshot",
        MARKETING,
        DAYS_180,
        "no click in the 180 days",
    ),
    Feature(
        "days_since_last_ad_click",
        "days from the latest ad click in the 12 months to the snapshot",
        MARKETING,
        MONTHS_12,
        "no ad click in the 12 months",
    ),
    # reference registries: the latest match computed before the snapshot, per registry
    Feature(
        "business_match",
        "1 when the customer was linked to a business registry record, 0 when not",
        REFERENCE,
        LATEST,
        "never matched against the business registry",
    ),
    Feature(
        "business_match_confidence",
        "confidence of the business registry link (0 when unmatched)",
        REFERENCE,
        LATEST,
        "never matched against the business registry",
    ),
    Feature(
        "business_turnover_band",
        "turnover band of the linked business: 1 micro, 2 small, 3 medium, 4 large",
        REFERENCE,
        LATEST,
        "no linked business, or its band is unknown",
    ),
    Feature(
        "business_years_registered",
        "years between the linked business's registration and the snapshot",
        REFERENCE,
        LATEST,
        "no linked business, or its registration date is unknown",
    ),
    Feature(
        "professional_match",
        "1 when the customer was linked to a professional registry record (doctor, CA, lawyer, architect)",
        REFERENCE,
        LATEST,
        "never matched against the professional registry",
    ),
    Feature(
        "professional_match_confidence",
        "confidence of the professional registry link (0 when unmatched)",
        REFERENCE,
        LATEST,
        "never matched against the professional registry",
    ),
    # credit bureau: the latest answered lookup before the snapshot
    Feature(
        "bureau_hit",
        "1 when the bureau had a credit file on the customer, 0 when not",
        BUREAU,
        LATEST,
        NO_BUREAU,
    ),
    Feature("bureau_score", "the bureau's credit score, 300–900", BUREAU, LATEST, NO_BUREAU_HIT),
    Feature("bureau_tradelines", "credit accounts on the bureau file", BUREAU, LATEST, NO_BUREAU_HIT),
    Feature(
        "bureau_enquiries_6m",
        "credit enquiries in the 6 months before the lookup",
        BUREAU,
        LATEST,
        NO_BUREAU_HIT,
    ),
    Feature(
        "bureau_max_dpd_24m",
        "worst days past due on the bureau file, last 24 months",
        BUREAU,
        LATEST,
        NO_BUREAU_HIT,
    ),
)

FEATURE_NAMES: Final[tuple[str, ...]] = tuple(f.name for f in FEATURES)

# Label columns (never features), about the 6 months after the snapshot. Credit is decided per
# customer: 1 = bad. Buying is decided per COD order: the table counts the COD orders and the failed
# ones, and the training rows (credo.labels) hold one 0/1 label per order, LABEL_BUYING.
LABEL_CREDIT: Final = "label_credit_bad"
LABEL_BUYING_COD_ORDERS: Final = "label_buying_cod_orders"
LABEL_BUYING_FAILED_ORDERS: Final = "label_buying_failed_orders"
LABEL_BUYING: Final = "label_buying_bad"

LABEL_DEFINITIONS: Final[dict[str, str]] = {
    LABEL_CREDIT: (
        "1 when any postpaid/EMI bill reaches 90 days past due (unpaid 90 days after its due date) "
        "within the 6 months after the snapshot, else 0. Population: customers with a postpaid "
        "account open at the snapshot or an EMI instalment due in each of the snapshot's month and "
        "the next two, and no bill overdue and unpaid at the snapshot; NULL outside it."
    ),
    LABEL_BUYING_COD_ORDERS: (
        "the number of cash-on-delivery orders the customer places within the 6 months after the "
        "snapshot. Population: customers who place at least one; NULL outside it."
    ),
    LABEL_BUYING_FAILED_ORDERS: (
        "how many of those COD orders are refused at the door / returned to origin (RTO) or "
        "cancelled after dispatch; NULL outside the population."
    ),
    LABEL_BUYING: (
        "the buying model's label, one per COD order: the training rows repeat the customer's row once "
        f"per order counted in `{LABEL_BUYING_COD_ORDERS}`, and `{LABEL_BUYING_FAILED_ORDERS}` of the "
        "copies are 1 (credo.labels; the training job fits on the same orders as two weighted rows "
        "per customer snapshot, its failed and its good ones). The checkout decides COD one order at "
        "a time, and the "
        "policy prices a failure as one parcel; a per-customer label ('any COD order failed') grows with "
        "how many orders a customer places and turned loyal shoppers away. Not a column of the feature "
        "table."
    ),
}

POINT_IN_TIME_RULES: Final[tuple[str, ...]] = (
    "The snapshot T is a date; its midnight (UTC) divides the past from the future. Features use "
    "only events timed before T; labels use only what happens from T on.",
    "Windows end at T (exclusive): 'N days' starts N days before T, 'N months' N calendar months "
    "before T. No feature looks further back than 24 months: a count over all history grows with how "
    "long the shop has been mined, so a model trained on young history misreads older customers (on "
    "the synthetic world, 'ever' counts made the buying model over-predict its out-of-time holdout).",
    "Registrations: the latest version with updated_at < T; when the warehouse has none (the customer "
    "was first mined after T), the earliest version. The source keeps only its current state, so "
    "versions between two mining runs are never seen and that fallback may show attributes from "
    "after T. Every customer registered before T gets a row.",
    "Orders: counted by placed_at < T. The warehouse keeps each order's latest version only, so an "
    "outcome (cancelled, refused, returned) counts only when that status was set before T; an order "
    "whose status changed on or after T counts as placed with its outcome not yet known. Bad "
    "outcomes are final, so their counts are exact; amounts and categories are the latest known.",
    "Payments: a bill counts from its due date (before T); its days past due are those known at T: "
    "late days at payment when paid before T, else days from the due date to T. Statements dated up "
    "to T count as outstanding while unpaid at T.",
    "Marketing: sends by sent_at < T, clicks by clicked_at < T, and a purchase after a click only "
    "when that order was placed before T.",
    "Reference matches and bureau reports: the latest row with updated_at < T (bureau: status hit or "
    "no_hit; 'unavailable' lookups are ignored); NULL when there is none.",
    "Missing is explicit: rates are NULL when their denominator is 0; counts are 0 for a known "
    "customer without events; marketing, reference and bureau attributes are NULL when never observed.",
)


def feature_docs_markdown() -> str:
    """docs/features.md: every feature with its source, window and meaning, the labels and the rules."""
    lines = [
        "# Features and labels",
        "",
        "<!-- Generated by `python -m credo.features > docs/features.md` from credo/features.py; "
        "do not edit by hand. -->",
        "",
        f"Feature schema version {FEATURE_SCHEMA_VERSION}: {len(FEATURES)} features, in model input order. "
        "Each row of the training set is one customer token at one snapshot date T "
        "(`credo.warehouse.build_features`, SQL in `credo/warehouse/sql/features.sql`).",
        "",
        "## Point-in-time rules",
        "",
        *(f"- {rule}" for rule in POINT_IN_TIME_RULES),
        "",
        "## Labels",
        "",
        *(f"- `{name}`: {definition}" for name, definition in LABEL_DEFINITIONS.items()),
        "",
        "## Features",
        "",
        "| # | name | source | window | description | missing (NULL) when |",
        "| --- | --- | --- | --- | --- | --- |",
        *(
            f"| {i} | `{f.name}` | {f.source} | {f.window} | {f.description} | {f.missing} |"
            for i, f in enumerate(FEATURES, start=1)
        ),
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(feature_docs_markdown(), end="")
