"""What a unit package provides to the engine: its item, its city connector, what answers look like.

A connector speaks one city system's transport (HTTP JSON, SOAP-like XML, batch files); the pure
conversions live in the unit's `convert` module. The engine never sees a city format: it receives
`Answer`s (progress already in contract shape, or a problem) and `Forwarded` outcomes.
"""
from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from adapters.issues import ConversionError, Issue
from adapters.routing import Route, RoutingTable
from adapters.state import Request
from hub.domain.clock import CST as CST  # re-exported: the one clock module
from hub.domain.clock import now_iso as now_iso

if TYPE_CHECKING:
    from flask import Flask

    from adapters.engine import Adapter

# Stable namespace for the adapters' deterministic event ids.
EVENT_NS = uuid.UUID("8a3f6c1e-4b2d-5e7f-9a0b-1c2d3e4f5a6b")


def deterministic_id(*parts: str) -> str:
    return str(uuid.uuid5(EVENT_NS, "|".join(parts)))


# ----- answers from a city, already converted ---------------------------------------------
@dataclass(frozen=True)
class CityProgress:
    """One progress report from a city, in progress-contract shape (without `item`)."""

    data: dict[str, Any]
    request_event_id: str | None = None
    city_reference: str | None = None
    #: the case as the city echoes it (our business serial), checked against the request's case
    case_reference: str | None = None


@dataclass(frozen=True)
class CityProblem:
    """A city answer that cannot be used; `key` makes the same problem found again a duplicate."""

    issue: Issue
    request_event_id: str | None = None
    city_reference: str | None = None
    key: str = ""
    case_reference: str | None = None


@dataclass(frozen=True)
class Resend:
    """The city asks for a request again (a transient failure it did not keep)."""

    request_event_id: str
    detail: str = ""
    city_reference: str | None = None


Answer = CityProgress | CityProblem | Resend


@dataclass
class Forwarded:
    """The city has the request; its synchronous answer, converted."""

    city_reference: str | None = None
    answers: list[Answer] = field(default_factory=list)


class CityUnavailable(Exception):
    """Transient: down, 5xx, timeout. The request stays pending and is retried."""


class CityRejected(Exception):
    """The city refused the request as malformed: retrying the same bytes cannot help."""


class ForeignAnswer(CityUnavailable):
    """A synchronous answer that names another request than the one sent: refused, retried."""


# ----- the connector port ---------------------------------------------------------------------
class CityConnector:
    """One city system's transport. Subclasses override `forward`; the rest is optional."""

    #: routing-table keys every city entry must have for this connector
    needs: tuple[str, ...] = ()

    def validate(self, routes: RoutingTable) -> None:
        """Fail at start-up when a city entry lacks what this transport needs."""
        routes.require(self.needs)

    def forward(self, route: Route, request: Request) -> Forwarded:
        raise NotImplementedError

    def forward_many(self, route: Route,
                     requests: Sequence[Request]) -> dict[str, Forwarded | Exception]:
        """Forward several requests to one city; a batch transport overrides this."""
        out: dict[str, Forwarded | Exception] = {}
        for r in requests:
            try:
                out[r.event_id] = self.forward(route, r)
            except Exception as exc:  # noqa: BLE001 - the engine classifies it
                out[r.event_id] = exc
        return out

    def collect(self, route: Route, open_requests: Sequence[Request]) -> list[Answer]:
        """Answers the city holds for us (result files, poll results); default none."""
        return []

    def collected(self, route: Route) -> None:
        """Called once the answers `collect` returned are durably applied (e.g. archive files)."""

    def cancel(self, route: Route, request: Request, cancellation: dict[str, Any]) -> bool:
        """Pass a cancellation on; False when the city system has no way to take one."""
        return False

    def close(self) -> None:
        pass


@dataclass(frozen=True)
class Unit:
    """A provincial unit: its member id, the item it handles, how to build its connector."""

    name: str
    item: str
    handler: str
    connector: Callable[[dict[str, Any]], CityConnector]
    callback_app: Callable[[Adapter], Flask] | None = None


# ----- small shared conversions ---------------------------------------------------------------
def ym_to_city(value: str) -> str:
    """`2026-10` -> `202610`."""
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", value):
        raise ConversionError(f"not a year-month: {value!r}", "payload_unconvertible")
    return value.replace("-", "")


def ym_from_city(value: str) -> str:
    """`202610` -> `2026-10`."""
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}(0[1-9]|1[0-2])", value):
        raise ConversionError(f"not a YYYYMM month: {value!r}")
    return f"{value[:4]}-{value[4:]}"


def dt_to_city(value: str) -> str:
    """RFC 3339 -> `YYYY-MM-DD HH:MM:SS` in UTC+8."""
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError as exc:
        raise ConversionError(f"not a date-time: {value!r}", "payload_unconvertible") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=CST)
    return parsed.astimezone(CST).strftime("%Y-%m-%d %H:%M:%S")


def dt_from_city(value: str | None) -> str:
    """`YYYY-MM-DD HH:MM:SS` (UTC+8) -> RFC 3339 with +08:00; empty means now."""
    if not value:
        return now_iso()
    try:
        parsed = datetime.strptime(str(value).strip(), "%Y-%m-%d %H:%M:%S").replace(tzinfo=CST)
    except ValueError as exc:
        raise ConversionError(f"not a YYYY-MM-DD HH:MM:SS time: {value!r}") from exc
    return parsed.isoformat(timespec="seconds")


def reason_code(city_code: str, table: dict[str, str], prefix: str) -> str:
    """A city's reason code in the contract's `^[a-z][a-z0-9_]*$` form, via a table or a slug."""
    if city_code in table:
        return table[city_code]
    slug = re.sub(r"[^a-z0-9]+", "_", city_code.lower()).strip("_")
    return f"{prefix}_{slug}"[:64] if slug else prefix


def need(doc: Any, *path: str) -> Any:
    """`doc[path...]`, or a ConversionError naming the missing path (for hub payloads)."""
    cur = doc
    for p in path:
        if not isinstance(cur, dict) or p not in cur:
            raise ConversionError(f"payload lacks {'/'.join(path)}", "payload_unconvertible")
        cur = cur[p]
    return cur
