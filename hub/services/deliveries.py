"""Delivery bookkeeping shared by pull (feed and ack) and push (the worker)."""
from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Integer,
    cast,
    func,
    literal,
    literal_column,
    or_,
    select,
    true,
    tuple_,
    update,
)
from sqlalchemy.orm import Session

from hub.bootstrap import Hub
from hub.domain.errors import DomainError, Problem
from hub.messagelog import appender as message_log
from hub.services import operations, outbox, retry
from hub.services.publish import react
from hub.store import cases as case_store
from hub.store.models import Delivery, DeliveryAttempt, Event, Member

# ----- pull ------------------------------------------------------------------------------
#
# Why the feed is ordered by (feed_xid, id) and not by id. Ids come from a sequence when a row
# is inserted, not when its transaction commits: with several publishers on PostgreSQL, id 7
# can commit after id 9 has been served, and a feed paging by "id > cursor" would step over it
# for good (and an ack of "id <= cursor" would mark it delivered unseen). So every delivery
# records the transaction that inserted it (``feed_xid``, PostgreSQL's 64-bit
# ``pg_current_xact_id()``, set by a column default), and a page serves, in (feed_xid, id)
# order, only rows whose transaction is older than the oldest transaction still in flight
# (``pg_snapshot_xmin(pg_current_snapshot())``). Every row that may still become visible
# belongs to a transaction at or above that horizon, so it sorts after everything already
# served: a position, once passed, can never be preceded by a later commit. An ack marks only
# the member's rows at or below the position of the cursor it names, which is a row it was
# served. On SQLite writers are serialised (BEGIN IMMEDIATE), so id order is commit order and
# feed_xid stays 0.
#
# The cursor stays the id of the last row served (opaque to members, and a number as before):
# the hub looks up that row's (feed_xid, id). A number that names no row of the member, such
# as a cursor kept from before feed_xid existed, stands for (0, number), which is exactly what
# it meant then (older rows all have feed_xid 0).
#
# Cost: a new event is visible once its transaction has committed and every transaction that
# began writing before it has ended; on a quiet feed that is at once. A long-running writing
# transaction anywhere on the PostgreSQL server holds back newer rows (never older ones) until
# it ends; they are late, never lost (a read finding rows held back tries again for up to
# HOLD_WAIT_S first). Read-only transactions hold nothing back.


HOLD_WAIT_S = 1.0  # longest a feed read waits for a transaction in flight (see feed())


def _horizon(s: Session) -> Any | None:
    """SQL for the oldest transaction still in flight (PostgreSQL); None where writers are
    serialised (SQLite)."""
    if s.get_bind().dialect.name == "postgresql":
        return literal_column("(pg_snapshot_xmin(pg_current_snapshot())::text)::bigint")
    return None


def _servable(s: Session) -> Any:
    horizon = _horizon(s)
    return true() if horizon is None else Delivery.feed_xid < horizon


