"""Orders: arrivals by engagement and season, category, value, payment method, outcome; the buying oracle.

A customer's orders arrive as a Poisson process (rate from engagement, times a seasonal weight).
Each order draws a category and a heavy-tailed value, then a payment method by a multinomial
logit on the customer's traits and the order; then its outcome, by another multinomial logit in
which cash on delivery, the order value and the customer's COD reliability move the odds of a
refusal at the door (RTO) or a cancellation after dispatch.
"""

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from credo.synthetic.arrays import position_in_group
from credo.synthetic.calendar import WorldCalendar
from credo.synthetic.credit import LABEL_MONTHS, Distress
from credo.synthetic.people import FloatArray, People

# Seasonal weight by calendar month: the festive season (October–November) peaks.
SEASON = {
    1: 0.9,
    2: 0.85,
    3: 0.95,
    4: 0.95,
    5: 1.0,
    6: 0.95,
    7: 1.0,
    8: 1.05,
    9: 1.05,
    10: 1.35,
    11: 1.25,
    12: 1.1,
}

CATEGORIES = np.array(
    ["electronics", "mobiles", "fashion", "home", "beauty", "grocery", "books", "appliances"]
)
CATEGORY_SHARE = np.log([0.10, 0.06, 0.26, 0.14, 0.12, 0.20, 0.07, 0.05])
CATEGORY_CAPACITY = np.array([0.3, 0.2, 0.0, 0.0, 0.0, -0.1, 0.0, 0.4])
CATEGORY_MEDIAN = np.array([2500, 12000, 900, 1200, 500, 600, 350, 15000], dtype=np.float64)
FASHION, ELECTRONICS = 2, 0
VALUE_SPREAD = 0.75  # log-normal sigma of order values within a category

METHODS = np.array(["cod", "card", "upi", "wallet", "emi", "postpaid"])
COD, CARD, UPI, WALLET, EMI, POSTPAID = range(6)
EMI_MINIMUM = 3000.0

OUTCOMES = np.array(["delivered", "cancelled_before_dispatch", "cancelled_after_dispatch", "rto", "returned"])
DELIVERED, CANCELLED_BEFORE, CANCELLED_AFTER, RTO, RETURNED = range(5)
# Days from placement to the final status: (minimum, maximum) per outcome.
RESOLUTION_DAYS = np.array([[2, 7], [0, 1], [1, 4], [5, 14], [6, 22]], dtype=np.float64)

# Gauss–Hermite nodes for expectations over the order-value noise in the oracle.
_GH_X, _GH_W = np.polynomial.hermite_e.hermegauss(7)
_GH_W = _GH_W / _GH_W.sum()


def season_weights(cal: WorldCalendar) -> FloatArray:
    return np.array([SEASON[int(m)] for m in cal.month_of_year()])


@dataclass
class Orders:
    """Orders of one chunk, sorted by customer then time."""

    customer: NDArray[np.int64]  # local index
    sequence: NDArray[np.int64]  # 1.. per customer
    placed_day: FloatArray
    month: NDArray[np.int64]
    category: NDArray[np.int64]
    item_count: NDArray[np.int64]
    amount: FloatArray
    method: NDArray[np.int64]
    emi_tenure: NDArray[np.int64]  # 0 unless EMI
    outcome: NDArray[np.int64]
    resolved_day: FloatArray  # +inf when not final at extraction

    @property
    def size(self) -> int:
        return len(self.customer)


