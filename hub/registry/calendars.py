"""The working calendar as registry data: register, browse, recompute, and warn before a year ends.

A year's arrangement is layered: the library's knowledge, then the calendars shipped in
`contracts/calendars/`, then every version registered at runtime (the latest wins). A
registration is audited like a contract change, so every hub process reloads its snapshot; then
every open item whose deadline was missing or ran through that year is counted again, one case
per transaction, with a history entry naming the calendar version.
"""
from __future__ import annotations

import datetime
import logging
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session

import contracts
from hub.domain import arrangement
from hub.domain import states as S
from hub.domain.clock import beijing_date
from hub.domain.errors import DomainError, Problem
from hub.registry.service import audit
from hub.services.outbox import iso, utcnow
from hub.services.react import react
from hub.store.models import CaseItemHistoryRow, CaseItemRow, CaseRow, Notice, WorkingCalendarRow

if TYPE_CHECKING:
    from hub.bootstrap import Hub

log = logging.getLogger("hub.calendar")
NOTICE_KIND = "calendar_year_unknown"
MAX_DOCUMENT_BYTES = 65_536


# ----- reading ------------------------------------------------------------------------------

def years(hub: Hub) -> list[dict[str, Any]]:
    cal = hub.snap().calendar
    out = []
    for y in cal.years():
        a = cal.arrangement(y)
        out.append({"year": y, "source": a.source, "version": a.version,
                    "holidays": len(a.holidays), "workdays": len(a.workdays)})
    return out


def show(hub: Hub, year: int) -> dict[str, Any]:
    cal = hub.snap().calendar
    if not cal.knows(year):
        raise DomainError("calendar_not_found", f"the working calendar has no year {year}",
                          f"工作日历尚无 {year} 年的安排", status=404)
    a = cal.arrangement(year)
    with hub.transaction() as s:
        rows = s.scalars(select(WorkingCalendarRow).where(WorkingCalendarRow.year == year)
                         .order_by(WorkingCalendarRow.version)).all()
        versions = [{"version": r.version, "notice": r.notice, "created_by": r.created_by,
                     "created_at": iso(r.created_at)} for r in rows]
        document = rows[-1].document if rows else contracts.calendars().get(year)
    return {"year": year, "source": a.source, "version": a.version, "versions": versions,
            "document": document,
            "holidays": sorted(d.isoformat() for d in a.holidays),
            "workdays": sorted(d.isoformat() for d in a.workdays)}


# ----- registering --------------------------------------------------------------------------

def register(hub: Hub, actor: str, year: int, document: Any) -> dict[str, Any]:
    """Register (or correct) a year; an identical document changes nothing."""
    if not 2000 <= year <= 2100:
        raise DomainError("invalid_calendar", "the year must be 2000-2100", "年份应为 2000 至 2100",
                          status=422, problems=[Problem("calendar_year_invalid", "$.year",
                                                        "year: expected 2000-2100",
                                                        "year 应为 2000 至 2100 之间的年份")])
    doc, _ = arrangement.parse(document, year)
    with hub.uow() as uow:
        s = uow.session
        rows = s.scalars(select(WorkingCalendarRow).where(WorkingCalendarRow.year == year)
                         .order_by(WorkingCalendarRow.version)).all()
        if rows and rows[-1].document == doc:
            return {"year": year, "version": rows[-1].version, "created": False,
                    "recomputed": {"cases": 0, "items": 0}}
        n = (rows[-1].version if rows else 0) + 1
        s.add(WorkingCalendarRow(year=year, version=n, document=doc, notice=doc["notice"],
                                 created_by=actor, created_at=utcnow()))
        audit(s, actor, "calendar.register", f"calendar/{year}",
              {"version": n, "notice": doc["notice"]})
        # two operators registering the same year at once both claim version n: the loser
        # gets a 409 (send again), never a 500
        uow.commit()
    hub.catalog.invalidate()
    done = recompute(hub, year, by=actor)
    return {"year": year, "version": n, "created": True, "recomputed": done}


# ----- recomputation ------------------------------------------------------------------------

def _clock_start(s: Session, case_id: str, code: str) -> datetime.date | None:
    """For items stored before clocks were recorded: the Beijing date the item left waiting."""
    at = s.scalar(select(func.min(CaseItemHistoryRow.at)).where(
        CaseItemHistoryRow.case_id == case_id, CaseItemHistoryRow.code == code,
        CaseItemHistoryRow.from_state == S.WAITING))
    return beijing_date(at) if at else None


