"""Operating deliveries: 410 disables, 4xx dead-letters, Retry-After, replay, readiness, metrics."""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
import requests
from sqlalchemy import select

import contracts
from hub.client import HubHTTPError
from hub.store.models import Delivery, DeliveryAttempt, Member
from hub.worker import Worker
from tests.integration.receiver import Receiver
from tests.support.members import case_id


def wait_until(check: Callable[[], Any], timeout: float = 10) -> Any:
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


@pytest.fixture
def setup(hub, live_hub, make_member):
    rx = Receiver(hub.private_key.public_key())
    hrss = make_member("hrss", ["application_submitted"], push_url=rx.server.url + "/events")
    for m in ("community", "health"):
        make_member(m, ["item_progressed"])
    admin = make_member("ops", [])
    from hub.security import keys
    from hub.services.members import add_member
    add_member(hub, "ops", keys.public_key_pem(admin.key.public_key()), keyid=admin.keyid,
               roles=["admin"])
    worker = Worker(hub)
    worker.start()
    yield {"rx": rx, "hrss": hrss.client(live_hub.url), "admin": admin.client(live_hub.url),
           "hub": hub, "url": live_hub.url}
    worker.stop()
    rx.server.stop()


def _hrss_delivery(hub):
    with hub.transaction() as s:
        return s.scalars(select(Delivery).where(Delivery.member_id == "hrss")).first()


def test_410_disables_the_endpoint_tells_admins_and_replay_recovers(setup):
    rx, hrss, admin, hub = setup["rx"], setup["hrss"], setup["admin"], setup["hub"]
    rx.answer = (410, {})
    hrss.emit("application_submitted", case_id(), contracts.example("application"))
    d = wait_until(lambda: (x := _hrss_delivery(hub)) and x.state == "dead" and x)
    assert d.attempts == 1
    with hub.transaction() as s:
        assert s.get(Member, "hrss").push_disabled_at is not None
    notices = admin._call("GET", "/v1/admin/notices")["notices"]
    assert notices[0]["kind"] == "endpoint_disabled" and notices[0]["member"] == "hrss"
    assert notices[0]["message_zh"]
    # only administrators may look
    with pytest.raises(HubHTTPError) as err:
        hrss._call("GET", "/v1/admin/notices")
    assert err.value.status == 403 and err.value.problem["code"] == "admin_required"

    # while disabled, new events wait instead of being tried
    rx.answer = None
    hrss.emit("application_submitted", case_id(), contracts.example("application"))
    time.sleep(0.6)
    assert rx.received == []
    admin._call("PUT", "/v1/admin/members/hrss/endpoint", {"enabled": True}, "application/json")
    rx.wait_for(1)
    out = admin._call("POST", "/v1/admin/deliveries/replay", {"member": "hrss"},
                      "application/json")
    assert out["replayed"] == 1
    got = rx.wait_for(2)
    assert len({e["id"] for e in got}) == 2


def test_other_4xx_is_dead_lettered_without_retry(setup):
    rx, hrss, hub = setup["rx"], setup["hrss"], setup["hub"]
    rx.answer = (400, {})
    hrss.emit("application_submitted", case_id(), contracts.example("application"))
    d = wait_until(lambda: (x := _hrss_delivery(hub)) and x.state == "dead" and x)
    time.sleep(0.5)
    assert rx.calls == 1 and d.attempts == 1 and "400" in (d.last_error or "")
    with hub.transaction() as s:
        (a,) = s.scalars(select(DeliveryAttempt).where(DeliveryAttempt.delivery_id == d.id)).all()
        assert a.status_code == 400 and a.duration_ms >= 0 and "as told" in (a.response or "")
        assert s.get(Member, "hrss").push_disabled_at is None


def test_retry_after_is_honoured(setup):
    rx, hrss, hub = setup["rx"], setup["hrss"], setup["hub"]
    rx.answer = (503, {"Retry-After": "2"})
    hrss.emit("application_submitted", case_id(), contracts.example("application"))
    d = wait_until(lambda: (x := _hrss_delivery(hub)) and x.attempts == 1 and x)
    assert d.state == "pending"
    wait_s = (d.next_attempt_at - d.created_at).total_seconds()
    assert 1.5 <= wait_s <= 3, wait_s
    rx.answer = None
    rx.wait_for(1)
    assert rx.calls == 2


def test_readyz_needs_a_fresh_worker_and_metrics_report_deliveries(setup):
    rx, hrss, url = setup["rx"], setup["hrss"], setup["url"]
    ready = wait_until(lambda: requests.get(url + "/readyz", timeout=5).status_code == 200)
    assert ready
    hrss.emit("application_submitted", case_id(), contracts.example("application"))
    rx.wait_for(1)
    text = wait_until(lambda: (t := requests.get(url + "/metrics", timeout=5).text)
                      and 'hub_deliveries{member="hrss",state="delivered"} 1.0' in t and t)
    assert "hub_delivery_latency_seconds_bucket" in text
    assert 'hub_delivery_latency_seconds_count 1.0' in text
    # health's pull delivery is pending: backlog and oldest age per member
    assert 'hub_backlog{member="health"}' in text
    assert 'hub_oldest_undelivered_age_seconds{member="health"}' in text


def test_readyz_is_503_without_a_worker(live_hub):
    r = requests.get(live_hub.url + "/readyz", timeout=5)
    assert r.status_code == 503
    assert r.json()["checks"]["worker"]["fresh"] is False
    assert r.json()["checks"]["database"] == "ok"
