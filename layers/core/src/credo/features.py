"""The one feature list: it feeds the feature SQL, the training set, the ONNX input and the online store.

Order matters: it is the column order of the model input. A model records this order and
FEATURE_SCHEMA_VERSION in its ONNX metadata; scoring refuses a model whose order differs.
"""

from dataclasses import dataclass
from typing import Final

FEATURE_SCHEMA_VERSION: Final = "1"


@dataclass(frozen=True)
class Feature:
    name: str
    description: str


FEATURES: Final[tuple[Feature, ...]] = (
    # profile (derived at the mining edge from registrations; no PII)
    Feature("age", "age in whole years at the snapshot date"),
    Feature("tenure_days", "days since registration at the snapshot date"),
    Feature("city_tier", "tier of the registered city: 1 metro, 2 large city, 3 other"),
    Feature("device_ios", "1 when the customer registered on iOS"),
    Feature("email_corporate", "1 when the email domain is a corporate domain"),
    Feature("phone_verified", "1 when the phone number was verified"),
    Feature("is_premium_member", "1 for premium members"),
    Feature("is_auto_billing", "1 when auto-billing is enabled"),
    Feature("is_postpaid", "1 when a postpaid (pay-later) account was open at the snapshot"),
    Feature("postpaid_outstanding", "unpaid postpaid statement amounts at the snapshot, INR"),
    # buying behaviour, last 6 months before the snapshot
    Feature("orders_placed_in_6months", "orders placed in the 6 months before the snapshot"),
    Feature("orders_placed_in_6months_via_epay", "of those, paid by wallet / e-pay"),
    Feature("orders_cod_in_6months", "of those, cash on delivery"),
    Feature("order_value_in_6months", "total value of those orders, INR"),
    Feature(
        "orders_cancelled_in_6months", "orders cancelled (before or after dispatch) known by the snapshot"
    ),
    Feature("orders_returned_in_6months", "orders returned after delivery known by the snapshot"),
    Feature("cod_refused_in_6months", "COD orders refused at the door / RTO / cancelled after dispatch"),
    # repayment behaviour, last 12 months before the snapshot
    Feature("bills_late_in_12months", "postpaid/EMI bills paid after their due date"),
    Feature("max_dpd_in_12months", "worst days past due on any bill, as known at the snapshot"),
)

FEATURE_NAMES: Final[tuple[str, ...]] = tuple(f.name for f in FEATURES)

# Label columns (never features): 1 = bad outcome in the 6 months after the snapshot.
LABEL_CREDIT: Final = "label_credit_bad"
LABEL_BUYING: Final = "label_buying_bad"
