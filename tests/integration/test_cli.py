"""The ``hub`` command line, driven the way an operator would, on a real database."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import contracts
from hub.cli import main


@pytest.fixture
def env(tmp_path: Path, database_url: str) -> dict[str, str]:
    return {"HUB_DATABASE_URL": database_url, "HUB_KEY_DIR": str(tmp_path / "keys"),
            "COLUMNS": "200"}


def run(env: dict[str, str], *args: str) -> str:
    result = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_init_members_and_case_show(env, tmp_path):
    out = run(env, "init")
    assert "created hub key" in out
    assert "kept hub key" in run(env, "init")  # idempotent

    out = run(env, "keys", "generate", str(tmp_path / "m"), "--name", "hpf")
    assert (tmp_path / "m" / "hpf.public.pem").exists()
    progressed = contracts.event_type("item_progressed")
    run(env, "members", "add", "hpf", "--key-file", str(tmp_path / "m" / "hpf.public.pem"),
        "--key-id=hpf-1", "--publish", progressed, "--push-url", "http://127.0.0.1:9/x")
    listed = json.loads(run(env, "members", "list", "--json"))
    assert listed == [{"id": "hpf", "name": None, "roles": [], "publish": [progressed],
                       "subscribe": [], "push_url": "http://127.0.0.1:9/x",
                       "keyids": ["hpf-1"], "ack_cursor": 0}]

    bad = CliRunner().invoke(main, ["members", "add", "x", "--key-file",
                                    str(tmp_path / "m" / "hpf.public.pem"), "--publish", "nope"],
                             env=env)
    assert bad.exit_code != 0 and "unknown event types: nope" in bad.output

    missing = CliRunner().invoke(main, ["case", "show", "RT-none"], env=env)
    assert missing.exit_code == 1 and "case_not_found" in missing.output


def test_case_show_prints_items_and_history(env, tmp_path):
    from hub.bootstrap import bootstrap
    from hub.client import make_event
    from hub.config import Config
    from hub.security import keys
    from hub.services.members import add_member
    from hub.services.publish import publish

    run(env, "init")
    hub = bootstrap(Config.from_env(env))
    key = keys.generate_keypair()
    add_member(hub, "hrss", keys.public_key_pem(key.public_key()),
               publish=[contracts.event_type("application_submitted")])
    publish(hub, "hrss", make_event("hrss", "application_submitted", "RT-cli-1",
                                    contracts.example("application")), batch=False)
    out = run(env, "case", "show", "RT-cli-1")
    assert "RT-cli-1" in out and "only_child_certificate" in out and "dispatched" in out
    doc = json.loads(run(env, "case", "show", "RT-cli-1", "--json"))
    assert doc["state"] == "open"
    assert {i["code"] for i in doc["items"]} >= {"retirement_approval", "hpf_withdrawal"}
    # the application's personal data is not part of what the console prints
    assert contracts.example("application")["applicant"]["id_number"] not in out
    hub.engine.dispose()


def test_deliveries_list_replay_and_push_switch(env, tmp_path):
    from hub.bootstrap import bootstrap
    from hub.client import make_event
    from hub.config import Config
    from hub.security import keys
    from hub.services.members import add_member
    from hub.services.publish import publish

    run(env, "init")
    hub = bootstrap(Config.from_env(env))
    key = keys.generate_keypair()
    add_member(hub, "hrss", keys.public_key_pem(key.public_key()),
               publish=[contracts.event_type("application_submitted")],
               push_url="http://127.0.0.1:9/unreachable")
    add_member(hub, "health", keys.public_key_pem(keys.generate_keypair().public_key()))
    publish(hub, "hrss", make_event("hrss", "application_submitted", "RT-cli-2",
                                    contracts.example("application")), batch=False)
    rows = json.loads(run(env, "deliveries", "list", "--member", "health", "--json"))
    assert [r["state"] for r in rows] == ["pending"]
    assert rows[0]["type"] == contracts.item("only_child_certificate")["request_type"]

    out = run(env, "deliveries", "replay", "--member", "health", "--state", "pending")
    assert "replayed 1 deliveries" in out
    bad = CliRunner().invoke(main, ["deliveries", "replay"], env=env)
    assert bad.exit_code == 1 and "replay_scope" in bad.output

    run(env, "members", "disable-push", "hrss", "--reason", "maintenance")
    assert "endpoint_disabled" in run(env, "notices")
    run(env, "members", "enable-push", "hrss")
    assert "endpoint_enabled" in run(env, "notices")
    hub.engine.dispose()
