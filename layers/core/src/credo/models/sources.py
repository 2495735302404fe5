"""Data contracts of every source Credo mines. docs/data-contracts.md documents the same fields.

Each record model validates one row as the source system delivers it (before pseudonymisation).
A record that fails validation is quarantined with the error, never silently dropped.
"""

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Final

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

CUSTOMER_ID_PATTERN: Final = r"^[A-Za-z0-9_\-]+$"
CustomerId = Annotated[str, Field(min_length=1, max_length=64, pattern=CUSTOMER_ID_PATTERN)]
Money = Annotated[float, Field(ge=0, le=10_000_000)]


class Device(StrEnum):
    ANDROID = "android"
    IOS = "ios"
    WEB = "web"


class Category(StrEnum):
    ELECTRONICS = "electronics"
    MOBILES = "mobiles"
    FASHION = "fashion"
    HOME = "home"
    BEAUTY = "beauty"
    GROCERY = "grocery"
    BOOKS = "books"
    APPLIANCES = "appliances"


class PaymentMethod(StrEnum):
    COD = "cod"
    CARD = "card"
    UPI = "upi"
    WALLET = "wallet"
    EMI = "emi"
    POSTPAID = "postpaid"


class OrderStatus(StrEnum):
    PLACED = "placed"  # not final yet: still in transit when the data was extracted
    DELIVERED = "delivered"
    CANCELLED_BEFORE_DISPATCH = "cancelled_before_dispatch"
    CANCELLED_AFTER_DISPATCH = "cancelled_after_dispatch"
    RTO = "rto"  # refused at the door / returned to origin
    RETURNED = "returned"  # returned after delivery


# COD orders with these outcomes are the buying-profile's bad outcome.
FAILED_COD_STATUSES = (OrderStatus.CANCELLED_AFTER_DISPATCH, OrderStatus.RTO)


class AccountType(StrEnum):
    POSTPAID = "postpaid"
    EMI = "emi"


class SourceRecord(BaseModel):
    """Base of every contract: unknown fields are errors, strings are stripped."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)


class RegistrationRecord(SourceRecord):
    """One customer as the registrations database holds them (carries PII)."""

    customer_id: CustomerId
    registered_at: datetime
    updated_at: datetime
    full_name: str = Field(min_length=1, max_length=200)
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254)
    phone: str = Field(pattern=r"^\+91[6-9][0-9]{9}$")
    street_address: str = Field(min_length=1, max_length=300)
    city: str = Field(min_length=1, max_length=100)
    pincode: str = Field(pattern=r"^[1-9][0-9]{5}$")
    date_of_birth: date
    device: Device
    phone_verified: bool
    is_premium_member: bool
    is_auto_billing: bool
    is_postpaid: bool
    postpaid_opened_at: datetime | None = None
    postpaid_limit: Money = 0.0

    @model_validator(mode="after")
    def _postpaid_is_consistent(self) -> "RegistrationRecord":
        if self.is_postpaid and self.postpaid_opened_at is None:
            raise ValueError("is_postpaid requires postpaid_opened_at")
        if not self.is_postpaid and self.postpaid_opened_at is not None:
            raise ValueError("postpaid_opened_at given for a customer without postpaid")
        return self

    @field_validator("date_of_birth")
    @classmethod
    def _plausible_birth_date(cls, value: date) -> date:
        if not date(1900, 1, 1) <= value <= date(2015, 1, 1):
            raise ValueError("date_of_birth out of range 1900-01-01..2015-01-01")
        return value


class OrderRecord(SourceRecord):
    """One order from the operational orders database; updated_at is when status last changed."""

    order_id: str = Field(min_length=1, max_length=64)
    customer_id: CustomerId
    placed_at: datetime
    updated_at: datetime
    category: Category
    item_count: int = Field(ge=1, le=1000)
    amount: Money
    payment_method: PaymentMethod
    status: OrderStatus
    delivery_pincode: str = Field(pattern=r"^[1-9][0-9]{5}$")
    emi_tenure_months: int | None = Field(default=None, ge=1, le=60)

    @model_validator(mode="after")
    def _consistent(self) -> "OrderRecord":
        if self.updated_at < self.placed_at:
            raise ValueError("updated_at is before placed_at")
        if (self.payment_method == PaymentMethod.EMI) != (self.emi_tenure_months is not None):
            raise ValueError("emi_tenure_months is required for EMI orders and only for them")
        return self


class PaymentRecord(SourceRecord):
    """One postpaid statement or EMI instalment and how it was repaid."""

    bill_id: str = Field(min_length=1, max_length=64)
    customer_id: CustomerId
    account_type: AccountType
    order_id: str | None = None  # the EMI plan's order; None for postpaid statements
    statement_date: date
    due_date: date
    amount_due: Money
    amount_paid: Money
    paid_at: datetime | None = None
    days_past_due: int = Field(ge=0, le=10_000)  # at payment, or as of extraction if unpaid
    outstanding_balance: Money
    updated_at: datetime

    @model_validator(mode="after")
    def _consistent(self) -> "PaymentRecord":
        if self.due_date < self.statement_date:
            raise ValueError("due_date is before statement_date")
        if (self.account_type == AccountType.EMI) != (self.order_id is not None):
            raise ValueError("order_id is required for EMI instalments and only for them")
        if self.paid_at is None and self.amount_paid > 0:
            raise ValueError("amount_paid without paid_at")
        return self


class AdEventRecord(SourceRecord):
    """One ad sent to a customer, whether it was clicked and the order that followed a click."""

    event_id: str = Field(min_length=1, max_length=64)
    customer_id: CustomerId
    campaign_id: str = Field(min_length=1, max_length=64)
    channel: str = Field(pattern=r"^(email|sms|push|whatsapp)$")
    sent_at: datetime
    clicked_at: datetime | None = None
    purchased_order_id: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> "AdEventRecord":
        if self.clicked_at is not None and self.clicked_at < self.sent_at:
            raise ValueError("clicked_at is before sent_at")
        if self.purchased_order_id is not None and self.clicked_at is None:
            raise ValueError("purchased_order_id without a click")
        return self


class RegistryRecord(SourceRecord):
    """One entry of a purchased business/professional registry (carries PII of the registrant)."""

    registry: str = Field(pattern=r"^(business|professional)$")
    record_id: str = Field(min_length=1, max_length=64)
    registrant_name: str = Field(min_length=1, max_length=200)
    entity_name: str = Field(min_length=1, max_length=200)
    address: str = Field(min_length=1, max_length=300)
    city: str = Field(min_length=1, max_length=100)
    pincode: str = Field(pattern=r"^[1-9][0-9]{5}$")
    registered_on: date
    category: str = Field(min_length=1, max_length=64)
    turnover_band: str = Field(pattern=r"^(micro|small|medium|large|na)$")


class BureauRecord(SourceRecord):
    """One person in the credit bureau's own file (the bureau knows who they are)."""

    bureau_id: str = Field(min_length=1, max_length=64)
    full_name: str = Field(min_length=1, max_length=200)
    phone: str = Field(pattern=r"^\+91[6-9][0-9]{9}$")
    date_of_birth: date
    pincode: str = Field(pattern=r"^[1-9][0-9]{5}$")
    bureau_score: int = Field(ge=300, le=900)
    tradelines: int = Field(ge=0, le=200)
    enquiries_6m: int = Field(ge=0, le=200)
    max_dpd_24m: int = Field(ge=0, le=999)
