"""Process helpers for the durability tests: hub processes, a receiving stand-in, counting.

* ``Procs``: starts real processes (each in its own session, output to ``<dir>/<name>.log``),
  kills one with SIGKILL, stops exactly the ones it started.
* ``HubSetup``: ``hub init`` plus members with key pairs for one hub database (SQLite or a
  PostgreSQL schema), and the environment every ``hub`` process of the test shares.
* The receiving stand-in, ``python -m tests.e2e.procs receiver --port P --db FILE --hub URL``:
  a tiny Flask app that verifies every push with ``hub.security.signing.verify_request`` against
  the hub's JWKS, records each arrival (duplicates too) in its own SQLite file *before* it answers
  2xx, and dedupes by event id (answers ``{"status": "duplicate"}`` for an id it already holds).
  ``POST /_control {"status": 410, "member": "health"}`` makes it answer that status for one
  member's path (``"member": "*"`` for all; ``"status": null`` back to normal);
  ``POST /_control {"delay_s": 1.5}`` makes every push wait that long before it is handled.
* ``Publisher``: signed batches to ``POST /v1/events``; a batch that failed with a connection
  error or 5xx is sent again with the same event ids until the hub answers 202.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from hub.domain.clock import beijing_today
from mock_departments import procs as harness
from mock_departments.procs import Proc as Proc  # re-exported for the tests
from mock_departments.procs import ProcError as ProcError
from mock_departments.procs import child_pids as child_pids
from tests.support.postgres import PG_URL
from tests.support.postgres import pg_unavailable as pg_unavailable

ROOT = Path(__file__).resolve().parents[2]


def bin_path(name: str) -> str:
    """A console script of the interpreter's virtualenv (``.venv/bin/hub``)."""
    here = Path(sys.executable).parent / name
    if not here.exists():
        raise RuntimeError(f"{here} not found: install the project into this interpreter's venv")
    return str(here)


# ----- processes -------------------------------------------------------------------------------

class Procs(harness.Procs):
    """The harness, plus the hub's own command line."""

    def hub(self, name: str, *args: str, extra_env: dict[str, str] | None = None) -> Proc:
        return self.spawn(name, [bin_path("hub"), *args], extra_env)


def free_port() -> int:
    """A free port for a server that will be restarted on it after a kill.

    Taken below the kernel's ephemeral range, so that while the server is down no outgoing
    connection (of this test or anything else on the machine) can take the port as its local
    one and make the restart fail with EADDRINUSE. Falls back to any free port.
    """
    import random
    import socket

    from mock_departments.procs import free_port as any_free_port

    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return any_free_port()
    rng = random.Random()
    for _ in range(200):
        port = rng.randrange(max(1025, low - 12000), low)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    return any_free_port()


# ----- databases -------------------------------------------------------------------------------

@contextmanager
def pg_schema() -> Iterator[str]:
    """A fresh schema for one test; the URL selects it through ``search_path``."""
    from sqlalchemy import create_engine, text

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


class HubDB:
    """Read-only looks at the hub's tables, straight from the database (no hub code involved)."""

    def __init__(self, url: str) -> None:
        from sqlalchemy import create_engine

        self.engine = create_engine(url)

    def close(self) -> None:
        self.engine.dispose()

    def rows(self, sql: str, **params: Any) -> list[Any]:
        from sqlalchemy import text

        with self.engine.connect() as c:
            return list(c.execute(text(sql), params))

    def scalar(self, sql: str, **params: Any) -> Any:
        return self.rows(sql, **params)[0][0]

    def pending(self) -> int:
        """Push deliveries not yet done (a pull member's deliveries wait for its ack), plus
        delivered ones whose effect on their case is not applied yet."""
        return int(self.scalar(
            "SELECT count(*) FROM deliveries d JOIN members m ON m.id = d.member_id "
            "WHERE (d.state = 'pending' AND m.push_url IS NOT NULL) OR d.receipt_pending"))

    def states(self) -> dict[str, int]:
        return {s: int(n) for s, n in self.rows(
            "SELECT state, count(*) FROM deliveries GROUP BY state")}

    def delivery_event_ids(self, member: str) -> dict[str, int]:
        """event id -> delivery id of every delivery owed to ``member``."""
        return {eid: did for did, eid in self.rows(
            "SELECT d.id, e.event_id FROM deliveries d JOIN events e ON e.seq = d.event_seq "
            "WHERE d.member_id = :m", m=member)}

    def wait_drained(self, timeout: float, procs: Procs | None = None,
                     watch: tuple[str, ...] = ()) -> float:
        """Wait until no delivery is pending and every delivered one has been applied to its
        case (whose effects, e.g. a status push, may owe more deliveries); returns seconds."""
        start = time.monotonic()
        while True:
            if procs is not None and watch:
                procs.check_alive(*watch)
            n = self.pending()
            if n == 0:
                return time.monotonic() - start
            if time.monotonic() - start > timeout:
                raise AssertionError(f"{n} deliveries still pending after {timeout}s; "
                                     f"states {self.states()}")
            time.sleep(0.25)


