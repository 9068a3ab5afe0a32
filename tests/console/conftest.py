"""Console fixtures: the hub's app with console users of every role, and a logged-in client."""
from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC
from typing import Any

import pyotp
import pytest

from hub.console import accounts

PASSWORD = "console password 1"


@dataclass
class Users:
    totp: dict[str, str]

    def code(self, username: str, now: Any) -> str:
        return pyotp.TOTP(self.totp[username]).at(now)


@pytest.fixture
def console_users(hub: Any) -> Users:
    secrets_: dict[str, str] = {}
    for role in accounts.ROLES:
        creds = accounts.add_user(hub, role, role, PASSWORD)
        if creds.totp_secret:
            secrets_[role] = creds.totp_secret
    return Users(secrets_)


@pytest.fixture
def console_app(hub: Any, console_users: Users) -> Iterator[Any]:
    from hub.http.app import create_app

    app = create_app(hub=hub)
    yield app


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m, "no CSRF token on the page"
    return m.group(1)


@pytest.fixture
def login(console_app: Any, console_users: Users):
    """A test client logged in as a role (over https, where Secure cookies travel)."""
    from datetime import datetime

    def make(role: str) -> Any:
        client = console_app.test_client()
        client.environ_base["wsgi.url_scheme"] = "https"
        page = client.get("/console/login", base_url="https://localhost")
        token = csrf_of(page.get_data(as_text=True))
        code = (console_users.code(role, datetime.now(UTC))
                if role in console_users.totp else "")
        r = client.post("/console/login", base_url="https://localhost", data={
            "csrf_token": token, "username": role, "password": PASSWORD, "code": code})
        assert r.status_code == 302, r.get_data(as_text=True)[:500]
        return client

    return make
