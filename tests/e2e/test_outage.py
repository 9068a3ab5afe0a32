"""A receiving member that goes away, or says "gone", or refuses: nothing is lost.

Real processes: ``hub serve`` (API and push worker in one process, on SQLite) and the receiving
stand-in of ``tests/e2e/procs.py`` for the ``hrss`` and ``health`` members.

* outage: the receiver is killed for ``OUTAGE_S`` seconds while applications keep coming; the
  hub retries on its (shortened) schedule and, once the receiver is back, every event published
  before and during the outage arrives, none dead-lettered;
* 410 Gone: the endpoint is disabled and administrators get a notice (``GET /v1/admin/notices``,
  signed by an admin member); later events wait; re-enabling (``PUT
  /v1/admin/members/<id>/endpoint``) sends them and replaying (``POST /v1/admin/deliveries/replay``)
  sends the dead-lettered ones, with their original event ids;
* another 4xx is dead-lettered without retries and without disabling anything; ``hub deliveries
  list`` shows it and ``hub deliveries replay`` (one id, then a member's) delivers it.
"""
from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

import contracts
from tests.e2e.procs import (
    HubDB,
    HubSetup,
    MemberKeys,
    Procs,
    Publisher,
    Receiver,
    application_events,
    case_ids,
)

pytestmark = pytest.mark.e2e

OUTAGE_S = 15.0  # how long the receiver stays down (the scenario says a minute)
# Immediately, 1 s, then every 2 s: about 45 s of retries before a dead letter, longer than
# the outage, so nothing published during it may end up dead.
RETRY_SCHEDULE = ",".join(["0", "1"] + ["2"] * 22)
STATUS = contracts.event_type("case_status_changed")
REQUEST = contracts.item("only_child_certificate")["request_type"]


@dataclass
class Stack:
    setup: HubSetup
    procs: Procs
    db: HubDB
    receiver: Receiver
    hrss: MemberKeys
    admin: MemberKeys

    def publish(self, n: int, tag: str, batch: int = 10) -> list[str]:
        cases = case_ids(n, tag)
        events = application_events(cases)
        pub = Publisher(self.setup.url, self.hrss)
        for i in range(0, n, batch):
            pub.publish_batch(events[i:i + batch])
        return cases

    def admin_call(self, method: str, path: str, body: Any = None) -> requests.Response:
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if body is not None else {}
        return requests.request(method, self.setup.url + path, data=data, headers=headers,
                                auth=self.admin.auth(), timeout=10)

    def drained(self, timeout: float = 60.0) -> float:
        return self.db.wait_drained(timeout, self.procs, ("hub",))

    def assert_all_arrived(self) -> dict[str, int]:
        """Every delivery delivered and every owed id at the receiver; returns arrival counts."""
        states = self.db.states()
        assert set(states) == {"delivered"}, states
        counts = {}
        for member in ("hrss", "health"):
            owed = set(self.db.delivery_event_ids(member))
            got = self.receiver.distinct_ids(member)
            assert got == owed, (member, sorted(owed - got)[:5], sorted(got - owed)[:5])
            counts[member] = len(got)
        assert self.receiver.rejected() == []
        return counts


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    setup = HubSetup(tmp_path / "hub", f"sqlite:///{tmp_path / 'hub.db'}", {
        "HUB_RETRY_SCHEDULE": RETRY_SCHEDULE,
        "HUB_RETRY_JITTER": "0",
        "HUB_WORKER_POLL_S": "0.2",
        "HUB_LEASE_S": "10",
    })
    setup.init()
    db = HubDB(setup.database_url)
    with Procs(tmp_path / "logs", setup.env) as procs:
        hub = procs.hub("hub", "serve")  # the API and the push worker in one process
        procs.wait_http(hub, setup.url + "/healthz", timeout=60)
        receiver = Receiver(procs, tmp_path / "receiver.db", setup.url).start()
        hrss = setup.add_member("hrss", publish=("application_submitted",),
                                push_url=receiver.push_url("hrss"))
        setup.add_member("health", push_url=receiver.push_url("health"))
        admin = setup.add_member("ops", roles=("admin",))
        setup.wait_members_known()
        yield Stack(setup, procs, db, receiver, hrss, admin)
    db.close()


