"""Cross-process wake-ups on PostgreSQL (LISTEN/NOTIFY): a commit in one process lets the
delivery workers in every other process push at once instead of on their next tick."""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import psycopg
from sqlalchemy import text
from sqlalchemy.engine import Engine

CHANNEL = "hub_wake"
log = logging.getLogger("hub.notify")


def notify(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        return
    try:
        with engine.connect() as conn:
            conn.execute(text(f"NOTIFY {CHANNEL}"))
            conn.commit()
    except Exception as exc:
        from hub.store.db import OUTAGE, unavailable

        if unavailable(exc):
            OUTAGE.lost(exc)
        else:
            log.warning("NOTIFY failed; workers will push on their next tick", exc_info=True)


class Listener:
    """A thread holding one dedicated connection that LISTENs and calls ``on_wake``."""

    def __init__(self, engine: Engine, on_wake: Callable[[], None]) -> None:
        url = engine.url.set(drivername="postgresql")
        self.dsn = url.render_as_string(hide_password=False)
        self.on_wake = on_wake
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="hub-listen", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.thread.join(3)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with psycopg.connect(self.dsn, autocommit=True) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    while not self._stop.is_set():
                        for _ in conn.notifies(timeout=1.0, stop_after=1):
                            self.on_wake()
            except Exception as exc:
                from hub.store.db import OUTAGE, unavailable

                if unavailable(exc):
                    OUTAGE.lost(exc)  # once per outage, not a traceback a second
                else:
                    log.warning("LISTEN connection lost; reconnecting", exc_info=True)
                self._stop.wait(1.0)
