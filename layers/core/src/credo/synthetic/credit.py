"""Credit: financial-distress onset, the postpaid / EMI ledger it shows in, and the credit oracle.

Each month a customer may fall into distress (stop paying for good). The monthly hazard comes
from discipline and capacity, raised in months of a random income shock. Once in distress, every
bill from that month on stays unpaid and reaches 90 days past due: the credit-bad outcome.
Customers not in distress still pay some bills late (more so without auto-billing, or in a shock
month), which is what the observable repayment history shows.
"""

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from credo.synthetic.arrays import positions_for_counts
from credo.synthetic.calendar import WorldCalendar
from credo.synthetic.people import FloatArray, People, sigmoid

DISTRESS_INTERCEPT = -3.55
DISTRESS_DISCIPLINE = -1.45
DISTRESS_CAPACITY = -0.6
SHOCK_PROBABILITY = 0.05  # chance of an income shock in any month
SHOCK_LIFT = 1.8  # log-odds added to the distress hazard in a shock month
LATE_INTERCEPT = -1.7
DUE_DAY_OFFSET = 14.0  # statements on the 1st, due on the 15th
MAX_LATE_DAYS = 80  # a bill paid late is paid before it reaches 90 days past due
LABEL_MONTHS = 6
# Bills due in the first three months of the window can reach 90 days past due inside it.
CREDIT_EXPOSURE_MONTHS = 3


@dataclass
class Distress:
    """Hidden credit state of one chunk of customers."""

    hazard_logit: FloatArray  # per customer, without shock
    shock: NDArray[np.bool_]  # [customer, month]
    onset_month: NDArray[np.int64]  # first month in distress; `months` when never


def draw_distress(rng: np.random.Generator, people: People, cal: WorldCalendar) -> Distress:
    logit = DISTRESS_INTERCEPT + DISTRESS_DISCIPLINE * people.discipline + DISTRESS_CAPACITY * people.capacity
    shock = rng.random((people.size, cal.months)) < SHOCK_PROBABILITY
    event = rng.random((people.size, cal.months)) < sigmoid(logit[:, None] + SHOCK_LIFT * shock)
    registered_month = cal.month_index(people.registered_day)
    event &= np.arange(cal.months)[None, :] >= registered_month[:, None]
    onset = np.where(event.any(axis=1), event.argmax(axis=1), cal.months)
    return Distress(hazard_logit=logit, shock=shock, onset_month=onset)


def monthly_hazard(distress: Distress) -> FloatArray:
    """Distress hazard per month with the income shock integrated out (what the oracle knows)."""
    x = distress.hazard_logit
    return SHOCK_PROBABILITY * sigmoid(x + SHOCK_LIFT) + (1 - SHOCK_PROBABILITY) * sigmoid(x)


@dataclass
class Ledger:
    """Postpaid statements and EMI instalments of one chunk, with their repayment."""

    customer: NDArray[np.int64]  # local index into the chunk
    is_emi: NDArray[np.bool_]
    order: NDArray[np.int64]  # index into the chunk's orders for EMI, −1 for postpaid
    instalment_number: NDArray[np.int64]  # 1.. for EMI, 0 for postpaid
    month: NDArray[np.int64]
    statement_day: FloatArray
    due_day: FloatArray
    amount_due: FloatArray
    paid_day: FloatArray  # +inf while unpaid at extraction
    outstanding: FloatArray

    @property
    def size(self) -> int:
        return len(self.customer)


def build_ledger(
    rng: np.random.Generator,
    people: People,
    distress: Distress,
    cal: WorldCalendar,
    *,
    postpaid_spend: FloatArray,
    emi_customer: NDArray[np.int64],
    emi_order: NDArray[np.int64],
    emi_month: NDArray[np.int64],
    emi_amount: FloatArray,
    emi_tenure: NDArray[np.int64],
) -> Ledger:
    """Bills for postpaid accounts (every month after opening) and EMI plans (tenure months).

    postpaid_spend[c, m] is what customer c bought on postpaid in month m, billed in month m + 1.
    """
    months = cal.months
    first = np.maximum(cal.month_index(np.minimum(people.postpaid_open_day, cal.end_day)) + 1, 0)
    n_statements = np.where(people.is_postpaid, np.maximum(months - first, 0), 0)
    pp_customer = np.repeat(np.arange(people.size), n_statements)
    pp_month = np.repeat(first, n_statements) + positions_for_counts(n_statements)
    recurring = 400 * np.exp(0.4 * people.capacity[pp_customer] + 0.5 * rng.standard_normal(len(pp_customer)))
    previous_spend = np.where(pp_month > 0, postpaid_spend[pp_customer, np.maximum(pp_month - 1, 0)], 0.0)
    pp_amount = np.round(recurring + previous_spend, 2)

    n_instalments = np.clip(months - 1 - emi_month, 0, emi_tenure)
    emi_c = np.repeat(emi_customer, n_instalments)
    emi_k = positions_for_counts(n_instalments) + 1
    emi_m = np.repeat(emi_month, n_instalments) + emi_k
    instalment = np.round(emi_amount * (1 + 0.011 * emi_tenure) / emi_tenure, 2)
    emi_due = np.repeat(instalment, n_instalments)
    emi_left = (np.repeat(emi_tenure, n_instalments) - emi_k) * emi_due

    customer = np.concatenate([pp_customer, emi_c])
    month = np.concatenate([pp_month, emi_m])
    is_emi = np.concatenate([np.zeros(len(pp_customer), bool), np.ones(len(emi_c), bool)])
    amount = np.concatenate([pp_amount, emi_due])
    statement_day = cal.month_start[month]
    due_day = statement_day + DUE_DAY_OFFSET
    paid_day = _repayment_day(rng, people, distress, customer, month, due_day)
    paid_day = np.where(paid_day > cal.end_day, np.inf, paid_day)
    order = np.concatenate([np.full(len(pp_customer), -1), np.repeat(emi_order, n_instalments)])
    arrears = _unpaid_before(customer, order, month, np.where(np.isinf(paid_day), amount, 0.0))
    outstanding = np.round(amount + arrears + np.concatenate([np.zeros(len(pp_customer)), emi_left]), 2)
    return Ledger(
        customer=customer,
        is_emi=is_emi,
        order=order,
        instalment_number=np.concatenate([np.zeros(len(pp_customer), np.int64), emi_k]),
        month=month,
        statement_day=statement_day,
        due_day=due_day,
        amount_due=amount,
        paid_day=paid_day,
        outstanding=outstanding,
    )


