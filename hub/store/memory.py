"""An in-memory unit of work: the same port as ``SqlUnitOfWork``, for tests without a database.

Changes are staged and become visible to later units of work only on ``commit()``; leaving
without a commit drops them, as a rolled-back transaction would. The feed order is the
delivery id (one writer at a time, as on SQLite).
"""
from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hub.domain.case import Case
from hub.domain.delivery import BY_PULL, DELIVERED, PENDING, DeliveryState
from hub.store.uow import (
    CaseRepository,
    DeliveryRepository,
    EventRepository,
    Receipt,
    StoredEvent,
    UnitOfWork,
)


@dataclass
class MemoryEvent:
    seq: int
    event_id: str
    source: str
    type: str
    subject: str | None
    data: dict[str, Any]
    digest: str
    received_at: datetime
    envelope: dict[str, Any]


@dataclass
class MemoryDelivery:
    id: int
    event: MemoryEvent
    member_id: str
    state: DeliveryState
    next_attempt_at: datetime | None
    created_at: datetime
    delivered_at: datetime | None = None
    delivered_by: str | None = None
    receipt_pending: bool = False


@dataclass
class MemoryStore:
    """What a database would hold: committed state shared by every unit of work on it."""

    cases: dict[str, Case] = field(default_factory=dict)
    members_of_case: dict[str, set[str]] = field(default_factory=dict)
    issues: list[dict[str, Any]] = field(default_factory=list)
    events: list[MemoryEvent] = field(default_factory=list)
    deliveries: list[MemoryDelivery] = field(default_factory=list)
    acked: dict[str, int] = field(default_factory=dict)  # member -> acknowledged cursor
    commits: int = 0


class MemoryCases(CaseRepository):
    def __init__(self, store: MemoryStore) -> None:
        self.store = store
        self.staged: dict[str, Case] = {}
        self.staged_members: dict[str, set[str]] = {}
        self.staged_issues: list[dict[str, Any]] = []

    def get(self, case_id: str, *, for_update: bool = False) -> Case | None:
        if case_id in self.staged:
            return self.staged[case_id]
        case = self.store.cases.get(case_id)
        return copy.deepcopy(case) if case is not None else None

    def add(self, case: Case, publisher: str) -> None:
        self.staged[case.id] = case
        self.staged_members[case.id] = set(case.members) | {publisher}
        case.new_history.clear()

    def save(self, case: Case) -> None:
        self.staged[case.id] = case
        case.new_history.clear()

    def takes_part(self, case_id: str, member_id: str) -> bool:
        return member_id in self.participants(case_id)

    def participants(self, case_id: str) -> set[str]:
        return set(self.staged_members.get(case_id) or self.store.members_of_case.get(case_id)
                   or ())

    def add_issue(self, case_id: str, member_id: str, data: dict[str, Any], event_id: str,
                  received_at: datetime) -> None:
        self.staged_issues.append({**data, "case_id": case_id, "reported_by": member_id,
                                   "event_id": event_id})


class MemoryEvents(EventRepository):
    def __init__(self, store: MemoryStore) -> None:
        self.store = store
        self.staged: list[MemoryEvent] = []

    def find(self, source: str, event_id: str) -> MemoryEvent | None:
        for ev in [*self.store.events, *self.staged]:
            if ev.source == source and ev.event_id == event_id:
                return ev
        return None

    def add(self, envelope: dict[str, Any], *, received_at: datetime, digest: str
            ) -> MemoryEvent:
        ev = MemoryEvent(seq=len(self.store.events) + len(self.staged) + 1,
                         event_id=envelope["id"], source=envelope["source"],
                         type=envelope["type"], subject=envelope.get("subject"),
                         data=envelope["data"], digest=digest, received_at=received_at,
                         envelope=dict(envelope))
        self.staged.append(ev)
        return ev

    def flush(self) -> None:
        """Sequences are given on ``add``."""


