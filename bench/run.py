"""The hub benchmark: ``python -m bench.run [--quick]`` (see bench/README.md).

Starts a temporary hub on a fresh PostgreSQL schema under gunicorn (``-w 2 -k gthread --threads
8``, app ``hub.http.app:create_app()``), its push worker as a separate ``hub worker`` process,
a subscribing stand-in and a bare Flask echo hop under the same gunicorn settings, all on
loopback; measures (a) relay throughput and latency next to the bare hop, (b) batched pull,
(c) feed latency at 10^4 and 10^6 stored events, (d) peak RSS of the hub processes, (s) SM2 and
Ed25519 sign/verify per second, (p) saturation throughput with every member on SM2 keys next to
(a)'s Ed25519 figure; prints a
table against the targets and writes ``bench/results.json``. A missed target is reported, never
a failure. Every process it starts is stopped, and its database schemas are dropped.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import Engine

import contracts
from bench.crypto import signature_rates
from bench.load import Arrivals, Sent, closed_loop, open_loop, pct, summarise
from bench.procs import ROOT, Procs, free_port
from bench.profile import Profiler
from hub.client import make_event
from hub.security import keys
from hub.security.signing import HubAuth

PG_URL = os.environ.get("BENCH_POSTGRES_URL") or os.environ.get(
    "HUB_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
RESULTS = Path(__file__).resolve().parent / "results.json"
CE = {"Content-Type": "application/cloudevents+json"}
CE_BATCH = {"Content-Type": "application/cloudevents-batch+json"}
DEPARTMENTS = ("community", "hpf", "medical", "health")
PULLER = "health"  # gets one only-child-certificate request per application, and pulls

# figure -> (target, "min" | "max", unit, what)
TARGETS: dict[str, tuple[float, str, str, str]] = {
    "relay_vs_bare_ratio": (0.5, "min", "×", "(a) hub relay / bare Flask hop, end-to-end "
                            "throughput at saturation"),
    "p99_ms_at_100_eps": (50.0, "max", "ms", "(a) p99 publish → push arrival at 100 events/s"),
    "pull_events_per_s": (5000.0, "min", "ev/s", "(b) batched pull (limit 500) + ack, one member"),
    "feed_latency_ratio_1e6_vs_1e4": (1.3, "max", "×", "(c) median feed page latency, 10^6 vs "
                                      "10^4 stored events"),
    "peak_rss_mb": (200.0, "max", "MB", "(d) peak RSS of one hub process across the run"),
}


@dataclass(frozen=True)
class Sizes:
    warmup: int = 30
    rate_eps: float = 100.0
    open_s: float = 15.0
    closed_s: float = 15.0
    concurrency: int = 8
    drain_timeout_s: float = 90.0
    pull_events: int = 3000
    batch_size: int = 50
    feed_small: int = 10_000
    feed_large: int = 1_000_000
    feed_samples: int = 300
    workers: int = 2
    threads: int = 8


FULL = Sizes()
QUICK = Sizes(warmup=10, open_s=5.0, closed_s=5.0, drain_timeout_s=45.0, pull_events=1000,
              feed_large=1_000_000, feed_samples=100)


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ----- set-up -------------------------------------------------------------------------------

def schema_url(schema: str) -> str:
    sep = "&" if "?" in PG_URL else "?"
    return f"{PG_URL}{sep}options=-csearch_path%3D{schema}"


class Member:
    def __init__(self, member_id: str, key_dir: Path, suite: str = "intl") -> None:
        self.id = member_id
        priv, _pub = keys.write_keypair(key_dir, member_id, suite=suite)
        self.private = keys.load_private_key(priv)
        self.keyid = f"{member_id}-bench"
        self.public_pem = keys.public_key_pem(self.private.public_key())

    def auth(self) -> HubAuth:
        return HubAuth(self.private, self.keyid)


def hub_cli(env: dict[str, str], *args: str) -> str:
    res = subprocess.run([sys.executable, "-m", "hub.cli", *args], env=env, cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    if res.returncode != 0:
        raise RuntimeError(f"hub {' '.join(args)} failed:\n{res.stdout}\n{res.stderr}")
    return res.stdout


def init_hub(env: dict[str, str], members: dict[str, Member], push_url: str | None) -> None:
    """``hub init`` (plus ``hub db upgrade`` where it exists), then the members."""
    if " db " in hub_cli(env, "--help").replace("\n", " "):
        hub_cli(env, "db", "upgrade")
    hub_cli(env, "init")
    from hub.bootstrap import bootstrap
    from hub.config import Config
    from hub.services.members import add_member

    hub = bootstrap(Config.from_env(env))
    t = contracts.event_type
    try:
        add_member(hub, "hrss", members["hrss"].public_pem, keyid=members["hrss"].keyid,
                   publish=[t("application_submitted"), t("approval_decided")],
                   subscribe=[t("case_status_changed")], push_url=push_url)
        for m in DEPARTMENTS:
            subs = [t("item_cancelled")] + [d["request_type"] for d in contracts.items()
                                             if d["member"] == m and d.get("request_type")]
            add_member(hub, m, members[m].public_pem, keyid=members[m].keyid,
                       publish=[t("item_progressed")], subscribe=subs, push_url=None)
    finally:
        hub.engine.dispose()


def hub_env(base: dict[str, str], url: str, key_dir: Path) -> dict[str, str]:
    env = dict(base)
    env.update(HUB_DATABASE_URL=url, HUB_KEY_DIR=str(key_dir), HUB_RUN_WORKER="false")
    return env


# ----- (a) relay vs bare hop --------------------------------------------------------------

def hub_sender(hub_url: str, auth: HubAuth, data: dict[str, Any], tag: str):
    def send(session: requests.Session, i: int) -> tuple[str, int]:
        cid = f"RT320400-20261125-{tag}{i:06d}"
        body = json.dumps(make_event("hrss", "application_submitted", cid, data),
                          ensure_ascii=False).encode()
        try:
            r = session.post(hub_url + "/v1/events", data=body, headers=CE, auth=auth, timeout=60)
            return cid, r.status_code
        except requests.RequestException:
            return cid, 0
    return send


def bare_sender(bare_url: str, auth: HubAuth, data: dict[str, Any], tag: str):
    """The same signed body to the bare hop (which ignores the signature): same client cost."""
    def send(session: requests.Session, i: int) -> tuple[str, int]:
        cid = f"RT320400-20261125-{tag}{i:06d}"
        body = json.dumps(make_event("hrss", "application_submitted", cid, data),
                          ensure_ascii=False).encode()
        try:
            r = session.post(bare_url + "/relay", data=body, headers=CE, auth=auth, timeout=60)
            return cid, r.status_code
        except requests.RequestException:
            return cid, 0
    return send


def new_tag() -> str:
    return secrets.token_hex(3).upper()


def run_phase(name: str, sent: Sent, arrivals: Arrivals, drain_s: float) -> dict[str, Any]:
    ok = {s for s in sent.sent}
    missing = arrivals.wait_for(ok, drain_s)
    res: dict[str, Any] = dict(summarise(sent, arrivals))
    res["statuses"] = {str(k): v for k, v in sorted(sent.statuses.items())}
    log(f"{name}: sent {res['sent']} accepted {res['accepted']} delivered {res['delivered']} "
        f"(missing {missing}) | {res['delivered_per_s']} delivered/s | p50 {res['p50_ms']} ms "
        f"p99 {res['p99_ms']} ms")
    return res


# ----- (b) batched pull ---------------------------------------------------------------------

def pull_backlog(engine: Engine, member: str) -> int:
    with engine.connect() as c:
        return int(c.execute(text(
            "SELECT count(*) FROM deliveries WHERE member_id = :m AND id > "
            "(SELECT ack_cursor FROM members WHERE id = :m)"), {"m": member}).scalar() or 0)


def preload(hub_url: str, auth: HubAuth, data: dict[str, Any], n: int, batch: int,
            arrivals: Arrivals, drain_s: float) -> dict[str, Any]:
    """``n`` applications in batches (application/cloudevents-batch+json), two senders."""
    tag = new_tag()
    batches = [list(range(i, min(i + batch, n))) for i in range(0, n, batch)]
    lock = threading.Lock()
    subjects: set[str] = set()
    errors: list[str] = []

    def worker() -> None:
        s = requests.Session()
        while True:
            with lock:
                if not batches:
                    return
                idx = batches.pop()
            evs = [make_event("hrss", "application_submitted",
                              f"RT320400-20261125-P{tag}{i:06d}", data) for i in idx]
            body = json.dumps(evs, ensure_ascii=False).encode()
            r = s.post(hub_url + "/v1/events", data=body, headers=CE_BATCH, auth=auth,
                       timeout=120)
            with lock:
                if r.status_code == 202:
                    subjects.update(e["subject"] for e in evs)
                else:
                    errors.append(f"{r.status_code} {r.text[:200]}")

    t0 = time.perf_counter()
    ts = [threading.Thread(target=worker, daemon=True) for _ in range(2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    took = time.perf_counter() - t0
    missing = arrivals.wait_for(subjects, drain_s)  # let the worker finish its pushes first
    return {"applications": n, "batch_size": batch, "seconds": round(took, 2),
            "applications_per_s": round(len(subjects) / took, 1) if took else None,
            "errors": errors[:3], "status_pushes_missing_after_drain": missing}


def pull_all(hub_url: str, auth: HubAuth, limit: int = 500) -> dict[str, Any]:
    s = requests.Session()
    feed_t = ack_t = 0.0
    pages = events = 0
    t0 = time.perf_counter()
    while True:
        t = time.perf_counter()
        r = s.get(hub_url + "/v1/feed", params={"limit": limit}, auth=auth, timeout=120)
        r.raise_for_status()
        page = r.json()
        feed_t += time.perf_counter() - t
        items = page["items"]
        if not items:
            break
        pages += 1
        events += len(items)
        t = time.perf_counter()
        a = s.post(hub_url + "/v1/feed/ack", data=json.dumps({"cursor": page["next_cursor"]}),
                   headers={"Content-Type": "application/json"}, auth=auth, timeout=300)
        a.raise_for_status()
        ack_t += time.perf_counter() - t
    total = time.perf_counter() - t0
    return {"events": events, "pages": pages, "limit": limit, "seconds": round(total, 3),
            "feed_seconds": round(feed_t, 3), "ack_seconds": round(ack_t, 3),
            "events_per_s": round(events / total, 1) if total else None,
            "feed_only_events_per_s": round(events / feed_t, 1) if feed_t else None}


# ----- (c) feed latency over a large store ----------------------------------------------------

_KNOWN = {
    "events": {"seq", "event_id", "source", "type", "subject", "time", "dataschema", "data",
               "digest", "received_at"},
    "deliveries": {"id", "event_seq", "member_id", "state", "attempts", "next_attempt_at",
                   "delivered_at", "delivered_by", "last_error", "created_at"},
}


def _filler(coltype: Any) -> str:
    name = type(coltype).__name__.lower()
    if "int" in name or "numeric" in name or "float" in name:
        return "0"
    if "bool" in name:
        return "false"
    if "timestamp" in name or "datetime" in name:
        return "now()"
    if name == "date":
        return "current_date"
    if "json" in name:
        return "'{}'::json"
    return "''"


def extra_columns(engine: Engine, table: str) -> tuple[str, str]:
    """NOT NULL columns without a server default that this loader does not know (added to the
    schema later): filled with a neutral value of their type so the bulk load keeps working."""
    names, values = [], []
    for col in inspect(engine).get_columns(table):
        if col["name"] in _KNOWN[table] or col.get("nullable", True) or col.get("default"):
            continue
        if col.get("identity") or col.get("autoincrement") is True:
            continue
        names.append(f'"{col["name"]}"')
        values.append(_filler(col["type"]))
    return ("".join(", " + n for n in names), "".join(", " + v for v in values))


def bulk_load(engine: Engine, target: int, chunk: int = 250_000) -> dict[str, Any]:
    """Top the events table up to ``target`` rows with INSERT … SELECT generate_series: one
    event per row, addressed round-robin to the five members, each with one delivered
    delivery (history, so the push worker has nothing to do with them)."""
    t = contracts.event_type
    items = {d["member"]: d for d in contracts.items() if d.get("request_type")}
    kinds = [("hrss", t("case_status_changed"), contracts.schema_id("case-status"),
              contracts.example("case-status"))]
    for m, ex in (("community", "socialized-management-request"), ("hpf", "hpf-withdrawal-request"),
                  ("medical", "medical-transfer-request"),
                  ("health", "only-child-certificate-request")):
        kinds.append((m, items[m]["request_type"], items[m]["payload_contract"],
                      contracts.example(ex)))
    params: dict[str, Any] = {"now_iso": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    rows = []
    for k, (member, typ, schema, data) in enumerate(kinds):
        params.update({f"m{k}": member, f"t{k}": typ, f"s{k}": schema,
                       f"d{k}": json.dumps(data, ensure_ascii=False)})
        rows.append(f"({k}, :m{k}, :t{k}, :s{k}, CAST(:d{k} AS json))")
    ev_cols, ev_vals = extra_columns(engine, "events")
    dl_cols, dl_vals = extra_columns(engine, "deliveries")
    sql = text(f"""
        WITH m(k, member, type, schema, data) AS (VALUES {", ".join(rows)}),
        ins AS (
            INSERT INTO events (event_id, source, type, subject, time, dataschema, data, digest,
                                received_at{ev_cols})
            SELECT 'bench-' || g, 'retirement-hub', m.type,
                   'RT320400-20261125-B' || lpad(g::text, 8, '0'), :now_iso, m.schema, m.data,
                   'sha-256=:bench:', now(){ev_vals}
            FROM generate_series(CAST(:a AS bigint), CAST(:b AS bigint)) AS g
            JOIN m ON m.k = g % 5
            ORDER BY g
            RETURNING seq, type, received_at)
        INSERT INTO deliveries (event_seq, member_id, state, attempts, next_attempt_at,
                                delivered_at, delivered_by, last_error, created_at{dl_cols})
        SELECT ins.seq, m.member, 'delivered', 1, NULL, ins.received_at,
               CASE WHEN m.member = 'hrss' THEN 'push' ELSE 'pull' END, NULL,
               ins.received_at{dl_vals}
        FROM ins JOIN m ON m.type = ins.type
        ORDER BY ins.seq""")
    t0 = time.perf_counter()
    with engine.connect() as c:
        have = int(c.execute(text("SELECT count(*) FROM events")).scalar() or 0)
    start_have = have
    while have < target:
        n = min(chunk, target - have)
        with engine.begin() as c:
            c.execute(sql, dict(params, a=have + 1, b=have + n))
        have += n
    with engine.connect() as c:
        c.execution_options(isolation_level="AUTOCOMMIT")
        # VACUUM too, not only ANALYZE: after a bulk insert, autovacuum would otherwise start
        # on these tables during the measurement and share the two cores with it.
        c.execute(text("VACUUM (ANALYZE) events"))
        c.execute(text("VACUUM (ANALYZE) deliveries"))
        try:  # and flush the load's dirty pages now, not in a checkpoint during the measurement
            c.execute(text("CHECKPOINT"))
        except Exception:  # noqa: BLE001, S110 - needs superuser or pg_checkpoint; optional
            pass
        deliveries = int(c.execute(text("SELECT count(*) FROM deliveries")).scalar() or 0)
    return {"events": have, "deliveries": deliveries, "inserted": have - start_have,
            "seconds": round(time.perf_counter() - t0, 2)}


class FeedTarget:
    """One hub over one store, and the feed page request measured against it."""

    def __init__(self, label: str, engine: Engine, hub_url: str, auth: HubAuth, member: str,
                 limit: int = 100) -> None:
        self.label, self.engine, self.auth = label, engine, auth
        self.url = hub_url + "/v1/feed"
        with engine.connect() as c:
            self.cursor = int(c.execute(text(
                "SELECT id FROM deliveries WHERE member_id = :m ORDER BY id DESC OFFSET :o "
                "LIMIT 1"), {"m": member, "o": limit + 50}).scalar() or 0)
            # the plan PostgreSQL picks for the page, for the record
            self.plan = [r[0] for r in c.execute(text(
                "EXPLAIN (ANALYZE, BUFFERS) SELECT d.id, e.* FROM deliveries d "
                "JOIN events e ON e.seq = d.event_seq WHERE d.member_id = :m AND d.id > :c "
                "ORDER BY d.id LIMIT :l"), {"m": member, "c": self.cursor, "l": limit + 1})]
        self.params = {"after": self.cursor, "limit": limit}
        self.session = requests.Session()
        self.times: list[float] = []
        self.items = 0

    def get(self, record: bool = True) -> None:
        t0 = time.perf_counter()
        r = self.session.get(self.url, params=self.params, auth=self.auth, timeout=60)
        ms = (time.perf_counter() - t0) * 1000
        r.raise_for_status()
        self.items = len(r.json()["items"])
        if record:
            self.times.append(ms)

    def result(self) -> dict[str, Any]:
        t = self.times
        return {"cursor": self.cursor, "limit": self.params["limit"], "items_per_page": self.items,
                "samples": len(t), "median_ms": round(pct(t, 50) or 0, 2),
                "p90_ms": round(pct(t, 90) or 0, 2), "p99_ms": round(pct(t, 99) or 0, 2),
                "sql_plan": self.plan}


def feed_latency(small: FeedTarget, large: FeedTarget, samples: int) -> None:
    """Signed GET /v1/feed?after=<recent cursor>&limit=100, one request at a time, alternating
    between the two stores (order flipped each round), so whatever else the machine does at
    that moment weighs on both sides alike."""
    for _ in range(max(50, samples // 5)):  # warm connections, caches and the code path
        small.get(record=False)
        large.get(record=False)
    for i in range(samples):
        pair = (small, large) if i % 2 == 0 else (large, small)
        for target in pair:
            target.get()


# ----- reporting ------------------------------------------------------------------------------

def verdict(key: str, value: float | None) -> str:
    if value is None:
        return "not measured"
    target, kind, _, _ = TARGETS[key]
    ok = value >= target if kind == "min" else value <= target
    return "met" if ok else "MISSED"


def print_table(results: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="retirement hub benchmark" + (" (quick)" if results["quick"] else ""))
    table.add_column("figure")
    table.add_column("measured", justify="right")
    table.add_column("target", justify="right")
    table.add_column("verdict")
    table.add_column("what")
    for key, (target, kind, unit, what) in TARGETS.items():
        v = results.get(key)
        shown = "—" if v is None else (f"{v:,.2f}" if isinstance(v, float) else f"{v:,}")
        verd = verdict(key, v)
        style = "green" if verd == "met" else "red"
        table.add_row(key, f"{shown} {unit}", f"{'≥' if kind == 'min' else '≤'} {target:,g} {unit}",
                      f"[{style}]{verd}[/]", what)
    Console().print(table)
    sig = results["details"].get("s", {})
    if sig:
        t3 = Table(title="(s) signatures per second, one thread (" + sig.get("what", "") + ")")
        for c in ("suite", "alg", "sign/s", "verify/s", "signed request/s", "verified request/s"):
            t3.add_column(c, justify="right" if "/s" in c else "left")
        for suite in ("intl", "sm"):
            r = sig.get(suite)
            if r:
                t3.add_row(suite, r["alg"], f"{r['sign_per_s']:,.0f}", f"{r['verify_per_s']:,.0f}",
                           f"{r['signed_request_per_s']:,.0f}",
                           f"{r['verified_request_per_s']:,.0f}")
        Console().print(t3)
    p = results["details"].get("p", {})
    if p.get("sm_saturation"):
        Console().print(f"(p) saturation throughput, every member on SM2: "
                        f"{p['sm_saturation']['delivered_per_s']} events/s; on Ed25519 (a): "
                        f"{p.get('intl_delivered_per_s', '—')} events/s; sm / intl = "
                        f"{results.get('sm_vs_intl_saturation_ratio', '—')}")
    a = results["details"].get("a", {})
    if a:
        t2 = Table(title="(a) publish → push arrival "
                         "(open loop at 100/s; closed loop = saturation)")
        for c in ("phase", "sent", "delivered", "delivered/s", "p50 ms", "p99 ms", "max ms"):
            t2.add_column(c, justify="right" if c != "phase" else "left")
        for name in ("hub_open_100eps", "bare_open_100eps", "hub_saturation", "bare_saturation"):
            r = a.get(name)
            if r:
                t2.add_row(name, str(r["sent"]), str(r["delivered"]), str(r["delivered_per_s"]),
                           str(r["p50_ms"]), str(r["p99_ms"]), str(r["max_ms"]))
        Console().print(t2)
    load = results["details"].get("setup", {}).get("load_average_at_start")
    if load and load[0] > 0.5 * (os.cpu_count() or 1):
        Console().print(f"[yellow]note: the machine was busy with other work (1-min load average "
                        f"{load[0]} at start on {os.cpu_count()} CPUs); the figures are "
                        f"pessimistic.[/]")


# ----- main -----------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="short phases (a smoke run, ~2 min)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory (logs)")
    ap.add_argument("--skip-large", action="store_true",
                    help="(c) with 10^4 and 10^5 events instead of 10^6")
    ap.add_argument("--profile", metavar="DIR", type=Path, default=None,
                    help="record py-spy profiles of the hub processes during the saturation, "
                         "pull and large-feed phases into DIR (needs py-spy installed)")
    ap.add_argument("--parts", default="abcsp", help="which parts to run (default: abcsp; (d) "
                    "is measured across whatever runs; s = signatures per second, p = (a)'s "
                    "saturation phase with every member on SM2 keys)")
    args = ap.parse_args(argv)
    parts = set(args.parts.lower()) & set("abcsp")
    sizes = QUICK if args.quick else FULL
    if args.skip_large:
        sizes = Sizes(**dict(asdict(sizes), feed_large=100_000))

    def _term(*_: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _term)
    started = time.time()
    tmp = Path(tempfile.mkdtemp(prefix="hub-bench-"))
    logs = tmp / "logs"
    logs.mkdir()
    base_env = {k: v for k, v in os.environ.items()}
    path_parts = [str(ROOT), os.environ.get("PYTHONPATH")]
    base_env["PYTHONPATH"] = os.pathsep.join(p for p in path_parts if p)
    procs = Procs(logs, base_env)
    prof = Profiler(args.profile)
    if args.profile and not prof.enabled:
        log("--profile: py-spy not found (pip install py-spy); running without profiles")
    admin = create_engine(PG_URL)
    schemas: list[str] = []
    engines: list[Engine] = []
    results: dict[str, Any] = {k: None for k in TARGETS}
    details: dict[str, Any] = {}
    profiles: dict[str, Any] = {}
    results.update(quick=args.quick, details=details, targets={
        k: {"target": t, "kind": kind, "unit": unit} for k, (t, kind, unit, _) in TARGETS.items()})
    gunicorn_cfg = f"-w {sizes.workers} -k gthread --threads {sizes.threads}"
    details["setup"] = {
        "sizes": asdict(sizes),
        "hub": f"gunicorn {gunicorn_cfg} 'hub.http.app:create_app()' + 'hub worker'",
        "bare_hop": f"gunicorn {gunicorn_cfg} 'bench.apps:bare_app()'",
        "subscriber": f"gunicorn {gunicorn_cfg} 'bench.apps:receiver_app()'",
        "database": "PostgreSQL (fresh schema per part)",
        "hub_env_passed_through": {k: v for k, v in os.environ.items() if k.startswith("HUB_")
                                   and k not in ("HUB_DATABASE_URL", "HUB_KEY_DIR")},
        "cpus": os.cpu_count(), "python": platform.python_version(),
        "machine": platform.machine(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }
    try:
        with admin.connect() as c:
            details["setup"]["postgres"] = c.execute(text("SHOW server_version")).scalar()
        import gunicorn
        details["setup"]["gunicorn"] = gunicorn.__version__

        if "s" in parts:
            log("(s) signatures per second: Ed25519 and SM2, raw and per signed request")
            details["s"] = signature_rates(seconds=2.0 if not args.quick else 1.0)
            for suite in ("intl", "sm"):
                r = details["s"][suite]
                results[f"{r['alg'].replace('-', '_')}_sign_per_s"] = r["sign_per_s"]
                results[f"{r['alg'].replace('-', '_')}_verify_per_s"] = r["verify_per_s"]

        key_dir = tmp / "members"
        members = {m: Member(m, key_dir) for m in ("hrss", *DEPARTMENTS)}
        app_data = contracts.example("application")
        hrss_auth = members["hrss"].auth()

        def new_schema() -> tuple[str, Engine]:
            name = "bench_" + secrets.token_hex(5)
            with admin.begin() as c:
                c.execute(text(f'CREATE SCHEMA "{name}"'))
            schemas.append(name)
            eng = create_engine(schema_url(name))
            engines.append(eng)
            return name, eng

        if parts & {"a", "b", "p"}:
            # ---- stand-ins and the hub (part a, b) --------------------------------------------
            arrivals_path = tmp / "arrivals.tsv"
            arrivals_path.touch()
            rx_port, bare_port, hub_port = free_port(), free_port(), free_port()
            rx_url = f"http://127.0.0.1:{rx_port}"
            bare_url = f"http://127.0.0.1:{bare_port}"
            hub_url = f"http://127.0.0.1:{hub_port}"
            schema_a, eng_a = new_schema()
            env_a = hub_env(base_env, schema_url(schema_a), tmp / "hub-keys")
            log(f"hub init on schema {schema_a}, members, stand-ins (logs in {logs})")
            init_hub(env_a, members, push_url=rx_url + "/hub/events")

            rx = procs.gunicorn("receiver", "bench.apps:receiver_app()", rx_port,
                                workers=sizes.workers, threads=sizes.threads,
                                extra_env={"BENCH_ARRIVALS": str(arrivals_path)})
            bare = procs.gunicorn("bare-hop", "bench.apps:bare_app()", bare_port,
                                  workers=sizes.workers, threads=sizes.threads,
                                  extra_env={"BENCH_FORWARD_URL": rx_url + "/hub/events"})
            hub_a = procs.gunicorn("hub-a", "hub.http.app:create_app()", hub_port,
                                   workers=sizes.workers, threads=sizes.threads, role="hub",
                                   extra_env=env_a)
            worker_a = procs.spawn("hub-worker-a", [sys.executable, "-m", "hub.cli", "worker"],
                                   role="hub", extra_env=env_a)
            procs.start_sampling()
            procs.wait_http(rx, rx_url + "/healthz")
            procs.wait_http(bare, bare_url + "/healthz")
            procs.wait_http(hub_a, hub_url + "/healthz")
            time.sleep(0.5)
            if worker_a.popen.poll() is not None:
                raise RuntimeError(f"hub worker exited:\n{worker_a.tail()}")
            details["setup"]["pids"] = {p.name: p.pid for p in procs.procs}

            arrivals = Arrivals(arrivals_path)
            a: dict[str, Any] = {}
            details["a"] = a

            if "a" in parts:
                log(f"(a) warm-up: {sizes.warmup} events through each path")
                paths = (("hub", hub_sender, hub_url), ("bare", bare_sender, bare_url))
                for name, mk, url_ in paths:
                    w = Sent()
                    send = mk(url_, hrss_auth, app_data, "W" + new_tag())
                    s = requests.Session()
                    for i in range(sizes.warmup):
                        subj, st = send(s, i)
                        w.record(subj, time.time(), time.time(), st)
                    arrivals.wait_for(set(w.sent), sizes.drain_timeout_s)
                    a[f"{name}_warmup_statuses"] = {str(k): v for k, v in w.statuses.items()}

                log(f"(a) open loop {sizes.rate_eps:g} events/s for {sizes.open_s:g} s: hub")
                hub_send = hub_sender(hub_url, hrss_auth, app_data, "O" + new_tag())
                a["hub_open_100eps"] = run_phase(
                    "hub open loop", open_loop(hub_send, sizes.rate_eps, sizes.open_s), arrivals,
                    sizes.drain_timeout_s)
                log(f"(a) open loop {sizes.rate_eps:g} events/s for {sizes.open_s:g} s: bare hop")
                bare_send = bare_sender(bare_url, hrss_auth, app_data, "Q" + new_tag())
                a["bare_open_100eps"] = run_phase(
                    "bare open loop", open_loop(bare_send, sizes.rate_eps, sizes.open_s), arrivals,
                    sizes.drain_timeout_s)
                log(f"(a) closed loop, {sizes.concurrency} senders for {sizes.closed_s:g} s: hub")
                prof.start("saturation", prof.hub_targets(hub_a, worker_a))
                a["hub_saturation"] = run_phase(
                    "hub saturation", closed_loop(hub_sender(hub_url, hrss_auth, app_data,
                                                             "S" + new_tag()),
                                                  sizes.concurrency, sizes.closed_s), arrivals,
                    sizes.drain_timeout_s)
                profiles.update(prof.stop())
                log(f"(a) closed loop, {sizes.concurrency} senders for {sizes.closed_s:g} s: "
                    "bare hop")
                a["bare_saturation"] = run_phase(
                    "bare saturation", closed_loop(bare_sender(bare_url, hrss_auth, app_data,
                                                               "T" + new_tag()),
                                                   sizes.concurrency, sizes.closed_s), arrivals,
                    sizes.drain_timeout_s)
                hub_tp = a["hub_saturation"]["delivered_per_s"]
                bare_tp = a["bare_saturation"]["delivered_per_s"]
                results["relay_vs_bare_ratio"] = round(hub_tp / bare_tp, 3) if bare_tp else None
                results["p99_ms_at_100_eps"] = a["hub_open_100eps"]["p99_ms"]
                a["which_events"] = (
                    "hrss publishes application_submitted (contracts example 'application', one "
                    "new case id each); the hub opens the case, queues the two phase-1 requests "
                    "for the pulling community and health units, and pushes one "
                    "case_status_changed to hrss's push URL (the receiver). Latency = due time "
                    "of the publish (open loop) or its send time "
                    "(closed loop) → arrival of that case's status push. Bare hop: the same body, "
                    "forwarded by a bare Flask app to the same receiver.")

            if "b" in parts:
                # ---- (b) batched pull -----------------------------------------------------------
                have = pull_backlog(eng_a, PULLER)
                need = max(0, sizes.pull_events - have)
                log(f"(b) {PULLER} holds {have} undelivered requests; preloading {need} more "
                    f"applications in batches of {sizes.batch_size}")
                b: dict[str, Any] = {"backlog_before_preload": have}
                details["b"] = b
                if need:
                    b["preload"] = preload(hub_url, hrss_auth, app_data, need, sizes.batch_size,
                                           arrivals, sizes.drain_timeout_s)
                b["backlog"] = pull_backlog(eng_a, PULLER)
                log(f"(b) {PULLER} pulls {b['backlog']} events: "
                    "GET /v1/feed?limit=500 + ack per page")
                prof.start("pull", prof.hub_targets(hub_a))
                b["pull"] = pull_all(hub_url, members[PULLER].auth(), limit=500)
                profiles.update(prof.stop())
                results["pull_events_per_s"] = b["pull"]["events_per_s"]
                log(f"(b) {b['pull']['events']} events in {b['pull']['seconds']} s "
                    f"(feed {b['pull']['feed_seconds']} s, ack {b['pull']['ack_seconds']} s) → "
                    f"{b['pull']['events_per_s']} events/s")
                b["what"] = ("one page = signed GET /v1/feed?limit=500 (from the last ack) then "
                             "a signed POST /v1/feed/ack of its next_cursor; events_per_s counts "
                             "both. Acking a request marks the case item delivered, which sends "
                             "hrss a status push.")

            if "p" in parts:
                # ---- (p) the saturation phase again, every member on SM2 keys ----------------
                p_res: dict[str, Any] = {}
                details["p"] = p_res
                members_sm = {m: Member(m, tmp / "members-sm", suite="sm")
                              for m in ("hrss", *DEPARTMENTS)}
                schema_p, _eng_p = new_schema()
                env_p = hub_env(base_env, schema_url(schema_p), tmp / "hub-keys-sm")
                init_hub(env_p, members_sm, push_url=rx_url + "/hub/events")
                hub_p_port = free_port()
                hub_p_url = f"http://127.0.0.1:{hub_p_port}"
                hub_p = procs.gunicorn("hub-sm", "hub.http.app:create_app()", hub_p_port,
                                       workers=sizes.workers, threads=sizes.threads, role="hub",
                                       extra_env=env_p)
                worker_p = procs.spawn("hub-worker-sm", [sys.executable, "-m", "hub.cli",
                                                         "worker"], role="hub", extra_env=env_p)
                procs.wait_http(hub_p, hub_p_url + "/healthz")
                sm_auth = members_sm["hrss"].auth()
                w = Sent()
                send = hub_sender(hub_p_url, sm_auth, app_data, "W" + new_tag())
                sess = requests.Session()
                for i in range(sizes.warmup):
                    subj, st = send(sess, i)
                    w.record(subj, time.time(), time.time(), st)
                arrivals.wait_for(set(w.sent), sizes.drain_timeout_s)
                log(f"(p) closed loop, {sizes.concurrency} senders for {sizes.closed_s:g} s: "
                    "hub with every member on SM2")
                p_res["sm_saturation"] = run_phase(
                    "hub saturation (sm)", closed_loop(hub_sender(hub_p_url, sm_auth, app_data,
                                                                  "P" + new_tag()),
                                                       sizes.concurrency, sizes.closed_s),
                    arrivals, sizes.drain_timeout_s)
                sm_tp = p_res["sm_saturation"]["delivered_per_s"]
                intl_tp = a.get("hub_saturation", {}).get("delivered_per_s")
                p_res["intl_delivered_per_s"] = intl_tp
                results["sm_vs_intl_saturation_ratio"] = (
                    round(sm_tp / intl_tp, 3) if intl_tp else None)
                p_res["what"] = ("(a)'s hub saturation phase on a second hub whose members all "
                                 "hold SM2 keys: requests verified sm2-sm3, status pushes signed "
                                 "sm2-sm3 with the hub's SM2 key")
                for proc in (worker_p, hub_p):
                    procs.stop(proc)

            for p in (worker_a, hub_a, bare, rx):
                procs.stop(p)

        if "c" in parts:
            # ---- (c) feed latency with 10^4 and 10^6 stored events -------------------------------
            c_res: dict[str, Any] = {}
            details["c"] = c_res
            hubs_c = []
            for label, size in (("small", sizes.feed_small), ("large", sizes.feed_large)):
                schema_c, eng_c = new_schema()
                env_c = hub_env(base_env, schema_url(schema_c), tmp / "hub-keys")
                init_hub(env_c, members, push_url=None)
                log(f"(c) loading {size:,} events into schema {schema_c}")
                c_res[f"load_{label}"] = bulk_load(eng_c, size)
                log(f"(c) loaded in {c_res[f'load_{label}']['seconds']} s")
                port = free_port()
                proc = procs.gunicorn(f"hub-c-{label}", "hub.http.app:create_app()", port,
                                      workers=sizes.workers, threads=sizes.threads, role="hub",
                                      extra_env=env_c)
                hubs_c.append((label, eng_c, f"http://127.0.0.1:{port}", proc))
            for _, _, url_c, proc in hubs_c:
                procs.wait_http(proc, url_c + "/healthz")
            puller = members[PULLER].auth()
            small, large = (FeedTarget(label, eng_c, url_c, puller, PULLER)
                            for label, eng_c, url_c, _ in hubs_c)
            log(f"(c) {sizes.feed_samples} feed pages from each store, alternating")
            prof.start("feed", prof.hub_targets(*(p for *_, p in hubs_c)))
            feed_latency(small, large, sizes.feed_samples)
            profiles.update(prof.stop())
            c_res["small"], c_res["large"] = small.result(), large.result()
            for label, size in (("small", sizes.feed_small), ("large", sizes.feed_large)):
                log(f"(c) {size:,} events: median {c_res[label]['median_ms']} ms, "
                    f"p99 {c_res[label]['p99_ms']} ms")
            if c_res["small"]["median_ms"]:
                results["feed_latency_ratio_1e6_vs_1e4"] = round(
                    c_res["large"]["median_ms"] / c_res["small"]["median_ms"], 3)
                c_res["p99_ratio"] = round(c_res["large"]["p99_ms"] / c_res["small"]["p99_ms"], 3)
            c_res["sizes"] = {"small": sizes.feed_small, "large": sizes.feed_large}
            c_res["how"] = ("two hubs under the same gunicorn settings, one over 10^4 and one over "
                            "10^6 stored events (separate schemas); requests alternate between "
                            "them")
            for *_, proc in hubs_c:
                procs.stop(proc)
    except KeyboardInterrupt:
        log("interrupted: stopping what was started")
        details["interrupted"] = True
    except Exception as exc:  # noqa: BLE001 - report what was measured; targets don't fail a run
        import traceback
        traceback.print_exc()
        details["error"] = f"{type(exc).__name__}: {exc}"[:2000]
    finally:
        profiles.update(prof.stop())
        if profiles:
            details["profiles"] = profiles
        procs.stop_all()
        for eng in engines:
            eng.dispose()
        for name in schemas:
            try:
                with admin.begin() as c:
                    c.execute(text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
            except Exception as exc:  # noqa: BLE001
                log(f"could not drop schema {name}: {exc}")
        admin.dispose()
        if procs.peaks_kb:
            results["peak_rss_mb"] = round(max(procs.peaks_kb.values()) / 1024, 1)
            details["d"] = {"vmhwm_mb_per_process": {k: round(v / 1024, 1) for k, v in
                                                     sorted(procs.peaks_kb.items())},
                            "what": "VmHWM (peak RSS) of every hub process: gunicorn masters "
                                    "and workers, the 'hub worker' process"}
        details["total_seconds"] = round(time.time() - started, 1)
        details["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
        details["logs"] = str(logs) if args.keep else None
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    RESULTS.write_text(json.dumps(results, ensure_ascii=False, indent=2) + "\n", "utf-8")
    print_table(results)
    log(f"wrote {RESULTS} in {details['total_seconds']} s")
    return 1 if "error" in details else 0  # a missed target is not an error; a broken set-up is


if __name__ == "__main__":
    sys.exit(main())
