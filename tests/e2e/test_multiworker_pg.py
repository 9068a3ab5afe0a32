"""Several hub processes on one PostgreSQL: three ``hub worker`` processes and the API under
gunicorn (``hub serve --workers 2``); one worker is killed with SIGKILL mid-stream.

Each ``application.submitted`` owes three pushes: the opened case's status to ``hrss``, the
only-child-certificate request to ``health``, and (once that request is delivered) the case's
next status to ``hrss``. The receiving stand-in always answers 2xx.

Proven, by counting in the database and at the receiver:

* nothing was lost: every delivery is delivered and every owed event id arrived;
* nothing was claimed twice while a lease was valid: each delivery has exactly one successful
  attempt and no other, and the only ids the receiver saw twice belong to deliveries the killed
  worker held a lease on when it died (its in-flight push, re-sent after the lease expired; one
  at most, since a worker pushes one at a time);
* the workers really shared the stream (several distinct workers were seen holding leases) and
  the two survivors took over the dead worker's leased rows.
"""
from __future__ import annotations

import base64
import json
import threading
import time
from pathlib import Path

import pytest
import requests

import contracts
from hub.messagelog import merkle
from tests.e2e.procs import (
    HubDB,
    HubSetup,
    Procs,
    Publisher,
    Receiver,
    application_events,
    assert_ledger,
    case_ids,
)

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

APPLICATIONS = 300
BATCH = 10
LEASE_S = 3
# A claimed batch must be pushed well within its lease (see test_lease_outlived_by_its_batch).
PUSH_BATCH = 5
KILL_AFTER_BATCHES = 8
DRAIN_TIMEOUT_S = 90.0
STATUS = contracts.event_type("case_status_changed")


class LeaseWatch(threading.Thread):
    """Samples which workers hold leases, to show the three shared the work."""

    def __init__(self, db: HubDB) -> None:
        super().__init__(name="lease-watch", daemon=True)
        self.db = db
        self.holders: set[str] = set()
        self.stop_evt = threading.Event()

    def run(self) -> None:
        while not self.stop_evt.wait(0.05):
            try:
                self.holders |= {r[0] for r in self.db.rows(
                    "SELECT DISTINCT claimed_by FROM deliveries WHERE claimed_by IS NOT NULL")}
            except Exception:  # noqa: BLE001, S110 - a sample missed is no harm
                pass


