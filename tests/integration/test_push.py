"""Pushes: signed by the hub, sent right after the commit, retried with the same event id."""
from __future__ import annotations

import json
import threading
import time
from typing import Any

from flask import Flask, request
from sqlalchemy import select

import contracts
from hub.security import keys
from hub.security.signing import NonceCache, verify_request
from hub.store.models import Delivery, DeliveryAttempt
from hub.worker import Worker
from tests.conftest import LiveServer, case_id


class Receiver:
    """A department endpoint that verifies the hub's signature and can be told to fail."""

    def __init__(self, hub_public: Any) -> None:
        self.received: list[dict[str, Any]] = []
        self.fail_next = 0
        self.lock = threading.Lock()
        self.nonces = NonceCache()
        app = Flask("receiver")

        @app.post("/events")
        def events() -> Any:
            verify_request(request.method, request.url, request.headers, request.get_data(),
                           lambda kid: hub_public, self.nonces)
            with self.lock:
                if self.fail_next:
                    self.fail_next -= 1
                    return {"error": "temporarily broken"}, 500
                self.received.append(json.loads(request.get_data()))
            return "", 204

        self.server = LiveServer(app)

    def wait_for(self, n: int, timeout: float = 10) -> list[dict[str, Any]]:
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.lock:
                if len(self.received) >= n:
                    return list(self.received)
            time.sleep(0.05)
        raise AssertionError(f"only {len(self.received)} of {n} pushes arrived")


def test_push_goes_out_after_commit_and_retries_with_the_same_id(hub, live_hub, make_member):  # type: ignore[no-untyped-def]
    rx = Receiver(hub.private_key.public_key())
    rx.fail_next = 2
    hrss = make_member("hrss", ["application_submitted", "approval_decided"],
                       push_url=rx.server.url + "/events")
    for m in ("community", "hpf", "medical", "health"):
        make_member(m, ["item_progressed"])
    worker = Worker(hub)
    worker.start()
    try:
        cid = case_id()
        hrss.client(live_hub.url).emit("application_submitted", cid,
                                       contracts.example("application"))
        got = rx.wait_for(1)
        assert got[0]["type"] == contracts.event_type("case_status_changed")
        assert got[0]["subject"] == cid
    finally:
        worker.stop()
        rx.server.stop()
    with hub.transaction() as s:
        (d,) = s.scalars(select(Delivery).where(Delivery.member_id == "hrss")).all()
        assert d.state == "delivered" and d.delivered_by == "push" and d.attempts == 3
        tries = s.scalars(select(DeliveryAttempt).where(DeliveryAttempt.delivery_id == d.id)
                          .order_by(DeliveryAttempt.id)).all()
        assert [t.status_code for t in tries] == [500, 500, 204]


def test_pushed_item_request_marks_the_item_delivered(hub, live_hub, make_member):  # type: ignore[no-untyped-def]
    rx = Receiver(hub.private_key.public_key())
    hrss = make_member("hrss", ["application_submitted"])
    make_member("health", ["item_progressed"], push_url=rx.server.url + "/events")
    make_member("community", ["item_progressed"])
    worker = Worker(hub)
    worker.start()
    try:
        cid = case_id()
        client = hrss.client(live_hub.url)
        client.emit("application_submitted", cid, contracts.example("application"))
        (ev,) = rx.wait_for(1)
        assert ev["type"] == contracts.item("only_child_certificate")["request_type"]
        deadline = time.time() + 5
        while time.time() < deadline:
            states = {i["code"]: i["state"] for i in client.case(cid)["items"]}
            if states["only_child_certificate"] == "delivered":
                break
            time.sleep(0.05)
        assert states["only_child_certificate"] == "delivered"
    finally:
        worker.stop()
        rx.server.stop()
    assert keys.key_id(hub.private_key.public_key()) == hub.keyid
