"""Store events and the deliveries they owe, inside the caller's transaction."""
from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.messagelog import appender as message_log
from hub.services.envelope import digest
from hub.store.models import CaseMember, Delivery, Event


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def envelope(ev: Event) -> dict[str, Any]:
    """The stored event as the CloudEvent that crosses the wire."""
    return envelope_of(ev.event_id, ev.source, ev.type, ev.subject, ev.time, ev.dataschema,
                       ev.data)


def envelope_of(event_id: str, source: str, type_: str, subject: str | None, time: str | None,
                dataschema: str | None, data: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "specversion": "1.0",
        "id": event_id,
        "source": source,
        "type": type_,
        "subject": subject,
        "datacontenttype": "application/json",
    }
    if time:
        out["time"] = time
    if dataschema:
        out["dataschema"] = dataschema
    out["data"] = data
    return out


def store_event(session: Session, env: dict[str, Any], *, received_at: datetime,
                fingerprint: str | None = None) -> Event:
    row = Event(
        event_id=env["id"], source=env["source"], type=env["type"], subject=env.get("subject"),
        time=env.get("time"), dataschema=env.get("dataschema"), data=env["data"],
        digest=fingerprint or digest(env), received_at=received_at,
    )
    session.add(row)
    message_log.note_event(session, row)
    return row


def add_deliveries(session: Session, event: Event, members: Iterable[str], now: datetime,
                   known: dict[str, Any]) -> int:
    """``known``: the catalog snapshot's members (push URL decides push or pull)."""
    n = 0
    for member_id in sorted(set(members)):
        m = known.get(member_id)
        if m is None:
            continue
        session.add(Delivery(
            event=event, member_id=member_id, state="pending", attempts=0,
            next_attempt_at=now if m.push_url else None, created_at=now,
        ))
        n += 1
    return n


def emit(session: Session, hub_member: str, event_type: str, subject: str, data: dict[str, Any],
         recipients: Iterable[str], now: datetime, dataschema: str,
         known: dict[str, Any]) -> Event:
    """Publish an event as the hub itself, owed to ``recipients``."""
    env = {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": hub_member,
        "type": event_type,
        "subject": subject,
        "time": iso(now),
        "dataschema": dataschema,
        "data": data,
    }
    ev = store_event(session, env, received_at=now)
    add_deliveries(session, ev, recipients, now, known)
    return ev


def route_to_subscribers(session: Session, event: Event, now: datetime,
                         known: dict[str, Any]) -> int:
    """Members subscribed to the type, and taking part in the case, get a copy."""
    subscribed = [m.id for m in known.values()
                  if event.type in m.subscribe and m.id != event.source]
    if not subscribed:
        return 0
    participants = set(session.scalars(
        select(CaseMember.member_id).where(CaseMember.case_id == event.subject)))
    return add_deliveries(session, event, [m for m in subscribed if m in participants], now, known)
