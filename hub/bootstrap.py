"""The composition root: one place that picks the database, keys and rules for a running hub."""
from __future__ import annotations

import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from hub.config import Config
from hub.domain.retirement import RetirementRules
from hub.messagelog import appender as message_log
from hub.registry.catalog import Catalog, Snapshot
from hub.security import keys
from hub.store import migrate
from hub.store.notify import notify
from hub.store.db import make_engine, session_factory


@dataclass
class Hub:
    config: Config
    engine: Engine
    sessions: sessionmaker[Session]
    private_key: Ed25519PrivateKey
    keyid: str
    rules: RetirementRules
    catalog: Catalog
    _wakers: list[Callable[[], None]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One unit of work: everything inside commits together or not at all."""
        with self.sessions.begin() as session:
            yield session

    def definitions(self) -> list[dict[str, Any]]:
        return self.catalog.snapshot().items

    def snap(self) -> Snapshot:
        return self.catalog.snapshot()

    def on_commit(self, waker: Callable[[], None]) -> None:
        with self._lock:
            self._wakers.append(waker)

    def wake(self) -> None:
        """Called after a commit that created deliveries: workers push right away, those in
        this process directly and those in other processes through NOTIFY (PostgreSQL)."""
        for waker in list(self._wakers):
            waker()
        notify(self.engine)

    def jwks(self) -> dict[str, Any]:
        return keys.jwks({self.keyid: self.private_key.public_key()})


class NotInitialised(RuntimeError):
    pass


def bootstrap(config: Config | None = None, *, create: bool = True) -> Hub:
    config = config or Config.from_env()
    if not config.private_key_path.exists():
        raise NotInitialised(
            f"no hub key at {config.private_key_path}: run 'hub init' first")
    engine = make_engine(config.database_url)
    if create:
        migrate.upgrade(engine)
    private = keys.load_private_key(config.private_key_path)
    sessions = session_factory(engine)
    message_log.attach(sessions)  # leaves are appended as each transaction commits
    return Hub(
        config=config,
        engine=engine,
        sessions=sessions,
        catalog=Catalog(engine),
        private_key=private,
        keyid=keys.key_id(private.public_key()),
        rules=RetirementRules.from_mapping(dict(config.retirement_rules)),
    )


def init(config: Config) -> tuple[bool, Hub]:
    """Create the database schema and the hub's key pair if missing; idempotent."""
    created = False
    if not config.private_key_path.exists():
        config.private_key_path.parent.mkdir(parents=True, exist_ok=True)
        keys.write_keypair(config.key_dir, "hub")
        created = True
    return created, bootstrap(config)
