"""The unit of work: the repositories a handler may use, one transaction, and what follows a commit.

Handlers take a ``UnitOfWork``, never a session. Everything they change through its
repositories commits together on ``commit()`` or not at all (leaving the ``with`` block without
a commit rolls back). A commit that owes a push (a delivery was created or put back to pending)
runs the post-commit hook, which wakes the delivery workers; no handler wakes them by hand.

``SqlUnitOfWork`` is the real thing; ``hub.store.memory.MemoryUnitOfWork`` subclasses the same
port for tests that need no database.
"""
from __future__ import annotations

import abc
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any, Protocol, Self

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from hub.domain.case import Case
from hub.domain.errors import DomainError, conflict
from hub.messagelog import appender as message_log
from hub.store import cases as case_rows
from hub.store import deliveries as delivery_rows
from hub.store.models import CaseIssueRow, CaseMember, Event


@dataclass(frozen=True)
class Receipt:
    """A delivered delivery whose meaning for its case is still to be applied."""

    delivery_id: int
    member_id: str
    event_type: str
    subject: str | None


class StoredEvent(Protocol):
    """An event as stored: what handlers read back after adding or finding one."""

    seq: int
    event_id: str
    source: str
    type: str
    subject: str | None
    data: dict[str, Any]
    digest: str
    received_at: datetime


# ----- ports -----------------------------------------------------------------------------------

class CaseRepository(abc.ABC):
    @abc.abstractmethod
    def get(self, case_id: str, *, for_update: bool = False) -> Case | None: ...

    @abc.abstractmethod
    def add(self, case: Case, publisher: str) -> None: ...

    @abc.abstractmethod
    def save(self, case: Case) -> None: ...

    @abc.abstractmethod
    def takes_part(self, case_id: str, member_id: str) -> bool: ...

    @abc.abstractmethod
    def participants(self, case_id: str) -> set[str]: ...

    @abc.abstractmethod
    def add_issue(self, case_id: str, member_id: str, data: dict[str, Any], event_id: str,
                  received_at: datetime) -> None: ...


class EventRepository(abc.ABC):
    @abc.abstractmethod
    def find(self, source: str, event_id: str) -> StoredEvent | None: ...

    @abc.abstractmethod
    def add(self, envelope: dict[str, Any], *, received_at: datetime, digest: str
            ) -> StoredEvent: ...

    @abc.abstractmethod
    def flush(self) -> None:
        """Give every event added so far its sequence number."""


class DeliveryRepository(abc.ABC):
    """Deliveries, written in named moves of their lifecycle (``hub.domain.delivery``)."""

    def __init__(self, owes_push: Callable[[], None]) -> None:
        self._owes_push = owes_push

    @abc.abstractmethod
    def _add(self, event: StoredEvent, member_id: str, *, push: bool, now: datetime) -> None: ...

    def add(self, event: StoredEvent, members: Iterable[str], now: datetime,
            known: dict[str, Any]) -> int:
        """One pending delivery per known member (``known``: the catalog's members, whose
        push URL decides push or pull)."""
        n = 0
        for member_id in sorted(set(members)):
            m = known.get(member_id)
            if m is None:
                continue
            self._add(event, member_id, push=bool(m.push_url), now=now)
            n += 1
        if n:
            self._owes_push()
        return n

    @abc.abstractmethod
    def ack_up_to(self, member_id: str, cursor: int, now: datetime,
                  request_types: list[str]) -> int | None:
        """Mark the member's deliveries up to the feed position of ``cursor`` delivered and
        move its acknowledged position there; the number marked, or None when the cursor is
        beyond what the feed has served."""

    @abc.abstractmethod
    def claim_receipts(self, limit: int, member_id: str | None = None) -> list[Receipt]:
        """Delivered item requests still to be applied to their cases, oldest first, taken
        so that no other unit of work takes them at the same time."""

    @abc.abstractmethod
    def clear_receipts(self, delivery_ids: list[int]) -> None: ...

    @abc.abstractmethod
    def _reschedule_pending(self, member_id: str, now: datetime) -> None: ...

    def reschedule_pending(self, member_id: str, now: datetime) -> None:
        """A member's pending deliveries are due now (its push endpoint is back)."""
        self._reschedule_pending(member_id, now)
        self._owes_push()

    @abc.abstractmethod
    def _reset_for_replay(self, ids: list[int], now: datetime) -> None: ...

    def reset_for_replay(self, ids: list[int], now: datetime) -> None:
        """Deliver again: back to pending and due now, the same event ids."""
        if ids:
            self._reset_for_replay(ids, now)
            self._owes_push()


# ----- the port --------------------------------------------------------------------------------

