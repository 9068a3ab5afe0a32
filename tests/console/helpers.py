"""Helpers for console tests: cases opened through the real publish path, dates moved."""
from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any

import contracts
from hub.client import make_event
from hub.services.publish import publish
from hub.store.models import CaseItemRow
from tests.support.members import case_id

BEIJING = timezone(timedelta(hours=8))


def open_case(hub: Any, cid: str | None = None) -> str:
    """An application from HRSS, as the entrance platform sends it."""
    cid = cid or case_id()
    publish(hub, "hrss", make_event("hrss", "application_submitted", cid,
                                    contracts.example("application")), batch=False)
    return cid


def promised(hub: Any, cid: str, code: str) -> tuple[date, date | None]:
    with hub.transaction() as s:
        row = s.get(CaseItemRow, (cid, code))
        assert row is not None and row.promised_by is not None, (cid, code)
        return row.promised_by, row.statutory_by


def beijing_morning(day: date) -> datetime:
    """09:00 Beijing on `day`, as an aware UTC datetime."""
    return datetime.combine(day, time(9, 0), BEIJING).astimezone(UTC)
