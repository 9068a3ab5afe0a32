"""The one home of time: the zones we speak, now, and the ISO forms that cross the wire.

Instants are stored and compared in UTC; everything a person sees is Beijing time
(Asia/Shanghai) with its offset. A naive datetime is taken as UTC, never as local time.
"""

from __future__ import annotations

import datetime
from zoneinfo import ZoneInfo

UTC = datetime.UTC
BEIJING = ZoneInfo("Asia/Shanghai")
# The fixed +08:00 offset city systems write on their forms (China has no daylight saving).
CST = datetime.timezone(datetime.timedelta(hours=8))


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(UTC)


def beijing_now() -> datetime.datetime:
    return datetime.datetime.now(BEIJING)


def beijing_today() -> datetime.date:
    """Today's date in Beijing, whatever the machine's zone."""
    return beijing_now().date()


def _aware(at: datetime.datetime) -> datetime.datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def beijing_date(at: datetime.datetime) -> datetime.date:
    """The Beijing calendar date of an instant (a naive datetime is taken as UTC)."""
    return _aware(at).astimezone(BEIJING).date()


def beijing_time(at: datetime.datetime) -> datetime.datetime:
    """An instant in Beijing time (a naive datetime is taken as UTC)."""
    return _aware(at).astimezone(BEIJING)


def beijing_iso(at: datetime.datetime | None) -> str:
    """An instant as people see it: Beijing time with its offset, e.g. 2026-12-07T01:30:00+08:00."""
    if at is None:
        return ""
    return _aware(at).astimezone(BEIJING).isoformat(timespec="seconds")


def now_iso() -> str:
    """Now as RFC 3339 with the +08:00 offset, to the second (what a form shows)."""
    return datetime.datetime.now(CST).isoformat(timespec="seconds")
