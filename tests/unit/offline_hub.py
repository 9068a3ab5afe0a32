"""A hub's handlers on the in-memory unit of work: the contract files, the default members, no
database and no key file."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import contracts
from hub.config import Config
from hub.domain.retirement import RetirementRules
from hub.registry.catalog import MemberInfo, Snapshot, file_snapshot
from hub.services.context import Deps
from hub.services.handlers import HANDLERS
from hub.store.memory import MemoryStore, MemoryUnitOfWork

CONFIG = Config()
HUB = CONFIG.hub_member_id
DEPARTMENTS = ("community", "hpf", "medical", "health")


def _member(mid: str, publish: list[str], subscribe: list[str]) -> MemberInfo:
    return MemberInfo(mid, (), frozenset(contracts.event_type(k) for k in publish),
                      frozenset(contracts.event_type(k) for k in subscribe), None)


def default_members() -> dict[str, MemberInfo]:
    """HRSS publishes applications and approvals and hears the merged status; the four
    departments report progress and issues, all pulling."""
    out = {"hrss": _member("hrss", ["application_submitted", "approval_decided"],
                           ["case_status_changed"])}
    for m in DEPARTMENTS:
        out[m] = _member(m, ["item_progressed", "issue_reported"], [])
    return out


@dataclass
class OfflineHub:
    """The ``Runtime`` port over a ``MemoryStore``; counts the post-commit wake-ups."""

    store: MemoryStore = field(default_factory=MemoryStore)
    snapshot: Snapshot = field(default_factory=lambda: file_snapshot(default_members()))
    wakes: int = 0

    @property
    def deps(self) -> Deps:
        return Deps(snap=lambda: self.snapshot,
                    rules=RetirementRules.from_mapping(dict(CONFIG.retirement_rules)),
                    hub_member_id=HUB, hrss_member_id=CONFIG.hrss_member_id)

    def _woken(self) -> None:
        self.wakes += 1

    def uow(self) -> MemoryUnitOfWork:
        return MemoryUnitOfWork(self.store, after_commit=self._woken)

    def handle(self, command: Any) -> Any:
        return HANDLERS[type(command)](command, self.uow(), self.deps)

    def owed(self, member: str) -> list[str]:
        """Event types owed to a member, in feed order, whatever their state."""
        return [d.event.type for d in self.store.deliveries if d.member_id == member]
