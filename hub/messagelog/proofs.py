"""Inclusion and consistency proofs read from the stored nodes (O(log n) hashes each)."""
from __future__ import annotations

from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from hub.bootstrap import Hub
from hub.domain.errors import DomainError, Problem
from hub.messagelog import checkpoints, merkle
from hub.messagelog.checkpoints import b64
from hub.messagelog.tables import LogCheckpoint, LogLeaf
from hub.store.models import Delivery, Event


def node_reader(s: Session) -> merkle.Nodes:
    """Subtree hashes from the leaf rows that completed them (one indexed read each)."""
    cache: dict[int, tuple[bytes, bytes]] = {}

    def read(level: int, index: int) -> bytes:
        at = ((index + 1) << level) - 1
        if at not in cache:
            row = s.execute(select(LogLeaf.leaf_hash, LogLeaf.completes)
                            .where(LogLeaf.idx == at)).one_or_none()
            if row is None:
                raise LookupError(f"log leaf {at} is missing")
            cache[at] = (bytes(row[0]), bytes(row[1]))
        leaf_hash, completes = cache[at]
        if level == 0:
            return leaf_hash
        h = completes[(level - 1) * merkle.HASH_SIZE:level * merkle.HASH_SIZE]
        if len(h) != merkle.HASH_SIZE:
            raise LookupError(f"log node {level}/{index} is missing")
        return h

    return read


def _not_found(code: str, en: str, zh: str, path: str) -> DomainError:
    return DomainError(code, en, zh, status=404, problems=[Problem(code, path, en, zh)])


def _visible_event(s: Session, member_id: str, event_id: str) -> Event | None:
    """The event with this id that the member published or was sent; never anyone else's."""
    sent = exists().where(Delivery.event_seq == Event.seq, Delivery.member_id == member_id)
    rows = s.scalars(select(Event).where(Event.event_id == event_id)
                     .where((Event.source == member_id) | sent).order_by(Event.seq)).all()
    own = [e for e in rows if e.source == member_id]
    if own:
        return own[0]
    return rows[0] if rows else None


def inclusion_for_event(hub: Hub, member_id: str, event_id: str) -> dict[str, Any]:
    with hub.transaction() as s:
        ev = _visible_event(s, member_id, event_id)
        if ev is None:
            raise _not_found("event_not_found", f"no event {event_id} visible to {member_id}",
                             f"未找到本成员可查看的事件 {event_id}", "$.query.event")
        leaf = s.scalars(select(LogLeaf).where(LogLeaf.kind == "event", LogLeaf.ref == ev.seq)
                         ).first()
        if leaf is None:
            raise _not_found("event_not_logged", f"event {event_id} is not in the message log",
                             f"事件 {event_id} 不在消息日志中", "$.query.event")
        index = leaf.idx
        covered = checkpoints.covering(s, index) is not None
    if not covered:
        checkpoints.sign(hub, force=True)  # prove it now rather than make the caller wait
    with hub.transaction() as s:
        cp = checkpoints.latest(s)
        if cp is None or cp.size <= index:  # signing refused: see the log_inconsistent notice
            raise _not_found("not_in_checkpoint", f"event {event_id} is in no signed checkpoint",
                             f"事件 {event_id} 尚未包含在已签署的检查点中", "$.query.event")
        return inclusion(s, index, cp)


def inclusion(s: Session, index: int, cp: LogCheckpoint) -> dict[str, Any]:
    leaf = s.get(LogLeaf, index)
    assert leaf is not None
    proof = merkle.inclusion_proof(node_reader(s), index, cp.size)
    return {"leaf_index": index, "leaf": leaf.leaf, "tree_size": cp.size,
            "proof": [b64(p) for p in proof], "checkpoint": checkpoints.to_dict(cp)}


def consistency(hub: Hub, old: int, new: int) -> dict[str, Any]:
    with hub.transaction() as s:
        size = checkpoints.head(s).size
        problems = []
        if old > new:
            problems.append(Problem("invalid_range", "$.query.from", "'from' exceeds 'to'",
                                    "“from”大于“to”"))
        if new > size:
            problems.append(Problem("beyond_log", "$.query.to",
                                    f"the log has only {size} leaves", f"日志仅有 {size} 条记录"))
        if problems:
            raise DomainError("invalid_range", "no consistency proof for these sizes",
                              "无法为这两个大小生成一致性证明", status=422, problems=problems)
        nodes = node_reader(s)
        proof = merkle.consistency_proof(nodes, old, new)
        cps = {c.size: checkpoints.to_dict(c) for c in s.scalars(
            select(LogCheckpoint).where(LogCheckpoint.size.in_([old, new])))}
        return {"from": old, "to": new, "from_root": b64(merkle.root(nodes, old)),
                "to_root": b64(merkle.root(nodes, new)), "proof": [b64(p) for p in proof],
                "checkpoints": [cps[k] for k in sorted(cps)]}
