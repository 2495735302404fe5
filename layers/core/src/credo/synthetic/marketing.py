"""Marketing: ads sent to customers, clicks, and the order that followed a click within a week."""

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from credo.synthetic.arrays import position_in_group
from credo.synthetic.calendar import WorldCalendar
from credo.synthetic.commerce import Orders
from credo.synthetic.people import FloatArray, People, sigmoid

SENDS_PER_MONTH = 0.35
CHANNELS = np.array(["email", "sms", "push", "whatsapp"])
CAMPAIGNS_PER_MONTH = 6
PURCHASE_WINDOW_DAYS = 7.0


@dataclass
class AdEvents:
    customer: NDArray[np.int64]
    sequence: NDArray[np.int64]
    month: NDArray[np.int64]
    campaign: NDArray[np.int64]
    channel: NDArray[np.str_]
    sent_day: FloatArray
    clicked_day: FloatArray  # +inf without a click
    purchased_order: NDArray[np.int64]  # index into the chunk's orders, −1 when none

    @property
    def size(self) -> int:
        return len(self.customer)


def draw_ads(rng: np.random.Generator, people: People, orders: Orders, cal: WorldCalendar) -> AdEvents:
    starts, ends = cal.month_start[:-1], cal.month_start[1:]
    active_from = np.maximum(people.registered_day[:, None], starts[None, :])
    share = np.clip(ends[None, :] - active_from, 0, None) / (ends - starts)[None, :]
    counts = rng.poisson(SENDS_PER_MONTH * (1 + 0.5 * people.is_premium[:, None]) * share)
    cust, month = np.nonzero(counts)
    reps = counts[cust, month]
    customer, month = np.repeat(cust, reps), np.repeat(month, reps)
    n = len(customer)
    lo = active_from[customer, month]
    sent = lo + rng.random(n) * (ends[month] - lo)
    order = np.lexsort((sent, customer))
    customer, month, sent = customer[order], month[order], sent[order]
    clicked = rng.random(n) < sigmoid(
        -2.6 + 0.8 * people.engagement[customer] + 0.2 * people.is_premium[customer]
    )
    clicked_day = np.where(clicked, sent + rng.exponential(0.25, n), np.inf)
    clicked_day = np.where(clicked_day < cal.end_day, clicked_day, np.inf)
    return AdEvents(
        customer=customer,
        sequence=position_in_group(customer) + 1,
        month=month,
        campaign=rng.integers(0, CAMPAIGNS_PER_MONTH, n),
        channel=rng.choice(CHANNELS, n),
        sent_day=sent,
        clicked_day=clicked_day,
        purchased_order=_next_order_within(orders, customer, clicked_day),
    )


def _next_order_within(orders: Orders, customer: NDArray[np.int64], after: FloatArray) -> NDArray[np.int64]:
    """The customer's first order placed in (after, after + 7 days], or −1."""
    # Orders are sorted by (customer, time): search on one combined key per row.
    span = 1e5
    order_key = orders.customer * span + orders.placed_day
    finite = np.isfinite(after)
    key = customer * span + np.where(finite, after, 0)
    pos = np.searchsorted(order_key, key, side="right")
    pos_ok = pos < orders.size
    candidate = np.where(pos_ok, pos, 0)
    hit = (
        finite
        & pos_ok
        & (orders.customer[candidate] == customer)
        & (orders.placed_day[candidate] <= after + PURCHASE_WINDOW_DAYS)
    )
    return np.where(hit, candidate, -1)