def draw_orders(rng: np.random.Generator, people: People, distress: Distress, cal: WorldCalendar) -> Orders:
    starts, ends = cal.month_start[:-1], cal.month_start[1:]
    active_from = np.maximum(people.registered_day[:, None], starts[None, :])
    active_days = np.clip(ends[None, :] - active_from, 0, None)
    expected = (
        people.order_rate[:, None] * season_weights(cal)[None, :] * active_days / (ends - starts)[None, :]
    )
    counts = rng.poisson(expected)
    cust, month = np.nonzero(counts)
    reps = counts[cust, month]
    customer = np.repeat(cust, reps)
    month = np.repeat(month, reps)
    lo = active_from[customer, month]
    placed = lo + rng.random(len(customer)) * (ends[month] - lo)
    order = np.lexsort((placed, customer))
    customer, month, placed = customer[order], month[order], placed[order]
    n = len(customer)

    cap = people.capacity[customer]
    category = _gumbel_argmax(rng, CATEGORY_SHARE[None, :] + cap[:, None] * CATEGORY_CAPACITY[None, :])
    amount = np.round(
        CATEGORY_MEDIAN[category] * np.exp(0.35 * cap + VALUE_SPREAD * rng.standard_normal(n)), 2
    ).clip(49, 2_000_000)
    item_count = 1 + rng.poisson(np.where(CATEGORIES[category] == "grocery", 3.0, 0.4))
    not_distressed = month < distress.onset_month[customer]
    postpaid_ok = (placed >= people.postpaid_open_day[customer]) & (amount <= people.postpaid_limit[customer])
    utility = payment_utilities(people, customer, amount, postpaid_ok & not_distressed, not_distressed)
    method = _gumbel_argmax(rng, utility)
    tenure = np.where(
        method == EMI,
        np.select(
            [amount < 10_000, amount < 30_000],
            [rng.choice([3, 6], n), rng.choice([3, 6, 9], n)],
            rng.choice([6, 9, 12], n),
        ),
        0,
    )
    outcome = _gumbel_argmax(rng, outcome_logits(people, customer, category, amount, method == COD))
    low, high = RESOLUTION_DAYS[outcome].T
    resolved = placed + low + rng.random(n) * (high - low)
    resolved = np.where(resolved > cal.end_day, np.inf, resolved)
    return Orders(
        customer=customer,
        sequence=position_in_group(customer) + 1,
        placed_day=placed,
        month=month,
        category=category,
        item_count=item_count,
        amount=amount,
        method=method,
        emi_tenure=tenure,
        outcome=outcome,
        resolved_day=resolved,
    )


def payment_utilities(
    people: People,
    customer: NDArray[np.int64],
    amount: FloatArray,
    postpaid_ok: NDArray[np.bool_],
    emi_allowed: NDArray[np.bool_],
) -> FloatArray:
    """Utility of each payment method for each order; −inf where a method is unavailable."""
    cap, eng = people.capacity[customer], people.engagement[customer]
    codr, tier = people.cod_reliability[customer], people.city_tier[customer]
    log_value = np.log(amount / 1000)
    u = np.empty((len(customer), len(METHODS)))
    u[:, COD] = 0.7 - 0.7 * cap - 0.35 * codr + 0.4 * (tier == 3) + 0.2 * (tier == 2) - 0.15 * log_value
    u[:, CARD] = -0.3 + 0.8 * cap + 0.15 * log_value
    u[:, UPI] = 0.7 + 0.2 * eng
    u[:, WALLET] = -0.5 + 0.35 * eng - 0.1 * log_value
    u[:, EMI] = np.where(
        emi_allowed & (amount >= EMI_MINIMUM), -1.7 + 1.0 * np.log(amount / 5000) + 0.3 * cap, -np.inf
    )
    u[:, POSTPAID] = np.where(postpaid_ok, 0.3 + 0.4 * eng, -np.inf)
    return u


def outcome_logits(
    people: People,
    customer: NDArray[np.int64],
    category: NDArray[np.int64],
    amount: FloatArray,
    is_cod: NDArray[np.bool_],
) -> FloatArray:
    codr, tier = people.cod_reliability[customer], people.city_tier[customer]
    log_value = np.log(amount / 1000)
    cod = is_cod.astype(np.float64)
    z = np.zeros((len(customer), len(OUTCOMES)))
    z[:, CANCELLED_BEFORE] = -3.2 - 0.2 * codr + 0.3 * cod
    z[:, CANCELLED_AFTER] = -4.6 - 0.4 * codr + cod * (1.5 - 0.55 * codr + 0.2 * log_value)
    z[:, RTO] = (
        -4.8
        - 0.3 * codr
        + cod * (2.6 - 0.95 * codr + 0.25 * log_value + 0.35 * (tier == 3) + 0.15 * (tier == 2))
    )
    z[:, RETURNED] = -3.0 + 1.0 * (category == FASHION) + 0.2 * (category == ELECTRONICS) - 0.2 * codr
    return z


def cod_failure_probability(logits: FloatArray) -> FloatArray:
    p = _softmax(logits)
    return p[..., CANCELLED_AFTER] + p[..., RTO]


@dataclass
class BuyingTruth:
    cod_orders: NDArray[np.int64]  # COD orders placed in the window
    failed_orders: NDArray[np.int64]  # of which failed
    probability: FloatArray  # of `bad`
    order_probability: FloatArray  # that one of the customer's COD orders fails (the per-order label's)

    @property
    def in_population(self) -> NDArray[np.bool_]:
        return self.cod_orders > 0

    @property
    def bad(self) -> NDArray[np.bool_]:
        """Per customer: any COD order in the window failed."""
        return self.failed_orders > 0


