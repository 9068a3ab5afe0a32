"""Load generators (open loop on a fixed schedule, closed loop) and the arrivals log reader."""
from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import requests

# A sender gets (session, index) and returns (subject, HTTP status or 0 on error).
Sender = Callable[[requests.Session, int], tuple[str, int]]


@dataclass
class Sent:
    """What a load phase sent: per subject, the time it was due (open loop) and sent."""

    due: dict[str, float] = field(default_factory=dict)
    sent: dict[str, float] = field(default_factory=dict)
    ok: int = 0
    failed: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    started: float = 0.0
    finished: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, subject: str, due: float, sent: float, status: int) -> None:
        with self.lock:
            self.due[subject] = due
            self.sent[subject] = sent
            self.statuses[status] = self.statuses.get(status, 0) + 1
            if 200 <= status < 300:
                self.ok += 1
            else:
                self.failed += 1


def open_loop(send: Sender, rate: float, duration_s: float, threads: int = 16) -> Sent:
    """Event i is due at t0 + i/rate, whatever happened to earlier ones (no coordinated omission:
    latency is counted from the due time, so a server that falls behind pays for it)."""
    n = int(rate * duration_s)
    out = Sent()
    nxt = [0]
    lock = threading.Lock()
    t0 = time.time() + 0.2
    out.started = t0

    def worker() -> None:
        s = requests.Session()
        while True:
            with lock:
                i = nxt[0]
                nxt[0] += 1
            if i >= n:
                return
            due = t0 + i / rate
            delay = due - time.time()
            if delay > 0:
                time.sleep(delay)
            sent = time.time()
            subject, status = send(s, i)
            out.record(subject, due, sent, status)

    ts = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    out.finished = time.time()
    return out


def closed_loop(send: Sender, concurrency: int, duration_s: float) -> Sent:
    """``concurrency`` senders, each sending the next request as soon as the last one answered."""
    out = Sent()
    counter = [0]
    lock = threading.Lock()
    out.started = time.time()
    deadline = out.started + duration_s

    def worker() -> None:
        s = requests.Session()
        while time.time() < deadline:
            with lock:
                i = counter[0]
                counter[0] += 1
            sent = time.time()
            subject, status = send(s, i)
            out.record(subject, sent, sent, status)

    ts = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    out.finished = time.time()
    return out


class Arrivals:
    """Reads the receiver's append-only log; keeps the first arrival per subject."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.first: dict[str, float] = {}
        self.lines = 0
        self.unsigned_hub = 0

    def poll(self) -> None:
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                chunk = f.read()
        except FileNotFoundError:
            return
        end = chunk.rfind(b"\n")
        if end < 0:
            return
        self.offset += end + 1
        for line in chunk[: end + 1].decode().splitlines():
            parts = line.split("\t")
            if len(parts) < 4:
                continue
            t, subject = float(parts[0]), parts[1]
            self.lines += 1
            if subject not in self.first or t < self.first[subject]:
                self.first[subject] = t

    def wait_for(self, subjects: set[str], timeout_s: float) -> int:
        """Wait until every subject has arrived (or the timeout); returns how many are missing."""
        deadline = time.monotonic() + timeout_s
        while True:
            self.poll()
            missing = sum(1 for s in subjects if s not in self.first)
            if missing == 0 or time.monotonic() > deadline:
                return missing
            time.sleep(0.1)


def pct(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100)."""
    if not values:
        return None
    v = sorted(values)
    k = max(0, min(len(v) - 1, math.ceil(q / 100 * len(v)) - 1))
    return v[k]


def summarise(
    sent: Sent, arrivals: Arrivals, *, latency_from: str = "due",
) -> dict[str, float | int | None]:
    """Latency (ms) per delivered subject and end-to-end throughput of one phase."""
    base = sent.due if latency_from == "due" else sent.sent
    # a subject whose publish failed never arrives: it counts in "missing", not in latency
    lat = [(arrivals.first[s] - base[s]) * 1000 for s in base if s in arrivals.first]
    arrived = [arrivals.first[s] for s in base if s in arrivals.first]
    last = max(arrived) if arrived else sent.finished
    span = max(last - sent.started, 1e-9)
    from_sent = [
        (arrivals.first[s] - sent.sent[s]) * 1000 for s in sent.sent if s in arrivals.first
    ]
    return {
        "sent": len(base),
        "accepted": sent.ok,
        "failed": sent.failed,
        "delivered": len(arrived),
        "missing": len(base) - len(arrived),
        "send_window_s": round(sent.finished - sent.started, 3),
        "until_last_arrival_s": round(span, 3),
        "accepted_per_s": round(sent.ok / max(sent.finished - sent.started, 1e-9), 1),
        "delivered_per_s": round(len(arrived) / span, 1),
        "p50_ms": _r(pct(lat, 50)),
        "p90_ms": _r(pct(lat, 90)),
        "p99_ms": _r(pct(lat, 99)),
        "max_ms": _r(max(lat) if lat else None),
        "p50_ms_from_actual_send": _r(pct(from_sent, 50)),
        "p99_ms_from_actual_send": _r(pct(from_sent, 99)),
    }


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 2)