def test_receiver_down_for_a_while_then_back_gets_everything(stack: Stack) -> None:
    t0 = time.monotonic()
    before = stack.publish(10, "1")
    stack.drained()
    assert stack.assert_all_arrived() == {"hrss": 20, "health": 10}

    stack.receiver.kill9()
    down_at = time.monotonic()
    during: list[str] = []
    for k in range(3):  # publish at the start, a third and two thirds into the outage
        while time.monotonic() < down_at + k * OUTAGE_S / 3:
            time.sleep(0.1)
        during += stack.publish(10, "2")
    while time.monotonic() < down_at + OUTAGE_S:
        stack.procs.check_alive("hub")
        time.sleep(0.2)

    # While it is down: owed, retried on schedule, nothing given up.
    states = stack.db.states()
    assert states.get("dead", 0) == 0 and states.get("pending", 0) >= 30, states
    retried = stack.db.rows(
        "SELECT d.id, d.attempts FROM deliveries d WHERE d.state = 'pending' "
        "AND d.attempts >= 3")
    assert retried, "no delivery was retried during the outage"
    errors = stack.db.rows("SELECT DISTINCT error FROM delivery_attempts WHERE error IS NOT NULL")
    assert any("Connection" in e for (e,) in errors), errors  # refused while it is down
    metrics = requests.get(stack.setup.url + "/metrics", timeout=10).text
    assert 'hub_backlog{member="hrss"}' in metrics

    stack.receiver.start()  # the same port and the same store
    back_at = time.monotonic()
    drain_s = stack.drained()
    counts = stack.assert_all_arrived()
    n = len(before) + len(during)
    assert counts == {"hrss": 2 * n, "health": n}
    statuses = stack.receiver.subjects("hrss", STATUS)
    assert set(statuses) == set(before + during) and set(statuses.values()) == {2}
    assert set(stack.receiver.subjects("health", REQUEST)) == set(before + during)
    most = int(stack.db.scalar("SELECT max(attempts) FROM deliveries"))
    dupes = sum(stack.receiver.arrivals().values()) - sum(counts.values())
    print(f"[outage] receiver down {back_at - down_at:.1f}s; {len(during)} applications "
          f"published meanwhile; all {sum(counts.values())} pushes arrived {drain_s:.1f}s after "
          f"it came back (at most {most} attempts for one delivery, {dupes} duplicates); "
          f"total {time.monotonic() - t0:.1f}s")


def _notices(stack: Stack) -> list[dict[str, Any]]:
    resp = stack.admin_call("GET", "/v1/admin/notices")
    assert resp.status_code == 200, resp.text
    return resp.json()["notices"]  # type: ignore[no-any-return]


