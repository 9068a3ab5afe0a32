"""Signed checkpoints: the hub's statement of the tree (origin, size, root hash, time).

The signed text is a small note, one field per line, so anyone can check it with the hub's
Ed25519 public key and nothing else::

    <origin>
    <tree size>
    <root hash, base64>
    <time, ISO 8601 in Beijing time>
"""
from __future__ import annotations

import base64
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hub.bootstrap import Hub
from hub.messagelog import merkle
from hub.messagelog.tables import LogCheckpoint, LogHead
from hub.services.outbox import utcnow
from hub.store.models import Notice

BEIJING = ZoneInfo("Asia/Shanghai")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def note_text(origin: str, size: int, root: bytes, at: datetime) -> str:
    when = at.astimezone(BEIJING).isoformat(timespec="milliseconds")
    return f"{origin}\n{size}\n{b64(root)}\n{when}\n"


def head(s: Session) -> LogHead:
    return s.execute(select(LogHead).where(LogHead.id == 1)).scalar_one()


def latest(s: Session) -> LogCheckpoint | None:
    return s.scalars(select(LogCheckpoint).order_by(LogCheckpoint.size.desc()).limit(1)).first()


def covering(s: Session, index: int) -> LogCheckpoint | None:
    """The latest checkpoint that includes leaf ``index``."""
    cp = latest(s)
    return cp if cp is not None and cp.size > index else None


def sign(hub: Hub, *, force: bool = False) -> LogCheckpoint | None:
    """Sign the current tree when it is due (or ``force``): N seconds or M leaves since the
    last checkpoint. Returns the latest checkpoint, or None when nothing was due."""
    now = utcnow()
    cfg = hub.config
    try:
        with hub.transaction() as s:
            h = head(s)
            last = latest(s)
            if last is not None and last.size >= h.size:
                return last
            if not force and last is not None:
                due = (h.size - last.size >= cfg.log_checkpoint_leaves
                       or now - last.at >= timedelta(seconds=cfg.log_checkpoint_s))
                if not due:
                    return None
            if last is not None and not _extends(s, last):
                _tell_inconsistent(s, last, now)
                return None
            root = merkle.frontier_root([bytes.fromhex(x) for x in h.frontier])
            note = note_text(cfg.log_origin, h.size, root, now)
            sig = hub.private_key.sign(note.encode("utf-8"))
            cp = LogCheckpoint(size=h.size, root=root, origin=cfg.log_origin, at=now, note=note,
                               keyid=hub.keyid, signature=b64(sig), cosignatures=[])
            s.add(cp)
        return cp
    except IntegrityError:  # another process signed the same size a moment ago
        with hub.transaction() as s:
            return latest(s)


def _extends(s: Session, last: LogCheckpoint) -> bool:
    """The stored tree still has the root the last checkpoint signed: never sign a history
    that contradicts one already shown (O(log n) stored hashes)."""
    from hub.messagelog.proofs import node_reader

    try:
        return merkle.root(node_reader(s), last.size) == last.root
    except LookupError:
        return False


def _tell_inconsistent(s: Session, last: LogCheckpoint, now: datetime) -> None:
    told = s.scalar(select(Notice.id).where(Notice.kind == "log_inconsistent",
                                            Notice.at >= last.at).limit(1))
    if told is None:
        s.add(Notice(at=now, kind="log_inconsistent", member_id=None,
                     message=(f"the stored message log no longer gives the root of checkpoint "
                              f"{last.size}; no new checkpoint is signed (run 'hub log verify')"),
                     message_zh=(f"存储的消息日志与检查点 {last.size} 的根哈希不一致，"
                                 "已停止签署新检查点（请运行 hub log verify）"),
                     detail={"checkpoint": last.size}))


def to_dict(cp: LogCheckpoint) -> dict[str, Any]:
    return {"origin": cp.origin, "size": cp.size, "root_hash": b64(cp.root),
            "time": cp.at.astimezone(BEIJING).isoformat(timespec="milliseconds"),
            "keyid": cp.keyid, "signature": cp.signature, "note": cp.note,
            "cosignatures": cp.cosignatures or []}


