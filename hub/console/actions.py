"""What console users do that changes state, each with its audit line in the same transaction."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from hub.bootstrap import Hub
from hub.console import queries
from hub.console.accounts import audit
from hub.console.models import NoticeHandling
from hub.domain.errors import DomainError
from hub.services import operations

NEXT = {"open": "acknowledged", "acknowledged": "resolved"}


def move_notice(hub: Hub, notice_id: int, to: str, who: str, now: datetime) -> str:
    """open -> acknowledged -> resolved (resolving an open notice acknowledges it too)."""
    with hub.transaction() as s:
        state = queries.notice_state(s, notice_id)
        if state is None:
            raise DomainError("notice_not_found", f"no notice {notice_id}",
                              f"通知 {notice_id} 不存在", status=404)
        if to not in ("acknowledged", "resolved") or state == "resolved" or state == to:
            raise DomainError("notice_state", f"a {state} notice cannot become {to}",
                              f"通知当前为 {state}，不能改为 {to}", status=409)
        h = s.get(NoticeHandling, notice_id) or NoticeHandling(notice_id=notice_id, state=state)
        s.add(h)
        if h.acknowledged_at is None:
            h.acknowledged_by, h.acknowledged_at = who, now
        if to == "resolved":
            h.resolved_by, h.resolved_at = who, now
        h.state = to
        audit(s, who, f"notice_{to}", f"notice:{notice_id}", now)
    return to


def replay(hub: Hub, who: str, now: datetime, *, delivery_id: int | None = None,
           member: str | None = None, since: datetime | None = None) -> dict[str, Any]:
    out = operations.replay(hub, delivery_id=delivery_id, member=member, since=since)
    with hub.transaction() as s:
        target = f"delivery:{delivery_id}" if delivery_id else f"member:{member}"
        audit(s, who, "replay", target, now,
              detail={"replayed": out["replayed"], "since": since.isoformat() if since else None})
    return out


def set_endpoint(hub: Hub, who: str, now: datetime, member: str, enabled: bool,
                 reason: str | None) -> dict[str, Any]:
    out = operations.set_endpoint(hub, member, enabled, reason=reason)
    with hub.transaction() as s:
        audit(s, who, "endpoint_enable" if enabled else "endpoint_disable", f"member:{member}",
              now, reason=reason)
    return out


def reveal(hub: Hub, who: str, now: datetime, case_id: str, reason: str) -> None:
    with hub.transaction() as s:
        audit(s, who, "reveal", f"case:{case_id}", now, reason=reason)


def record_download(hub: Hub, who: str, now: datetime, what: str) -> None:
    with hub.transaction() as s:
        audit(s, who, "report_download", what, now)
