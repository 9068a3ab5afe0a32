"""SQLAlchemy tables: members and keys, events and their deliveries, cases and their items."""
from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from hub.domain.delivery import PENDING

# SQLite only autoincrements INTEGER PRIMARY KEY; PostgreSQL gets BIGINT identities.
BigId = BigInteger().with_variant(Integer, "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out, whatever the database keeps (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}  # noqa: RUF012 - SQLAlchemy's hook


class Member(Base):
    __tablename__ = "members"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(200))
    roles: Mapped[list[Any]] = mapped_column(JSON, default=list)
    publish: Mapped[list[Any]] = mapped_column(JSON, default=list)
    subscribe: Mapped[list[Any]] = mapped_column(JSON, default=list)
    push_url: Mapped[str | None] = mapped_column(String(500))
    push_disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    push_disabled_reason: Mapped[str | None] = mapped_column(Text)
    ack_cursor: Mapped[int] = mapped_column(BigId, default=0)
    # with ack_cursor, the feed position acknowledged: (ack_xid, ack_cursor)
    ack_xid: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class MemberKey(Base):
    __tablename__ = "member_keys"
    keyid: Mapped[str] = mapped_column(String(128), primary_key=True)
    member_id: Mapped[str] = mapped_column(ForeignKey("members.id"), index=True)
    public_key_pem: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Nonce(Base):
    """Signature nonces seen within the signature window; a repeat is a replay."""

    __tablename__ = "nonces"
    keyid: Mapped[str] = mapped_column(String(128), primary_key=True)
    nonce: Mapped[str] = mapped_column(String(200), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class Event(Base):
    """An accepted CloudEvent, immutable once stored."""

    __tablename__ = "events"
    __table_args__ = (UniqueConstraint("source", "event_id", name="uq_events_source_id"),)
    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(200), index=True)
    subject: Mapped[str | None] = mapped_column(String(200), index=True)
    time: Mapped[str | None] = mapped_column(String(40))
    dataschema: Mapped[str | None] = mapped_column(String(300))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    digest: Mapped[str] = mapped_column(String(80))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Delivery(Base):
    """One event owed to one member; pushed by the worker or pulled from the feed."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("event_seq", "member_id", name="uq_delivery_event_member"),
        Index("ix_deliveries_feed", "member_id", "feed_xid", "id"),
        Index("ix_deliveries_due", "state", "next_attempt_at"),
        Index("ix_deliveries_receipts", "receipt_pending", "id"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    event_seq: Mapped[int] = mapped_column(ForeignKey("events.seq"))
    member_id: Mapped[str] = mapped_column(ForeignKey("members.id"))
    # the inserting transaction (PostgreSQL, set by the database); 0 on SQLite. The feed's
    # order is (feed_xid, id): see hub/services/deliveries.py
    feed_xid: Mapped[int] = mapped_column(BigInteger, server_default="0")
    # set on creation so one flush inserts a request's events, then its deliveries, in batches
    event: Mapped[Event] = relationship(lazy="raise_on_sql")
    state: Mapped[str] = mapped_column(String(20), default=PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    delivered_by: Mapped[str | None] = mapped_column(String(10))
    latency_ms: Mapped[int | None] = mapped_column(Integer)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # delivered, but its effect on the case (item -> delivered) not yet applied
    receipt_pending: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class DeliveryAttempt(Base):
    __tablename__ = "delivery_attempts"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    status_code: Mapped[int | None] = mapped_column(Integer)
    duration_ms: Mapped[int] = mapped_column(Integer)
    response: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)


class CaseRow(Base):
    __tablename__ = "cases"
    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    city_code: Mapped[str] = mapped_column(String(6), index=True)
    state: Mapped[str] = mapped_column(String(20))
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    version: Mapped[int] = mapped_column(Integer, default=0)


class CaseItemRow(Base):
    __tablename__ = "case_items"
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), primary_key=True)
    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    member_id: Mapped[str] = mapped_column(String(64), index=True)
    state: Mapped[str] = mapped_column(String(20))
    reason: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    promised_by: Mapped[date | None] = mapped_column(Date)
    statutory_by: Mapped[date | None] = mapped_column(Date)
    deadline_note: Mapped[str | None] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # the Beijing date of the event that started the item's clock; recomputation counts from it
    clock_started_on: Mapped[date | None] = mapped_column(Date)
    # the promised date came from the department's own report, not from the working calendar
    promised_fixed: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")


class CaseItemHistoryRow(Base):
    __tablename__ = "case_item_history"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), index=True)
    code: Mapped[str] = mapped_column(String(64))
    from_state: Mapped[str | None] = mapped_column(String(20))
    to_state: Mapped[str] = mapped_column(String(20))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    by: Mapped[str] = mapped_column(String(64))
    event_id: Mapped[str | None] = mapped_column(String(200))
    reason: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    note: Mapped[str | None] = mapped_column(Text)


class CaseMember(Base):
    """Members taking part in a case: only they may read it or report on it."""

    __tablename__ = "case_members"
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), primary_key=True)
    member_id: Mapped[str] = mapped_column(String(64), primary_key=True)


class CaseIssueRow(Base):
    """A problem a member reported against a case, kept for operators (never silently dropped)."""

    __tablename__ = "case_issues"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), index=True)
    member_id: Mapped[str] = mapped_column(String(64))
    item: Mapped[str | None] = mapped_column(String(64))
    code: Mapped[str] = mapped_column(String(64))
    message_zh: Mapped[str] = mapped_column(Text)
    message_en: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[str | None] = mapped_column(Text)
    city_code: Mapped[str | None] = mapped_column(String(6))
    occurred_at: Mapped[str] = mapped_column(String(40))
    event_id: Mapped[str] = mapped_column(String(200))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Notice(Base):
    """Something administrators must act on, e.g. an endpoint disabled after 410 Gone."""

    __tablename__ = "notices"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    kind: Mapped[str] = mapped_column(String(64))
    member_id: Mapped[str | None] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(Text)
    message_zh: Mapped[str] = mapped_column(Text)
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class WorkerHeartbeat(Base):
    """Each delivery worker process says it is alive; /readyz reads the freshest."""

    __tablename__ = "worker_heartbeats"
    worker_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    beat_at: Mapped[datetime] = mapped_column(UTCDateTime())
    pid: Mapped[int] = mapped_column(Integer)
    host: Mapped[str] = mapped_column(String(200))


class ContractVersion(Base):
    """A contract version registered at runtime (the files in contracts/ are version 1s)."""

    __tablename__ = "contract_versions"
    __table_args__ = (UniqueConstraint("subject", "version", name="uq_contract_subject_version"),)
    schema_id: Mapped[str] = mapped_column(String(300), primary_key=True)
    subject: Mapped[str] = mapped_column(String(100), index=True)
    version: Mapped[int] = mapped_column(Integer)
    schema: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ContractStatus(Base):
    """Lifecycle of any contract version, file or registered: active, deprecated, retired."""

    __tablename__ = "contract_status"
    schema_id: Mapped[str] = mapped_column(String(300), primary_key=True)
    state: Mapped[str] = mapped_column(String(20))
    changed_by: Mapped[str] = mapped_column(String(64))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SubjectConfig(Base):
    __tablename__ = "subject_configs"
    subject: Mapped[str] = mapped_column(String(100), primary_key=True)
    compatibility: Mapped[str] = mapped_column(String(30))


class ItemDefinitionRow(Base):
    """A linked-item definition registered at runtime; the latest non-retired version applies."""

    __tablename__ = "item_definitions"
    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(20))
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class WorkingCalendarRow(Base):
    """One registered version of a year's working calendar (the latest version applies)."""

    __tablename__ = "working_calendars"
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    notice: Mapped[str] = mapped_column(String(200))
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class RegistryAudit(Base):
    """Every registry and member change: who, when, what."""

    __tablename__ = "registry_audit"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(300))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)
