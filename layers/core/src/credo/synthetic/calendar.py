"""The world's clock: float days since the world start, and calendar-month boundaries."""

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cached_property

import numpy as np
from numpy.typing import NDArray


def add_months(day: date, months: int) -> date:
    """The same day-of-month `months` later (callers use the 1st, which always exists)."""
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, day.day)


@dataclass(frozen=True)
class WorldCalendar:
    """Months of the world: month m spans days [month_start[m], month_start[m + 1])."""

    start: date
    months: int

    @cached_property
    def month_start(self) -> NDArray[np.float64]:
        # Read in every per-snapshot and per-chunk step: computed once per calendar.
        return np.array(
            [(add_months(self.start, m) - self.start).days for m in range(self.months + 1)], dtype=np.float64
        )

    @property
    def end_day(self) -> float:
        return float(self.month_start[-1])

    @property
    def end(self) -> date:
        return add_months(self.start, self.months)

    def month_of_year(self) -> NDArray[np.int64]:
        return np.array([add_months(self.start, m).month for m in range(self.months)])

    def month_date(self, m: int) -> date:
        return add_months(self.start, m)

    def month_index(self, day: NDArray[np.float64]) -> NDArray[np.int64]:
        """Calendar month of each day (−1 before the world starts)."""
        return np.searchsorted(self.month_start, day, side="right").astype(np.int64) - 1

    def to_datetime64(self, day: NDArray[np.float64]) -> NDArray[np.datetime64]:
        origin = np.datetime64(datetime.combine(self.start, datetime.min.time()), "s")
        return origin + np.round(day * 86_400).astype("timedelta64[s]")

    def to_iso(self, day: NDArray[np.float64]) -> NDArray[np.str_]:
        """ISO 8601 timestamps, second resolution (YYYY-MM-DDTHH:MM:SS)."""
        return np.datetime_as_string(self.to_datetime64(day), unit="s")

    def to_iso_date(self, day: NDArray[np.float64]) -> NDArray[np.str_]:
        return np.datetime_as_string(self.to_datetime64(np.floor(day)), unit="D")

    def day_of(self, when: date) -> float:
        return float((when - self.start).days)

    def date_of(self, day: float) -> date:
        return self.start + timedelta(days=int(day))