# What a customer may pay with decides how likely COD is: postpaid open and not in distress,
# no postpaid and not in distress, or in distress (neither postpaid nor EMI).
AVAILABILITY_STATES = ((True, True), (False, True), (False, False))


@dataclass
class CodExpectations:
    """Per availability state: E[P(COD)] and E[P(COD) · P(fail | COD)] over a customer's next order."""

    p_cod: FloatArray  # [state, customer]
    p_cod_fail: FloatArray


def cod_expectations(people: People) -> CodExpectations:
    """Expectations over the order's category (exactly) and value noise (Gauss–Hermite)."""
    n = people.size
    cat_p = _softmax(CATEGORY_SHARE[None, :] + people.capacity[:, None] * CATEGORY_CAPACITY[None, :])
    customer = np.arange(n)
    p_cod = np.zeros((len(AVAILABILITY_STATES), n))
    p_cod_fail = np.zeros((len(AVAILABILITY_STATES), n))
    for c in range(len(CATEGORIES)):
        category = np.full(n, c)
        for x, w in zip(_GH_X, _GH_W, strict=True):
            amount = CATEGORY_MEDIAN[c] * np.exp(0.35 * people.capacity + VALUE_SPREAD * x)
            fail = cod_failure_probability(
                outcome_logits(people, customer, category, amount, np.ones(n, bool))
            )
            for s, (postpaid_open, not_distressed) in enumerate(AVAILABILITY_STATES):
                postpaid_ok = people.is_postpaid & postpaid_open & (amount <= people.postpaid_limit)
                allowed = np.full(n, not_distressed)
                cod = _softmax(payment_utilities(people, customer, amount, postpaid_ok, allowed))[:, COD]
                p_cod[s] += cat_p[:, c] * w * cod
                p_cod_fail[s] += cat_p[:, c] * w * cod * fail
    return CodExpectations(p_cod=p_cod, p_cod_fail=p_cod_fail)


def buying_truth(
    people: People,
    distress: Distress,
    orders: Orders,
    expectations: CodExpectations,
    cal: WorldCalendar,
    t: int,
) -> BuyingTruth:
    """Population (≥1 COD order in [T, T+6m)), realised labels and true probabilities at month t.

    Per COD order, the true probability is the mean failure probability f of the customer's next
    COD order (over its category and value), in the availability state at T. Per customer, with
    Poisson arrivals thinned to COD orders (expected count Λ) that each fail with mean probability
    f, P(some failure | at least one COD order) = (1 − e^(−Λf)) / (1 − e^(−Λ)).
    The availability state is taken at T (a distress onset inside the window is ignored).
    """
    n = people.size
    snapshot, window_end = cal.month_start[t], cal.month_start[t + LABEL_MONTHS]
    in_window = (orders.placed_day >= snapshot) & (orders.placed_day < window_end) & (orders.method == COD)
    failed = in_window & np.isin(orders.outcome, (CANCELLED_AFTER, RTO))
    cod_orders = np.bincount(orders.customer[in_window], minlength=n)
    failed_orders = np.bincount(orders.customer[failed], minlength=n)
    distressed = distress.onset_month < t
    state = np.where(distressed, 2, np.where(people.postpaid_open_day < snapshot, 0, 1))
    p_cod = expectations.p_cod[state, np.arange(n)]
    p_cod_fail = expectations.p_cod_fail[state, np.arange(n)]
    exposure = people.order_rate * season_weights(cal)[t : t + LABEL_MONTHS].sum()
    cod_rate = exposure * p_cod
    mean_failure = p_cod_fail / np.maximum(p_cod, 1e-12)
    probability = -np.expm1(-cod_rate * mean_failure) / np.maximum(-np.expm1(-cod_rate), 1e-12)
    return BuyingTruth(
        cod_orders=cod_orders.astype(np.int64),
        failed_orders=failed_orders.astype(np.int64),
        probability=probability,
        order_probability=mean_failure,
    )


def _softmax(z: FloatArray) -> FloatArray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _gumbel_argmax(rng: np.random.Generator, logits: FloatArray) -> NDArray[np.int64]:
    """One draw per row from softmax(logits), vectorised by the Gumbel-max trick."""
    return np.argmax(logits + rng.gumbel(size=logits.shape), axis=1).astype(np.int64)
