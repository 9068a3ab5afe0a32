"""Alembic environment: runs on the connection the hub hands over (see hub/store/migrate.py)."""
from __future__ import annotations

from alembic import context
from sqlalchemy import text

import hub.messagelog.tables  # noqa: F401 - the log tables belong to the same metadata
from hub.store.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    connection = config.attributes["connection"]
    context.configure(connection=connection, target_metadata=target_metadata,
                      render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            # Several hub processes may start together: one migrates, the others wait.
            connection.execute(text("SELECT pg_advisory_xact_lock(74201125)"))
        context.run_migrations()


if context.is_offline_mode():  # pragma: no cover
    raise SystemExit("offline migrations are not supported; run 'hub db upgrade'")
run_migrations_online()