def _wait(what: str, cond: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = cond()
        if got:
            return got
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_gone_disables_endpoint_notifies_then_reenable_and_replay(stack: Stack) -> None:
    stack.receiver.control(410, member="hrss")
    first = stack.publish(3, "3")

    # The first 410 dead-letters its delivery, disables hrss's endpoint and tells administrators.
    disabled = _wait("an endpoint_disabled notice", lambda: [
        n for n in _notices(stack) if n["kind"] == "endpoint_disabled" and n["member"] == "hrss"])
    assert "410" in disabled[0]["message"] and disabled[0]["message_zh"]
    unauthorised = requests.get(stack.setup.url + "/v1/admin/notices",
                                auth=stack.hrss.auth(), timeout=10)
    assert unauthorised.status_code == 403  # a member without the admin role may not look
    # Settled: nothing of hrss's is leased any more (the rest of a claimed batch may have been
    # pushed and refused too; deliveries not yet claimed wait).
    _wait("hrss's claimed pushes to settle", lambda: stack.db.scalar(
        "SELECT count(*) FROM deliveries WHERE member_id = 'hrss' AND claimed_by IS NOT NULL")
        == 0)
    dead = stack.admin_call("GET", "/v1/admin/deliveries?member=hrss&state=dead").json()
    assert dead["deliveries"] and all("410" in d["last_error"] for d in dead["deliveries"])
    assert stack.receiver.distinct_ids("hrss") == set()  # 410 answers recorded nothing

    # While disabled, new events for hrss wait: not attempted, not lost. health is unaffected.
    second = stack.publish(3, "4")
    stack.receiver.control(None, member="hrss")  # the receiver is fine again
    time.sleep(1.5)  # several worker ticks
    waiting = stack.db.rows(
        "SELECT d.id, d.attempts, e.subject FROM deliveries d JOIN events e "
        "ON e.seq = d.event_seq WHERE d.member_id = 'hrss' AND d.state = 'pending'")
    assert {s for _, _, s in waiting} >= set(second), waiting
    assert all(a == 0 for _, a, s in waiting if s in second)
    assert stack.receiver.distinct_ids("hrss") == set()
    assert set(stack.receiver.subjects("health", REQUEST)) == set(first + second)

    # Re-enable: the waiting ones go out. Replay: the dead ones go out, same event ids.
    resp = stack.admin_call("PUT", "/v1/admin/members/hrss/endpoint", {"enabled": True})
    assert resp.status_code == 200 and resp.json()["enabled"] is True, resp.text
    dead_ids = {d["event_id"] for d in dead["deliveries"]}
    stack.drained()
    assert not dead_ids & stack.receiver.distinct_ids("hrss")  # not yet: they are dead letters
    replay = stack.admin_call("POST", "/v1/admin/deliveries/replay", {"member": "hrss"})
    assert replay.status_code == 202, replay.text
    assert replay.json()["replayed"] == len(dead_ids)
    stack.drained()
    stack.assert_all_arrived()
    assert dead_ids <= stack.receiver.distinct_ids("hrss")
    statuses = stack.receiver.subjects("hrss", STATUS)
    assert set(statuses) == set(first + second) and set(statuses.values()) == {2}
    kinds = [(n["kind"], n["member"]) for n in _notices(stack)]
    assert ("endpoint_enabled", "hrss") in kinds
    print(f"[gone] {len(dead_ids)} dead-lettered by 410 then replayed; "
          f"{len(second)} waited while disabled; notices {kinds}")


def test_refused_push_is_dead_lettered_and_replayed_with_the_cli(stack: Stack) -> None:
    if stack.setup.cli("deliveries", "--help", check=False).returncode != 0:
        pytest.skip("no 'hub deliveries' command in this build")
    stack.receiver.control(422, member="health")  # refused: not retried, endpoint stays on
    cases = stack.publish(4, "8")
    _wait("four dead letters for health", lambda: stack.db.scalar(
        "SELECT count(*) FROM deliveries WHERE member_id = 'health' AND state = 'dead'") == 4)
    stack.drained()
    attempts = stack.db.rows("SELECT attempts FROM deliveries WHERE member_id = 'health'")
    assert [a for (a,) in attempts] == [1] * 4  # no blind retries of a 4xx
    assert not [n for n in _notices(stack) if n["kind"] == "endpoint_disabled"]

    listed = json.loads(stack.setup.cli("deliveries", "list", "--member", "health",
                                        "--state", "dead", "--json").stdout)
    assert len(listed) == 4 and all("422" in d["last_error"] for d in listed)
    stack.receiver.control(None, member="health")

    one = listed[-1]
    out = stack.setup.cli("deliveries", "replay", str(one["id"])).stdout
    assert "replayed 1" in out
    _wait("the replayed delivery", lambda: one["event_id"] in stack.receiver.distinct_ids(
        "health"))
    out = stack.setup.cli("deliveries", "replay", "--member", "health").stdout
    assert "replayed 3" in out
    stack.drained()
    stack.assert_all_arrived()
    assert {d["event_id"] for d in listed} == stack.receiver.distinct_ids("health")
    assert set(stack.receiver.subjects("hrss", STATUS)) == set(cases)