# ----- the hub's set-up ------------------------------------------------------------------------

@dataclass
class MemberKeys:
    id: str
    private_path: Path
    public_path: Path
    keyid: str

    def key(self) -> Any:
        from hub.security import keys

        return keys.load_private_key(self.private_path)

    def auth(self) -> Any:
        from hub.security.signing import HubAuth

        return HubAuth(self.key(), self.keyid)


@dataclass
class HubSetup:
    """One hub database and key directory, its port, and the env its processes share."""

    workdir: Path
    database_url: str
    extra_env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.members: dict[str, MemberKeys] = {}
        self.registered_at = 0.0
        self.env = {
            **os.environ,
            "HUB_DATABASE_URL": self.database_url,
            "HUB_KEY_DIR": str(self.workdir / "hub-keys"),
            "HUB_HOST": "127.0.0.1",
            "HUB_PORT": str(self.port),
            "HUB_WORKER_POLL_S": "0.2",
            "HUB_PUSH_TIMEOUT_S": "5",
            "HUB_HEARTBEAT_STALE_S": "30",
            "PYTHONUNBUFFERED": "1",
            **self.extra_env,
        }

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        res = subprocess.run([bin_path("hub"), *args], env=self.env, cwd=ROOT,
                             capture_output=True, text=True, timeout=120)
        if check and res.returncode != 0:
            raise ProcError(f"hub {' '.join(args)} failed ({res.returncode}):\n"
                            f"{res.stdout}\n{res.stderr}")
        return res

    def init(self) -> None:
        self.cli("init")

    def add_member(self, member_id: str, *, publish: tuple[str, ...] = (),
                   subscribe: tuple[str, ...] = (), push_url: str | None = None,
                   roles: tuple[str, ...] = (), suite: str = "intl") -> MemberKeys:
        import contracts
        from hub.security import keys

        key_dir = self.workdir / "member-keys"
        priv, pub = keys.write_keypair(key_dir, member_id, suite=suite)
        kid = keys.key_id(keys.load_public_key(pub))
        args = ["members", "add", member_id, "--key-file", str(pub), f"--key-id={kid}"]
        for t in publish:
            args += ["--publish", contracts.event_type(t)]
        for t in subscribe:
            args += ["--subscribe", contracts.event_type(t)]
        if push_url:
            args += ["--push-url", push_url]
        for r in roles:
            args += ["--role", r]
        self.cli(*args)
        self.registered_at = time.monotonic()
        m = MemberKeys(member_id, priv, pub, kid)
        self.members[member_id] = m
        return m

    def wait_members_known(self, timeout: float = 30.0, settle_s: float = 2.0) -> None:
        """Wait until the running hub knows every member registered so far.

        Each hub process reads members and keys from a catalog snapshot it refreshes at most
        once a second, so a member added by ``hub members add`` (another process) may get 401
        ``unknown_key`` for a moment. Wait until each member's signed request succeeds and
        ``settle_s`` has passed since the last registration (every process has refreshed).
        """
        deadline = time.monotonic() + timeout
        for m in self.members.values():
            while True:
                try:
                    resp = requests.get(self.url + "/v1/feed?limit=1", auth=m.auth(), timeout=5)
                    if resp.status_code == 200:
                        break
                except requests.RequestException:
                    pass
                if time.monotonic() > deadline:
                    raise ProcError(f"the hub does not know member {m.id} after {timeout}s")
                time.sleep(0.1)
        time.sleep(max(0.0, self.registered_at + settle_s - time.monotonic()))


# ----- publishing ------------------------------------------------------------------------------