class MemoryDeliveries(DeliveryRepository):
    def __init__(self, store: MemoryStore, owes_push: Callable[[], None]) -> None:
        super().__init__(owes_push)
        self.store = store
        self.staged: list[MemoryDelivery] = []
        self.staged_acks: dict[str, int] = {}
        self.staged_moves: dict[int, MemoryDelivery] = {}

    def _add(self, event: StoredEvent, member_id: str, *, push: bool, now: datetime) -> None:
        assert isinstance(event, MemoryEvent)
        self.staged.append(MemoryDelivery(
            id=len(self.store.deliveries) + len(self.staged) + 1, event=event,
            member_id=member_id, state=PENDING, next_attempt_at=now if push else None,
            created_at=now))

    def ack_up_to(self, member_id: str, cursor: int, now: datetime,
                  request_types: list[str]) -> int | None:
        mine = [d for d in self.store.deliveries if d.member_id == member_id]
        if cursor > max((d.id for d in mine), default=0):
            return None
        done = self.staged_acks.get(member_id, self.store.acked.get(member_id, 0))
        n = 0
        for d in mine:
            if done < d.id <= cursor and d.state != DELIVERED:
                moved = copy.copy(d)
                moved.state, moved.delivered_at, moved.delivered_by = DELIVERED, now, BY_PULL
                moved.next_attempt_at = None
                moved.receipt_pending = d.event.type in request_types
                self.staged_moves[d.id] = moved
                n += 1
        if cursor > done:
            self.staged_acks[member_id] = cursor
        return n


    def claim_receipts(self, limit: int, member_id: str | None = None) -> list[Receipt]:
        due = [d for d in self.store.deliveries
               if self.staged_moves.get(d.id, d).receipt_pending
               and (member_id is None or d.member_id == member_id)]
        return [Receipt(d.id, d.member_id, d.event.type, d.event.subject) for d in due[:limit]]

    def clear_receipts(self, delivery_ids: list[int]) -> None:
        for d in self.store.deliveries:
            if d.id in delivery_ids:
                self.staged_moves.setdefault(d.id, copy.copy(d)).receipt_pending = False

    def _reschedule_pending(self, member_id: str, now: datetime) -> None:
        for d in [*self.store.deliveries, *self.staged]:
            if d.member_id == member_id and d.state == PENDING:
                moved = self.staged_moves.setdefault(d.id, copy.copy(d))
                moved.next_attempt_at = now

    def _reset_for_replay(self, ids: list[int], now: datetime) -> None:
        for d in self.store.deliveries:
            if d.id in ids:
                moved = self.staged_moves.setdefault(d.id, copy.copy(d))
                moved.state, moved.next_attempt_at = PENDING, now
                moved.delivered_at = moved.delivered_by = None
        for member in {d.member_id for d in self.store.deliveries if d.id in ids}:
            first = min(d.id for d in self.store.deliveries if d.id in ids
                        and d.member_id == member)
            done = self.staged_acks.get(member, self.store.acked.get(member, 0))
            self.staged_acks[member] = min(done, first - 1)


class MemoryUnitOfWork(UnitOfWork):
    cases: MemoryCases
    events: MemoryEvents
    deliveries: MemoryDeliveries

    def __init__(self, store: MemoryStore | None = None,
                 after_commit: Callable[[], None] | None = None) -> None:
        super().__init__(after_commit)
        self.store = store if store is not None else MemoryStore()
        self.signer: tuple[str, str | None] | None = None
        self._fresh()

    def note_signer(self, member_id: str, keyid: str | None) -> None:
        self.signer = (member_id, keyid)

    def _fresh(self) -> None:
        self.cases = MemoryCases(self.store)
        self.events = MemoryEvents(self.store)
        self.deliveries = MemoryDeliveries(self.store, self.owes_push)

    def _commit(self) -> None:
        s = self.store
        for case in self.cases.staged.values():
            s.cases[case.id] = copy.deepcopy(case)
        s.members_of_case.update(self.cases.staged_members)
        s.issues.extend(self.cases.staged_issues)
        s.events.extend(self.events.staged)
        s.deliveries.extend(self.deliveries.staged)
        for d in s.deliveries:
            if d.id in self.deliveries.staged_moves:
                moved = self.deliveries.staged_moves[d.id]
                d.state, d.delivered_at, d.delivered_by = moved.state, moved.delivered_at, \
                    moved.delivered_by
                d.next_attempt_at, d.receipt_pending = moved.next_attempt_at, \
                    moved.receipt_pending
        s.acked.update(self.deliveries.staged_acks)
        s.commits += 1
        self._fresh()

    def _rollback(self) -> None:
        self._fresh()
