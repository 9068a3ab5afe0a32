"""Working-day arithmetic on the State Council's holiday arrangement (with 调休 make-up days).

The yearly arrangement is published each November; `chinese_calendar` ships it. A year the
library does not know raises `UnknownHolidayYear` rather than guessing from weekdays, because
a guessed deadline would be wrong around every holiday.
"""

from __future__ import annotations

import datetime
import functools

import chinese_calendar
from chinese_calendar.constants import holidays as _known_holidays

from hub.domain.errors import DomainError

_FIRST_YEAR = min(_known_holidays).year
_LAST_YEAR = max(_known_holidays).year


class UnknownHolidayYear(DomainError):
    """The holiday calendar has no arrangement for this year yet (update chinese-calendar)."""

    code = "holiday_calendar_unknown_year"
    status = 503

    def __init__(self, year: int) -> None:
        super().__init__(
            message=(
                f"the holiday calendar does not know the year {year} "
                f"(it covers {_FIRST_YEAR}-{_LAST_YEAR})"
            ),
            message_zh=f"节假日日历尚无 {year} 年的安排（现有 {_FIRST_YEAR}-{_LAST_YEAR} 年）",
        )
        self.year = year


def known_years() -> range:
    return range(_FIRST_YEAR, _LAST_YEAR + 1)


def is_working_day(day: datetime.date) -> bool:
    """True on a working day, including a weekend made a working day (调休)."""
    if isinstance(day, datetime.datetime):
        day = day.date()
    if day.year not in known_years():
        raise UnknownHolidayYear(day.year)
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        raise UnknownHolidayYear(day.year) from None


@functools.lru_cache(maxsize=4096)
def add_working_days(start: datetime.date, n: int) -> datetime.date:
    """The n-th working day after `start` (start itself not counted); n == 0 gives `start`."""
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError("n: expected an integer")
    if n < 0:
        raise ValueError("n: must not be negative")
    if isinstance(start, datetime.datetime):
        start = start.date()
    if start.year not in known_years():
        raise UnknownHolidayYear(start.year)
    day = start
    remaining = n
    while remaining:
        day += datetime.timedelta(days=1)
        if is_working_day(day):
            remaining -= 1
    return day