_case_serial = iter(range(10**9))


def case_ids(n: int, tag: str) -> list[str]:
    """``n`` distinct case ids, unique across tests of one session (tag: one digit 1-9)."""
    base = (os.getpid() % 97) * 1000
    return [f"RT320400-{beijing_today():%Y%m%d}-{tag}{(base + next(_case_serial)) % 100000:05d}"
            f"{i:05d}" for i in range(n)]


def application_events(cases: list[str]) -> list[dict[str, Any]]:
    """One application.submitted per case (no optional items: HRSS and health take part)."""
    from hub.client import make_event
    from mock_departments.hrss.people import PEOPLE, build_application

    app = build_application(PEOPLE["chen"], linked_items=[])
    return [make_event("hrss", "application_submitted", c, json.loads(json.dumps(app)))
            for c in cases]


@dataclass
class PublishStats:
    batches: int = 0
    accepted: int = 0
    duplicates: int = 0         # receipts that said "duplicate" (a retried batch had committed)
    connection_errors: int = 0  # tries that failed before an answer: retried with the same ids
    server_errors: int = 0      # 5xx answers: retried with the same ids
    receipts: dict[str, dict[str, Any]] = field(default_factory=dict)  # the latest, per id
    accepted_ids: list[str] = field(default_factory=list)  # every "accepted" receipt's id
    statuses: dict[int, int] = field(default_factory=dict)  # non-202 answers by status


