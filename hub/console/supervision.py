"""督办: the scheduled deadline check. Each level, once per item, raises an administrator notice
and publishes a supervision-warned event to the responsible department, in one transaction.

The clock is a parameter so tests (and the console's moved clock) decide what "now" is.
"""
from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import IntegrityError

from hub.bootstrap import Hub
from hub.console import levels as L
from hub.console import queries
from hub.console.models import ItemWarning
from hub.domain import states as S
from hub.services import outbox
from hub.store.models import Notice

log = logging.getLogger("hub.console.supervision")
EVENT_KEY = "supervision_warned"


def check_deadlines(hub: Hub, now: datetime | None = None,
                    due_soon_days: int = L.DUE_SOON_WORKING_DAYS) -> dict[str, int]:
    """Raise every level newly reached; returns how many of each were raised.

    Safe to run in several workers at once: the (case, item, level) key admits one row, and a
    worker that loses the race rolls its savepoint back and raises nothing for that item.
    """
    now = now or datetime.now(UTC)
    today = L.beijing_date(now)
    snap = hub.snap()
    soon = L.due_soon_limit(today, snap.calendar, due_soon_days)
    raised = {lvl: 0 for lvl in L.LEVELS}
    with hub.uow() as uow:
        s = uow.session
        candidates = queries.warning_candidates(s, today, soon)
        for c in candidates:
            level = L.classify(today, c["promised_by"], c["statutory_by"], soon)
            if level is None or L.rank(level) <= L.rank(c["highest"]):
                continue
            try:
                with s.begin_nested():
                    _raise(hub, s, snap, c, level, now)
            except IntegrityError:
                continue
            raised[level] += 1
        if any(raised.values()):
            uow.owes_push()  # the warnings go out to their departments right after commit
        uow.commit()
    if any(raised.values()):
        log.info("deadline check %s: raised %s", today.isoformat(), raised)
    return raised


def _raise(hub: Hub, s: Any, snap: Any, c: dict[str, Any], level: str, now: datetime) -> None:
    s.add(ItemWarning(case_id=c["case_id"], code=c["code"], level=level,
                      member_id=c["member_id"], at=now))
    s.flush()  # the key decides who raises this level; lose here, before anything is sent
    data = {"item": c["code"], "level": level, "item_state": c["state"],
            "promised_by": c["promised_by"].isoformat() if c["promised_by"] else None,
            "statutory_by": c["statutory_by"].isoformat() if c["statutory_by"] else None,
            "city_code": c["city_code"],
            "warned_at": now.astimezone(L.BEIJING).isoformat(timespec="seconds")}
    data = {k: v for k, v in data.items() if v is not None}
    if "promised_by" not in data:  # seriously overdue on the statutory date alone
        data["promised_by"] = data.get("statutory_by", "")
    ev = outbox.emit(s, hub.config.hub_member_id, snap.event_type(EVENT_KEY), c["case_id"], data,
                     [c["member_id"]], now, dataschema=snap.current_schema(EVENT_KEY),
                     known=snap.members)
    notice = Notice(
        at=now, kind=f"item_{level}", member_id=c["member_id"],
        message=(f"case {c['case_id']}: item {c['code']} at {c['member_id']} is "
                 f"{L.label(level, 'en').lower()} (promised {data['promised_by']})"),
        message_zh=(f"办件 {c['case_id']} 的事项 {c['code']}（{c['member_id']}）"
                    f"{L.label(level)}，承诺办结日期 {data['promised_by']}"),
        detail={"case_id": c["case_id"], "item": c["code"], "level": level,
                "event_id": ev.event_id})
    s.add(notice)
    s.flush()
    w = s.get(ItemWarning, (c["case_id"], c["code"], level))
    w.notice_id, w.event_id = notice.id, ev.event_id


OPEN_STATES = tuple(sorted(set(S.PROGRESSION)))
