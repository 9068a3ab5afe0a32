"""Contracts: JSON Schemas, linked-item definitions and code lists that departments see.

Loading only. Files are read lazily on first use and cached; public functions hand out deep
copies of JSON documents so a caller mutating one cannot corrupt the cache.
"""

from __future__ import annotations

import copy
import json
import re
from datetime import datetime
from decimal import Decimal
from functools import cache, lru_cache
from importlib import resources
from typing import Any

__all__ = [
    "BASE",
    "calendars",
    "codes",
    "event_by_type",
    "event_type",
    "events",
    "example",
    "example_names",
    "item",
    "items",
    "labels",
    "registry",
    "schema",
    "schema_id",
    "schemas",
    "validator",
    "validator_class",
]

BASE = "https://contracts.retirement.js.gov.cn/"
_CODES_ID = BASE + "codes/1.json"
_RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"
)


def _root() -> Any:
    return resources.files(__name__)


def _load(node: Any) -> Any:
    return json.loads(node.read_text(encoding="utf-8"))


def _json_files(node: Any) -> list[Any]:
    return sorted((f for f in node.iterdir() if f.name.endswith(".json")), key=lambda f: f.name)


def schema_id(subject: str, version: int = 1) -> str:
    """The immutable `$id` of a contract."""
    return f"{BASE}{subject}/{version}.json"


@cache
def _schemas() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for subject_dir in sorted(_root().joinpath("schemas").iterdir(), key=lambda d: d.name):
        if not subject_dir.is_dir():
            continue
        for f in _json_files(subject_dir):
            doc = _load(f)
            found[doc["$id"]] = doc
    return found


def schemas() -> dict[str, dict[str, Any]]:
    """Every schema file, keyed by `$id`."""
    return copy.deepcopy(_schemas())


def schema(schema_id_or_subject: str) -> dict[str, Any]:
    """One schema by `$id` (or by subject name, meaning version 1)."""
    return copy.deepcopy(_schemas()[_resolve_id(schema_id_or_subject)])


def _resolve_id(schema_id_or_subject: str) -> str:
    if "://" in schema_id_or_subject:
        return schema_id_or_subject
    return schema_id(schema_id_or_subject)


@cache
def registry() -> Any:
    """A `referencing.Registry` holding every schema, so absolute `$ref`s resolve offline."""
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    return Registry().with_resources(
        (sid, Resource.from_contents(doc, default_specification=DRAFT202012))
        for sid, doc in _schemas().items()
    )


def _is_date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not _RFC3339.match(value):
        return False
    datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    return True


def _multiple_of(validator: Any, d_b: Any, instance: Any, schema: Any) -> Any:
    # jsonschema's float arithmetic rejects e.g. 1079.14 as a multiple of 0.01; decide in decimal.
    from jsonschema.exceptions import ValidationError

    if not validator.is_type(instance, "number"):
        return
    if Decimal(str(instance)) % Decimal(str(d_b)) != 0:
        yield ValidationError(f"{instance!r} is not a multiple of {d_b}")


@cache
def _validator_class() -> Any:
    from jsonschema import Draft202012Validator, FormatChecker, validators

    checker = FormatChecker(formats=())
    checker.checkers = dict(Draft202012Validator.FORMAT_CHECKER.checkers)
    if "date-time" not in checker.checkers:  # rfc3339-validator is an optional extra of jsonschema
        checker.checks("date-time", raises=ValueError)(_is_date_time)
    return validators.extend(
        Draft202012Validator, {"multipleOf": _multiple_of}, format_checker=checker
    )


def validator_class() -> Any:
    """The validator class every contract is checked with (for schemas registered at runtime)."""
    return _validator_class()


def validator(schema_id_or_subject: str) -> Any:
    """A Draft 2020-12 validator for one contract, with format checking and every `$ref` resolvable.

    The class is `Draft202012Validator` extended with a decimal-exact `multipleOf` and an RFC 3339
    `date-time` check; it has the same API (`validate`, `iter_errors`, `is_valid`).
    """
    return _validator(_resolve_id(schema_id_or_subject))


