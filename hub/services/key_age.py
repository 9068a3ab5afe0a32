"""How old every signing key is (the hub's and the members'), and which are due for rotation.

Computed when asked (metrics scrape, notices list), so a rotation clears its notice at once
and every process agrees. A key is due at `key_max_age_days`; the notice appears
`key_notice_days` before that.
"""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from hub.bootstrap import Hub
from hub.security import keys
from hub.services.outbox import utcnow
from hub.store.models import MemberKey

DAY = 86400.0


def key_ages(hub: Hub) -> list[dict[str, Any]]:
    """owner, keyid, suite, state (current / retiring / active) and age in seconds."""
    owner = hub.config.hub_member_id
    rows = [{"owner": owner, **r} for r in hub.keyring.status()]
    now = utcnow()
    snap_keys = hub.snap().keys
    with hub.transaction() as s:
        for k in s.scalars(select(MemberKey).where(MemberKey.revoked_at.is_(None))):
            pub = snap_keys.get(k.keyid, (None, None))[1]
            rows.append({"owner": k.member_id, "keyid": k.keyid,
                         "suite": keys.suite_of(pub) if pub is not None else "unknown",
                         "state": "active", "retire_at": None,
                         "age_s": max(0.0, (now - k.created_at).total_seconds())})
    return rows


def due_notices(hub: Hub) -> list[dict[str, Any]]:
    """One notice per key at or past `max_age - notice_days` (retiring hub keys excluded)."""
    max_age = hub.config.key_max_age_days * DAY
    warn_at = max_age - hub.config.key_notice_days * DAY
    now = datetime.now(UTC)
    out = []
    for r in key_ages(hub):
        if r["state"] == "retiring" or r["age_s"] < warn_at:
            continue
        due = now + timedelta(seconds=max_age - r["age_s"])
        overdue = r["age_s"] >= max_age
        days = abs(max_age - r["age_s"]) / DAY
        when_en = f"{days:.0f} days ago" if overdue else f"in {days:.0f} days"
        when_zh = f"已超期 {days:.0f} 天" if overdue else f"还有 {days:.0f} 天到期"
        how = ("hub keys rotate --suite " + r["suite"] if r["owner"] == hub.config.hub_member_id
               else "add a new key, switch to it, then hub members retire-key")
        out.append({
            "id": None, "at": now.isoformat(timespec="seconds"),
            "kind": "key_rotation_overdue" if overdue else "key_rotation_due",
            "member": r["owner"], "keyid": r["keyid"], "suite": r["suite"],
            "due_at": due.isoformat(timespec="seconds"),
            "message": f"Key {r['keyid']} of {r['owner']} ({r['suite']}) is due for rotation "
                       f"{when_en}: {how}.",
            "message_zh": f"{r['owner']} 的密钥 {r['keyid']}（{r['suite']}）需要轮换，{when_zh}。",
        })
    return out
