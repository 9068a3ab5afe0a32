"""Delivery bookkeeping shared by pull (feed and ack) and push (the worker)."""
from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import literal, or_, select, tuple_, update

from hub.bootstrap import Hub
from hub.domain.delivery import BY_PUSH, DEAD, DELIVERED, PENDING, RetryPolicy
from hub.messagelog import appender as message_log
from hub.services import operations, outbox
from hub.services.ack import Ack
from hub.services.receipts import ApplyReceipts
from hub.store.deliveries import HOLD_WAIT_S, is_item_request, position, servable
from hub.store.models import Delivery, DeliveryAttempt, Event, Member

# ----- pull: the feed order is kept by hub.store.deliveries (read its note) --------------


def feed(hub: Hub, member_id: str, after: int | None, limit: int) -> dict[str, Any]:
    """The member's events in order after ``after`` (default: its last acknowledged position).

    Only rows that no later commit can precede are served (see the note above). When the page
    is not full because committed rows are held back by a transaction still in flight, the
    read is repeated for up to ``HOLD_WAIT_S``: such transactions are normally over in
    milliseconds, so a member reading right after a publish sees it."""
    limit = max(1, min(limit, hub.config.feed_max_limit))
    deadline = time.monotonic() + HOLD_WAIT_S
    while True:
        page, held = _page(hub, member_id, after, limit)
        if not held or time.monotonic() >= deadline:
            return page
        time.sleep(0.01)


def _page(hub: Hub, member_id: str, after: int | None, limit: int
          ) -> tuple[dict[str, Any], bool]:
    """One read of a page, and whether committed rows were held back behind the horizon."""
    with hub.transaction() as s:
        if after is None:
            m = s.execute(select(Member.ack_xid, Member.ack_cursor)
                          .where(Member.id == member_id)).first()
            pos = (int(m[0] or 0), int(m[1] or 0)) if m else (0, 0)
            start = pos[1]
        else:
            pos = position(s, member_id, after)[0]
            start = after
        # plain columns, not ORM entities: a page of 500 is built without object overhead;
        # the servable rows are a prefix of this order, since the horizon is one feed_xid
        rows = s.execute(
            select(Delivery.id, Event.event_id, Event.source, Event.type, Event.subject,
                   Event.time, Event.dataschema, Event.data, servable(s))
            .join(Event, Event.seq == Delivery.event_seq)
            .where(Delivery.member_id == member_id,
                   tuple_(Delivery.feed_xid, Delivery.id) > tuple_(literal(pos[0]),
                                                                   literal(pos[1])))
            .order_by(Delivery.feed_xid, Delivery.id).limit(limit + 1)
        ).all()
    fetched = len(rows)
    rows = [r for r in rows if r[-1]]
    held = len(rows) < fetched
    more = len(rows) > limit
    rows = rows[:limit]
    return {
        "items": [{"cursor": r[0], "event": outbox.envelope_of(*r[1:-1])} for r in rows],
        "next_cursor": rows[-1][0] if rows else start,
        "has_more": more,
    }, held and not more


def ack(hub: Hub, member_id: str, cursor: int) -> dict[str, Any]:
    """Record that the member holds everything up to ``cursor`` (a position it was served).

    The acknowledgement itself is one bulk update, so a large page costs one round trip; what
    it means for the cases (items move to delivered, the merged status goes out) is applied
    right here when the acknowledgement is small, and by the delivery workers otherwise.
    """
    acked: int = hub.handle(Ack(member_id, cursor))
    if acked and acked <= hub.config.inline_receipts:
        # a small acknowledgement sees its items delivered at once; a bulk one is not held up
        apply_receipts(hub, acked, member=member_id)
    return {"cursor": max(cursor, 0), "acknowledged": acked}


def _is_item_request(hub: Hub) -> Any:
    return is_item_request([d["request_type"] for d in hub.snap().items
                            if d.get("request_type")])


def _delivered(hub: Hub, d: Delivery, now: datetime, how: str) -> None:
    d.state = DELIVERED
    d.delivered_at = now
    d.delivered_by = how
    d.next_attempt_at = None
    d.receipt_pending = _is_item_request(hub)
    d.latency_ms = max(0, int((now - d.created_at).total_seconds() * 1000))


def apply_receipts(hub: Hub, limit: int = 200, member: str | None = None) -> int:
    """Apply delivered item requests to their cases (``hub.services.receipts``); every worker
    process may run this side by side."""
    applied: int = hub.handle(ApplyReceipts(limit, member))
    return applied


# ----- push ------------------------------------------------------------------------------

