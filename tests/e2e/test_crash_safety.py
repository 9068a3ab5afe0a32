"""Crash safety, for real: kill -9 the hub's HTTP process and its delivery worker at random
moments during a stream of application events, restart them, and count at the receiver.

Set-up: ``hub serve --no-worker`` (the API) and ``hub worker`` (pushes) on one database, the
receiving stand-in of ``tests/e2e/procs.py`` as the push URL of the ``hrss`` member. Each
``application.submitted`` opens a case, whose merged status the hub pushes to ``hrss``
(one ``case.status-changed`` per case). No department is registered, so the requests for
them are stored without deliveries and every push counted here is one case's status.

The publisher (``hrss``) sends batches; a batch that failed with a connection error or a 5xx
is sent again with the same event ids (idempotency makes that safe; a 202 means durable).
A seeded chaos thread kills one of the two processes every few seconds and restarts it.
Afterwards, with both up, the test waits until no delivery is pending and proves:

* every published event was accepted exactly once (one stored event per id, one case each);
* every case's status push arrived at the receiver: its distinct event ids are exactly the
  ids the hub owed it, none missing, none unknown;
* duplicates (the same id arriving again) were answered "duplicate" and stored once; there are
  at most as many as pushes that could have been cut short (worker kills + push timeouts);
* every push verified against the hub's JWKS (the receiver refused nothing).
"""
from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import contracts
from tests.e2e.procs import (
    HubDB,
    HubSetup,
    Proc,
    Procs,
    Publisher,
    Receiver,
    application_events,
    assert_ledger,
    case_ids,
    pg_schema,
    pg_unavailable,
)

pytestmark = pytest.mark.e2e

SEED = int(os.environ.get("HUB_TEST_CHAOS_SEED", "20261125"))
# Application events per run. Opening a case costs the hub about 17 ms of CPU, and every restart
# a second or two, so on a 2-CPU machine these keep each run near a minute (each event also makes
# the hub publish and push a status, and a request for the health unit: three events stored).
# Raise them to stress harder.
EVENTS = {"sqlite": int(os.environ.get("HUB_TEST_CRASH_EVENTS", "1200")),
          "postgres": int(os.environ.get("HUB_TEST_CRASH_EVENTS_PG", "600"))}
BATCH = 50
KILL_EVERY_S = (1.5, 4.0)      # pause between two kills (uniform, seeded)
DOWN_FOR_S = (0.0, 1.0)        # how long a killed process stays down
CHAOS_AFTER_PUBLISH_S = 4.0    # keep killing while the backlog drains
DRAIN_TIMEOUT_S = 120.0
STATUS = contracts.event_type("case_status_changed")
APPLICATION = contracts.event_type("application_submitted")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    if request.param == "sqlite":
        yield "sqlite", f"sqlite:///{tmp_path / 'hub.db'}"
        return
    reason = pg_unavailable()
    if reason:
        pytest.skip(reason)
    with pg_schema() as url:
        yield "postgres", url


class Chaos(threading.Thread):
    """Kills one of the roles with SIGKILL at seeded random moments and restarts it."""

    def __init__(self, procs: Procs, current: dict[str, Proc],
                 start: dict[str, Callable[[], Proc]], seed: int) -> None:
        super().__init__(name="chaos", daemon=True)
        self.procs = procs
        self.current = current
        self.start_role = start
        self.rng = random.Random(seed)
        self.stop_evt = threading.Event()
        self.kills: list[tuple[float, str]] = []
        self.error: BaseException | None = None
        order = list(current)
        self.rng.shuffle(order)
        self.plan = order  # the first kills hit every role once, then random choice

    def pick(self) -> str:
        if self.plan:
            return self.plan.pop(0)
        return self.rng.choice(sorted(self.current))

    def run(self) -> None:
        try:
            while not self.stop_evt.wait(self.rng.uniform(*KILL_EVERY_S)):
                role = self.pick()
                self.procs.kill9(self.current[role])
                self.kills.append((time.monotonic(), role))
                self.stop_evt.wait(self.rng.uniform(*DOWN_FOR_S))
                self.current[role] = self.start_role[role]()
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            self.error = exc

    def halt(self) -> None:
        self.stop_evt.set()
        self.join(60)
        assert not self.is_alive(), "the chaos thread did not stop"
        if self.error is not None:
            raise self.error

    def count(self, role: str) -> int:
        return sum(1 for _, r in self.kills if r == role)


