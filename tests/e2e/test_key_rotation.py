"""Rotating the hub's keys while applications flow: no push lost, none refused.

Real processes: ``hub serve`` (API and push worker), the receiving stand-in of
``tests/e2e/procs.py`` for ``hrss`` (an Ed25519 member) and ``health`` (an SM2 member), which
caches the hub's JWKS and refetches it on an unknown keyid. While batches of applications are
published, ``hub keys rotate`` (another process) replaces the Ed25519 key and then the SM2 key.
"""
from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import requests

from tests.e2e.procs import (
    HubDB,
    HubSetup,
    Procs,
    Publisher,
    Receiver,
    application_events,
    case_ids,
)

pytestmark = pytest.mark.e2e


def test_rotating_the_hub_keys_mid_flow_loses_and_refuses_nothing(tmp_path: Path) -> None:
    setup = HubSetup(tmp_path / "hub", f"sqlite:///{tmp_path / 'hub.db'}", {
        "HUB_RETRY_SCHEDULE": ",".join(["0", "1"] + ["2"] * 22), "HUB_RETRY_JITTER": "0"})
    setup.init()
    db = HubDB(setup.database_url)
    try:
        with Procs(tmp_path / "logs", setup.env) as procs:
            hub = procs.hub("hub", "serve")
            procs.wait_http(hub, setup.url + "/healthz", timeout=60)
            receiver = Receiver(procs, tmp_path / "receiver.db", setup.url).start()
            hrss = setup.add_member("hrss", publish=("application_submitted",),
                                    push_url=receiver.push_url("hrss"))
            setup.add_member("health", push_url=receiver.push_url("health"), suite="sm")
            setup.wait_members_known()
            before = {k["kid"] for k in requests.get(
                setup.url + "/.well-known/jwks.json", timeout=5).json()["keys"]}

            cases: list[str] = []
            stop = threading.Event()

            def publish() -> None:
                pub = Publisher(setup.url, hrss)
                while not stop.is_set():
                    batch = case_ids(5, "7")
                    pub.publish_batch(application_events(batch))
                    cases.extend(batch)
                    time.sleep(0.3)

            t = threading.Thread(target=publish)
            t.start()
            try:
                time.sleep(3)
                rotated = [setup.cli("keys", "rotate", "--suite", "intl", "--overlap", "120")]
                time.sleep(8)
                rotated.append(setup.cli("keys", "rotate", "--suite", "sm", "--overlap", "120"))
                time.sleep(10)
            finally:
                stop.set()
                t.join(60)
            assert all(r.returncode == 0 for r in rotated)
            db.wait_drained(90, procs, ("hub",))

            jwks = {k["kid"] for k in requests.get(
                setup.url + "/.well-known/jwks.json", timeout=5).json()["keys"]}
            assert before < jwks and len(jwks) == 4  # old keys still published in the overlap

            states = db.states()
            assert set(states) == {"delivered"}, states
            for member in ("hrss", "health"):
                owed = set(db.delivery_event_ids(member))
                assert receiver.distinct_ids(member) == owed, member
            assert receiver.rejected() == []
            refused = db.rows("SELECT status_code, count(*) FROM delivery_attempts "
                              "WHERE status_code >= 400 GROUP BY status_code")
            assert refused == []
            # pushes went out signed by the old key, then by the new one, per suite
            for member in ("hrss", "health"):
                used = receiver.keyids(member)
                assert len(used) == 2 and used[0] in before and used[1] not in before, (
                    member, used)
            assert len(set(cases)) >= 50
    finally:
        db.close()
