"""The hub rides out its database going away: a TCP proxy we control sits between every hub
process and PostgreSQL, and is cut twice while publishers publish and a member pulls.

Real processes: ``hub serve --workers 2 --no-worker`` (the API under gunicorn) and one
``hub worker``, all reaching PostgreSQL only through the proxy; the receiving stand-in takes
``hrss``'s pushes; ``health`` pulls ``GET /v1/feed`` and acknowledges every page. The first cut
lasts ``CUT_S`` seconds; during the second one a gunicorn worker is killed, so it boots again
while the database is unreachable.

Proven afterwards:

* no 5xx other than 503 ``database_unavailable`` reached a caller, and the cuts were felt (503s
  or refused connections were seen), each 503 a problem document with ``Retry-After``;
* during a cut ``/healthz`` answers 200 (database "unreachable") and ``/readyz`` 503;
* every process came back by itself (none restarted by the test other than the killed worker,
  which gunicorn replaced), and ``/readyz`` is ready again;
* the ledger balances for both members: everything marked delivered was received, everything
  received was owed, and every application's request reached ``health``;
* the logs hold no traceback, and each process said "database unavailable" at most once per cut.
"""
from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from hub.store import migrate
from tests.e2e.procs import (
    HubDB,
    HubSetup,
    Procs,
    Publisher,
    Puller,
    Receiver,
    TcpProxy,
    application_events,
    assert_ledger,
    case_ids,
    child_pids,
)

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

APPLICATIONS = 160
BATCH = 5
PUBLISHERS = 2
CUT_S = 4.0


def _watch_503(url: str, seen: list[dict[str, Any]], stop: threading.Event) -> None:
    """Samples a signed-free API call during the run to catch one 503 problem in full."""
    while not stop.wait(0.1):
        try:
            r = requests.get(url + "/v1/items", timeout=5)
        except requests.RequestException:
            continue
        if r.status_code == 503:
            seen.append({"status": r.status_code, "retry_after": r.headers.get("Retry-After"),
                         "type": r.headers.get("Content-Type"), "body": r.json()})
            return