def test_kill9_hub_and_worker_during_a_stream_loses_nothing(
        backend: tuple[str, str], tmp_path: Path) -> None:
    kind, url = backend
    n_events = EVENTS[kind]
    t0 = time.monotonic()
    setup = HubSetup(tmp_path / "hub", url, {
        # A worker killed mid-push leaves its claimed rows leased: keep the lease short.
        "HUB_LEASE_S": "3",
        "HUB_RETRY_SCHEDULE": "0,0.5,1,1,2,2,2,2,2,2,2,2",
        "HUB_RETRY_JITTER": "0",
    })
    setup.init()
    db = HubDB(url)
    with Procs(tmp_path / "logs", setup.env) as procs:
        def start_http() -> Proc:
            p = procs.hub("hub-http", "serve", "--no-worker")
            procs.wait_http(p, setup.url + "/healthz", timeout=60)
            return p

        def start_worker() -> Proc:
            return procs.hub("worker", "worker")

        current = {"hub-http": start_http()}
        receiver = Receiver(procs, tmp_path / "receiver.db", setup.url).start()
        hrss = setup.add_member("hrss", publish=("application_submitted",),
                                push_url=receiver.push_url("hrss"))
        setup.wait_members_known()
        current["worker"] = start_worker()

        cases = case_ids(n_events, "5")
        events = application_events(cases)
        publisher = Publisher(setup.url, hrss, timeout=30, give_up_s=120)
        chaos = Chaos(procs, current, {"hub-http": start_http, "worker": start_worker}, SEED)
        chaos.start()
        try:
            batches = [events[i:i + BATCH] for i in range(0, n_events, BATCH)]
            for batch in batches:
                publisher.publish_batch(batch)
            first_receipts = dict(publisher.stats.receipts)
            # As if two 202s had been lost on the way: the same batches again are duplicates
            # with the receipts of the first time, and store nothing.
            resent = random.Random(SEED).sample(batches, 2)
            for batch in resent:
                for r in publisher.publish_batch(batch):
                    assert r["status"] == "duplicate"
                    assert r["sequence"] == first_receipts[r["id"]]["sequence"]
            published_at = time.monotonic()
            # Keep going while the backlog drains, until each role was killed at least once.
            deadline = time.monotonic() + 30
            while chaos.plan and time.monotonic() < deadline and chaos.is_alive():
                time.sleep(0.1)
            chaos.stop_evt.wait(CHAOS_AFTER_PUBLISH_S)
        finally:
            chaos.halt()
        publish_s = published_at - t0
        kills_while_publishing = sum(1 for at, _ in chaos.kills if at < published_at)

        # Everything up again: the backlog must drain completely.
        procs.check_alive("hub-http", "worker", "receiver")
        drain_s = db.wait_drained(DRAIN_TIMEOUT_S, procs, ("worker", "receiver"))
        procs.check_alive()

        # ----- the hub's side: every event accepted exactly once --------------------------
        stats = publisher.stats
        assert set(stats.receipts) == {e["id"] for e in events}
        # No id was accepted twice; an id whose first 202 was lost got "duplicate" on resend.
        assert len(stats.accepted_ids) == len(set(stats.accepted_ids))
        resend_duplicates = stats.duplicates - 2 * BATCH  # batches whose first 202 was lost
        assert stats.accepted + resend_duplicates == n_events
        stored = db.rows("SELECT event_id, subject FROM events WHERE type = :t", t=APPLICATION)
        assert len(stored) == n_events  # each id stored once, however often it was sent
        assert {eid for eid, _ in stored} == {e["id"] for e in events}
        assert int(db.scalar("SELECT count(*) FROM cases")) == n_events
        owed = db.delivery_event_ids("hrss")
        assert len(owed) == n_events and db.states() == {"delivered": n_events}

        # ----- the receiver's side: every push arrived, none unknown, duplicates harmless -----
        got = receiver.distinct_ids("hrss")
        missing = set(owed) - got
        unknown = got - set(owed)
        assert not missing, f"{len(missing)} pushes never arrived, e.g. {sorted(missing)[:5]}"
        assert not unknown, f"{len(unknown)} ids the hub never owed, e.g. {sorted(unknown)[:5]}"
        ledger = assert_ledger(db, "hrss", got)  # delivered => received, received => owed
        per_case = receiver.subjects("hrss", STATUS)
        assert set(per_case) == set(cases) and set(per_case.values()) == {1}
        arrivals = receiver.arrivals("hrss")
        duplicates = sum(arrivals.values()) - len(arrivals)
        timeouts = int(db.scalar("SELECT count(*) FROM delivery_attempts "
                                 "WHERE error LIKE '%Timeout%'"))
        # A push can only arrive twice if the hub could not record its answer: the worker was
        # killed while it was in flight, the push timed out, or recording it failed (a run
        # that fails leaves its batch leased). A worker has one push in flight at a time.
        failed_runs = (tmp_path / "logs" / "worker.log").read_text(
            "utf-8", errors="replace").count("push run failed")
        assert duplicates <= chaos.count("worker") + timeouts + failed_runs, (
            duplicates, chaos.kills, timeouts, failed_runs)
        assert receiver.rejected() == [], "the receiver refused pushes (signature/body)"

    total_s = time.monotonic() - t0
    report = (f"[crash-safety/{kind}] {n_events} events in batches of {BATCH}; "
              f"{len(chaos.kills)} kill -9 ({chaos.count('hub-http')} hub-http, "
              f"{chaos.count('worker')} worker; {kills_while_publishing} while publishing); "
              f"publisher: {stats.connection_errors} connection errors, {stats.server_errors} "
              f"5xx, {resend_duplicates} duplicate receipts after a lost 202; receiver: "
              f"{len(got)} distinct, {duplicates} duplicates ({timeouts} push timeouts, "
              f"{failed_runs} failed worker runs); publish {publish_s:.1f}s, "
              f"drain {drain_s:.1f}s, total {total_s:.1f}s; ledger {ledger}")
    print(report)
    # Both kinds of process were really killed, at least once while events were published.
    assert chaos.count("hub-http") >= 1 and chaos.count("worker") >= 1, report
    assert kills_while_publishing >= 1, report
    db.close()
