"""Tables of the message log: its head (size and frontier), leaves with their tree nodes,
checkpoints, verification runs and archived cases."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hub.store.models import Base, BigId, UTCDateTime


class LogHead(Base):
    """One row: how many leaves the tree has and its frontier. Appending locks this row, which
    gives every hub process one global order and never reads the tree from the start."""

    __tablename__ = "log_head"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    frontier: Mapped[list[Any]] = mapped_column(JSON, default=list)  # hex, largest subtree first
    # highest event seq, delivery id and attempt id stored before the log began
    baseline: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class LogLeaf(Base):
    """A leaf's bytes (canonical JSON), its hash, the subtree hashes it completes, and what it
    stands for: an event or a delivery outcome.

    Leaves hold digests, never personal data, so they stay when cases are archived."""

    __tablename__ = "log_leaves"
    __table_args__ = (Index("ix_log_leaves_ref", "kind", "ref"),)
    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(String(10))
    ref: Mapped[int] = mapped_column(BigInteger)
    case_id: Mapped[str | None] = mapped_column(String(200), index=True)
    attempt_max: Mapped[int | None] = mapped_column(BigInteger)
    leaf: Mapped[str] = mapped_column(Text)
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    # the perfect subtrees this leaf completes, levels 1, 2, ... (32 bytes each): the node at
    # (level L, index j) is stored with leaf (j + 1) * 2**L - 1, so the tree needs no own table
    completes: Mapped[bytes] = mapped_column(LargeBinary)
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class LogCheckpoint(Base):
    """A signed statement of the tree: origin, size, root hash and time."""

    __tablename__ = "log_checkpoints"
    size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    root: Mapped[bytes] = mapped_column(LargeBinary(32))
    origin: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    note: Mapped[str] = mapped_column(Text)
    keyid: Mapped[str] = mapped_column(String(128))
    signature: Mapped[str] = mapped_column(Text)
    cosignatures: Mapped[list[Any]] = mapped_column(JSON, default=list)


class LogVerification(Base):
    """The outcome of each whole-log verification run (for metrics and the console)."""

    __tablename__ = "log_verifications"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    size: Mapped[int] = mapped_column(BigInteger)
    ok: Mapped[bool] = mapped_column(Boolean)
    findings: Mapped[int] = mapped_column(Integer)


class ArchivedCase(Base):
    """A case moved to an archive file; its leaves stay in the log."""

    __tablename__ = "archived_cases"
    case_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    file: Mapped[str] = mapped_column(String(200))
    archived_at: Mapped[datetime] = mapped_column(UTCDateTime())