def test_database_cut_during_publishing_pulling_and_a_worker_restart(
        pg_url: str, tmp_path: Path) -> None:
    t0 = time.monotonic()
    host, port = "127.0.0.1", int(pg_url.split("@", 1)[1].split("/", 1)[0].split(":")[1])
    proxy = TcpProxy((host, port))
    setup = HubSetup(tmp_path / "hub", proxy.url_for(pg_url), {
        "HUB_LEASE_S": "5", "HUB_RETRY_SCHEDULE": "0,0.5,1,1,1,1,1,1", "HUB_RETRY_JITTER": "0"})
    setup.init()
    db = HubDB(pg_url)  # the test's own look at the tables, around the proxy
    with Procs(tmp_path / "logs", setup.env) as procs:
        http = procs.hub("hub-http", "serve", "--workers", "2", "--threads", "4",
                         "--no-worker")
        procs.wait_http(http, setup.url + "/healthz", timeout=60)
        receiver = Receiver(procs, tmp_path / "receiver.db", setup.url).start()
        hrss = setup.add_member("hrss", publish=("application_submitted",),
                                push_url=receiver.push_url("hrss"))
        health = setup.add_member("health")
        setup.wait_members_known()
        procs.hub("worker", "worker")

        cases = case_ids(APPLICATIONS, "9")
        events = application_events(cases)
        batches = [events[i:i + BATCH] for i in range(0, len(events), BATCH)]
        publishers = [Publisher(setup.url, hrss) for _ in range(PUBLISHERS)]
        errors: list[BaseException] = []

        def publish(pub: Publisher, share: list[list[dict[str, Any]]]) -> None:
            try:
                for batch in share:
                    pub.publish_batch(batch)
                    time.sleep(0.15)
            except BaseException as exc:  # noqa: BLE001 - re-raised in the test thread
                errors.append(exc)

        puller = Puller(setup.url, health, limit=20)
        puller.start()
        threads = [threading.Thread(target=publish, args=(p, batches[i::PUBLISHERS]),
                                    daemon=True) for i, p in enumerate(publishers)]
        for t in threads:
            t.start()
        seen_503: list[dict[str, Any]] = []
        stop_watch = threading.Event()
        watcher = threading.Thread(target=_watch_503, args=(setup.url, seen_503, stop_watch),
                                   daemon=True)
        watcher.start()

        time.sleep(1.5)
        proxy.cut()                                   # cut 1: publishing and pulling
        time.sleep(1.0)
        alive = requests.get(setup.url + "/healthz", timeout=10)
        not_ready = requests.get(setup.url + "/readyz", timeout=10)
        time.sleep(CUT_S - 1.0)
        proxy.restore()
        time.sleep(1.5)
        workers_before = child_pids(http.pid)
        assert len(workers_before) == 2, workers_before
        proxy.cut()                                   # cut 2: a gunicorn worker restarts
        os.kill(workers_before[0], signal.SIGKILL)
        time.sleep(CUT_S)
        workers_during = child_pids(http.pid)
        proxy.restore()

        for t in threads:
            t.join(120)
        assert not errors and not any(t.is_alive() for t in threads), errors
        stop_watch.set()
        publish_s = time.monotonic() - t0
        db.wait_drained(60, procs, ("hub-http", "worker", "receiver"))
        puller.drain(60, done=lambda: not db.scalar(
            "SELECT count(*) FROM deliveries WHERE member_id = 'health' "
            "AND state <> 'delivered'"))
        db.wait_drained(60, procs, ("hub-http", "worker", "receiver"))
        procs.check_alive("hub-http", "worker", "receiver")
        deadline = time.monotonic() + 30
        while True:
            ready = requests.get(setup.url + "/readyz", timeout=5)
            if ready.status_code == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        pushed = receiver.distinct_ids("hrss")
        hub_logs = {p.name: p.log_path.read_text("utf-8", errors="replace")
                    for p in procs.procs if p.name in ("hub-http", "worker")}
    proxy.close()

    # ----- callers saw 503 database_unavailable, never another 5xx -----------------------------
    pub_statuses: dict[int, int] = {}
    for p in publishers:
        for code, n in p.stats.statuses.items():
            pub_statuses[code] = pub_statuses.get(code, 0) + n
    statuses = {**pub_statuses}
    for code, n in puller.stats.statuses.items():
        statuses[code] = statuses.get(code, 0) + n
    assert set(statuses) <= {503}, statuses
    felt = statuses.get(503, 0) + sum(p.stats.connection_errors for p in publishers)
    assert felt > 0 and proxy.refused > 0, "the cuts were not felt: the test proved nothing"
    assert seen_503, "no 503 was sampled during the cuts"
    problem = seen_503[0]
    assert problem["retry_after"] and int(problem["retry_after"]) > 0, problem
    assert problem["type"] == "application/problem+json", problem
    assert problem["body"]["code"] == "database_unavailable" and problem["body"]["detail_zh"]

    # ----- during the cut: alive, not ready; afterwards every process back by itself ----------
    assert alive.status_code == 200 and alive.json()["database"] == "unreachable", alive.text
    assert not_ready.status_code == 503 and not_ready.json()["ready"] is False, not_ready.text
    assert len(workers_during) == 2 and workers_before[0] not in workers_during, (
        "gunicorn did not replace the killed worker while the database was away",
        workers_before, workers_during)
    assert ready.status_code == 200 and ready.json()["ready"] is True, ready.text

    # ----- nothing lost: the ledger both ways -------------------------------------------------
    served = set(puller.stats.served)
    health_ledger = assert_ledger(db, "health", served)
    hrss_ledger = assert_ledger(db, "hrss", pushed)
    requests_owed = {r[0] for r in db.rows(
        "SELECT e.subject FROM deliveries d JOIN events e ON e.seq = d.event_seq "
        "WHERE d.member_id = 'health'")}
    states = {s: int(n) for s, n in db.rows(
        "SELECT state, count(*) FROM deliveries GROUP BY state")}
    stored = int(db.scalar("SELECT count(*) FROM events WHERE subject = ANY(:c) "
                           "AND source = 'hrss'", c=cases))
    db.close()
    assert stored == APPLICATIONS
    assert requests_owed == set(cases) and health_ledger["received"] == APPLICATIONS
    assert set(states) == {"delivered"}, states

    # ----- the logs: no traceback, the outage said once per process and cut --------------------
    for name, text in hub_logs.items():
        assert "Traceback" not in text, f"{name} logged a traceback:\n{text[-3000:]}"
        said = text.count("database unavailable")
        assert said <= 2 * 3, f"{name} said 'database unavailable' {said} times"

    print(f"[db-outage/postgres] {APPLICATIONS} applications in batches of {BATCH} by "
          f"{PUBLISHERS} publishers; 2 cuts of {CUT_S:.0f}s (one with gunicorn worker "
          f"{workers_before[0]} killed -> {workers_during}); answers {statuses}, publisher "
          f"connection errors {sum(p.stats.connection_errors for p in publishers)}, proxy "
          f"refused {proxy.refused}; ledger health {health_ledger} hrss {hrss_ledger}; "
          f"publish {publish_s:.1f}s, total {time.monotonic() - t0:.1f}s")


