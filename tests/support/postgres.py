"""The test PostgreSQL server: where it is, and whether it answers."""
from __future__ import annotations

import os

from sqlalchemy import create_engine, text

PG_URL = os.environ.get("HUB_TEST_POSTGRES_URL",
                        "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def pg_unavailable() -> str | None:
    """Why PostgreSQL cannot be used here, or None when it answers."""
    try:
        eng = create_engine(PG_URL, connect_args={"connect_timeout": 3})
        with eng.connect() as c:
            c.execute(text("SELECT 1"))
        eng.dispose()
        return None
    except Exception as exc:  # noqa: BLE001 - any failure means no server answers
        return f"PostgreSQL not reachable at {PG_URL}: {type(exc).__name__}"
