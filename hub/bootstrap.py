"""The composition root: one place that picks the database, keys and rules for a running hub."""
from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from hub.config import Config
from hub.domain.items import ItemDefinition
from hub.domain.retirement import RetirementRules
from hub.messagelog import appender as message_log
from hub.registry.catalog import Catalog, Snapshot
from hub.security import keys
from hub.security.keyring import HubKey, HubKeyRing
from hub.services.context import Deps
from hub.services.handlers import HANDLERS
from hub.store import migrate
from hub.store.db import make_engine, session_factory
from hub.store.notify import notify
from hub.store.uow import SqlUnitOfWork


@dataclass
class Hub:
    config: Config
    engine: Engine
    sessions: sessionmaker[Session]
    keyring: HubKeyRing
    rules: RetirementRules
    catalog: Catalog
    _wakers: list[Callable[[], None]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _schema_ok: bool = False
    handlers: dict[type[Any], Callable[[Any, SqlUnitOfWork], Any]] = field(default_factory=dict)

    @property
    def deps(self) -> Deps:
        return Deps(snap=self.catalog.snapshot, rules=self.rules,
                    hub_member_id=self.config.hub_member_id,
                    hrss_member_id=self.config.hrss_member_id,
                    inline_receipts=self.config.inline_receipts)

    def uow(self) -> SqlUnitOfWork:
        """A fresh unit of work whose commits wake the workers when they owe a push."""
        return SqlUnitOfWork(self.sessions, after_commit=self.wake)

    def handle(self, command: Any) -> Any:
        """Carry out a command with its handler, in a fresh unit of work."""
        return self.handlers[type(command)](command, self.uow())

    def schema_ready(self) -> bool:
        """Is the database's schema at head? Checked until it is once, then remembered
        (raises if the database cannot be reached)."""
        if not self._schema_ok:
            self._schema_ok = migrate.at_head(self.engine)
        return self._schema_ok

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One unit of work: everything inside commits together or not at all."""
        with self.sessions.begin() as session:
            yield session

    def definitions(self) -> tuple[ItemDefinition, ...]:
        return self.catalog.snapshot().definitions

    def snap(self) -> Snapshot:
        return self.catalog.snapshot()

    def on_commit(self, waker: Callable[[], None]) -> None:
        """Run ``waker`` after every commit that owes a push (see ``hub.store.uow``)."""
        with self._lock:
            self._wakers.append(waker)

    def wake(self) -> None:
        """Called after a commit that created deliveries: workers push right away, those in
        this process directly and those in other processes through NOTIFY (PostgreSQL)."""
        for waker in list(self._wakers):
            waker()
        notify(self.engine)

    @property
    def private_key(self) -> Any:
        """The key signing for the `intl` suite now."""
        return self.keyring.signer("intl").private

    @property
    def keyid(self) -> str:
        return self.keyring.signer("intl").keyid

    def jwks(self) -> dict[str, Any]:
        return self.keyring.jwks()

    def member_suite(self, member_id: str | None) -> str:
        """`sm` for a member whose registered keys include an SM2 key, else `intl`."""
        if member_id is None:
            return "intl"
        suites = {keys.suite_of(pub) for owner, pub in self.snap().keys.values()
                  if owner == member_id}
        return "sm" if "sm" in suites else "intl"

    def signer_for(self, member_id: str | None) -> HubKey:
        """The hub key that signs pushes to a member: its key type decides the algorithm."""
        return self.keyring.signer(self.member_suite(member_id))


class NotInitialised(RuntimeError):
    pass


def bootstrap(config: Config | None = None, *, create: bool = True) -> Hub:
    config = config or Config.from_env()
    if not config.private_key_path.exists():
        raise NotInitialised(
            f"no hub key at {config.private_key_path}: run 'hub init' first")
    engine = make_engine(config.database_url)
    if create:
        migrate.upgrade(engine)  # ``hub serve`` and ``hub worker`` pass create=False
    keyring = HubKeyRing(config.key_dir, distid=config.sm2_distid)
    keyring.refresh(force=True)
    sessions = session_factory(engine)
    message_log.attach(sessions)  # leaves are appended as each transaction commits
    hub = Hub(
        config=config,
        engine=engine,
        sessions=sessions,
        catalog=Catalog(engine),
        keyring=keyring,
        rules=RetirementRules.from_mapping(dict(config.retirement_rules)),
    )
    deps = hub.deps
    hub.handlers = {kind: functools.partial(_bound, handler, deps)
                    for kind, handler in HANDLERS.items()}
    return hub


def _bound(handler: Callable[..., Any], deps: Deps, command: Any, uow: SqlUnitOfWork) -> Any:
    return handler(command, uow, deps)


def init(config: Config) -> tuple[bool, Hub]:
    """Create the database schema and the hub's key pairs (Ed25519 and SM2) if missing;
    idempotent."""
    created = bool(HubKeyRing(config.key_dir, distid=config.sm2_distid).ensure())
    return created, bootstrap(config)
