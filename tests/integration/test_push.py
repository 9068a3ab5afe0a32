"""Pushes: signed by the hub, sent right after the commit, retried with the same event id."""
from __future__ import annotations

import time

from sqlalchemy import select

import contracts
from hub.security import keys
from hub.store.models import Delivery, DeliveryAttempt
from hub.worker import Worker
from tests.integration.receiver import Receiver
from tests.support.members import case_id


def test_push_goes_out_after_commit_and_retries_with_the_same_id(hub, live_hub, make_member):
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


def test_pushed_item_request_marks_the_item_delivered(hub, live_hub, make_member):
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