class UnitOfWork(abc.ABC):
    cases: CaseRepository
    events: EventRepository
    deliveries: DeliveryRepository

    def __init__(self, after_commit: Callable[[], None] | None = None) -> None:
        self._after_commit = after_commit
        self._owes_push = False

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.rollback()

    def owes_push(self) -> None:
        """This transaction created work for the delivery workers: wake them after commit."""
        self._owes_push = True

    def commit(self) -> None:
        self._commit()
        wake, self._owes_push = self._owes_push, False
        if wake and self._after_commit is not None:
            self._after_commit()

    def rollback(self) -> None:
        self._owes_push = False
        self._rollback()

    @abc.abstractmethod
    def note_signer(self, member_id: str, keyid: str | None) -> None:
        """The key that signed the request whose events this unit of work accepts."""

    @abc.abstractmethod
    def _commit(self) -> None: ...

    @abc.abstractmethod
    def _rollback(self) -> None: ...


# ----- SQLAlchemy ------------------------------------------------------------------------------

class SqlCases(CaseRepository):
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, case_id: str, *, for_update: bool = False) -> Case | None:
        return case_rows.get(self.session, case_id, for_update=for_update)

    def add(self, case: Case, publisher: str) -> None:
        case_rows.add(self.session, case, publisher)

    def save(self, case: Case) -> None:
        case_rows.save(self.session, case)

    def takes_part(self, case_id: str, member_id: str) -> bool:
        return case_rows.takes_part(self.session, case_id, member_id)

    def participants(self, case_id: str) -> set[str]:
        return set(self.session.scalars(
            select(CaseMember.member_id).where(CaseMember.case_id == case_id)))

    def add_issue(self, case_id: str, member_id: str, data: dict[str, Any], event_id: str,
                  received_at: datetime) -> None:
        self.session.add(CaseIssueRow(
            case_id=case_id, member_id=member_id, item=data.get("item"), code=data["code"],
            message_zh=data["message_zh"], message_en=data.get("message_en"),
            detail=data.get("detail"), city_code=data.get("city_code"),
            occurred_at=data["occurred_at"], event_id=event_id, received_at=received_at,
        ))


class SqlEvents(EventRepository):
    def __init__(self, session: Session) -> None:
        self.session = session

    def find(self, source: str, event_id: str) -> Event | None:
        return self.session.scalars(select(Event).where(Event.source == source,
                                                        Event.event_id == event_id)).one_or_none()

    def add(self, envelope: dict[str, Any], *, received_at: datetime, digest: str) -> Event:
        row = Event(
            event_id=envelope["id"], source=envelope["source"], type=envelope["type"],
            subject=envelope.get("subject"), time=envelope.get("time"),
            dataschema=envelope.get("dataschema"), data=envelope["data"], digest=digest,
            received_at=received_at,
        )
        self.session.add(row)
        message_log.note_event(self.session, row)
        return row

    def flush(self) -> None:
        self.session.flush()


class SqlDeliveries(DeliveryRepository):
    def __init__(self, session: Session, owes_push: Callable[[], None]) -> None:
        super().__init__(owes_push)
        self.session = session

    def _add(self, event: StoredEvent, member_id: str, *, push: bool, now: datetime) -> None:
        assert isinstance(event, Event)
        self.session.add(delivery_rows.new(event, member_id, push=push, now=now))

    def ack_up_to(self, member_id: str, cursor: int, now: datetime,
                  request_types: list[str]) -> int | None:
        return delivery_rows.ack_up_to(self.session, member_id, cursor, now, request_types)

    def claim_receipts(self, limit: int, member_id: str | None = None) -> list[Receipt]:
        return [Receipt(*row) for row in
                delivery_rows.claim_receipts(self.session, limit, member_id)]

    def clear_receipts(self, delivery_ids: list[int]) -> None:
        delivery_rows.clear_receipts(self.session, delivery_ids)

    def _reschedule_pending(self, member_id: str, now: datetime) -> None:
        delivery_rows.reschedule_pending(self.session, member_id, now)

    def _reset_for_replay(self, ids: list[int], now: datetime) -> None:
        delivery_rows.reset_for_replay(self.session, ids, now)


class SqlUnitOfWork(UnitOfWork):
    """One SQLAlchemy session and transaction. A unique-key clash at commit (two requests
    writing the same thing at once) is a 409 conflict, never a 500."""

    def __init__(self, sessions: sessionmaker[Session],
                 after_commit: Callable[[], None] | None = None) -> None:
        super().__init__(after_commit)
        self.session = sessions()  # begins on first use
        self.cases = SqlCases(self.session)
        self.events = SqlEvents(self.session)
        self.deliveries = SqlDeliveries(self.session, self.owes_push)

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            super().__exit__(kind, exc, tb)
        finally:
            self.session.close()

    def note_signer(self, member_id: str, keyid: str | None) -> None:
        message_log.note_signer(self.session, member_id, keyid)

    def _commit(self) -> None:
        try:
            self.session.commit()
        except IntegrityError as exc:
            self.session.rollback()
            raise concurrent_write() from exc

    def _rollback(self) -> None:
        self.session.rollback()


def concurrent_write() -> DomainError:
    return conflict("concurrent_write",
                    "another request changed the same record at the same time; nothing was "
                    "stored, send the request again",
                    "另一请求同时修改了同一记录，本次未保存任何内容，请重新提交")


__all__ = ["CaseRepository", "DeliveryRepository", "EventRepository", "SqlUnitOfWork",
           "StoredEvent", "UnitOfWork", "concurrent_write"]
