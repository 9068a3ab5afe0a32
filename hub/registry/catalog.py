"""What the hub currently knows: the contract files plus everything registered at runtime.

Every process keeps a snapshot and reloads it when the registry's audit log has grown, checked
at most once per ``ttl`` seconds (and at once after a change made by this process). Readers get
immutable snapshots, so a registration never changes a request half-way through.
"""
from __future__ import annotations

import copy
import functools
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import jsonschema_rs
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

import contracts
from hub.domain.items import ItemDefinition
from hub.domain.workdays import WorkingCalendar
from hub.security.keys import public_from_pem
from hub.store.calendars import load_calendar
from hub.store.models import (
    ContractStatus,
    ContractVersion,
    ItemDefinitionRow,
    Member,
    MemberKey,
    RegistryAudit,
    SubjectConfig,
)

ACTIVE, DEPRECATED, RETIRED = "active", "deprecated", "retired"
log = logging.getLogger("hub.registry")


def _pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[Any]:
    from jsonschema.exceptions import ValidationError

    from hub.registry.vetting import linear_regex

    if validator.is_type(instance, "string") and not linear_regex(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _pattern_properties(validator: Any, patterns: dict[str, Any], instance: Any, schema: Any
                        ) -> Iterator[Any]:
    from hub.registry.vetting import linear_regex

    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in patterns.items():
        regex = linear_regex(pattern)
        for k, v in instance.items():
            if regex.search(k):
                yield from validator.descend(v, subschema, path=k, schema_path=pattern)


@functools.cache
def explainer_class() -> Any:
    """The contracts' validator with RE2 (linear-time) patterns, so explaining a refusal can't
    backtrack on a registered ``pattern``; the verdict engine uses a linear engine too."""
    from jsonschema import validators

    return validators.extend(contracts.validator_class(),
                             {"pattern": _pattern, "patternProperties": _pattern_properties})


def split_id(schema_id: str) -> tuple[str, int] | None:
    """``…/progress/2.json`` → ("progress", 2); None for an $id outside the contract space."""
    if not schema_id.startswith(contracts.BASE) or not schema_id.endswith(".json"):
        return None
    rest = schema_id[len(contracts.BASE):-len(".json")]
    subject, _, version = rest.rpartition("/")
    if not subject or not (version.isascii() and version.isdigit() and len(version) <= 9):
        return None
    return subject, int(version)


def request_type(code: str) -> str:
    return contracts.request_type(code)


@dataclass(frozen=True)
class MemberInfo:
    id: str
    roles: tuple[str, ...]
    publish: frozenset[str]
    subscribe: frozenset[str]
    push_url: str | None


@dataclass
class Snapshot:
    revision: tuple[int, int]
    schemas: dict[str, dict[str, Any]]
    states: dict[str, str]
    configs: dict[str, str]
    items: list[dict[str, Any]]
    item_versions: dict[str, int]
    events: list[dict[str, Any]]
    members: dict[str, MemberInfo]
    keys: dict[str, tuple[str, Any]]
    registry: Registry = field(repr=False)
    broken: dict[str, str] = field(default_factory=dict)  # stored versions that failed to load
    _validators: dict[str, Any] = field(default_factory=dict, repr=False)
    _fast: dict[str, Any] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    calendar: WorkingCalendar = field(default_factory=WorkingCalendar, repr=False)
    # `items` typed, parsed once here: what the case aggregate reads
    definitions: tuple[ItemDefinition, ...] = ()

    def __post_init__(self) -> None:
        if not self.definitions:
            self.definitions = tuple(ItemDefinition.parse(d) for d in self.items)

    # ----- contracts -------------------------------------------------------------------
    def validator(self, schema_id: str) -> Any:
        with self._lock:
            v = self._validators.get(schema_id)
            if v is None:
                cls = explainer_class()
                v = cls(self.schemas[schema_id], registry=self.registry,
                        format_checker=cls.FORMAT_CHECKER)
                self._validators[schema_id] = v
            return v

    def is_valid(self, schema_id: str, instance: Any) -> bool:
        """The verdict from jsonschema-rs (hundreds of times faster on these contracts);
        ``validator`` (the Python jsonschema) explains a refusal with paths and keywords."""
        with self._lock:
            fast = self._fast.get(schema_id)
            if fast is None:
                from hub.registry.vetting import rs_validator

                if "rs" not in self._fast:
                    self._fast["rs"] = jsonschema_rs.Registry(list(self.schemas.items()))
                fast = rs_validator(self.schemas[schema_id], self._fast["rs"])
                self._fast[schema_id] = fast
        return bool(fast.is_valid(instance))

    def versions(self, subject: str) -> list[int]:
        """Every version number taken, loadable or not (a new one never reuses a number)."""
        return sorted(v for sid in (*self.schemas, *self.broken)
                      if (p := split_id(sid)) and p[0] == subject for v in [p[1]])

    def subjects(self) -> list[str]:
        return sorted({p[0] for sid in (*self.schemas, *self.broken) if (p := split_id(sid))})

    def state(self, schema_id: str) -> str:
        return self.states.get(schema_id, ACTIVE)

    def latest_active(self, subject: str) -> str | None:
        for v in reversed(self.versions(subject)):
            sid = contracts.schema_id(subject, v)
            if self.state(sid) == ACTIVE and sid in self.schemas:
                return sid
        return None

    def compatibility(self, subject: str) -> str:
        return self.configs.get(subject, "BACKWARD")

    # ----- events and items ------------------------------------------------------------
    def event_by_type(self, type_: str) -> dict[str, Any] | None:
        return next((e for e in self.events if e["type"] == type_), None)

    def event_by_key(self, key: str) -> dict[str, Any]:
        return next(e for e in self.events if e["key"] == key)

    def event_type(self, key: str) -> str:
        return str(self.event_by_key(key)["type"])

    def current_schema(self, key: str) -> str:
        """The contract version the hub writes for an event it publishes itself."""
        spec = self.event_by_key(key)
        parts = split_id(spec["dataschema"])
        return (self.latest_active(parts[0]) if parts else None) or spec["dataschema"]

    def item(self, code: str) -> dict[str, Any] | None:
        return next((d for d in self.items if d["code"] == code), None)

    def item_for_request_type(self, type_: str) -> dict[str, Any] | None:
        return next((d for d in self.items if d.get("request_type") == type_), None)


class Catalog:
    def __init__(self, engine: Engine, ttl: float = 1.0) -> None:
        # Read-only: the catalog may be consulted inside a writing transaction of the same
        # thread, so on SQLite it must not queue behind that transaction's write lock.
        self.sessions = sessionmaker(engine.execution_options(read_only=True))
        self.ttl = ttl
        self._snap: Snapshot | None = None
        self._checked = 0.0
        self._lock = threading.Lock()

    def snapshot(self) -> Snapshot:
        now = time.monotonic()
        snap = self._snap
        if snap is not None and now - self._checked < self.ttl:
            return snap
        with self._lock:
            if self._snap is not None and time.monotonic() - self._checked < self.ttl:
                return self._snap
            with self.sessions.begin() as s:
                revision = self._revision(s)
                if self._snap is None or self._snap.revision != revision:
                    self._snap = self._load(s, revision)
            self._checked = time.monotonic()
            return self._snap

    def invalidate(self) -> None:
        with self._lock:
            self._checked = 0.0
            self._snap = None

    @staticmethod
    def _revision(s: Session) -> tuple[int, int]:
        """The audit log's highest id and its row count. The id alone is not enough: ids come
        from a sequence at insert, so on PostgreSQL a change that commits late with a lower id
        would not move the maximum, and the change would stay unseen until the next one."""
        top, count = s.execute(select(func.max(RegistryAudit.id), func.count())
                               .select_from(RegistryAudit)).one()
        return int(top or 0), int(count or 0)

    @staticmethod
    def _load(s: Session, revision: tuple[int, int]) -> Snapshot:
        members = {m.id: MemberInfo(m.id, tuple(m.roles or ()), frozenset(m.publish or ()),
                                    frozenset(m.subscribe or ()), m.push_url)
                   for m in s.scalars(select(Member))}
        member_keys = {k.keyid: (k.member_id, public_from_pem(k.public_key_pem))
                       for k in s.scalars(select(MemberKey).where(MemberKey.revoked_at.is_(None)))}

        schemas = dict(contracts.schemas())
        stored = {row.schema_id: row.schema for row in s.scalars(select(ContractVersion))}
        broken = _set_aside(schemas, stored)
        schemas.update((sid, doc) for sid, doc in stored.items() if sid not in broken)
        states = {r.schema_id: r.state for r in s.scalars(select(ContractStatus))}
        configs = {r.subject: r.compatibility for r in s.scalars(select(SubjectConfig))}

        latest, items, events = _items_and_events(
            (row.code, row.version, row.state, row.definition)
            for row in s.scalars(select(ItemDefinitionRow).order_by(ItemDefinitionRow.version)))
        registry = _registry_of(schemas)
        return Snapshot(revision=revision, schemas=schemas, states=states, configs=configs,
                        items=items, item_versions={c: v for c, (v, _, _) in latest.items()},
                        events=events, members=members, keys=member_keys, registry=registry,
                        calendar=load_calendar(s), broken=broken)


def _items_and_events(rows: Iterator[tuple[str, int, str, dict[str, Any]]]
                      ) -> tuple[dict[str, tuple[int, str, dict[str, Any]]],
                                 list[dict[str, Any]], list[dict[str, Any]]]:
    """The latest version of every item (files, then stored versions in order), the active
    ones in display order, and the event types with the request type of every active item."""
    latest: dict[str, tuple[int, str, dict[str, Any]]] = {
        d["code"]: (1, ACTIVE, d) for d in contracts.items()}
    for code, version, state, definition in rows:
        if code not in latest or version >= latest[code][0]:
            latest[code] = (version, state, definition)
    items = sorted((copy.deepcopy(d) for v, st, d in latest.values() if st == ACTIVE),
                   key=lambda d: (d.get("order", 99), d["code"]))
    events = contracts.events()
    known = {e["type"] for e in events}
    for d in items:
        rt = d.get("request_type")
        if rt and rt not in known:
            events.append({"key": f"{d['code']}_requested", "type": rt,
                           "dataschema": d["payload_contract"], "published_by": "hub",
                           "description_zh": f"枢纽推送关联事项：{d.get('name_zh', d['code'])}",
                           "description_en": f"The hub dispatches linked item {d['code']}"})
            known.add(rt)
    return latest, items, events


def _registry_of(schemas: dict[str, Any]) -> Registry:
    return Registry().with_resources(
        (sid, Resource.from_contents(doc, default_specification=DRAFT202012))
        for sid, doc in schemas.items())


def file_snapshot(members: dict[str, MemberInfo], calendar: WorkingCalendar | None = None
                  ) -> Snapshot:
    """The catalog as the contract files alone define it, with the given members: what a hub
    without a database (unit tests, the in-memory unit of work) runs on."""
    schemas = dict(contracts.schemas())
    latest, items, events = _items_and_events(iter(()))
    return Snapshot(revision=(0, 0), schemas=schemas, states={}, configs={}, items=items,
                    item_versions={c: v for c, (v, _, _) in latest.items()}, events=events,
                    members=members, keys={}, registry=_registry_of(schemas),
                    calendar=calendar or WorkingCalendar())


def _registries(schemas: dict[str, Any]) -> tuple[Any, Registry] | None:
    try:
        return (jsonschema_rs.Registry(list(schemas.items())), Registry().with_resources(
            (k, Resource.from_contents(v, default_specification=DRAFT202012))
            for k, v in schemas.items()))
    except Exception:  # noqa: BLE001 - any engine's refusal means "can't be held"
        return None


def _set_aside(files: dict[str, Any], stored: dict[str, Any]) -> dict[str, str]:
    """Stored versions that can't be loaded, with why; the rest of the registry loads without
    them, so only events naming one of them are refused."""
    from hub.registry.vetting import contract_ids, engine_problems, static_problems

    broken: dict[str, str] = {}
    known = contract_ids([*files, *stored])
    for sid, doc in stored.items():
        if not isinstance(doc, dict) or doc.get("$id") != sid:
            broken[sid] = "the stored document is not a schema with this $id"
            continue
        found = static_problems(sid, doc, known)
        if found:
            broken[sid] = f"{found[0].path}: {found[0].message}"
    changed = True
    while changed:  # a version referring to a broken one is broken too
        changed = False
        good = {**files, **{k: v for k, v in stored.items() if k not in broken}}
        loaded = _registries(good)
        if loaded is None:  # find the stored version the engines can't hold, one by one
            for sid, doc in stored.items():
                if sid not in broken and _registries({**files, sid: doc}) is None:
                    broken[sid] = "$: the validation engines can't load it"
                    changed = True
            continue
        for sid, doc in stored.items():
            if sid in broken:
                continue
            found = engine_problems(doc, loaded[0], explainer_class()(doc, registry=loaded[1]))
            if found:
                broken[sid] = f"{found[0].path}: {found[0].message}"
                changed = True
    for sid, why in broken.items():
        log.error("contract %s can't be loaded and is set aside: %s", sid, why)
    return broken
