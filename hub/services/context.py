"""What handlers need besides a unit of work, bound once by ``bootstrap()``."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from hub.domain.retirement import RetirementRules
from hub.store.uow import UnitOfWork

if TYPE_CHECKING:
    from hub.registry.catalog import Snapshot


@dataclass(frozen=True)
class Deps:
    """The catalog (contracts, items, members, calendar) as of now, the retirement rules and
    the hub's own identities."""

    snap: Callable[[], Snapshot]
    rules: RetirementRules
    hub_member_id: str
    hrss_member_id: str
    inline_receipts: int = 20


class Runtime(Protocol):
    """A running hub as handlers see it: fresh units of work and their dependencies."""

    @property
    def deps(self) -> Deps: ...

    def uow(self) -> UnitOfWork: ...

    def handle(self, command: Any) -> Any: ...