def get(hub: Hub, size: int | None = None) -> dict[str, Any] | None:
    with hub.transaction() as s:
        cp = latest(s) if size is None else s.get(LogCheckpoint, size)
        return to_dict(cp) if cp is not None else None


def status(hub: Hub) -> dict[str, Any]:
    """Log size, the latest checkpoint's size and age, and whether it is overdue."""
    now = utcnow()
    with hub.transaction() as s:
        h = head(s)
        last = latest(s)
        signed = last.size if last else 0
        age = (now - last.at).total_seconds() if last else None
        first_unsigned = None
        if h.size > signed:
            from hub.messagelog.tables import LogLeaf

            first_unsigned = s.scalar(select(LogLeaf.at).where(LogLeaf.idx == signed))
    waiting = (now - first_unsigned).total_seconds() if first_unsigned else 0.0
    return {"size": h.size, "checkpoint_size": signed, "checkpoint_age_s": age,
            "unsigned_for_s": waiting,
            "stale": waiting > hub.config.log_checkpoint_stale_s}


def tick(hub: Hub) -> None:
    """The scheduled job: sign when due; tell administrators when signing has fallen behind."""
    sign(hub)
    st = status(hub)
    if not st["stale"]:
        return
    now = utcnow()
    with hub.transaction() as s:
        last = latest(s)
        since = last.at if last else datetime.min.replace(tzinfo=BEIJING)
        told = s.scalar(select(Notice.id).where(Notice.kind == "log_checkpoint_stale",
                                                Notice.at >= since).limit(1))
        if told is None:
            s.add(Notice(
                at=now, kind="log_checkpoint_stale", member_id=None,
                message=(f"the message log has {st['size'] - st['checkpoint_size']} leaves "
                         f"unsigned for {int(st['unsigned_for_s'])} s (latest checkpoint: "
                         f"size {st['checkpoint_size']})"),
                message_zh=(f"消息日志有 {st['size'] - st['checkpoint_size']} 条记录已 "
                            f"{int(st['unsigned_for_s'])} 秒未签署检查点"
                            f"（最新检查点大小 {st['checkpoint_size']}）"),
                detail=st))


def cosign(hub: Hub, member_id: str, keyid: str, size: int, signature: str) -> dict[str, Any]:
    """A witness co-signs a checkpoint: its Ed25519 signature over the same note, with the key
    that signed this request. One co-signature per member; a newer one replaces it."""
    from hub.domain.errors import DomainError, Problem
    from hub.services.members import key_owner

    def bad(code: str, en: str, zh: str, status: int) -> DomainError:
        return DomainError(code, en, zh, status=status,
                           problems=[Problem(code, "$.signature", en, zh)])

    owner = key_owner(hub, keyid)
    with hub.transaction() as s:
        cp = s.get(LogCheckpoint, size)
        if cp is None:
            raise DomainError("checkpoint_not_found", f"no checkpoint of size {size}",
                              f"没有大小为 {size} 的检查点", status=404)
        try:
            raw = base64.b64decode(signature, validate=True)
            if owner is None or owner[0] != member_id:
                raise ValueError("key not owned")
            owner[1].verify(raw, cp.note.encode("utf-8"))
        except Exception as exc:
            raise bad("bad_cosignature", "the signature does not verify over the checkpoint's "
                      "note with the key that signed this request",
                      "该签名无法用本次请求的签名密钥对检查点内容验证通过", 422) from exc
        others = [c for c in (cp.cosignatures or []) if c.get("member") != member_id]
        cp.cosignatures = others + [{"member": member_id, "keyid": keyid, "signature": signature,
                                     "at": utcnow().astimezone(BEIJING).isoformat(
                                         timespec="milliseconds")}]
        return to_dict(cp)
