"""Members, their keys, and the nonce memory that makes a replayed signature useless."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

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
        elif existing.revoked_at is not None:
            raise DomainError("key_retired", f"key id {kid} was retired and cannot come back",
                              f"密钥编号 {kid} 已停用，不能再次启用", status=409)
        s.add(RegistryAudit(at=now, actor=actor, action="member.upsert", target=member_id,
                            detail={"keyid": kid, "suite": keys.suite_of(pub),
                                    "publish": m.publish, "subscribe": m.subscribe,
                                    "push_url": m.push_url, "roles": m.roles}))
    hub.catalog.invalidate()
    return get_member(hub, member_id)  # type: ignore[return-value]


def retire_key(hub: Hub, member_id: str, keyid: str, *, actor: str = "console") -> MemberView:
    """The last step of a member's rotation (add the new key, switch to it, retire the old):
    signatures by the retired key are refused from the next catalog refresh on. A member's
    last key cannot be retired, so no member is locked out by mistake."""
    now = utcnow()
    with hub.transaction() as s:
        # the member row is locked so that two retirements at once count its keys in turn
        # (each would otherwise see the other's key still active and retire the last one)
        s.get(Member, member_id, with_for_update={"key_share": True})
        key = s.get(MemberKey, keyid)
        if key is None or key.member_id != member_id:
            raise DomainError("unknown_key", f"member {member_id} has no key {keyid}",
                              f"成员 {member_id} 没有密钥 {keyid}", status=404)
        if key.revoked_at is None:
            active = s.scalars(select(MemberKey.keyid).where(
                MemberKey.member_id == member_id, MemberKey.revoked_at.is_(None))).all()
            if len(active) <= 1:
                raise DomainError("last_key", f"{keyid} is {member_id}'s only key: add the new "
                                  "key first", f"{keyid} 是该成员唯一的密钥，请先登记新密钥",
                                  status=409)
            key.revoked_at = now
            s.add(RegistryAudit(at=now, actor=actor, action="member.key_retired",
                                target=member_id, detail={"keyid": keyid}))
    hub.catalog.invalidate()
    return get_member(hub, member_id)  # type: ignore[return-value]


def record_key_rotation(hub: Hub, suite: str, old: str | None, new: str, overlap_s: float,
                        *, actor: str = "console") -> None:
    """The audit line of a rotation of the hub's own key."""
    with hub.transaction() as s:
        s.add(RegistryAudit(at=utcnow(), actor=actor, action="hub.key_rotated",
                            target=hub.config.hub_member_id,
                            detail={"suite": suite, "old": old, "new": new,
                                    "overlap_s": overlap_s}))


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


def key_owner(hub: Hub, keyid: str) -> tuple[str, keys.PublicKey] | None:
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
        res = s.execute(delete(Nonce).where(Nonce.expires_at < datetime.now(UTC)))
        return int(getattr(res, "rowcount", 0) or 0)
