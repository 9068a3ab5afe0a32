"""Warning levels of an open item against its working-day deadlines (pure; no database)."""
from __future__ import annotations

import functools
import math
from datetime import date, timedelta

import contracts
from hub.domain.clock import BEIJING as BEIJING
from hub.domain.clock import beijing_date as beijing_date
from hub.domain.workdays import UnknownHolidayYear, WorkingCalendar

DUE_SOON, OVERDUE, SERIOUS = "due_soon", "overdue", "seriously_overdue"
LEVELS = (DUE_SOON, OVERDUE, SERIOUS)  # in rising order
DUE_SOON_WORKING_DAYS = 2


def missing_from_contracts() -> set[str]:
    """The contracts own the level codes; this module only orders them. Empty when in step."""
    return set(LEVELS) ^ set(contracts.codes("warning_level"))


def due_soon_limit(today: date, calendar: WorkingCalendar,
                   working_days: int = DUE_SOON_WORKING_DAYS) -> date:
    """The last promised date that counts as due soon today, by the hub's working calendar
    (registered years included); calendar days if the year is unknown (the warning is early
    rather than missing)."""
    try:
        return calendar.add_working_days(today, working_days)
    except UnknownHolidayYear:
        return today + timedelta(days=working_days)


def classify(today: date, promised_by: date | None, statutory_by: date | None,
             soon_limit: date) -> str | None:
    """The level an open item is at on `today`, or None when it is in time."""
    if statutory_by is not None and today > statutory_by:
        return SERIOUS
    if promised_by is None:
        return None
    if today > promised_by:
        return OVERDUE
    if promised_by <= soon_limit:
        return DUE_SOON
    return None


def rank(level: str | None) -> int:
    return LEVELS.index(level) + 1 if level in LEVELS else 0


def label(level: str, lang: str = "zh") -> str:
    return contracts.labels("warning_level").get(level, {}).get(lang, level)


@functools.lru_cache(maxsize=65536)
def working_days_between(start: date, end: date, calendar: WorkingCalendar) -> int | None:
    """Working days after `start` up to and including `end`; None where the calendar has no
    arrangement for a year in between (never a guess)."""
    if end <= start:
        return 0
    n, day = 0, start
    try:
        while day < end:
            day += timedelta(days=1)
            if calendar.is_working_day(day):
                n += 1
    except UnknownHolidayYear:
        return None
    return n


def quantile(values: list[int], q: float) -> float | None:
    """Nearest-rank quantile (q in 0..1); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, int(-(-q * len(ordered) // 1)) - 1))
    return float(ordered[k])


def weighted_quantile(pairs: list[tuple[int, int]], q: float) -> float | None:
    """Nearest-rank quantile of values given as (value, how many times)."""
    total = sum(n for _, n in pairs)
    if not total:
        return None
    rank = max(1, math.ceil(q * total - 1e-9))
    seen = 0
    for value, n in sorted(pairs):
        seen += n
        if seen >= rank:
            return float(value)
    return float(max(v for v, _ in pairs))