def _repayment_day(
    rng: np.random.Generator,
    people: People,
    distress: Distress,
    customer: NDArray[np.int64],
    month: NDArray[np.int64],
    due_day: FloatArray,
) -> FloatArray:
    n = len(customer)
    shock = distress.shock[customer, month]
    auto = people.is_auto_billing[customer]
    late_logit = LATE_INTERCEPT - 1.1 * people.discipline[customer] + 1.6 * shock - 1.5 * auto
    late = rng.random(n) < sigmoid(late_logit)
    late_days = np.minimum(1 + np.floor(rng.exponential(9, n)), MAX_LATE_DAYS)
    on_time = np.where(auto, due_day + 0.375, due_day - rng.uniform(0, 12, n))
    paid = np.where(late, due_day + late_days + rng.uniform(0.3, 0.9, n), on_time)
    in_distress = month >= distress.onset_month[customer]
    return np.where(in_distress, np.inf, paid)


def _unpaid_before(
    customer: NDArray[np.int64], order: NDArray[np.int64], month: NDArray[np.int64], unpaid: FloatArray
) -> FloatArray:
    """Sum of unpaid amounts of earlier bills of the same account (arrears)."""
    idx = np.lexsort((month, order, customer))
    c, o, u = customer[idx], order[idx], unpaid[idx]
    new_group = np.ones(len(idx), bool)
    new_group[1:] = (c[1:] != c[:-1]) | (o[1:] != o[:-1])
    running = np.cumsum(u) - u
    group_start = np.maximum.accumulate(np.where(new_group, np.arange(len(idx)), 0))
    before = running - running[group_start]
    out = np.empty(len(idx))
    out[idx] = before
    return out


@dataclass
class CreditTruth:
    """The credit target at one snapshot month t, for one chunk."""

    in_population: NDArray[np.bool_]
    bad: NDArray[np.bool_]
    probability: FloatArray


def credit_truth(
    people: People, distress: Distress, ledger: Ledger, cal: WorldCalendar, t: int
) -> CreditTruth:
    """Population, realised label and true probability at the start of month t.

    Population: a postpaid account open before T, or EMI instalments due in each of the three
    months from T; and no bill overdue at T. Bad: a bill reaches 90 days past due in [T, T+6m).
    """
    n = people.size
    snapshot = cal.month_start[t]
    window_end = cal.month_start[t + LABEL_MONTHS]
    has_postpaid = people.postpaid_open_day < snapshot
    emi_months = np.zeros((n, CREDIT_EXPOSURE_MONTHS), bool)
    for k in range(CREDIT_EXPOSURE_MONTHS):
        emi_months[:, k] = _any_per_customer(ledger.customer, ledger.is_emi & (ledger.month == t + k), n)
    overdue = _any_per_customer(
        ledger.customer, (ledger.due_day < snapshot) & (ledger.paid_day >= snapshot), n
    )
    population = (has_postpaid | emi_months.all(axis=1)) & ~overdue
    day_90 = ledger.due_day + 90
    reaches_90 = (day_90 >= snapshot) & (day_90 < window_end) & (ledger.paid_day > day_90)
    bad = _any_per_customer(ledger.customer, reaches_90, n) & population
    survive = (1 - monthly_hazard(distress)) ** CREDIT_EXPOSURE_MONTHS
    already_in_distress = distress.onset_month < t
    probability = np.where(already_in_distress, 1.0, 1 - survive)
    return CreditTruth(in_population=population, bad=bad, probability=probability)


def _any_per_customer(customer: NDArray[np.int64], flag: NDArray[np.bool_], n: int) -> NDArray[np.bool_]:
    return np.bincount(customer[flag], minlength=n) > 0