def claim_due(hub: Hub, worker_id: str, limit: int | None = None
              ) -> list[tuple[int, str, dict[str, Any]]]:
    """Lease due push deliveries to this worker.

    ``FOR UPDATE SKIP LOCKED`` lets several workers claim side by side on PostgreSQL without
    taking the same row; the lease makes a row claimable again if its worker dies. SQLite
    serialises writers (BEGIN IMMEDIATE), which gives the same guarantee for one machine.
    """
    now = outbox.utcnow()
    limit = limit or hub.config.push_batch
    with hub.transaction() as s:
        ids = list(s.scalars(
            select(Delivery.id)
            .join(Member, Member.id == Delivery.member_id)
            .where(Delivery.state == PENDING, Member.push_url.is_not(None),
                   Member.push_disabled_at.is_(None), Delivery.next_attempt_at <= now,
                   or_(Delivery.lease_until.is_(None), Delivery.lease_until < now))
            .order_by(Delivery.next_attempt_at, Delivery.id).limit(limit)
            .with_for_update(skip_locked=True, of=Delivery)
        ))
        if not ids:
            return []
        s.execute(update(Delivery).where(Delivery.id.in_(ids)).values(
            lease_until=now + timedelta(seconds=hub.config.lease_s), claimed_by=worker_id))
        rows = s.execute(
            select(Delivery.id, Member.push_url, Event)
            .join(Member, Member.id == Delivery.member_id)
            .join(Event, Event.seq == Delivery.event_seq)
            .where(Delivery.id.in_(ids)).order_by(Delivery.id)
        ).all()
    # push_url IS NOT NULL was part of the claim, in this same transaction
    return [(did, url, outbox.envelope(ev)) for did, url, ev in rows if url is not None]


def renew_lease(hub: Hub, delivery_id: int, worker_id: str) -> bool:
    """Just before a push: is the delivery still this worker's, still pending, its endpoint
    still enabled? Extends the lease if so. A worker that took long over its batch (slow
    receivers) thus never pushes a row another worker has taken over since."""
    now = outbox.utcnow()
    with hub.transaction() as s:
        res = s.execute(
            update(Delivery)
            .where(Delivery.id == delivery_id, Delivery.claimed_by == worker_id,
                   Delivery.state == PENDING,
                   Delivery.member_id.in_(select(Member.id)
                                          .where(Member.push_disabled_at.is_(None))))
            .values(lease_until=now + timedelta(seconds=hub.config.lease_s)))
        if getattr(res, "rowcount", 0):
            return True
        # not to be pushed by us now: let go of the claim at once rather than at lease expiry
        s.execute(update(Delivery).where(Delivery.id == delivery_id,
                                         Delivery.claimed_by == worker_id)
                  .values(claimed_by=None, lease_until=None))
        return False


def record_attempt(hub: Hub, delivery_id: int, *, status: int | None, duration_ms: int,
                   response: str | None, error: str | None,
                   retry_after: float | None = None, worker_id: str | None = None) -> str:
    """Store one try and apply the retry policy's decision, in one transaction."""
    now = outbox.utcnow()
    with hub.transaction() as s:
        d = s.get(Delivery, delivery_id)
        if d is None or d.state != PENDING:
            return d.state if d else "missing"
        ok = status is not None and 200 <= status < 300
        if worker_id is not None and d.claimed_by != worker_id and not ok:
            return "lost"  # another worker holds it now; its own attempt will count
        d.attempts += 1
        s.add(DeliveryAttempt(delivery_id=d.id, at=now, status_code=status,
                              duration_ms=duration_ms, response=(response or "")[:2000] or None,
                              error=(error or "")[:2000] or None))
        outcome = RetryPolicy(hub.config.retry_schedule_s, hub.config.retry_jitter).decide(
            status, d.attempts, now, retry_after=retry_after)
        d.lease_until = None
        d.claimed_by = None
        if outcome.state == DELIVERED:
            _delivered(hub, d, now, BY_PUSH)
        else:
            d.last_error = (error or f"HTTP {status}") + f" ({outcome.reason})"
            d.state, d.next_attempt_at = outcome.state, outcome.next_attempt_at
        if outcome.disable_endpoint:
            operations.disable_endpoint(s, d.member_id, f"410 Gone from push URL (delivery {d.id})",
                                        now)
        state = d.state
        if state in (DELIVERED, DEAD):
            message_log.note_outcome(s, d.id, state, BY_PUSH)
    # no wake-up here: the worker that pushed applies the receipt on its next round
    return state
