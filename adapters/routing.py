"""The routing table: which city system serves which city code, read from a JSON or TOML file.

One entry per 6-digit city code (行政区划代码). An entry holds the city's name plus whatever its
system's transport needs (`url`, `inbox`, `outbox`, ...). A file may serve several units at once:
keys under a unit's name (`"hpf": {"url": ...}`) override the shared ones for that unit only.

    {"320400": {"name": "常州", "url": "http://127.0.0.1:9001"},
     "320200": {"name": "无锡", "hpf": {"url": "http://..."},
                "health": {"inbox": "...", "outbox": "..."}}}

Adding a city is one more entry: no code changes.
"""
from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CITY_CODE = re.compile(r"^\d{6}$")
UNITS = ("hpf", "medical", "health", "community")


class RoutingError(ValueError):
    """The routing configuration cannot be used (raised at start-up, never mid-flow)."""


@dataclass(frozen=True)
class Route:
    city_code: str
    name: str
    settings: Mapping[str, Any] = field(default_factory=dict)

    def get(self, key: str, default: Any = None) -> Any:
        return self.settings.get(key, default)

    def require(self, key: str) -> Any:
        value = self.settings.get(key)
        if value in (None, ""):
            raise RoutingError(f"city {self.city_code} ({self.name}): '{key}' is not configured")
        return value


class RoutingTable:
    def __init__(self, routes: Iterable[Route]) -> None:
        self._routes = {r.city_code: r for r in routes}

    def __contains__(self, city_code: object) -> bool:
        return city_code in self._routes

    def __iter__(self) -> Iterator[Route]:
        return iter(self._routes.values())

    def __len__(self) -> int:
        return len(self._routes)

    def lookup(self, city_code: str | None) -> Route | None:
        """The route for a city code, or None when no city system is configured for it."""
        return self._routes.get(city_code or "")

    def require(self, keys: Iterable[str]) -> None:
        """Fail at start-up when an entry lacks what this unit's transport needs."""
        for route in self:
            for key in keys:
                route.require(key)

    @classmethod
    def from_mapping(cls, doc: Mapping[str, Any], unit: str | None = None) -> RoutingTable:
        if not isinstance(doc, Mapping):
            raise RoutingError("the routing table must be an object keyed by city code")
        routes = []
        for code, entry in doc.items():
            if not CITY_CODE.match(str(code)):
                raise RoutingError(f"routing key {code!r} is not a 6-digit city code")
            if not isinstance(entry, Mapping):
                raise RoutingError(f"city {code}: the entry must be an object")
            settings = {k: v for k, v in entry.items() if k not in UNITS}
            if unit and isinstance(entry.get(unit), Mapping):
                settings.update(entry[unit])
            elif unit and unit in entry and entry[unit] is None:
                continue  # explicitly not served for this unit
            name = str(settings.pop("name", "") or code)
            routes.append(Route(str(code), name, settings))
        return cls(routes)

    @classmethod
    def load(cls, path: str | Path, unit: str | None = None) -> RoutingTable:
        """Read a `.json` or `.toml` routing file, relative paths resolved against its folder."""
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8-sig")
            doc = tomllib.loads(text) if p.suffix.lower() == ".toml" else json.loads(text)
        except (OSError, ValueError) as exc:
            raise RoutingError(f"cannot read routing table {p}: {exc}") from exc
        table = cls.from_mapping(doc, unit)
        return cls(Route(r.city_code, r.name, _resolve_paths(r.settings, p.parent))
                   for r in table)


_PATH_KEYS = ("inbox", "outbox", "archive", "secret_file")


def _resolve_paths(settings: Mapping[str, Any], base: Path) -> dict[str, Any]:
    out = dict(settings)
    for key in _PATH_KEYS:
        if isinstance(out.get(key), str) and not Path(out[key]).is_absolute():
            out[key] = str(base / out[key])
    return out
