"""Members, their keys, and the nonce memory that makes a replayed signature useless."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from hub.bootstrap import Hub
from hub.domain.errors import DomainError, Problem
from hub.security import keys
from hub.services.envelope import MEMBER_ID
from hub.services.outbox import utcnow
from hub.store.models import Member, MemberKey, Nonce, RegistryAudit

ADMIN = "admin"


@dataclass(frozen=True)
class MemberView:
    id: str
    name: str | None
    roles: list[str]
    publish: list[str]
    subscribe: list[str]
    push_url: str | None
    keyids: list[str]
    ack_cursor: int

    def to_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def add_member(hub: Hub, member_id: str, public_pem: str, *, keyid: str | None = None,
               publish: list[str] | None = None, subscribe: list[str] | None = None,
               push_url: str | None = None, name: str | None = None,
               roles: list[str] | None = None, actor: str = "console") -> MemberView:
    """Create a member, or update it and add the key if it exists (so set-up can be re-run)."""
    if not isinstance(member_id, str) or not MEMBER_ID.fullmatch(member_id):
        raise DomainError("invalid_member_id", "member ids are plain ASCII: a-z, 0-9, _ and -, "
                          "starting with a letter, at most 64", "成员编号只能由 ASCII 小写字母、"
                          "数字、_ 和 - 组成，以字母开头，至多64位", status=422,
                          problems=[Problem("invalid_member_id", "$.id", "not a plain ASCII id",
                                            "不是合规的 ASCII 编号")])
    pub = keys.public_from_pem(public_pem)
    kid = keyid or keys.key_id(pub)
    now = utcnow()
    with hub.transaction() as s:
        m = s.get(Member, member_id)
        if m is None:
            m = Member(id=member_id, created_at=now, ack_cursor=0, roles=[], publish=[],
                       subscribe=[])
            s.add(m)
        m.name = name or m.name
        m.roles = sorted(set(m.roles or []) | set(roles or []))
        m.publish = sorted(set(m.publish or []) | set(publish or []))
        m.subscribe = sorted(set(m.subscribe or []) | set(subscribe or []))
        if push_url is not None:
            m.push_url = push_url or None
        existing = s.get(MemberKey, kid)
        if existing is not None and existing.member_id != member_id:
            raise DomainError("keyid_taken", f"key id {kid} belongs to another member",
                              f"密钥编号 {kid} 已属于其他成员", status=409)
        if existing is None:
            s.flush()
            s.add(MemberKey(keyid=kid, member_id=member_id,
                            public_key_pem=keys.public_key_pem(pub), created_at=now))
        s.add(RegistryAudit(at=now, actor=actor, action="member.upsert", target=member_id,
                            detail={"keyid": kid, "publish": m.publish, "subscribe": m.subscribe,
                                    "push_url": m.push_url, "roles": m.roles}))
    hub.catalog.invalidate()
    return get_member(hub, member_id)  # type: ignore[return-value]


def get_member(hub: Hub, member_id: str) -> MemberView | None:
    with hub.transaction() as s:
        m = s.get(Member, member_id)
        if m is None:
            return None
        kids = list(s.scalars(select(MemberKey.keyid).where(MemberKey.member_id == member_id,
                                                            MemberKey.revoked_at.is_(None))))
        return MemberView(m.id, m.name, list(m.roles or []), list(m.publish or []),
                          list(m.subscribe or []), m.push_url, kids, m.ack_cursor or 0)


def list_members(hub: Hub) -> list[MemberView]:
    with hub.transaction() as s:
        ids = list(s.scalars(select(Member.id).order_by(Member.id)))
    return [m for m in (get_member(hub, i) for i in ids) if m]


def key_owner(hub: Hub, keyid: str) -> tuple[str, Ed25519PublicKey] | None:
    """From the catalog snapshot: key changes are audited, so every process sees them within
    the catalog's refresh interval, and no request pays a database round trip for its key."""
    return hub.snap().keys.get(keyid)


def remember_nonce(hub: Hub, keyid: str, nonce: str, expires_at: datetime) -> bool:
    """True the first time a (key, nonce) is seen; a second insert hits the primary key."""
    try:
        with hub.transaction() as s:
            s.add(Nonce(keyid=keyid, nonce=nonce[:200], expires_at=expires_at))
        return True
    except IntegrityError:
        return False


def purge_nonces(hub: Hub) -> int:
    with hub.transaction() as s:
        res = s.execute(delete(Nonce).where(Nonce.expires_at < datetime.now(timezone.utc)))
        return int(getattr(res, "rowcount", 0) or 0)
