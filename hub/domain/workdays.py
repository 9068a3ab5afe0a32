"""Working-day arithmetic on the State Council's holiday arrangement (with 调休 make-up days).

Each year's arrangement comes from one of two places: a document an operator registered from
the State Council's notice (see `hub.domain.arrangement`), or, for the years it covers, the
`chinese_calendar` library. A registered document wins where both exist. A year neither knows
raises `UnknownHolidayYear` rather than guessing from weekdays, because a guessed deadline
would be wrong around every holiday.

The counting rule (Civil Code art. 201; Administrative Licensing Law art. 82), on Beijing
dates (Asia/Shanghai), whatever the UTC date of the event:
- the clock starts on the Beijing date of the event that starts it (acceptance, approval);
- a clock started on a non-working day starts on the next working day instead;
- that start day is day 0 and is not counted; the deadline is the n-th working day after it.
"""

from __future__ import annotations

import datetime
import functools
from collections.abc import Mapping
from dataclasses import dataclass

import chinese_calendar
from chinese_calendar.constants import holidays as _lib_holidays
from chinese_calendar.constants import workdays as _lib_workdays

from hub.domain.clock import beijing_date

# Re-exported for callers not yet moved to `hub.domain.clock`.
from hub.domain.clock import beijing_iso as beijing_iso
from hub.domain.clock import beijing_time as beijing_time
from hub.domain.errors import DomainError

LIBRARY_SOURCE = f"chinese-calendar {getattr(chinese_calendar, '__version__', '')}".strip()

_LIB_FIRST = min(_lib_holidays).year
_LIB_LAST = max(_lib_holidays).year


class UnknownHolidayYear(DomainError):
    """The working calendar has no arrangement for this year yet (register it from the notice)."""

    code = "holiday_calendar_unknown_year"
    status = 503

    def __init__(self, year: int, known: list[int] | None = None) -> None:
        years = sorted(known) if known else list(range(_LIB_FIRST, _LIB_LAST + 1))
        span = f"{years[0]}-{years[-1]}" if years else "none"
        super().__init__(
            message=(f"the working calendar does not know the year {year} (it covers {span}); "
                     f"register it with 'hub calendar import {year} FILE'"),
            message_zh=f"工作日历尚无 {year} 年的放假安排（现有 {span} 年），请登记该年日历",
        )
        self.year = year


@dataclass(frozen=True)
class Arrangement:
    """One year's holidays and make-up working days, and where they came from."""

    year: int
    holidays: frozenset[datetime.date]
    workdays: frozenset[datetime.date]
    source: str  # e.g. "registry 2027 v1 (国办发明电〔2026〕N号)" or "chinese-calendar 1.11.0"
    version: int | None = None  # the registered version; None for the library's knowledge

    def is_working_day(self, day: datetime.date) -> bool:
        if day in self.workdays:
            return True
        return day.weekday() < 5 and day not in self.holidays


def library_arrangement(year: int) -> Arrangement | None:
    if not _LIB_FIRST <= year <= _LIB_LAST:
        return None
    return Arrangement(
        year=year,
        holidays=frozenset(d for d in _lib_holidays if d.year == year),
        workdays=frozenset(d for d in _lib_workdays if d.year == year),
        source=LIBRARY_SOURCE,
    )


class WorkingCalendar:
    """The years the hub knows: registered arrangements over the library's defaults."""

    def __init__(self, registered: Mapping[int, Arrangement] | None = None) -> None:
        self._years: dict[int, Arrangement] = {}
        for y in range(_LIB_FIRST, _LIB_LAST + 1):
            lib = library_arrangement(y)
            if lib is not None:
                self._years[y] = lib
        self._years.update(registered or {})
        self._deadlines: dict[tuple[datetime.date, int], datetime.date] = {}

    def years(self) -> list[int]:
        return sorted(self._years)

    def knows(self, year: int) -> bool:
        return year in self._years

    def arrangement(self, year: int) -> Arrangement:
        try:
            return self._years[year]
        except KeyError:
            raise UnknownHolidayYear(year, self.years()) from None

    def is_working_day(self, day: datetime.date) -> bool:
        day = _as_date(day)
        return self.arrangement(day.year).is_working_day(day)

    def clock_start(self, day: datetime.date) -> datetime.date:
        """The day a clock started on `day` really starts: the next working day if need be."""
        day = _as_date(day)
        while not self.is_working_day(day):
            day += datetime.timedelta(days=1)
        return day

    def add_working_days(self, start: datetime.date, n: int) -> datetime.date:
        """The n-th working day after `start` (start itself not counted); n == 0 gives `start`."""
        if isinstance(n, bool) or not isinstance(n, int):
            raise TypeError("n: expected an integer")
        if n < 0:
            raise ValueError("n: must not be negative")
        day = _as_date(start)
        self.arrangement(day.year)
        remaining = n
        while remaining:
            day += datetime.timedelta(days=1)
            if self.is_working_day(day):
                remaining -= 1
        return day

    def deadline(self, start: datetime.date, n: int) -> datetime.date:
        """A deadline of n working days for a clock started on the Beijing date `start`."""
        key = (_as_date(start), n)
        found = self._deadlines.get(key)
        if found is None:
            found = self.add_working_days(self.clock_start(key[0]), n)
            if len(self._deadlines) > 4096:  # a calendar lives until the next registration
                self._deadlines.clear()
            self._deadlines[key] = found
        return found

    def sources(self, first: datetime.date, last: datetime.date) -> list[str]:
        """Which arrangements a count from `first` to `last` relied on (for an item's history)."""
        return [self._years[y].source for y in range(first.year, last.year + 1) if y in self._years]


def _as_date(day: datetime.date) -> datetime.date:
    if isinstance(day, datetime.datetime):
        return beijing_date(day) if day.tzinfo is not None else day.date()
    return day


_LIBRARY = WorkingCalendar()


def known_years() -> range:
    return range(_LIB_FIRST, _LIB_LAST + 1)


def is_working_day(day: datetime.date) -> bool:
    """True on a working day by the library's knowledge alone (no registered years)."""
    return _LIBRARY.is_working_day(day)


@functools.lru_cache(maxsize=4096)
def add_working_days(start: datetime.date, n: int) -> datetime.date:
    """`WorkingCalendar.add_working_days` on the library's knowledge alone."""
    return _LIBRARY.add_working_days(start, n)