def wait_for_heartbeats(db: HubDB, ids: set[str], procs: Procs, timeout: float = 60) -> None:
    """Every worker process is up (its scheduler has written a heartbeat)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        procs.check_alive()
        if ids <= {r[0] for r in db.rows("SELECT worker_id FROM worker_heartbeats")}:
            return
        time.sleep(0.1)
    raise AssertionError(f"workers {ids} did not all start within {timeout}s")


def _worker_id(pid: int) -> str:
    import socket

    return f"{socket.gethostname()}:{pid}"  # hub.services.operations.worker_id()


def test_three_workers_one_killed_nothing_lost_nothing_claimed_twice(
        pg_url: str, tmp_path: Path) -> None:
    t0 = time.monotonic()
    setup = HubSetup(tmp_path / "hub", pg_url, {
        "HUB_LEASE_S": str(LEASE_S),
        "HUB_WORKER_POLL_S": "0.2",
        "HUB_PUSH_BATCH": str(PUSH_BATCH),
        "HUB_RETRY_SCHEDULE": "0,0.5,1,1,1,1",
        "HUB_RETRY_JITTER": "0",
        "HUB_LOG_CHECKPOINT_S": "0.5",  # every worker signs checkpoints as the log grows
    })
    setup.init()
    db = HubDB(pg_url)
    watch = LeaseWatch(db)
    with Procs(tmp_path / "logs", setup.env) as procs:
        http = procs.hub("hub-http", "serve", "--workers", "2", "--threads", "4")
        procs.wait_http(http, setup.url + "/healthz", timeout=60)
        receiver = Receiver(procs, tmp_path / "receiver.db", setup.url).start()
        hrss = setup.add_member("hrss", publish=("application_submitted",),
                                push_url=receiver.push_url("hrss"))
        setup.add_member("health", push_url=receiver.push_url("health"))
        setup.wait_members_known()
        workers = [procs.hub(f"worker-{i}", "worker") for i in range(3)]
        watch.start()

        cases = case_ids(APPLICATIONS, "6")
        events = application_events(cases)
        batches = [events[i:i + BATCH] for i in range(0, len(events), BATCH)]
        publisher = Publisher(setup.url, hrss)
        victim = workers[1]
        victim_id = _worker_id(victim.pid)
        wait_for_heartbeats(db, {_worker_id(w.pid) for w in workers}, procs)

        published = threading.Semaphore(0)
        publish_error: list[BaseException] = []

        def publish_all() -> None:
            try:
                for batch in batches:
                    publisher.publish_batch(batch)
                    published.release()
            except BaseException as exc:  # noqa: BLE001 - re-raised in the test thread
                publish_error.append(exc)

        stream = threading.Thread(target=publish_all, name="publisher", daemon=True)
        stream.start()
        for _ in range(KILL_AFTER_BATCHES):
            assert published.acquire(timeout=60), "publishing stalled"
        # Kill the victim while it holds leased rows (a push in flight, more waiting).
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            held = int(db.scalar("SELECT count(*) FROM deliveries WHERE claimed_by = :w "
                                 "AND state = 'pending'", w=victim_id))
            if held >= 2:
                break
            time.sleep(0.005)
        procs.kill9(victim)
        killed_at = time.monotonic()
        orphaned: dict[int, str] = {did: eid for did, eid in db.rows(
            "SELECT d.id, e.event_id FROM deliveries d JOIN events e "
            "ON e.seq = d.event_seq WHERE d.claimed_by = :w AND d.state = 'pending'",
            w=victim_id)}
        assert time.monotonic() - killed_at < LEASE_S, "looked too late at the leases"
        stream.join(120)
        assert not stream.is_alive() and not publish_error, publish_error
        publish_s = time.monotonic() - t0
        survivors = ("worker-0", "worker-2", "receiver", "hub-http")
        drain_s = db.wait_drained(DRAIN_TIMEOUT_S, procs, survivors)
        watch.stop_evt.set()
        watch.join(5)
        ready = requests.get(setup.url + "/readyz", timeout=5)
        procs.check_alive(*survivors)

        # ----- nothing lost ------------------------------------------------------------------
        n = APPLICATIONS
        assert db.states() == {"delivered": 3 * n}
        owed = {m: db.delivery_event_ids(m) for m in ("hrss", "health")}
        assert len(owed["hrss"]) == 2 * n and len(owed["health"]) == n
        for member, ids in owed.items():
            got = receiver.distinct_ids(member)
            assert got == set(ids), (member, len(set(ids) - got), len(got - set(ids)))
            assert_ledger(db, member, got)  # delivered => received, received => owed
        statuses = receiver.subjects("hrss", STATUS)
        assert set(statuses) == set(cases) and set(statuses.values()) == {2}
        assert set(receiver.subjects("health", contracts.item("only_child_certificate")
                                     ["request_type"])) == set(cases)

        # ----- nothing claimed twice while a lease was valid ----------------------------------
        per_delivery = db.rows(
            "SELECT d.id, d.attempts, "
            "  count(a.id) FILTER (WHERE a.status_code BETWEEN 200 AND 299), "
            "  count(a.id) FILTER (WHERE a.status_code IS NULL OR a.status_code >= 300) "
            "FROM deliveries d LEFT JOIN delivery_attempts a ON a.delivery_id = d.id "
            "GROUP BY d.id")
        assert len(per_delivery) == 3 * n
        twice_ok = [did for did, _, ok, _ in per_delivery if ok != 1]
        assert not twice_ok, f"deliveries without exactly one successful attempt: {twice_ok[:10]}"
        failed = {did for did, _, _, bad in per_delivery if bad}
        assert not failed, f"attempts that did not succeed (timeouts?): {sorted(failed)[:10]}"
        assert {att for _, att, _, _ in per_delivery} == {1}

        arrivals = {m: receiver.arrivals(m) for m in ("hrss", "health")}
        seen_twice = {eid for a in arrivals.values() for eid, k in a.items() if k > 1}
        assert all(k <= 2 for a in arrivals.values() for k in a.values())
        assert seen_twice <= set(orphaned.values()), (
            f"ids pushed twice that the killed worker did not hold: "
            f"{sorted(seen_twice - set(orphaned.values()))}")
        assert len(seen_twice) <= 1  # a worker has one push in flight at a time
        assert receiver.rejected() == []

        # ----- the workers shared the stream; the survivors took over the dead one's rows -----
        survivors_ids = {_worker_id(w.pid) for w in (workers[0], workers[2])}
        assert orphaned, "the killed worker held no lease: the kill proved nothing"
        assert victim_id in watch.holders and survivors_ids <= watch.holders, watch.holders
        assert ready.status_code == 200 and ready.json()["ready"] is True, ready.text

        # ----- five processes appended one message log; each checkpoint extends the last ------
        setup.cli("log", "checkpoint")
        signed = [(int(z), bytes(r)) for z, r in db.rows(
            "SELECT size, root FROM log_checkpoints ORDER BY size")]
        leaves = db.rows("SELECT count(*), max(idx), count(*) FILTER (WHERE kind = 'event'), "
                         "count(*) FILTER (WHERE kind = 'delivery') FROM log_leaves")[0]
        assert leaves[0] == leaves[1] + 1 == signed[-1][0], (leaves, signed[-1][0])
        assert leaves[2] == db.scalar("SELECT count(*) FROM events") and leaves[3] == 3 * n
        assert len(signed) >= 3, signed
        auth = hrss.auth()
        for (a, root_a), (z, root_z) in zip(signed, signed[1:], strict=False):  # neighbours
            answer = requests.get(setup.url + "/v1/log/consistency",
                                  params={"from": a, "to": z}, auth=auth, timeout=10)
            assert answer.status_code == 200, answer.text
            merkle.verify_consistency(a, z, root_a, root_z,
                                      [base64.b64decode(x) for x in answer.json()["proof"]])
        whole = setup.cli("log", "verify", "--json", check=False)
        assert whole.returncode == 0 and json.loads(whole.stdout)["ok"], whole.stdout[-2000:]

    print(f"[multiworker/postgres] {n} applications -> {3 * n} pushes by 3 workers "
          f"(lease {LEASE_S}s, batch {PUSH_BATCH}); killed {victim_id} holding "
          f"{len(orphaned)} leased deliveries; receiver saw {len(seen_twice)} id(s) twice "
          f"{sorted(seen_twice)}; publish {publish_s:.1f}s, drain {drain_s:.1f}s, "
          f"total {time.monotonic() - t0:.1f}s")
    db.close()


def test_lease_outlived_by_its_batch_is_not_pushed_twice(pg_url: str, tmp_path: Path) -> None:
    """Two workers, a slow receiver (0.3 s a push), a lease of 2 s and 20 deliveries: the first
    worker claims all 20 at once and needs about 6 s for them."""
    n = 20
    setup = HubSetup(tmp_path / "hub", pg_url, {
        "HUB_LEASE_S": "2", "HUB_WORKER_POLL_S": "0.2", "HUB_PUSH_BATCH": "50",
        "HUB_RETRY_SCHEDULE": "0,0.5,1", "HUB_RETRY_JITTER": "0"})
    setup.init()
    db = HubDB(pg_url)
    with Procs(tmp_path / "logs", setup.env) as procs:
        http = procs.hub("hub-http", "serve", "--no-worker")
        procs.wait_http(http, setup.url + "/healthz", timeout=60)
        receiver = Receiver(procs, tmp_path / "receiver.db", setup.url).start()
        receiver.slow_down(0.3)
        hrss = setup.add_member("hrss", publish=("application_submitted",),
                                push_url=receiver.push_url("hrss"))
        setup.wait_members_known()
        workers = [procs.hub(f"worker-{i}", "worker") for i in range(2)]
        wait_for_heartbeats(db, {_worker_id(w.pid) for w in workers}, procs)
        Publisher(setup.url, hrss).publish_batch(application_events(case_ids(n, "7")))
        db.wait_drained(60, procs, ("worker-0", "worker-1", "receiver"))
        arrivals = receiver.arrivals("hrss")
        assert len(arrivals) == n
    db.close()
    twice = sorted(eid for eid, k in arrivals.items() if k > 1)
    assert not twice, f"{len(twice)} of {n} pushes went out twice while both workers were alive"