class Publisher:
    """Publishes batches as ``hrss``; a 202 means durable, anything transient is retried."""

    def __init__(self, hub_url: str, member: MemberKeys, *, timeout: float = 20.0,
                 give_up_s: float = 90.0) -> None:
        self.url = hub_url + "/v1/events"
        self.auth = member.auth()
        self.http = requests.Session()
        self.timeout = timeout
        self.give_up_s = give_up_s
        self.stats = PublishStats()

    def publish_batch(self, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        body = json.dumps(events, ensure_ascii=False).encode("utf-8")
        headers = {"Content-Type": "application/cloudevents-batch+json"}
        deadline = time.monotonic() + self.give_up_s
        delay = 0.05
        while True:
            try:
                resp = self.http.post(self.url, data=body, headers=headers, auth=self.auth,
                                      timeout=self.timeout)
            except requests.RequestException:
                self.stats.connection_errors += 1
                self.http.close()
                self.http = requests.Session()
                resp = None
            if resp is not None:
                if resp.status_code == 202:
                    receipts: list[dict[str, Any]] = resp.json()["receipts"]
                    self.stats.batches += 1
                    for r in receipts:
                        if r["status"] == "duplicate":
                            self.stats.duplicates += 1
                        else:
                            self.stats.accepted += 1
                            self.stats.accepted_ids.append(r["id"])
                        self.stats.receipts[r["id"]] = r
                    return receipts
                if resp.status_code < 500:
                    raise AssertionError(f"the hub refused a batch: {resp.status_code} "
                                         f"{resp.text[:2000]}")
                self.stats.server_errors += 1
                self.stats.statuses[resp.status_code] = self.stats.statuses.get(
                    resp.status_code, 0) + 1
            if time.monotonic() > deadline:
                raise AssertionError(f"the hub did not accept a batch within {self.give_up_s}s")
            time.sleep(delay)
            delay = min(delay * 2, 0.5)


# ----- a database link we can cut ---------------------------------------------------------------

class TcpProxy:
    """A TCP proxy on a loopback port in front of ``upstream``: ``cut()`` drops every open
    connection and refuses new ones (accepted, then closed at once) until ``restore()``."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        import socket

        self.upstream = upstream
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self._cut = threading.Event()
        self._open: set[Any] = set()
        self._lock = threading.Lock()
        self._closed = False
        self.refused = 0
        threading.Thread(target=self._accept, name="tcp-proxy", daemon=True).start()

    def url_for(self, url: str) -> str:
        return url.replace(f":{self.upstream[1]}/", f":{self.port}/", 1)

    def cut(self) -> None:
        self._cut.set()
        with self._lock:
            socks, self._open = list(self._open), set()
        for sock in socks:
            self._close(sock)

    def restore(self) -> None:
        self._cut.clear()

    def close(self) -> None:
        self._closed = True
        self.cut()
        self._close(self.listener)

    @staticmethod
    def _close(sock: Any) -> None:
        import socket

        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        sock.close()

    def _accept(self) -> None:
        import socket

        while not self._closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self._cut.is_set():
                self.refused += 1
                self._close(client)
                continue
            try:
                server = socket.create_connection(self.upstream, timeout=5)
                server.settimeout(None)
            except OSError:
                self._close(client)
                continue
            with self._lock:
                self._open |= {client, server}
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src: Any, dst: Any) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        with self._lock:
            self._open -= {src, dst}
        for sock in (src, dst):
            self._close(sock)


# ----- pulling and the ledger ------------------------------------------------------------------

@dataclass
class PullStats:
    pages: int = 0
    served: dict[str, int] = field(default_factory=dict)  # event id -> times served
    acks: int = 0
    statuses: dict[int, int] = field(default_factory=dict)  # HTTP status -> count (not 200)


class Puller(threading.Thread):
    """A pull member reading ``GET /v1/feed`` and acknowledging each page at once, as fast as
    it can; every event id it was served is counted. Transient failures (no answer, 5xx) are
    retried; the page is read again from the last acknowledged position."""

    def __init__(self, hub_url: str, member: MemberKeys, *, limit: int = 20) -> None:
        super().__init__(name=f"puller-{member.id}", daemon=True)
        self.url = hub_url
        self.auth = member.auth()
        self.limit = limit
        self.stats = PullStats()
        self.stop_evt = threading.Event()
        self.error: BaseException | None = None
        self.idle = threading.Event()  # set while the last page came back empty

    def _get(self, http: requests.Session, method: str, path: str, **kw: Any) -> Any:
        resp = http.request(method, self.url + path, auth=self.auth, timeout=20, **kw)
        if resp.status_code != 200:
            self.stats.statuses[resp.status_code] = self.stats.statuses.get(
                resp.status_code, 0) + 1
            if resp.status_code < 500:
                raise AssertionError(f"{method} {path}: {resp.status_code} {resp.text[:500]}")
            return None
        return resp.json()

    def run(self) -> None:
        http = requests.Session()
        try:
            while not self.stop_evt.is_set():
                try:
                    page = self._get(http, "GET", "/v1/feed", params={"limit": self.limit})
                    if page is None:
                        time.sleep(0.05)
                        continue
                    self.stats.pages += 1
                    for item in page["items"]:
                        eid = item["event"]["id"]
                        self.stats.served[eid] = self.stats.served.get(eid, 0) + 1
                    if not page["items"]:
                        self.idle.set()
                        time.sleep(0.02)
                        continue
                    self.idle.clear()
                    if self._get(http, "POST", "/v1/feed/ack",
                                 data=json.dumps({"cursor": page["next_cursor"]}),
                                 headers={"Content-Type": "application/json"}) is not None:
                        self.stats.acks += 1
                except requests.RequestException:
                    http.close()
                    http = requests.Session()
                    time.sleep(0.05)
        except BaseException as exc:  # noqa: BLE001 - re-raised by the test through .error
            self.error = exc

    def drain(self, timeout: float, done: Any = None) -> None:
        """Let the puller run until it has seen an empty feed twice in a row (and ``done()``
        says so: a writing transaction elsewhere on the server may hold the feed back for a
        moment), then stop it."""
        deadline = time.monotonic() + timeout
        quiet = 0
        while quiet < 2 or (done is not None and not done()):
            if self.error is not None or not self.is_alive():
                raise AssertionError(f"the puller stopped: {self.error!r}")
            if time.monotonic() > deadline:
                raise AssertionError(f"the feed did not run dry within {timeout}s")
            self.idle.clear()
            if self.idle.wait(min(5.0, max(0.1, deadline - time.monotonic()))):
                quiet += 1
            else:
                quiet = 0
        self.stop_evt.set()
        self.join(30)
        if self.error is not None:
            raise self.error


def assert_ledger(db: HubDB, member: str, received: set[str],
                  owed_at_least: set[str] | None = None) -> dict[str, int]:
    """Both ways: every delivery the hub calls delivered to ``member`` was received, and
    everything received was owed to it. Returns counts for the test's report."""
    rows = db.rows("SELECT e.event_id, d.state FROM deliveries d JOIN events e "
                   "ON e.seq = d.event_seq WHERE d.member_id = :m", m=member)
    owed = {eid for eid, _ in rows}
    delivered = {eid for eid, state in rows if state == "delivered"}
    unseen = delivered - received
    assert not unseen, (f"{len(unseen)} of {len(delivered)} deliveries to {member} are marked "
                        f"delivered but were never received, e.g. {sorted(unseen)[:5]}")
    unowed = received - owed
    assert not unowed, f"{member} received {len(unowed)} events never owed to it"
    if owed_at_least is not None:
        assert owed_at_least <= owed, f"{len(owed_at_least - owed)} events were never owed"
    return {"owed": len(owed), "delivered": len(delivered), "received": len(received)}


# ----- the receiving stand-in ------------------------------------------------------------------

@dataclass
class Receiver:
    """Handle on a receiver process and its SQLite file."""

    procs: Procs
    db_path: Path
    hub_url: str
    port: int = field(default_factory=free_port)
    name: str = "receiver"
    proc: Proc | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def push_url(self, member: str) -> str:
        return f"{self.url}/push/{member}"

    def start(self) -> Receiver:
        self.proc = self.procs.spawn(self.name, [
            sys.executable, "-m", "tests.e2e.procs", "receiver", "--port", str(self.port),
            "--db", str(self.db_path), "--hub", self.hub_url])
        self.procs.wait_http(self.proc, self.url + "/healthz", timeout=30)
        return self

    def kill9(self) -> None:
        assert self.proc is not None
        self.procs.kill9(self.proc)

    def stop(self) -> None:
        if self.proc is not None:
            self.procs.stop(self.proc)

    def control(self, status: int | None, member: str = "*") -> None:
        requests.post(self.url + "/_control", json={"status": status, "member": member},
                      timeout=5).raise_for_status()

    def slow_down(self, seconds: float) -> None:
        """Every push waits this long before it is handled."""
        requests.post(self.url + "/_control", json={"delay_s": seconds},
                      timeout=5).raise_for_status()

    def _q(self, sql: str, *params: Any) -> list[Any]:
        con = sqlite3.connect(self.db_path, timeout=30)
        try:
            return con.execute(sql, params).fetchall()
        finally:
            con.close()

    def distinct_ids(self, member: str) -> set[str]:
        return {r[0] for r in self._q("SELECT event_id FROM events WHERE member = ?", member)}

    def arrivals(self, member: str | None = None) -> dict[str, int]:
        """event id -> how many times it arrived (accepted and duplicate answers alike)."""
        if member is None:
            rows = self._q("SELECT event_id, count(*) FROM arrivals GROUP BY event_id")
        else:
            rows = self._q("SELECT event_id, count(*) FROM arrivals WHERE member = ? "
                           "GROUP BY event_id", member)
        return {eid: n for eid, n in rows}

    def keyids(self, member: str) -> list[str]:
        """The hub keys that signed the pushes a member accepted, in order of first use."""
        return [k for (k,) in self._q("SELECT keyid FROM arrivals WHERE member = ? "
                                      "GROUP BY keyid ORDER BY min(n)", member)]

    def subjects(self, member: str, event_type: str) -> dict[str, int]:
        """case id -> number of distinct events of that type received for it."""
        return {s: n for s, n in self._q(
            "SELECT subject, count(*) FROM events WHERE member = ? AND type = ? GROUP BY subject",
            member, event_type)}

    def rejected(self) -> list[Any]:
        return self._q("SELECT member, code, detail FROM rejected")


_SCHEMA = """
CREATE TABLE IF NOT EXISTS arrivals (n INTEGER PRIMARY KEY, member TEXT, event_id TEXT,
    delivery TEXT, at REAL, answer TEXT, keyid TEXT);
CREATE TABLE IF NOT EXISTS events (event_id TEXT PRIMARY KEY, member TEXT, type TEXT,
    subject TEXT, source TEXT, first_at REAL);
CREATE TABLE IF NOT EXISTS rejected (n INTEGER PRIMARY KEY, member TEXT, code TEXT, detail TEXT,
    at REAL);
"""


def receiver_app(db_path: str, hub_url: str) -> Any:
    from flask import Flask, Response, request

    from hub.security.signing import NonceCache, SignatureError, verify_flask_request
    from mock_departments.common import HubKeys

    app = Flask("receiver")
    con = sqlite3.connect(db_path, check_same_thread=False, isolation_level=None, timeout=30)
    con.execute("PRAGMA journal_mode=WAL")
    con.executescript(_SCHEMA)
    lock = threading.Lock()
    hub_keys = HubKeys(hub_url, timeout=2.0, min_refresh_s=1.0)
    for _ in range(50):  # fetch the JWKS now, while the hub is surely up
        hub_keys("?")
        if hub_keys._keys:
            break
        time.sleep(0.1)
    nonces = NonceCache()
    forced: dict[str, int] = {}
    delay = {"s": 0.0}

    def answer(body: dict[str, Any], status: int) -> Response:
        return Response(json.dumps(body), status=status, mimetype="application/json")

    def reject(member: str, code: str, detail: str, status: int) -> Response:
        with lock:
            con.execute("INSERT INTO rejected (member, code, detail, at) VALUES (?, ?, ?, ?)",
                        (member, code, detail[:500], time.time()))
        return answer({"code": code, "detail": detail}, status)

    @app.post("/push/<member>")
    def push(member: str) -> Response:
        if delay["s"]:
            time.sleep(delay["s"])
        status = forced.get(member, forced.get("*"))
        if status is not None:
            return answer({"code": "forced", "status": status}, status)
        try:
            verified = verify_flask_request(request, hub_keys, nonces)
        except SignatureError as exc:
            if exc.code == "unknown_key" and not hub_keys._keys:
                # No JWKS yet (the hub's HTTP side is down): a transient condition, not a refusal.
                return answer({"code": "keys_unavailable"}, 503)
            return reject(member, exc.code, exc.message, 401)
        try:
            ev = json.loads(request.get_data())
            eid = str(ev["id"])
        except (ValueError, KeyError, TypeError) as exc:
            return reject(member, "bad_body", repr(exc), 400)
        now = time.time()
        with lock:
            con.execute("BEGIN IMMEDIATE")
            try:
                cur = con.execute(
                    "INSERT OR IGNORE INTO events (event_id, member, type, subject, source, "
                    "first_at) VALUES (?, ?, ?, ?, ?, ?)",
                    (eid, member, ev.get("type"), ev.get("subject"), ev.get("source"), now))
                state = "accepted" if cur.rowcount == 1 else "duplicate"
                con.execute("INSERT INTO arrivals (member, event_id, delivery, at, answer, keyid) "
                            "VALUES (?, ?, ?, ?, ?, ?)",
                            (member, eid, request.headers.get("X-Hub-Delivery"), now, state,
                             verified.keyid))
                con.execute("COMMIT")  # recorded before the 2xx leaves
            except BaseException:
                con.execute("ROLLBACK")
                raise
        return answer({"status": state, "id": eid}, 200)

    @app.post("/_control")
    def control() -> Response:
        body = request.get_json(force=True)
        if "delay_s" in body:
            delay["s"] = float(body["delay_s"])
            return answer({"delay_s": delay["s"]}, 200)
        member = body.get("member", "*")
        if body.get("status") is None:
            forced.pop(member, None)
        else:
            forced[member] = int(body["status"])
        return answer({"forced": forced}, 200)

    @app.get("/healthz")
    def healthz() -> Response:
        return answer({"ok": True}, 200)

    return app


def _receiver_main(argv: list[str]) -> int:
    import logging
    import socket

    from werkzeug.serving import WSGIRequestHandler, make_server

    class NoDelay(WSGIRequestHandler):
        """Headers and body leave in separate writes: without TCP_NODELAY each answer waits
        for the client's delayed ACK (about 40 ms)."""

        def setup(self) -> None:
            super().setup()
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def log_request(self, *args: Any, **kwargs: Any) -> None:
            pass

    p = argparse.ArgumentParser(prog="python -m tests.e2e.procs receiver")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--db", required=True)
    p.add_argument("--hub", required=True)
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    app = receiver_app(a.db, a.hub)
    server = make_server("127.0.0.1", a.port, app, threaded=True, request_handler=NoDelay)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown,
                                                              daemon=True).start())
    print(f"receiver on http://127.0.0.1:{a.port}", flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "receiver":
        sys.exit(_receiver_main(sys.argv[2:]))
    sys.exit("usage: python -m tests.e2e.procs receiver --port P --db FILE --hub URL")
