"""Keys rotate without downtime: members add, switch and retire keys (audited); key age is a
metric and an administrator notice before rotation is due."""
from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from sqlalchemy import select, update

import contracts
from hub.client import HubClient, HubHTTPError
from hub.config import Config
from hub.domain.errors import DomainError
from hub.security import keys
from hub.services import operations
from hub.services.members import add_member, retire_key
from hub.services.outbox import utcnow
from hub.store.models import MemberKey, RegistryAudit

DAY = 86400


@pytest.fixture
def hub_config(tmp_path: Path, database_url: str) -> Config:
    return Config(database_url=database_url, key_dir=tmp_path / "keys", run_worker=False,
                  key_max_age_days=10, key_notice_days=3)


def test_a_member_rotates_from_ed25519_to_sm2_without_a_refused_request(hub, live_hub):
    old = keys.generate_keypair("intl")
    add_member(hub, "medical", keys.public_key_pem(old.public_key()), keyid="medical-1",
               publish=[contracts.event_type("item_progressed")])
    old_client = HubClient(live_hub.url, "medical", old, "medical-1")
    assert old_client.feed(limit=1)["next_cursor"] == 0

    new = keys.generate_keypair("sm")  # 1. add the new key beside the old one
    add_member(hub, "medical", keys.public_key_pem(new.public_key()), keyid="medical-2",
               actor="ops")
    new_client = HubClient(live_hub.url, "medical", new, "medical-2")
    assert old_client.feed(limit=1)["next_cursor"] == 0  # 2. both work while the member switches
    assert new_client.feed(limit=1)["next_cursor"] == 0

    m = retire_key(hub, "medical", "medical-1", actor="ops")  # 3. retire the old one
    assert m.keyids == ["medical-2"]
    with pytest.raises(HubHTTPError) as err:
        old_client.feed(limit=1)
    assert err.value.status == 401 and err.value.problem["code"] == "unknown_key"
    assert new_client.feed(limit=1)["next_cursor"] == 0

    with pytest.raises(DomainError) as derr:  # never lock a member out
        retire_key(hub, "medical", "medical-2")
    assert derr.value.code == "last_key"
    with pytest.raises(DomainError) as derr:  # a retired key does not come back
        add_member(hub, "medical", keys.public_key_pem(old.public_key()), keyid="medical-1")
    assert derr.value.code == "key_retired"

    with hub.transaction() as s:
        audit = [(a.actor, a.action, (a.detail or {}).get("keyid"), (a.detail or {}).get("suite"))
                 for a in s.scalars(select(RegistryAudit).where(RegistryAudit.target == "medical")
                                    .order_by(RegistryAudit.id))]
    assert audit == [("console", "member.upsert", "medical-1", "intl"),
                     ("ops", "member.upsert", "medical-2", "sm"),
                     ("ops", "member.key_retired", "medical-1", None)]


def test_key_age_is_a_metric_and_a_notice_before_rotation_is_due(hub, live_hub):
    key = keys.generate_keypair()
    add_member(hub, "hpf", keys.public_key_pem(key.public_key()), keyid="hpf-1")
    add_member(hub, "health", keys.public_key_pem(keys.generate_keypair().public_key()),
               keyid="health-1")
    with hub.transaction() as s:  # hpf's key is 8 days old: due in 2 days, inside the 3-day notice
        s.execute(update(MemberKey).where(MemberKey.keyid == "hpf-1")
                  .values(created_at=utcnow() - timedelta(days=8)))
    hub_key = Path(hub.config.key_dir) / "hub.private.pem"  # the hub's Ed25519 key: 11 days
    old = hub_key.stat().st_mtime - 11 * DAY
    os.utime(hub_key, (old, old))
    hub.keyring.refresh(force=True)

    notices = {(n["kind"], n["member"], n.get("keyid")) for n in operations.notices(hub)
               if n["kind"].startswith("key_rotation")}
    intl_kid = hub.keyring.current("intl").keyid
    assert notices == {("key_rotation_due", "hpf", "hpf-1"),
                       ("key_rotation_overdue", "retirement-hub", intl_kid)}

    text = requests.get(live_hub.url + "/metrics", timeout=10).text
    line = next(ln for ln in text.splitlines()
                if ln.startswith("hub_key_age_seconds") and 'keyid="hpf-1"' in ln)
    assert 'owner="hpf"' in line and 'suite="intl"' in line
    assert float(line.rsplit(" ", 1)[1]) == pytest.approx(8 * DAY, abs=60)

    _, new_kid = hub.keyring.rotate("intl", overlap_s=600)  # rotating clears the hub's notice
    left = {(n["member"], n.get("keyid")) for n in operations.notices(hub)
            if n["kind"].startswith("key_rotation")}
    assert left == {("hpf", "hpf-1")}
    text = requests.get(live_hub.url + "/metrics", timeout=10).text
    assert f'keyid="{new_kid}"' in text and f'keyid="{intl_kid}"' in text  # old one retiring


def test_hub_keys_rotate_and_list_on_the_command_line(hub, hub_config, monkeypatch):
    from click.testing import CliRunner

    from hub.cli import main

    monkeypatch.setenv("HUB_DATABASE_URL", hub_config.database_url)
    monkeypatch.setenv("HUB_KEY_DIR", str(hub_config.key_dir))
    old = hub.keyring.current("sm").keyid
    out = CliRunner().invoke(main, ["keys", "rotate", "--suite", "sm", "--overlap", "600"])
    assert out.exit_code == 0, out.output
    hub.keyring.refresh(force=True)  # another process rotated: this one looks within a second
    new = hub.keyring.current("sm").keyid
    assert new != old and new in out.output
    assert set(hub.keyring.published()) == {hub.keyid, old, new}
    with hub.transaction() as s:
        (row,) = s.scalars(select(RegistryAudit).where(RegistryAudit.action == "hub.key_rotated"))
    assert row.detail == {"suite": "sm", "old": old, "new": new, "overlap_s": 600.0}
    out = CliRunner().invoke(main, ["keys", "list", "--json"])
    states = {(r["keyid"], r["state"]) for r in json.loads(out.output)}
    assert states == {(hub.keyid, "current"), (new, "current"), (old, "retiring")}
