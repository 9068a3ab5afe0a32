"""Console accounts: argon2id hashes, TOTP for operators and admins, throttling, the CLI."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyotp
import pytest
from click.testing import CliRunner

from hub.cli import main
from hub.console import accounts, queries
from hub.domain.errors import DomainError

NOW = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"


def test_passwords_are_argon2id_and_operators_need_a_code(hub):
    creds = accounts.add_user(hub, "op1", "operator", PASSWORD, now=NOW)
    assert creds.totp_secret and creds.totp_uri.startswith("otpauth://totp/")
    with hub.transaction() as s:
        stored = queries.user(s, "op1").password_hash
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    with pytest.raises(DomainError) as no_code:
        accounts.authenticate(hub, "op1", PASSWORD, "", now=NOW)
    assert no_code.value.code == "login_failed"
    code = pyotp.TOTP(creds.totp_secret).at(NOW)
    assert accounts.authenticate(hub, "op1", PASSWORD, code, now=NOW) == {
        "username": "op1", "role": "operator"}


def test_an_observer_logs_in_with_a_password_alone(hub):
    creds = accounts.add_user(hub, "obs", "observer", PASSWORD, now=NOW)
    assert creds.totp_secret is None
    assert accounts.authenticate(hub, "obs", PASSWORD, "", now=NOW)["role"] == "observer"


def test_failed_logins_lock_the_account_for_a_while(hub):
    accounts.add_user(hub, "sup", "supervisor", PASSWORD, now=NOW)
    for _ in range(accounts.MAX_FAILURES):
        with pytest.raises(DomainError):
            accounts.authenticate(hub, "sup", "wrong password!", "", now=NOW)
    with pytest.raises(DomainError) as locked:
        accounts.authenticate(hub, "sup", PASSWORD, "", now=NOW)
    assert locked.value.code == "login_locked" and locked.value.status == 429
    later = NOW + accounts.LOCK_FOR + timedelta(seconds=1)
    assert accounts.authenticate(hub, "sup", PASSWORD, "", now=later)["role"] == "supervisor"
    with hub.transaction() as s:
        actions = [a["action"] for a in queries.audit(s)]
    assert actions.count("login_failed") == accounts.MAX_FAILURES
    assert "login_locked" in actions and actions[0] == "login"


def test_weak_passwords_unknown_roles_and_disabled_users_are_refused(hub):
    with pytest.raises(DomainError) as weak:
        accounts.add_user(hub, "x", "observer", "short")
    assert weak.value.code == "weak_password" and weak.value.message_zh
    with pytest.raises(DomainError) as role:
        accounts.add_user(hub, "x", "root", PASSWORD)
    assert role.value.code == "unknown_role"
    accounts.add_user(hub, "gone", "observer", PASSWORD)
    accounts.disable_user(hub, "gone")
    with pytest.raises(DomainError):
        accounts.authenticate(hub, "gone", PASSWORD, "", now=NOW)


@pytest.fixture
def env(tmp_path: Path, database_url: str) -> dict[str, str]:
    env = {"HUB_DATABASE_URL": database_url, "HUB_KEY_DIR": str(tmp_path / "keys")}
    CliRunner().invoke(main, ["init"], env=env, catch_exceptions=False)
    return env


def test_users_cli_add_list_disable_reset(env):
    r = CliRunner()
    out = r.invoke(main, ["users", "add", "ada", "--role", "admin", "--password", PASSWORD],
                   env=env, catch_exceptions=False).output
    assert "totp secret:" in out and "otpauth://" in out
    listed = r.invoke(main, ["users", "list"], env=env, catch_exceptions=False).output
    assert "ada" in listed and "admin" in listed and "active" in listed
    assert r.invoke(main, ["users", "disable", "ada"], env=env).exit_code == 0
    assert "disabled" in r.invoke(main, ["users", "list"], env=env).output
    reset = r.invoke(main, ["users", "reset", "ada"], env=env, catch_exceptions=False).output
    assert "password:" in reset and "active" in r.invoke(main, ["users", "list"], env=env).output
    dup = r.invoke(main, ["users", "add", "ada", "--role", "observer", "--password", PASSWORD],
                   env=env)
    assert dup.exit_code != 0 and "user_exists" in dup.output
