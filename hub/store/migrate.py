"""Schema changes through Alembic: ``hub db upgrade`` and start-up run the same path.

Migrations run once per start of ``hub serve`` / ``hub worker`` (in the background, waiting for
the database if need be, under an advisory lock so processes starting together queue), never
in a gunicorn worker's boot: those only check that the schema is at head (``at_head``).
"""
from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy.engine import Engine

from hub.store.db import OUTAGE, unavailable

log = logging.getLogger("hub.migrate")

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(engine: Engine) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    cfg = alembic_config(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def current(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def revision(engine: Engine, message: str) -> None:
    """Developers: autogenerate a migration from the models (``hub db revision -m ...``)."""
    cfg = alembic_config(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.revision(cfg, message=message, autogenerate=True)


def head() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config(None)).get_current_head()  # type: ignore[arg-type]


def at_head(engine: Engine) -> bool:
    """Is the schema up to date (raises if the database cannot be reached)?"""
    return current(engine) == head()


def upgrade_when_reachable(engine: Engine, stop: threading.Event | None = None,
                           max_delay_s: float = 5.0) -> bool:
    """Wait for the database with back-off (logged once per outage), then migrate; False if
    stopped first. Any other failure is raised."""
    delay = 0.25
    while stop is None or not stop.is_set():
        try:
            upgrade(engine)
            OUTAGE.back()
            return True
        except Exception as exc:
            if not unavailable(exc):
                raise
            OUTAGE.lost(exc)
        if stop is not None:
            stop.wait(delay)
        else:
            time.sleep(delay)
        delay = min(delay * 2, max_delay_s)
    return False


def upgrade_in_background(engine: Engine) -> threading.Thread:
    """``upgrade_when_reachable`` on a daemon thread, so the process serves (503s) meanwhile."""
    def run() -> None:
        try:
            upgrade_when_reachable(engine)
        except Exception:
            log.exception("schema migration failed; requests answer 503 until it is fixed")

    t = threading.Thread(target=run, name="hub-migrate", daemon=True)
    t.start()
    return t
