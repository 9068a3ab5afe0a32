"""Engine and session factory; SQLite gets WAL and a busy timeout, PostgreSQL is used as is.

Also the process's view of database outages: ``unavailable(exc)`` tells an unreachable
database (answer 503, retry later) from a fault of ours, and ``OUTAGE`` logs once when the
database goes away and once when it is back, instead of a traceback per request.
"""
from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger("hub.db")


def unavailable(exc: BaseException) -> bool:
    """Is ``exc`` the database being out of reach (or busy), worth a retry a moment later?"""
    if isinstance(exc, sa_exc.TimeoutError):  # no pooled connection came free in time
        return True
    if isinstance(exc, sa_exc.DBAPIError):
        return bool(exc.connection_invalidated) or isinstance(
            exc, (sa_exc.OperationalError, sa_exc.InterfaceError))
    try:
        import psycopg
    except ImportError:  # pragma: no cover - SQLite-only installs
        return False
    return isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError))


def _reason(exc: BaseException) -> str:
    """A short, data-free account of a connection failure (the driver's first line only)."""
    orig = getattr(exc, "orig", None) or exc
    first = (str(orig).strip().splitlines() or [""])[0]
    return f"{type(orig).__name__}: {first[:160]}"


class Outage:
    """Whether this process last found the database reachable; logs each change once."""

    def __init__(self) -> None:
        self._since: float | None = None
        self._lock = threading.Lock()

    @property
    def down(self) -> bool:
        return self._since is not None

    def lost(self, exc: BaseException) -> None:
        with self._lock:
            if self._since is not None:
                return
            self._since = time.monotonic()
        log.warning("database unavailable (%s): answering 503 and reconnecting with back-off",
                    _reason(exc))

    def back(self) -> None:
        if self._since is None:
            return
        with self._lock:
            since, self._since = self._since, None
        if since is not None:
            log.warning("database reachable again after %.1f s", time.monotonic() - since)


OUTAGE = Outage()



def make_engine(url: str) -> Engine:
    kw: dict[str, Any] = {"future": True, "hide_parameters": True}  # no personal data in logs
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        kw["connect_args"] = {"check_same_thread": False, "timeout": 30}
    else:
        # a pooled connection that died with the database is noticed before use, and a
        # connection attempt to an unreachable server gives up quickly (the caller gets a 503)
        kw["pool_pre_ping"] = True
        kw["pool_timeout"] = 10
        kw["connect_args"] = {"connect_timeout": 5}
    engine = create_engine(url, **kw)

    @event.listens_for(engine, "connect")
    def _reached(_dbapi_conn: Any, _record: Any) -> None:
        OUTAGE.back()

    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            # Take the write lock at BEGIN so concurrent writers queue instead of deadlocking;
            # read-only work (engine.execution_options(read_only=True)) must not wait for it.
            deferred = conn.get_execution_options().get("read_only")
            conn.exec_driver_sql("BEGIN" if deferred else "BEGIN IMMEDIATE")

        # Let SQLAlchemy's "begin" event own the transaction start.
        @event.listens_for(engine, "connect")
        def _no_autobegin(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None

    return engine


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)