@cache
def _validator(sid: str) -> Any:
    cls = _validator_class()
    return cls(
        _schemas()[sid],
        registry=registry(),
        format_checker=cls.FORMAT_CHECKER,
    )


def _code_def(name: str) -> dict[str, Any]:
    found: dict[str, Any] = _schemas()[_CODES_ID]["$defs"][name]
    return found


def codes(name: str) -> list[str]:
    """The codes of one code list in `codes/1.json`, e.g. `codes("item_state")`."""
    return list(_code_def(name)["enum"])


def code(name: str, value: str) -> str:
    """`value` if the code list `name` holds it, else `KeyError`: a module naming a code
    (`RECEIVED = contracts.code("progress_status", "received")`) fails at import when the
    contracts no longer define it, instead of speaking a word nobody else knows."""
    if value not in _code_def(name)["enum"]:
        raise KeyError(f"{value!r} is not in the {name} code list")
    return value


def labels(name: str) -> dict[str, dict[str, str]]:
    """`{code: {"zh": ..., "en": ...}}` for one code list."""
    return copy.deepcopy(_code_def(name)["x-labels"])


@cache
def _items() -> list[dict[str, Any]]:
    loaded = [_load(f) for f in _json_files(_root().joinpath("items"))]
    return sorted(loaded, key=lambda d: d["order"])


def items() -> list[dict[str, Any]]:
    """Linked-item definitions, in `order`."""
    return copy.deepcopy(_items())


def item(code: str) -> dict[str, Any]:
    """One linked-item definition; `KeyError` for an unknown code."""
    for d in _items():
        if d["code"] == code:
            return copy.deepcopy(d)
    raise KeyError(code)


@cache
def _events() -> list[dict[str, Any]]:
    return list(_load(_root().joinpath("events.json")))


def events() -> list[dict[str, Any]]:
    """Event types: `{key, type, dataschema, published_by, description_zh, description_en}`."""
    return copy.deepcopy(_events())


def event_type(key: str) -> str:
    """The CloudEvents `type` for an event key, e.g. `event_type("approval_decided")`."""
    for e in _events():
        if e["key"] == key:
            return str(e["type"])
    raise KeyError(key)


def event_schema(key: str) -> str:
    """The `dataschema` of an event key's payload."""
    for e in _events():
        if e["key"] == key:
            return str(e["dataschema"])
    raise KeyError(key)


@cache
def _request_type_form() -> str:
    """The form of an item's request event type, read off the shipped definitions (each
    names its item, dashed, in the same place); they must agree on one form."""
    forms: set[str] = {d["request_type"].replace(f".{d['code'].replace('_', '-')}.", ".{item}.", 1)
             for d in _items() if d.get("request_type")}
    if len(forms) != 1 or "{item}" not in next(iter(forms)):
        raise ValueError(f"the shipped items disagree on the request type form: {forms}")
    return forms.pop()


def request_type(item_code: str) -> str:
    """The CloudEvents `type` that carries a linked item's request to its department."""
    return _request_type_form().format(item=item_code.replace("_", "-"))


def event_by_type(type_: str) -> dict[str, Any] | None:
    """The event entry for a CloudEvents `type`, or None if unknown."""
    for e in _events():
        if e["type"] == type_:
            return copy.deepcopy(e)
    return None


@cache
def _examples() -> dict[str, Any]:
    return {f.name[: -len(".json")]: _load(f) for f in _json_files(_root().joinpath("examples"))}


def example_names() -> list[str]:
    """Names of the example documents (file names without `.json`)."""
    return sorted(_examples())


def example(name: str) -> dict[str, Any]:
    """A fresh copy of one example document, e.g. `example("application")`."""
    return copy.deepcopy(_examples()[name])


@lru_cache(maxsize=1)
def _calendars() -> dict[int, dict[str, Any]]:
    node = _root().joinpath("calendars")
    return {int(f.name[:-5]): _load(f) for f in _json_files(node) if f.name[:-5].isdigit()}


def calendars() -> dict[int, dict[str, Any]]:
    """Working calendars shipped with the release, by year, typed from the State Council notices."""
    return copy.deepcopy(_calendars())