def _position(s: Session, member_id: str, cursor: int) -> tuple[tuple[int, int], bool | None]:
    """The feed position a cursor stands for, and whether it has been served: True if it is
    a row of the member whose transaction is below the horizon (or 0), False if that row is
    not servable yet, None if the number names no row of the member."""
    if cursor <= 0:
        return (0, 0), True
    row = s.execute(select(Delivery.feed_xid, _servable(s))
                    .where(Delivery.id == cursor, Delivery.member_id == member_id)).first()
    if row is None:
        return (0, cursor), None
    return (int(row[0]), cursor), bool(row[1])


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
            pos = _position(s, member_id, after)[0]
            start = after
        # plain columns, not ORM entities: a page of 500 is built without object overhead;
        # the servable rows are a prefix of this order, since the horizon is one feed_xid
        rows = s.execute(
            select(Delivery.id, Event.event_id, Event.source, Event.type, Event.subject,
                   Event.time, Event.dataschema, Event.data, _servable(s))
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
    now = outbox.utcnow()
    with hub.transaction() as s:
        member = s.get(Member, member_id)
        assert member is not None
        pos, served = _position(s, member_id, cursor)
        if served is None:  # an older cursor, or one between rows: fine unless past the end
            served = cursor <= (s.scalar(select(func.max(Delivery.id))
                                         .where(Delivery.member_id == member_id)) or 0)
        if not served:
            raise DomainError(
                "cursor_ahead", f"cursor {cursor} is beyond what this feed has served",
                f"确认位置 {cursor} 超出本成员订阅流已提供的位置", status=409,
                problems=[Problem("cursor_ahead", "$.cursor", "beyond the feed", "超出订阅流")])
        # Rows at or below the position already acknowledged are delivered (a replay moves
        # that position back before the rows it re-opens), so only the stretch after it is
        # touched: an ack costs its page, not the member's history.
        done = (member.ack_xid or 0, member.ack_cursor or 0)
        res = s.execute(
            update(Delivery)
            .where(Delivery.member_id == member_id,
                   tuple_(Delivery.feed_xid, Delivery.id) > tuple_(literal(done[0]),
                                                                   literal(done[1])),
                   tuple_(Delivery.feed_xid, Delivery.id) <= tuple_(literal(pos[0]),
                                                                    literal(pos[1])),
                   Delivery.state != "delivered")
            .values(state="delivered", delivered_at=now, delivered_by="pull",
                    next_attempt_at=None, receipt_pending=_is_item_request(hub),
                    latency_ms=_ms_since_created(s, now))
            .execution_options(synchronize_session=False))
        acked = int(getattr(res, "rowcount", 0) or 0)
        message_log.note_acked(s, member_id, now, done, pos)
        if pos > done:
            member.ack_xid, member.ack_cursor = pos
    if acked and acked <= hub.config.inline_receipts:
        # a small acknowledgement sees its items delivered at once; a bulk one is not held up
        apply_receipts(hub, acked, member=member_id)
    hub.wake()
    return {"cursor": max(cursor, 0), "acknowledged": acked}


def _ms_since_created(s: Session, now: datetime) -> Any:
    """Milliseconds from a delivery's creation to ``now``, computed by the database so a bulk
    acknowledgement stays one statement."""
    if s.get_bind().dialect.name == "postgresql":
        return cast(func.extract("epoch", literal(now) - Delivery.created_at) * 1000, Integer)
    naive = now.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ")
    return cast((func.julianday(naive) - func.julianday(Delivery.created_at)) * 86_400_000,
                Integer)


def _is_item_request(hub: Hub) -> Any:
    """SQL: is this delivery a linked-item request? Only those change a case when delivered,
    so only they wait for apply_receipts (status pushes, the bulk of traffic, do not)."""
    types = [d["request_type"] for d in hub.snap().items if d.get("request_type")]
    return Delivery.event_seq.in_(select(Event.seq).where(Event.type.in_(types)))


def _delivered(hub: Hub, d: Delivery, now: datetime, how: str) -> None:
    d.state = "delivered"
    d.delivered_at = now
    d.delivered_by = how
    d.next_attempt_at = None
    d.receipt_pending = _is_item_request(hub)
    d.latency_ms = max(0, int((now - d.created_at).total_seconds() * 1000))


def apply_receipts(hub: Hub, limit: int = 200, member: str | None = None) -> int:
    """Apply delivered deliveries to their cases: an item request that reached its department
    moves the item to delivered (and the merged status goes to HRSS). Rows are claimed with
    SKIP LOCKED, so every worker process may run this side by side."""
    snap = hub.snap()
    now = outbox.utcnow()
    with hub.transaction() as s:
        q = (select(Delivery.id, Delivery.member_id, Event.type, Event.subject)
             .join(Event, Event.seq == Delivery.event_seq)
             .where(Delivery.receipt_pending.is_(True)).order_by(Delivery.id).limit(limit)
             .with_for_update(skip_locked=True, of=Delivery))
        if member is not None:
            q = q.where(Delivery.member_id == member)
        rows = s.execute(q).all()
        if not rows:
            return 0
        changed: dict[str, Any] = {}
        for _did, member_id, etype, subject in rows:
            item = snap.item_for_request_type(etype)
            if item is None or not subject:
                continue
            case = changed.get(subject) or case_store.get(s, subject, for_update=True)
            if case is not None and case.mark_delivered(item["code"], now=now, by=member_id):
                changed[subject] = case
        for case in changed.values():
            case_store.save(s, case)
            react(hub, s, case)
        s.execute(update(Delivery).where(Delivery.id.in_([r[0] for r in rows]))
                  .values(receipt_pending=False))
    return len(rows)


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
            .where(Delivery.state == "pending", Member.push_url.is_not(None),
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
                   Delivery.state == "pending",
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
        if d is None or d.state != "pending":
            return d.state if d else "missing"
        ok = status is not None and 200 <= status < 300
        if worker_id is not None and d.claimed_by != worker_id and not ok:
            return "lost"  # another worker holds it now; its own attempt will count
        d.attempts += 1
        s.add(DeliveryAttempt(delivery_id=d.id, at=now, status_code=status,
                              duration_ms=duration_ms, response=(response or "")[:2000] or None,
                              error=(error or "")[:2000] or None))
        outcome = retry.decide(status, d.attempts, now, schedule=hub.config.retry_schedule_s,
                               jitter=hub.config.retry_jitter, retry_after=retry_after)
        d.lease_until = None
        d.claimed_by = None
        if outcome.state == "delivered":
            _delivered(hub, d, now, "push")
        else:
            d.last_error = (error or f"HTTP {status}") + f" ({outcome.reason})"
            d.state, d.next_attempt_at = outcome.state, outcome.next_attempt_at
        if outcome.disable_endpoint:
            operations.disable_endpoint(s, d.member_id, f"410 Gone from push URL (delivery {d.id})",
                                        now)
        state = d.state
        if state in ("delivered", "dead"):
            message_log.note_outcome(s, d.id, state, "push")
    # no wake-up here: the worker that pushed applies the receipt on its next round
    return state
