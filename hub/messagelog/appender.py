"""Append leaves in the same transaction as the records they stand for.

Services only note what happened (``note_event``, ``note_outcome``, ...). Just before the
transaction commits, the notes become leaves: the single log head row is locked (PostgreSQL
``FOR UPDATE``; SQLite already holds the write lock from ``BEGIN IMMEDIATE``), its frontier
extended leaf by leaf and the completed subtree hashes stored. The lock is taken last and held
only for that step, so every hub process appends in one global order without waiting on the
rest of another's transaction, and no root is ever recomputed from the first leaf.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table, func, literal, select, tuple_
from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session, sessionmaker

from hub.domain.delivery import BY_PULL, DELIVERED
from hub.messagelog import merkle
from hub.messagelog.leaves import attempt_entry, canonical, delivery_leaf, event_leaf
from hub.messagelog.tables import LogHead, LogLeaf
from hub.store.models import Delivery, DeliveryAttempt, Event

PENDING = "messagelog.pending"
SIGNER = "messagelog.signer"


def attach(sessions: sessionmaker[Session]) -> None:
    """Make every session of this hub turn its notes into leaves at commit."""
    sa_event.listen(sessions, "before_commit", _before_commit)
    sa_event.listen(sessions, "after_rollback", _forget)


def note_event(session: Session, row: Event) -> None:
    session.info.setdefault(PENDING, []).append(("event", row))


def note_signer(session: Session, member_id: str, keyid: str | None) -> None:
    """The key that signed the request whose events this transaction accepts."""
    session.info[SIGNER] = (member_id, keyid)


def note_outcome(session: Session, delivery_id: int, outcome: str, via: str) -> None:
    session.info.setdefault(PENDING, []).append(("delivery", (delivery_id, outcome, via)))


def note_acked(session: Session, member_id: str, at: datetime,
               after: tuple[int, int], upto: tuple[int, int]) -> None:
    """Deliveries a pull member just acknowledged: feed positions after ``after`` up to
    ``upto`` that the bulk update stamped with ``at`` (the same index range it read)."""
    position = tuple_(Delivery.feed_xid, Delivery.id)
    ids = session.scalars(select(Delivery.id).where(
        Delivery.member_id == member_id,
        position > tuple_(literal(after[0]), literal(after[1])),
        position <= tuple_(literal(upto[0]), literal(upto[1])),
        Delivery.delivered_at == at, Delivery.delivered_by == "pull")
        .order_by(Delivery.feed_xid, Delivery.id))
    for did in ids:
        note_outcome(session, did, DELIVERED, BY_PULL)


def note_replayed(session: Session, delivery_ids: Iterable[int]) -> None:
    for did in delivery_ids:
        note_outcome(session, did, "replayed", "admin")


def _forget(session: Session) -> None:
    session.info.pop(PENDING, None)
    session.info.pop(SIGNER, None)


def _before_commit(session: Session) -> None:
    pending = session.info.pop(PENDING, None)
    signer = session.info.pop(SIGNER, None)
    if not pending:
        return
    session.flush()  # sequences and attempt ids are known from here on
    now = datetime.now(UTC)
    rows: list[dict[str, Any]] = []
    for kind, what in pending:
        if kind == "event":
            rows.append(_event_row(what, signer))
    outcomes = [what for kind, what in pending if kind == "delivery"]
    if outcomes:
        rows.extend(_delivery_rows(session, outcomes, now))
    append(session, rows, now)


def _event_row(ev: Event, signer: tuple[str, str | None] | None) -> dict[str, Any]:
    from hub.services.outbox import envelope

    keyid = signer[1] if signer and signer[0] == ev.source else None
    leaf = event_leaf(seq=ev.seq, event_id=ev.event_id, member=ev.source, keyid=keyid,
                      received_at=ev.received_at, envelope=envelope(ev))
    return {"kind": "event", "ref": ev.seq, "case_id": ev.subject, "attempt_max": None,
            "leaf": leaf}


def _delivery_rows(s: Session, outcomes: list[tuple[int, str, str]], now: datetime
                   ) -> list[dict[str, Any]]:
    from hub.services.outbox import envelope

    ids = sorted({o[0] for o in outcomes})
    found = {d.id: (d, ev) for d, ev in s.execute(
        select(Delivery, Event).join(Event, Event.seq == Delivery.event_seq)
        .where(Delivery.id.in_(ids)))}
    covered = dict(s.execute(
        select(LogLeaf.ref, func.max(LogLeaf.attempt_max))
        .where(LogLeaf.kind == "delivery", LogLeaf.ref.in_(ids)).group_by(LogLeaf.ref)).all())
    attempts: dict[int, list[DeliveryAttempt]] = defaultdict(list)
    for a in s.scalars(select(DeliveryAttempt).where(DeliveryAttempt.delivery_id.in_(ids))
                       .order_by(DeliveryAttempt.id)):
        attempts[a.delivery_id].append(a)
    sent: dict[int, dict[str, Any]] = {}
    rows = []
    for did, outcome, via in outcomes:
        if did not in found:
            continue
        d, ev = found[did]
        since = covered.get(did) or 0
        mine = [a for a in attempts[did] if a.id > since]
        top = max([a.id for a in mine], default=since or None)
        covered[did] = top or 0
        if ev.seq not in sent:
            sent[ev.seq] = envelope(ev)
        leaf = delivery_leaf(delivery_id=did, event_seq=ev.seq, member=d.member_id,
                             outcome=outcome, via=via, at=now,
                             attempts=[attempt_entry(a.id, a.at, a.status_code) for a in mine],
                             sent=sent[ev.seq])
        rows.append({"kind": "delivery", "ref": did, "case_id": ev.subject,
                     "attempt_max": top, "leaf": leaf})
    return rows


HEAD = cast(Table, LogHead.__table__)
READ_HEAD = select(HEAD.c.size, HEAD.c.frontier).where(HEAD.c.id == 1).with_for_update()
WRITE_HEAD = HEAD.update().where(HEAD.c.id == 1)
INSERT_LEAVES = cast(Table, LogLeaf.__table__).insert()


def append(s: Session, rows: list[dict[str, Any]], now: datetime) -> int:
    """Lock the head, extend the frontier, store leaves and completed nodes; the new size.

    Plain statements on the session's connection, whatever the number of leaves: lock and
    read the head, insert the leaves, move the head; no ORM bookkeeping on the hot path of
    every commit."""
    conn = s.connection()
    size: int
    size, stored = conn.execute(READ_HEAD).one()
    frontier = [bytes.fromhex(h) for h in stored]
    leaves = []
    for r in rows:
        data = canonical(r["leaf"])
        hashed = merkle.leaf_hash(data)
        frontier, made = merkle.append(frontier, size, hashed)
        leaves.append({"idx": size, "kind": r["kind"], "ref": r["ref"], "case_id": r["case_id"],
                       "attempt_max": r["attempt_max"], "leaf": data.decode(),
                       "leaf_hash": hashed, "completes": b"".join(h for _, _, h in made[1:]),
                       "at": now})
        size += 1
    if not leaves:
        return size
    # executemany: SQLAlchemy batches the rows into multi-row INSERTs from one cached
    # compilation ("insertmanyvalues"); a VALUES list built per call would be compiled afresh
    # every time, which cost more than the hashing itself
    conn.execute(INSERT_LEAVES, leaves)
    conn.execute(WRITE_HEAD.values(size=size, frontier=[h.hex() for h in frontier]))
    return size