def recompute(hub: Hub, year: int | None, *, by: str, chunk: int = 200) -> dict[str, int]:
    """Count again every open item whose deadline is missing or ran through `year`."""
    snap = hub.snap()
    cal = snap.calendar
    label = cal.arrangement(year).source if year is not None and cal.knows(year) else "current"
    closed_items = [S.WAITING, *sorted(S.FINAL)]
    cond: ColumnElement[bool] = CaseItemRow.deadline_note.is_not(None)
    if year is not None:
        first, last = datetime.date(year, 1, 1), datetime.date(year, 12, 31)
        cond = or_(cond, (CaseItemRow.clock_started_on <= last)
                   & or_(CaseItemRow.promised_by >= first, CaseItemRow.statutory_by >= first))
    with hub.transaction() as s:
        q = (select(CaseItemRow.case_id).join(CaseRow, CaseRow.id == CaseItemRow.case_id)
             .where(CaseRow.state == "open", cond).distinct())
        q = q.where(CaseItemRow.state.not_in(closed_items))
        case_ids = sorted(s.scalars(q))
    cases = items = 0
    now = utcnow()
    deps = hub.deps
    for start in range(0, len(case_ids), chunk):
        with hub.uow() as uow:
            s = uow.session
            for cid in case_ids[start:start + chunk]:
                case = uow.cases.get(cid, for_update=True)
                if case is None or case.state != "open":
                    continue
                for code, it in case.items.items():
                    if it.clock_started_on is None and it.state != S.WAITING:
                        it.clock_started_on = _clock_start(s, cid, code)
                changed = case.recompute_deadlines(snap.definitions, cal.deadline, year=year,
                                                   calendar=label, now=now, by=by)
                if changed:
                    uow.cases.save(case)
                    react(uow, deps, case)
                    cases += 1
                    items += len(changed)
            uow.commit()  # wakes the workers for the status changes it owes
    if cases:
        log.info("deadlines recomputed with calendar %s: %d items in %d cases", label, items,
                 cases)
    return {"cases": cases, "items": items}


# ----- watching -----------------------------------------------------------------------------

def _warn_from(hub: Hub, year: int) -> datetime.date:
    raw = getattr(hub.config, "calendar_warn_from", "10-01") or "10-01"
    month, day = (int(x) for x in str(raw).split("-"))
    return datetime.date(year, month, day)


def status(hub: Hub, now: datetime.datetime | None = None) -> dict[str, Any]:
    """Does the hub know next year? Shown on /readyz and in metrics; never fails readiness."""
    today = beijing_date(now or utcnow())
    cal = hub.snap().calendar
    nxt = today.year + 1
    due = today >= _warn_from(hub, today.year)
    out: dict[str, Any] = {"today": today.isoformat(), "known_years": cal.years(),
                           "this_year_known": cal.knows(today.year),
                           "next_year": nxt, "next_year_known": cal.knows(nxt),
                           "warning": (due and not cal.knows(nxt)) or not cal.knows(today.year)}
    if out["warning"]:
        missing = today.year if not cal.knows(today.year) else nxt
        out["message"] = (f"the working calendar for {missing} is not registered: deadlines "
                          f"reaching {missing} cannot be computed; run "
                          f"'hub calendar import {missing} FILE' when the notice is published")
        out["message_zh"] = (f"尚未登记 {missing} 年工作日历，跨入 {missing} 年的办理时限无法计算；"
                             f"国务院通知发布后请登记")
    return out


def watch(hub: Hub, now: datetime.datetime | None = None) -> dict[str, Any]:
    """The worker's periodic job: raise the notice once per year, fill in missing deadlines."""
    st = status(hub, now)
    if st["warning"]:
        missing = st["today"][:4] if not st["this_year_known"] else str(st["next_year"])
        with hub.transaction() as s:
            seen = any((n.detail or {}).get("year") == int(missing) for n in s.scalars(
                select(Notice).where(Notice.kind == NOTICE_KIND)))
            if not seen:
                s.add(Notice(at=utcnow(), kind=NOTICE_KIND, member_id=None,
                             message=st["message"], message_zh=st["message_zh"],
                             detail={"year": int(missing)}))
    st["recomputed"] = recompute(hub, None, by=hub.config.hub_member_id)
    return st


def unknown_deadline_items(hub: Hub) -> int:
    with hub.transaction() as s:
        return int(s.scalar(select(func.count()).select_from(CaseItemRow)
                            .join(CaseRow, CaseRow.id == CaseItemRow.case_id)
                            .where(CaseRow.state == "open",
                                   CaseItemRow.deadline_note.is_not(None))) or 0)
