"""Scheduled jobs on APScheduler: pushes (woken right after each commit), nonce clean-up."""
from __future__ import annotations

import json
import logging
import threading
import time
from datetime import UTC, datetime
from typing import Any

import requests
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import select

from hub.bootstrap import Hub
from hub.console import supervision
from hub.messagelog import archive as log_archive
from hub.messagelog import checkpoints as log_checkpoints
from hub.registry import calendars
from hub.security.signing import HubAuth
from hub.services import deliveries, members, operations, retry
from hub.store.db import OUTAGE, unavailable
from hub.store.models import Delivery
from hub.store.notify import Listener

log = logging.getLogger("hub.worker")
PUSH_JOB = "push-deliveries"


class Pusher:
    """Signs and POSTs due deliveries; each attempt is recorded whatever happens."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.http = requests.Session()

    def auth_for(self, delivery_id: int, url: str) -> HubAuth:
        """Signed with the hub key of the receiving member's suite, read afresh from the key
        ring each time so that a rotation takes effect without a restart. The member is found
        by its push URL; only when several share one does it cost a lookup."""
        owners = [m.id for m in self.hub.snap().members.values() if m.push_url == url]
        if len(owners) == 1:
            member: str | None = owners[0]
        else:
            with self.hub.transaction() as s:
                member = s.scalar(select(Delivery.member_id).where(Delivery.id == delivery_id))
        key = self.hub.signer_for(member)
        return HubAuth(key.private, key.keyid)

    def push_one(self, delivery_id: int, url: str, event: dict[str, Any],
                 worker_id: str | None = None) -> str:
        body = json.dumps(event, ensure_ascii=False).encode("utf-8")
        headers = {"Content-Type": "application/cloudevents+json",
                   "X-Hub-Delivery": str(delivery_id)}
        started = time.monotonic()
        status: int | None = None
        text: str | None = None
        error: str | None = None
        retry_after: float | None = None
        try:
            resp = self.http.post(url, data=body, headers=headers,
                                  auth=self.auth_for(delivery_id, url),
                                  timeout=self.hub.config.push_timeout_s)
            status, text = resp.status_code, resp.text[:2000]
            retry_after = retry.parse_retry_after(resp.headers.get("Retry-After"),
                                                  datetime.now(UTC))
        except requests.RequestException as exc:
            error = f"{type(exc).__name__}: {exc}"[:2000]
        ms = int((time.monotonic() - started) * 1000)
        state = deliveries.record_attempt(self.hub, delivery_id, status=status, duration_ms=ms,
                                          response=text, error=error, retry_after=retry_after,
                                          worker_id=worker_id)
        log.info("push delivery=%s event=%s status=%s -> %s (%d ms)", delivery_id,
                 event.get("id"), status or error, state, ms)
        return state

    def run_due(self, worker_id: str) -> int:
        n = 0
        while True:
            batch = deliveries.claim_due(self.hub, worker_id)
            for did, url, ev in batch:
                if not deliveries.renew_lease(self.hub, did, worker_id):
                    continue
                self.push_one(did, url, ev, worker_id)
                n += 1
            applied = deliveries.apply_receipts(self.hub)
            if not batch and not applied:
                return n


class Worker:
    """Owns the scheduler; ``wake()`` runs the push job now instead of on the next tick."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.pusher = Pusher(hub)
        self.scheduler = BackgroundScheduler(timezone="UTC")
        self._again = threading.Event()
        self._running = threading.Lock()
        self.worker_id = operations.worker_id()
        self._local = threading.local()
        self._stopping = threading.Event()
        self.listener: Listener | None = None
        # while the database is away every job pauses until then, backing off up to 5 s
        self._paused_until = 0.0
        self._backoff = 0.0

    def _db_ok(self) -> bool:
        """False while paused for a database outage (or before the schema is at head)."""
        if time.monotonic() < self._paused_until:
            return False
        try:
            return self.hub.schema_ready()
        except Exception as exc:  # noqa: BLE001 - sorted by _db_lost
            self._db_lost(exc)
            return False

    def _db_lost(self, exc: BaseException) -> bool:
        """Pause for a database outage (logged once per outage); False for any other error."""
        if not unavailable(exc):
            return False
        OUTAGE.lost(exc)
        self._backoff = min(max(0.25, self._backoff * 2), 5.0)
        self._paused_until = time.monotonic() + self._backoff
        return True

    def _guarded(self, job: Any) -> Any:
        def run() -> None:
            if not self._db_ok():
                return
            try:
                job()
                self._backoff = 0.0
            except Exception as exc:
                if not self._db_lost(exc):
                    raise
        return run

    def start(self) -> None:
        self.scheduler.add_job(self._push_job, "interval", seconds=self.hub.config.worker_poll_s,
                               id=PUSH_JOB, max_instances=1, coalesce=True,
                               next_run_time=datetime.now(UTC))
        # Safe in every process at once: deletes of expired rows and a per-process heartbeat.
        self.scheduler.add_job(self._guarded(lambda: members.purge_nonces(self.hub)), "interval",
                               seconds=60, id="purge-nonces", max_instances=1, coalesce=True)
        self.scheduler.add_job(self._guarded(
                               lambda: operations.heartbeat(self.hub, self.worker_id)), "interval",
                               seconds=max(1.0, self.hub.config.heartbeat_stale_s / 3),
                               id="heartbeat", max_instances=1, coalesce=True,
                               next_run_time=datetime.now(UTC))
        # jobs that touch the database pause with the others while it is away
        self.scheduler.add_job(self._guarded(self._calendar_job), "interval", seconds=600,
                               id="calendar-watch",
                               max_instances=1, coalesce=True,
                               next_run_time=datetime.now(UTC))
        self.scheduler.add_job(self._guarded(lambda: log_checkpoints.tick(self.hub)), "interval",
                               seconds=max(1.0, min(self.hub.config.log_checkpoint_s, 10.0)),
                               id="log-checkpoint", max_instances=1, coalesce=True)
        self.scheduler.add_job(self._guarded(lambda: log_archive.run(self.hub)), "interval",
                               hours=6, id="archive-closed-cases", max_instances=1, coalesce=True)
        # 督办: each level once per item, whichever worker gets there first (see supervision)
        self.scheduler.add_job(self._guarded(lambda: supervision.check_deadlines(self.hub)),
                               "interval", seconds=300, id="deadline-check", max_instances=1,
                               coalesce=True, next_run_time=datetime.now(UTC))
        self.hub.on_commit(self.wake)
        self.scheduler.start()
        if self.hub.engine.dialect.name == "postgresql":
            self.listener = Listener(self.hub.engine, self.wake)
            self.listener.start()

    def _calendar_job(self) -> None:
        calendars.watch(self.hub)

    def stop(self) -> None:
        self._stopping.set()
        if self.listener is not None:
            self.listener.stop()
        self.scheduler.shutdown(wait=True)

    def wake(self) -> None:
        self._again.set()
        if getattr(self._local, "in_job", False) or self._stopping.is_set():
            # The running job goes round again by itself; touching the scheduler from its own
            # thread could deadlock with shutdown(), which holds the job-store lock while it
            # waits for running jobs.
            return
        try:
            self.scheduler.modify_job(PUSH_JOB, next_run_time=datetime.now(UTC))
        except Exception:  # noqa: BLE001, S110 - the scheduler is shutting down; nothing to wake
            pass

    def _push_job(self) -> None:
        # A wake that arrives while a run is in progress makes that run go round once more;
        # one that lands between the last check and the release is caught by the outer loop.
        while not self._stopping.is_set():
            if not self._running.acquire(blocking=False):
                return
            self._local.in_job = True
            try:
                while not self._stopping.is_set():
                    self._again.clear()
                    if not self._db_ok():
                        break
                    try:
                        self.pusher.run_due(self.worker_id)
                        self._backoff = 0.0
                    except Exception as exc:
                        if not self._db_lost(exc):
                            log.exception("push run failed")
                        break
                    if not self._again.is_set():
                        break
            finally:
                self._local.in_job = False
                self._running.release()
            if not self._again.is_set():
                return