def test_processes_start_without_the_database_and_connect_when_it_comes(
        pg_url: str, tmp_path: Path) -> None:
    """``hub serve`` (gunicorn) and ``hub worker`` started while the database is unreachable:
    they stay up, answer 503 meanwhile, migrate once it is back and then work."""
    port = int(pg_url.split("@", 1)[1].split("/", 1)[0].split(":")[1])
    proxy = TcpProxy(("127.0.0.1", port))
    setup = HubSetup(tmp_path / "hub", proxy.url_for(pg_url))
    # the hub's key pair only: the schema is created by the processes themselves, later
    from hub.security import keys

    keys.write_keypair(Path(setup.env["HUB_KEY_DIR"]), "hub")
    db = HubDB(pg_url)
    proxy.cut()
    with Procs(tmp_path / "logs", setup.env) as procs:
        http = procs.hub("hub-http", "serve", "--workers", "2", "--no-worker")
        worker = procs.hub("worker", "worker")
        procs.wait_http(http, setup.url + "/healthz", timeout=60)
        time.sleep(2.0)
        procs.check_alive("hub-http", "worker")
        down = requests.get(setup.url + "/v1/items", timeout=10)
        health = requests.get(setup.url + "/healthz", timeout=10).json()
        assert not db.rows("SELECT 1 FROM information_schema.tables WHERE table_schema = "
                           "current_schema() AND table_name = 'deliveries'")
        proxy.restore()
        deadline = time.monotonic() + 60
        while requests.get(setup.url + "/metrics", timeout=10).status_code != 200:
            assert time.monotonic() < deadline, "the API did not come back by itself"
            procs.check_alive("hub-http", "worker")
            time.sleep(0.2)
        hrss = setup.add_member("hrss", publish=("application_submitted",))
        setup.add_member("health")
        setup.wait_members_known()
        receipts = Publisher(setup.url, hrss).publish_batch(
            application_events(case_ids(3, "9")))
        deadline = time.monotonic() + 30
        while not db.rows("SELECT 1 FROM worker_heartbeats"):
            assert time.monotonic() < deadline, "the worker did not resume by itself"
            time.sleep(0.2)
        revision = db.scalar("SELECT version_num FROM alembic_version")
        logs = http.log_path.read_text("utf-8", errors="replace") + worker.log_path.read_text(
            "utf-8", errors="replace")
    proxy.close()
    db.close()
    assert down.status_code == 503 and down.headers.get("Retry-After"), down.text
    assert down.json()["code"] == "database_unavailable"
    assert health["status"] == "ok" and health["database"] == "unreachable"
    assert [r["status"] for r in receipts] == ["accepted"] * 3
    assert revision == migrate.head()
    assert "Traceback" not in logs, logs[-3000:]
