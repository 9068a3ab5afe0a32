"""Local state in SQLite: what came from the hub, what went to the city, what went back.

Why it exists: the adapter acknowledges the hub's feed only after an event is recorded here, so a
crash never loses one; a request is forwarded from here and marked `forwarded` in the same place,
so a restarted adapter never forwards twice what it knows it forwarded; progress and issue events
are stored whole (with their deterministic ids) before they are sent, so a resend is byte-identical
and the hub sees a duplicate, not a second report.

One connection guarded by a lock: the loop, the push receiver and the city callback receiver are
threads of one process, and each call below is one short transaction.
"""
from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import contracts

SCHEMA = """
CREATE TABLE IF NOT EXISTS requests (
    event_id TEXT PRIMARY KEY,          -- the hub's request event id (the city dedupes by it)
    case_id TEXT NOT NULL,
    item TEXT NOT NULL,
    city_code TEXT,
    payload TEXT,                       -- kept until a final status, then cleared (minimisation)
    state TEXT NOT NULL,                -- pending | forwarded | unroutable | invalid | cancelled
    city_reference TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_try_at REAL NOT NULL DEFAULT 0,
    last_error TEXT,
    received_at REAL NOT NULL,
    forwarded_at REAL
);
CREATE INDEX IF NOT EXISTS requests_ref ON requests (city_reference);
CREATE TABLE IF NOT EXISTS cancellations (
    event_id TEXT PRIMARY KEY,
    case_id TEXT NOT NULL,
    item TEXT NOT NULL,
    reason TEXT NOT NULL,
    request_event_id TEXT,
    state TEXT NOT NULL,                -- recorded | passed_on
    received_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS progress (
    request_event_id TEXT NOT NULL,
    status TEXT NOT NULL,
    hub_event_id TEXT NOT NULL,
    recorded_at REAL NOT NULL,
    PRIMARY KEY (request_event_id, status)
);
CREATE TABLE IF NOT EXISTS outgoing (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    hub_event_id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,                 -- progress | issue
    case_id TEXT NOT NULL,
    envelope TEXT NOT NULL,
    state TEXT NOT NULL,                -- pending | published | refused
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS errors (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    occurred_at REAL NOT NULL,
    case_id TEXT,
    request_event_id TEXT,
    item TEXT,
    city_code TEXT,
    code TEXT NOT NULL,
    message_zh TEXT NOT NULL,
    message_en TEXT NOT NULL,
    detail TEXT,                        -- masked
    hub_event_id TEXT                   -- the issue event sent to the hub, if a case was known
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

# Progress statuses are the contracts' `progress_status` codes; two are on the way, the rest
# end the item (the contracts may add a final one; a new step on the way needs a rank here).
RECEIVED = contracts.code("progress_status", "received")
IN_PROGRESS = contracts.code("progress_status", "in_progress")
FINAL = frozenset(contracts.codes("progress_status")) - {RECEIVED, IN_PROGRESS}
STATUS_RANK = {RECEIVED: 1, IN_PROGRESS: 2, **{status: 3 for status in FINAL}}


@dataclass
class Request:
    event_id: str
    case_id: str
    item: str
    city_code: str | None
    payload: dict[str, Any] | None
    state: str
    city_reference: str | None
    attempts: int
    last_error: str | None


def _request(row: sqlite3.Row) -> Request:
    return Request(row["event_id"], row["case_id"], row["item"], row["city_code"],
                   json.loads(row["payload"]) if row["payload"] else None, row["state"],
                   row["city_reference"], row["attempts"], row["last_error"])


class State:
    def __init__(self, data_dir: str | Path, clock: Any = time.time) -> None:
        self.dir = Path(data_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = self.dir / "adapter.db"
        self.clock = clock
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """One transaction, committed (durably: synchronous=FULL) before returning."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # ----- requests --------------------------------------------------------------------
    def record_request(self, event_id: str, case_id: str, item: str, city_code: str | None,
                       payload: dict[str, Any]) -> bool:
        """Store a request from the hub once; False if its id was recorded before."""
        with self.tx() as db:
            cur = db.execute(
                "INSERT OR IGNORE INTO requests (event_id, case_id, item, city_code, payload, "
                "state, received_at) VALUES (?, ?, ?, ?, ?, 'pending', ?)",
                (event_id, case_id, item, city_code, json.dumps(payload, ensure_ascii=False),
                 self.clock()))
            return cur.rowcount == 1

    def request(self, event_id: str) -> Request | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM requests WHERE event_id = ?",
                                   (event_id,)).fetchone()
        return _request(row) if row else None

    def request_by_reference(self, reference: str) -> Request | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM requests WHERE city_reference = ?",
                                   (reference,)).fetchone()
        return _request(row) if row else None

    def request_for_item(self, case_id: str, item: str) -> Request | None:
        with self._lock:
            row = self._db.execute(
                "SELECT * FROM requests WHERE case_id = ? AND item = ? "
                "ORDER BY received_at DESC LIMIT 1", (case_id, item)).fetchone()
        return _request(row) if row else None

    def due_requests(self, limit: int = 50) -> list[Request]:
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM requests WHERE state = 'pending' AND next_try_at <= ? "
                "ORDER BY received_at LIMIT ?", (self.clock(), limit)).fetchall()
        return [_request(r) for r in rows]

    def mark_forwarded(self, event_id: str, city_reference: str | None) -> None:
        with self.tx() as db:
            db.execute("UPDATE requests SET state = 'forwarded', city_reference = ?, "
                       "forwarded_at = ?, last_error = NULL WHERE event_id = ?",
                       (city_reference, self.clock(), event_id))

    def requeue(self, event_id: str, error: str) -> bool:
        """Back to pending because the city asked for it again (it did not keep it)."""
        with self.tx() as db:
            cur = db.execute("UPDATE requests SET state = 'pending', last_error = ?, next_try_at "
                             "= ? WHERE event_id = ? AND state = 'forwarded' AND payload IS NOT "
                             "NULL", (error[:2000], self.clock() + 1.0, event_id))
            return cur.rowcount == 1

    def requests_by_reference(self, reference: str) -> list[Request]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM requests WHERE city_reference = ?",
                                    (reference,)).fetchall()
        return [_request(r) for r in rows]

    def requeue_unroutable(self, city_codes: list[str]) -> int:
        """Requests held for an unknown city go out once the routing table knows the city."""
        if not city_codes:
            return 0
        marks = ",".join("?" for _ in city_codes)
        with self.tx() as db:
            cur = db.execute(f"UPDATE requests SET state = 'pending', next_try_at = 0, "
                             f"last_error = NULL WHERE state = 'unroutable' "
                             f"AND city_code IN ({marks})", tuple(city_codes))
            return int(cur.rowcount or 0)

    def mark_request(self, event_id: str, state: str, error: str | None = None) -> None:
        with self.tx() as db:
            db.execute("UPDATE requests SET state = ?, last_error = ? WHERE event_id = ?",
                       (state, error, event_id))

    def retry_later(self, event_id: str, error: str, delay: float) -> int:
        with self.tx() as db:
            db.execute("UPDATE requests SET attempts = attempts + 1, last_error = ?, "
                       "next_try_at = ? WHERE event_id = ?",
                       (error[:2000], self.clock() + delay, event_id))
            row = db.execute("SELECT attempts FROM requests WHERE event_id = ?",
                             (event_id,)).fetchone()
        return int(row["attempts"]) if row else 0

    def forwarded_requests(self) -> list[Request]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM requests WHERE state = 'forwarded'").fetchall()
        return [_request(r) for r in rows]

    def count_requests(self, state: str | None = None) -> int:
        with self._lock:
            if state is None:
                return int(self._db.execute("SELECT count(*) FROM requests").fetchone()[0])
            return int(self._db.execute("SELECT count(*) FROM requests WHERE state = ?",
                                        (state,)).fetchone()[0])

    # ----- cancellations ---------------------------------------------------------------
    def record_cancellation(self, event_id: str, case_id: str, item: str,
                            reason: dict[str, Any], request_event_id: str | None) -> bool:
        with self.tx() as db:
            cur = db.execute(
                "INSERT OR IGNORE INTO cancellations (event_id, case_id, item, reason, "
                "request_event_id, state, received_at) VALUES (?, ?, ?, ?, ?, 'recorded', ?)",
                (event_id, case_id, item, json.dumps(reason, ensure_ascii=False),
                 request_event_id, self.clock()))
            if cur.rowcount == 1 and request_event_id:
                db.execute("UPDATE requests SET state = 'cancelled', payload = NULL "
                           "WHERE event_id = ? AND state = 'pending'", (request_event_id,))
            return cur.rowcount == 1

    def due_cancellations(self) -> list[dict[str, Any]]:
        """Cancellations of forwarded requests not yet passed on to the city."""
        with self._lock:
            rows = self._db.execute(
                "SELECT c.* FROM cancellations c JOIN requests r ON r.event_id = "
                "c.request_event_id WHERE c.state = 'recorded' AND r.state = 'forwarded'"
            ).fetchall()
        return [dict(r) for r in rows]

    def mark_cancellation(self, event_id: str, state: str) -> None:
        with self.tx() as db:
            db.execute("UPDATE cancellations SET state = ? WHERE event_id = ?", (state, event_id))

    def cancellation(self, case_id: str, item: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM cancellations WHERE case_id = ? AND item = ?",
                                   (case_id, item)).fetchone()
        return dict(row) if row else None

    # ----- progress and the outgoing queue ---------------------------------------------
    def progress_statuses(self, request_event_id: str) -> set[str]:
        with self._lock:
            rows = self._db.execute("SELECT status FROM progress WHERE request_event_id = ?",
                                    (request_event_id,)).fetchall()
        return {r["status"] for r in rows}

    def queue_progress(self, request_event_id: str, status: str, case_id: str,
                       envelope: dict[str, Any]) -> bool:
        """Record one progress report and queue its event, atomically; False if already there."""
        with self.tx() as db:
            cur = db.execute("INSERT OR IGNORE INTO progress VALUES (?, ?, ?, ?)",
                             (request_event_id, status, envelope["id"], self.clock()))
            if cur.rowcount != 1:
                return False
            self._queue(db, "progress", case_id, envelope)
            if status in FINAL:
                db.execute("UPDATE requests SET payload = NULL WHERE event_id = ?",
                           (request_event_id,))
            return True

    def record_error(self, *, code: str, message_zh: str, message_en: str, detail: str,
                     case_id: str | None, request_event_id: str | None, item: str | None,
                     city_code: str | None, envelope: dict[str, Any] | None) -> bool:
        """Keep one problem locally and, with a case, queue its issue event; False if known."""
        with self.tx() as db:
            if envelope is not None:
                if db.execute("SELECT 1 FROM outgoing WHERE hub_event_id = ?",
                              (envelope["id"],)).fetchone():
                    return False
                self._queue(db, "issue", case_id or "", envelope)
            elif db.execute("SELECT 1 FROM errors WHERE hub_event_id IS NULL AND code = ? AND "
                            "detail IS ? AND city_code IS ? AND case_id IS ?",
                            (code, detail, city_code, case_id)).fetchone():
                return False  # the same problem found again (each round of polling)
            db.execute(
                "INSERT INTO errors (occurred_at, case_id, request_event_id, item, city_code, "
                "code, message_zh, message_en, detail, hub_event_id) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (self.clock(), case_id, request_event_id, item, city_code, code, message_zh,
                 message_en, detail, envelope["id"] if envelope else None))
            return True

    def _queue(self, db: sqlite3.Connection, kind: str, case_id: str,
               envelope: dict[str, Any]) -> None:
        db.execute("INSERT OR IGNORE INTO outgoing (hub_event_id, kind, case_id, envelope, "
                   "state, created_at) VALUES (?, ?, ?, ?, 'pending', ?)",
                   (envelope["id"], kind, case_id, json.dumps(envelope, ensure_ascii=False),
                    self.clock()))

    def pending_outgoing(self, limit: int = 100) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute("SELECT seq, kind, envelope FROM outgoing WHERE state = "
                                    "'pending' ORDER BY seq LIMIT ?", (limit,)).fetchall()
        return [{"seq": r["seq"], "kind": r["kind"], "envelope": json.loads(r["envelope"])}
                for r in rows]

    def mark_outgoing(self, seq: int, state: str, error: str | None = None) -> None:
        with self.tx() as db:
            db.execute("UPDATE outgoing SET state = ?, attempts = attempts + 1, last_error = ? "
                       "WHERE seq = ?", (state, (error or "")[:2000] or None, seq))

    def outgoing(self, kind: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM outgoing ORDER BY seq").fetchall()
        out = [dict(r) | {"envelope": json.loads(r["envelope"])} for r in rows]
        return [o for o in out if kind is None or o["kind"] == kind]

    def errors(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(r) for r in self._db.execute("SELECT * FROM errors ORDER BY id")]

    # ----- meta ------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return str(row["value"]) if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self.tx() as db:
            db.execute("INSERT INTO meta VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET "
                       "value = excluded.value", (key, value))
