"""Turn what the ``Case`` aggregate raised into events and deliveries, in the caller's unit of
work."""
from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from hub.domain import case as C
from hub.domain.projection import project
from hub.services.context import Deps
from hub.services.envelope import digest, schema_problems
from hub.services.outbox import iso, utcnow
from hub.store.uow import StoredEvent, UnitOfWork


def emit(uow: UnitOfWork, deps: Deps, event_type: str, subject: str, data: dict[str, Any],
         recipients: Iterable[str], now: datetime, dataschema: str) -> StoredEvent:
    """Publish an event as the hub itself, owed to ``recipients``."""
    env = {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": deps.hub_member_id,
        "type": event_type,
        "subject": subject,
        "time": iso(now),
        "dataschema": dataschema,
        "data": data,
    }
    ev = uow.events.add(env, received_at=now, digest=digest(env))
    uow.deliveries.add(ev, recipients, now, deps.snap().members)
    return ev


def route_to_subscribers(uow: UnitOfWork, deps: Deps, event: StoredEvent, now: datetime) -> int:
    """Members subscribed to the type, and taking part in the case, get a copy."""
    known = deps.snap().members
    subscribed = [m.id for m in known.values()
                  if event.type in m.subscribe and m.id != event.source]
    if not subscribed:
        return 0
    participants = uow.cases.participants(event.subject or "")
    return uow.deliveries.add(event, [m for m in subscribed if m in participants], now, known)


def react(uow: UnitOfWork, deps: Deps, case: C.Case) -> None:
    """Turn what the aggregate raised into events and deliveries, in this unit of work."""
    snap = deps.snap()
    defs = {d["code"]: d for d in snap.items}
    now = utcnow()
    status_changed = False
    while case.raised:
        raised = case.raised.pop(0)
        if isinstance(raised, C.ItemDispatched):
            d = defs[raised.code]
            payload = project(case.document, d.get("projection", {}))
            problems = schema_problems(snap, d["payload_contract"], payload, "$")
            if problems:
                case.fail_item(raised.code, {
                    "code": "payload_invalid",
                    "message_zh": "根据办件数据生成的推送内容不符合数据合同",
                    "message_en": "; ".join(f"{p.path}: {p.message}" for p in problems)[:500],
                }, now=now, by=deps.hub_member_id)
                uow.cases.save(case)
                continue
            emit(uow, deps, d["request_type"], case.id, payload, [d["member"]], now,
                 dataschema=d["payload_contract"])
        elif isinstance(raised, C.ItemWithdrawn):
            data = {"item": raised.code, "reason": raised.reason, "cancelled_at": iso(now)}
            emit(uow, deps, snap.event_type("item_cancelled"), case.id, data,
                 [defs[raised.code]["member"]], now,
                 dataschema=snap.current_schema("item_cancelled"))
        elif isinstance(raised, C.CaseChanged):
            status_changed = True
    if status_changed:
        emit(uow, deps, snap.event_type("case_status_changed"), case.id,
             case.status_document(snap.definitions), [deps.hrss_member_id], now,
             dataschema=snap.current_schema("case_status_changed"))
