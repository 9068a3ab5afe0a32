"""Shared fixtures: a real hub on SQLite and on PostgreSQL, served over real HTTP."""
from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

import contracts
from hub.bootstrap import Hub, init
from hub.config import Config
from hub.security import keys
from hub.services.members import add_member
from tests.support.members import Member
from tests.support.postgres import PG_URL, pg_unavailable
from tests.support.servers import LiveServer


@pytest.fixture(scope="session")
def pg_skip_reason() -> str | None:
    return pg_unavailable()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path,
                 pg_skip_reason: str | None) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'hub.db'}"
        return
    if pg_skip_reason:
        pytest.skip(pg_skip_reason)
    schema = "t_" + uuid.uuid4().hex[:12]
    admin = create_engine(PG_URL)
    with admin.begin() as c:
        c.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as c:
            c.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def hub_config(tmp_path: Path, database_url: str) -> Config:
    return Config(database_url=database_url, key_dir=tmp_path / "keys", run_worker=False,
                  retry_schedule_s=(0, 0.2, 0.5), retry_jitter=0, worker_poll_s=0.2,
                  heartbeat_stale_s=5)


@pytest.fixture
def hub(hub_config: Config) -> Iterator[Hub]:
    _, h = init(hub_config)
    yield h
    h.engine.dispose()


def _types(*keys_: str) -> list[str]:
    return [contracts.event_type(k) for k in keys_]


@pytest.fixture
def make_member(hub: Hub):
    def make(member_id: str, publish: list[str] | None = None,
             subscribe: list[str] | None = None, push_url: str | None = None,
             suite: str = "intl") -> Member:
        key = keys.generate_keypair(suite)
        kid = f"{member_id}-{uuid.uuid4().hex[:6]}"
        add_member(hub, member_id, keys.public_key_pem(key.public_key()), keyid=kid,
                   publish=_types(*(publish or [])), subscribe=subscribe or [],
                   push_url=push_url)
        return Member(member_id, key, kid)

    return make


@pytest.fixture
def members(make_member: Any) -> dict[str, Member]:
    """The default cast: the HRSS entrance and the four department units, all pulling."""
    return {
        "hrss": make_member("hrss", ["application_submitted", "approval_decided"]),
        **{m: make_member(m, ["item_progressed", "issue_reported"])
           for m in ("community", "hpf", "medical", "health")},
    }


@pytest.fixture
def live_hub(hub: Hub) -> Iterator[LiveServer]:
    """The hub's WSGI app behind a real HTTP server on a loopback port."""
    from hub.http.app import create_app

    srv = LiveServer(create_app(hub=hub))
    yield srv
    srv.stop()
