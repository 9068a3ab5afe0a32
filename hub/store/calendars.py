"""The working calendar as stored: the shipped files overlaid by the registered versions."""
from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

import contracts
from hub.domain import arrangement
from hub.domain.errors import DomainError
from hub.domain.workdays import Arrangement, WorkingCalendar
from hub.store.models import WorkingCalendarRow

log = logging.getLogger("hub.calendar")


def _label(year: int, version: int | None, notice: str) -> str:
    return f"{year} v{version} ({notice})" if version else f"{year} ({notice})"


def load_calendar(s: Session) -> WorkingCalendar:
    """The calendar every process uses: library < shipped files < registered versions."""
    years: dict[int, Arrangement] = {}
    for year, doc in contracts.calendars().items():
        _, arr = arrangement.parse(doc, year)
        years[year] = Arrangement(arr.year, arr.holidays, arr.workdays,
                                  f"contracts/calendars/{year}.json ({doc['notice']})")
    for row in s.scalars(select(WorkingCalendarRow).order_by(WorkingCalendarRow.version)):
        try:
            _, arr = arrangement.parse(row.document, row.year)
        except DomainError:  # checked when registered; never let one row stop every process
            log.error("working calendar %s version %s no longer passes its checks; "
                      "the previous version stays in force", row.year, row.version)
            continue
        years[row.year] = Arrangement(arr.year, arr.holidays, arr.workdays,
                                      f"registry {_label(row.year, row.version, row.notice)}",
                                      row.version)
    return WorkingCalendar(years)
