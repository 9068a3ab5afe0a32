"""Delivery rows: the pull feed's order and the lifecycle's bulk moves, as named operations."""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Integer, cast, func, literal, literal_column, select, true, tuple_, update
from sqlalchemy.orm import Session

from hub.domain.delivery import BY_PULL, DELIVERED, PENDING
from hub.messagelog import appender as message_log
from hub.store.models import Delivery, Event, Member

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


def horizon_sql(s: Session) -> Any | None:
    """SQL for the oldest transaction still in flight (PostgreSQL); None where writers are
    serialised (SQLite)."""
    if s.get_bind().dialect.name == "postgresql":
        return literal_column("(pg_snapshot_xmin(pg_current_snapshot())::text)::bigint")
    return None


def servable(s: Session) -> Any:
    horizon = horizon_sql(s)
    return true() if horizon is None else Delivery.feed_xid < horizon


def position(s: Session, member_id: str, cursor: int) -> tuple[tuple[int, int], bool | None]:
    """The feed position a cursor stands for, and whether it has been served: True if it is
    a row of the member whose transaction is below the horizon (or 0), False if that row is
    not servable yet, None if the number names no row of the member."""
    if cursor <= 0:
        return (0, 0), True
    row = s.execute(select(Delivery.feed_xid, servable(s))
                    .where(Delivery.id == cursor, Delivery.member_id == member_id)).first()
    if row is None:
        return (0, cursor), None
    return (int(row[0]), cursor), bool(row[1])


def new(event: Event, member_id: str, *, push: bool, now: datetime) -> Delivery:
    """A pending delivery of ``event`` to a member: due now if pushed, served if pulled."""
    return Delivery(event=event, member_id=member_id, state=PENDING, attempts=0,
                    next_attempt_at=now if push else None, created_at=now)


def ms_since_created(s: Session, now: datetime) -> Any:
    """Milliseconds from a delivery's creation to ``now``, computed by the database so a bulk
    acknowledgement stays one statement."""
    if s.get_bind().dialect.name == "postgresql":
        return cast(func.extract("epoch", literal(now) - Delivery.created_at) * 1000, Integer)
    naive = now.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ")
    return cast((func.julianday(naive) - func.julianday(Delivery.created_at)) * 86_400_000,
                Integer)


def is_item_request(request_types: list[str]) -> Any:
    """SQL: is this delivery a linked-item request? Only those change a case when delivered,
    so only they wait for apply_receipts (status pushes, the bulk of traffic, do not)."""
    return Delivery.event_seq.in_(select(Event.seq).where(Event.type.in_(request_types)))


def ack_up_to(s: Session, member_id: str, cursor: int, now: datetime,
              request_types: list[str]) -> int | None:
    """Mark the member's rows up to the position of ``cursor`` (a position it was served)
    delivered, in one bulk update; None if the cursor is beyond what the feed has served."""
    # The member row is locked first: two acks, or an ack and a replay, of one member at once
    # take turns, so none writes back an acknowledged position another has moved since.
    # FOR NO KEY UPDATE, which publishes inserting this member's deliveries (their foreign
    # key takes KEY SHARE on the row) do not wait for, nor it for them.
    member = s.get(Member, member_id, with_for_update={"key_share": True},
                   populate_existing=True)
    assert member is not None
    pos, served = position(s, member_id, cursor)
    if served is None:  # an older cursor, or one between rows: fine unless past the end
        served = cursor <= (s.scalar(select(func.max(Delivery.id))
                                     .where(Delivery.member_id == member_id)) or 0)
    if not served:
        return None
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
               Delivery.state != DELIVERED)
        .values(state=DELIVERED, delivered_at=now, delivered_by=BY_PULL,
                next_attempt_at=None, receipt_pending=is_item_request(request_types),
                latency_ms=ms_since_created(s, now))
        .execution_options(synchronize_session=False))
    acked = int(getattr(res, "rowcount", 0) or 0)
    message_log.note_acked(s, member_id, now, done, pos)
    if pos > done:
        member.ack_xid, member.ack_cursor = pos
    return acked


def reschedule_pending(s: Session, member_id: str, now: datetime) -> int:
    """A member's pending deliveries are due now (its push endpoint is back)."""
    res = s.execute(update(Delivery).where(Delivery.member_id == member_id,
                                           Delivery.state == PENDING)
                    .values(next_attempt_at=now))
    return int(getattr(res, "rowcount", 0) or 0)


def reset_for_replay(s: Session, ids: list[int], now: datetime) -> None:
    """Put deliveries back to pending, due now, with their attempts forgotten; for a pull
    member the acknowledged position steps back to just before the first of them, so its
    next feed read starts there."""
    # the feed's order is (feed_xid, id): step back to just before the first one
    first: dict[str, tuple[int, int]] = {}
    for mid, xid, did in s.execute(select(Delivery.member_id, Delivery.feed_xid,
                                          Delivery.id).where(Delivery.id.in_(ids))):
        first[mid] = min(first.get(mid, (xid, did)), (xid, did))
    # members before deliveries, the order an ack takes its locks in: the two take turns
    # instead of deadlocking, and neither undoes the other's position
    locked = {mid: s.get(Member, mid, with_for_update={"key_share": True},
                         populate_existing=True)
              for mid in sorted(first)}
    s.execute(update(Delivery).where(Delivery.id.in_(ids)).values(
        state=PENDING, attempts=0, next_attempt_at=now, lease_until=None,
        claimed_by=None, delivered_at=None, delivered_by=None))
    message_log.note_replayed(s, ids)
    for mid, (xid, did) in first.items():
        m = locked[mid]
        if m is not None and m.push_url is None:
            m.ack_xid, m.ack_cursor = min((m.ack_xid or 0, m.ack_cursor or 0),
                                          (xid, did - 1))


def claim_receipts(s: Session, limit: int, member_id: str | None
                   ) -> list[tuple[int, str, str, str | None]]:
    """Delivered item requests still to be applied, claimed with SKIP LOCKED so that every
    worker process may apply receipts side by side: (delivery id, member, type, subject)."""
    q = (select(Delivery.id, Delivery.member_id, Event.type, Event.subject)
         .join(Event, Event.seq == Delivery.event_seq)
         .where(Delivery.receipt_pending.is_(True)).order_by(Delivery.id).limit(limit)
         .with_for_update(skip_locked=True, of=Delivery))
    if member_id is not None:
        q = q.where(Delivery.member_id == member_id)
    return [(int(r[0]), str(r[1]), str(r[2]), r[3]) for r in s.execute(q)]


def clear_receipts(s: Session, ids: list[int]) -> None:
    s.execute(update(Delivery).where(Delivery.id.in_(ids)).values(receipt_pending=False))
