"""What administrators do: endpoints on and off, notices, listing and replaying deliveries."""
from __future__ import annotations

import os
import socket
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub.bootstrap import Hub
from hub.domain import delivery
from hub.domain.errors import DomainError
from hub.registry.calendars import status
from hub.services import key_age
from hub.services.outbox import iso, utcnow
from hub.store.models import Delivery, DeliveryAttempt, Event, Member, Notice, WorkerHeartbeat

REPLAYABLE = delivery.REPLAYABLE


def _member(s: Session, member_id: str) -> Member:
    m = s.get(Member, member_id)
    if m is None:
        raise DomainError("member_not_found", f"no member {member_id}", f"成员 {member_id} 不存在",
                          status=404)
    return m


def disable_endpoint(s: Session, member_id: str, reason: str, now: datetime) -> None:
    """Stop pushing to a member (its deliveries wait, nothing is lost) and tell administrators."""
    m = s.get(Member, member_id)
    if m is None or m.push_disabled_at is not None:
        return
    m.push_disabled_at = now
    m.push_disabled_reason = reason
    s.add(Notice(at=now, kind="endpoint_disabled", member_id=member_id,
                 message=f"push endpoint of {member_id} disabled: {reason}",
                 message_zh=f"成员 {member_id} 的推送地址已停用：{reason}",
                 detail={"push_url": m.push_url}))


def set_endpoint(hub: Hub, member_id: str, enabled: bool,
                 reason: str | None = None) -> dict[str, Any]:
    now = utcnow()
    with hub.uow() as uow:
        s = uow.session
        m = _member(s, member_id)
        if enabled:
            m.push_disabled_at = None
            m.push_disabled_reason = None
            uow.deliveries.reschedule_pending(member_id, now)
            s.add(Notice(at=now, kind="endpoint_enabled", member_id=member_id,
                         message=f"push endpoint of {member_id} re-enabled",
                         message_zh=f"成员 {member_id} 的推送地址已恢复"))
        else:
            disable_endpoint(s, member_id, reason or "disabled by an administrator", now)
        out = {"member": member_id, "push_url": m.push_url,
               "enabled": m.push_disabled_at is None, "reason": m.push_disabled_reason}
        uow.commit()  # wakes the workers when the endpoint is back
    return out


def notices(hub: Hub, limit: int = 100) -> list[dict[str, Any]]:
    """Stored notices, after the standing ones (contract versions that can't be loaded)."""
    standing = [{"id": None, "at": iso(utcnow()), "kind": "contract_unavailable", "member": None,
                 "message": f"contract {sid} can't be loaded, so events naming it are refused: "
                            f"{why}",
                 "message_zh": f"数据合同 {sid} 无法加载，引用它的事件均被拒收：{why}"}
                for sid, why in sorted(hub.snap().broken.items())]
    with hub.transaction() as s:
        rows = s.scalars(select(Notice).order_by(Notice.id.desc()).limit(limit)).all()
        stored = [{"id": n.id, "at": iso(n.at), "kind": n.kind, "member": n.member_id,
                   "message": n.message, "message_zh": n.message_zh} for n in rows]
    # keys due for rotation are computed, never stale; so are contracts that can't be loaded
    return key_age.due_notices(hub) + standing + stored


def list_deliveries(hub: Hub, *, member: str | None = None, state: str | None = None,
                    since: datetime | None = None, limit: int = 100) -> list[dict[str, Any]]:
    with hub.transaction() as s:
        q = (select(Delivery, Event.event_id, Event.type, Event.subject)
             .join(Event, Event.seq == Delivery.event_seq).order_by(Delivery.id.desc()))
        if member:
            q = q.where(Delivery.member_id == member)
        if state:
            q = q.where(Delivery.state == state)
        if since:
            q = q.where(Delivery.created_at >= since)
        rows = s.execute(q.limit(limit)).all()
        return [{"id": d.id, "member": d.member_id, "event_id": eid, "type": etype,
                 "subject": subj, "state": d.state, "attempts": d.attempts,
                 "created_at": iso(d.created_at),
                 "delivered_at": iso(d.delivered_at) if d.delivered_at else None,
                 "next_attempt_at": iso(d.next_attempt_at) if d.next_attempt_at else None,
                 "last_error": d.last_error} for d, eid, etype, subj in rows]


def attempts(hub: Hub, delivery_id: int) -> list[dict[str, Any]]:
    with hub.transaction() as s:
        rows = s.scalars(select(DeliveryAttempt).where(DeliveryAttempt.delivery_id == delivery_id)
                         .order_by(DeliveryAttempt.id)).all()
        return [{"at": iso(a.at), "status": a.status_code, "duration_ms": a.duration_ms,
                 "response": a.response, "error": a.error} for a in rows]


def replay(hub: Hub, *, delivery_id: int | None = None, member: str | None = None,
           since: datetime | None = None, states: tuple[str, ...] = (delivery.DEAD,),
           progress: Callable[[int, int], None] | None = None, chunk: int = 500) -> dict[str, Any]:
    """Deliver again: the same event ids, so receivers that dedupe apply nothing twice.

    Push deliveries go back to pending now. For a pull member the acknowledged cursor moves
    back to just before the first replayed delivery, so its next feed read starts there.
    """
    now = utcnow()
    if delivery_id is None and member is None:
        raise DomainError("replay_scope", "name a delivery, or a member (and optionally a time)",
                          "请指定投递编号，或成员（及起始时间）", status=422)
    with hub.transaction() as s:
        q = select(Delivery.id).order_by(Delivery.id)
        if delivery_id is not None:
            q = q.where(Delivery.id == delivery_id)
        else:
            _member(s, member or "")
            q = q.where(Delivery.member_id == member, Delivery.state.in_(states))
            if since is not None:
                q = q.where(Delivery.created_at >= since)
        ids = list(s.scalars(q))
    if delivery_id is not None and not ids:
        raise DomainError("delivery_not_found", f"no delivery {delivery_id}",
                          f"投递 {delivery_id} 不存在", status=404)
    done = 0
    for start in range(0, len(ids), chunk):
        part = ids[start:start + chunk]
        with hub.uow() as uow:
            uow.deliveries.reset_for_replay(part, now)
            uow.commit()  # wakes the workers for what is due again
        done += len(part)
        if progress:
            progress(done, len(ids))
    return {"replayed": len(ids), "first": ids[0] if ids else None,
            "last": ids[-1] if ids else None}


# ----- worker liveness ---------------------------------------------------------------------

def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def heartbeat(hub: Hub, wid: str) -> None:
    now = utcnow()
    with hub.transaction() as s:
        hb = s.get(WorkerHeartbeat, wid)
        if hb is None:
            s.add(WorkerHeartbeat(worker_id=wid, beat_at=now, pid=os.getpid(),
                                  host=socket.gethostname()))
        else:
            hb.beat_at = now


def freshest_heartbeat(hub: Hub) -> datetime | None:
    with hub.transaction() as s:
        return s.scalar(select(func.max(WorkerHeartbeat.beat_at)))


def _calendar_status(hub: Hub) -> dict[str, Any]:
    return status(hub)


def readiness(hub: Hub) -> tuple[bool, dict[str, Any]]:
    checks: dict[str, Any] = {}
    try:
        beat = freshest_heartbeat(hub)
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any database failure means not ready
        return False, {"database": f"unreachable: {type(exc).__name__}"}
    checks["keys"] = "ok" if hub.private_key is not None else "missing"
    stale = timedelta(seconds=hub.config.heartbeat_stale_s)
    fresh = beat is not None and utcnow() - beat <= stale
    checks["worker"] = ({"last_heartbeat": iso(beat), "fresh": fresh} if beat
                        else {"last_heartbeat": None, "fresh": False})
    checks["calendar"] = _calendar_status(hub)  # detail only: never fails readiness
    return fresh and checks["keys"] == "ok", checks
