"""JSON Schema (2020-12) compatibility between contract versions, driven by one rules table.

Pure module: no Flask, no SQLAlchemy, no I/O beyond reading `contracts` for the default `$ref`
resolver.

Vocabulary (the modes of the best-known schema registries):

* BACKWARD: a reader using the *new* schema can read data written with the *latest* previous one.
  Decided by `diff(latest, new)`: every difference whose rule row says "incompatible".
* FORWARD: a reader using the *latest* previous schema can read data written with the *new* one.
  Decided by symmetry, with the same table: `diff(new, latest)`.
* FULL: both. `*_TRANSITIVE`: against every previous version instead of only the latest.
  NONE: no check.

`diff(old, new)` walks both schemas side by side, `$ref`s resolved first (the walk follows the
referring schema, so a change inside a referenced `$defs` entry is reported at the place that uses
it, e.g. `$.properties.status.enum`). Each change it finds has a *kind*; whether that kind is
compatible for a backward reader ("does every instance valid under `old` stay valid under
`new`?") is looked up in `TABLE`, never decided inline. Where a change cannot be decided
(a changed `if`, an unknown keyword changed, an unresolvable `$ref`) the table marks its kind
incompatible: the checker errs on the side of refusing.

Closed content model (`additionalProperties: false`, what every contract here uses) versus open:
in a closed model old data cannot contain an undeclared property, so adding an *optional* property
is backward compatible, while removing one is not (old data may carry it and the new closed model
refuses it). In an open model, an added property is compatible only when its schema accepts
everything the old model allowed under that name (`additionalProperties`/`patternProperties`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from typing import Any, NamedTuple
from urllib.parse import unquote, urldefrag, urljoin

from hub.domain.projection import unescape

__all__ = [
    "DEFAULT_MODE",
    "MODES",
    "RULES",
    "TABLE",
    "Difference",
    "Rule",
    "check",
    "diff",
    "is_compatible",
]

MODES = (
    "BACKWARD",
    "BACKWARD_TRANSITIVE",
    "FORWARD",
    "FORWARD_TRANSITIVE",
    "FULL",
    "FULL_TRANSITIVE",
    "NONE",
)
DEFAULT_MODE = "BACKWARD"

Resolve = Callable[[str], Any]


class Rule(NamedTuple):
    """One row of the rules table."""

    kind: str
    change: str  # what changed (keyword and direction)
    compatible: bool  # compatible for a BACKWARD check: the new reader reads old data
    description: str


@dataclass(frozen=True)
class Difference:
    """One difference between two schema versions.

    `path` is a JSON path in the *schema* (`$.properties.applicant.properties.id_number`),
    `compatible` means compatible for a BACKWARD check (the new reader reads old data).
    """

    kind: str
    path: str
    detail: str
    compatible: bool


def _bounds(name: str, keyword: str, upper: bool) -> list[Rule]:
    loosen, tighten = ("INCREASED", "DECREASED") if upper else ("DECREASED", "INCREASED")
    return [
        Rule(f"{name}_{loosen}", f"{keyword} {loosen.lower()}", True,
             f"`{keyword}` loosened: everything valid before stays valid."),
        Rule(f"{name}_REMOVED", f"{keyword} removed", True,
             f"`{keyword}` dropped: the bound no longer applies."),
        Rule(f"{name}_{tighten}", f"{keyword} {tighten.lower()}", False,
             f"`{keyword}` tightened: old data between the two bounds is refused."),
        Rule(f"{name}_ADDED", f"{keyword} added", False,
             f"`{keyword}` introduced: old data beyond it is refused."),
    ]


# keyword -> (kind prefix, True for an upper bound / False for a lower bound)
_BOUND_KEYWORDS: dict[str, tuple[str, bool]] = {
    "maxLength": ("MAX_LENGTH", True),
    "minLength": ("MIN_LENGTH", False),
    "maxItems": ("MAX_ITEMS", True),
    "minItems": ("MIN_ITEMS", False),
    "maxProperties": ("MAX_PROPERTIES", True),
    "minProperties": ("MIN_PROPERTIES", False),
    "maximum": ("MAXIMUM", True),
    "minimum": ("MINIMUM", False),
    "exclusiveMaximum": ("EXCLUSIVE_MAXIMUM", True),
    "exclusiveMinimum": ("EXCLUSIVE_MINIMUM", False),
}

#: The rules. One row per kind of difference; `compatible` is for BACKWARD (FORWARD applies the
#: same rows to the swapped pair).
TABLE: tuple[Rule, ...] = (
    # -- annotations and identity --------------------------------------------------------------
    Rule("ID_CHANGED", "$id changed", True,
         "Each registered version has its own immutable `$id`; identity is not a constraint."),
    Rule("TITLE_CHANGED", "title changed", True, "Annotation only."),
    Rule("DESCRIPTION_CHANGED", "description changed", True, "Annotation only."),
    Rule("DEFAULT_CHANGED", "default changed", True, "Annotation only (readers fill it in)."),
    Rule("ANNOTATION_CHANGED", "examples/$comment/deprecated/readOnly/writeOnly/x-* changed",
         True, "Annotation only."),
    Rule("REF_UNRESOLVABLE", "$ref cannot be resolved", False,
         "A `$ref` does not resolve, so the change cannot be decided."),
    Rule("SCHEMA_EXTENDED_FROM_FALSE", "false -> any schema", True,
         "The old schema accepted nothing, so there is no old data to refuse."),
    Rule("SCHEMA_NARROWED_TO_FALSE", "schema -> false", False,
         "The new schema accepts nothing."),
    # -- type -----------------------------------------------------------------------------------
    Rule("TYPE_WIDENED", "type integer -> number", True,
         "Every integer is a number."),
    Rule("TYPE_NARROWED", "type number -> integer", False,
         "Old data with fractions is refused."),
    Rule("TYPE_ADDED_TO_LIST", "a type added to the type list", True,
         "The new reader accepts one more JSON type."),
    Rule("TYPE_REMOVED_FROM_LIST", "a type removed from the type list", False,
         "Old data of the removed JSON type is refused."),
    Rule("TYPE_CHANGED", "type changed (neither wider nor narrower)", False,
         "Old data of the old type is refused."),
    Rule("TYPE_ADDED", "type introduced", False, "Old data of any other JSON type is refused."),
    Rule("TYPE_REMOVED", "type dropped", True, "Any JSON type is accepted now."),
    # -- enum / const ---------------------------------------------------------------------------
    Rule("ENUM_EXTENDED", "enum values added", True, "A superset of the old values."),
    Rule("ENUM_NARROWED", "enum values removed", False,
         "Old data holding a removed value is refused."),
    Rule("ENUM_CHANGED", "enum values added and removed", False,
         "Old data holding a removed value is refused."),
    Rule("ENUM_ADDED", "enum introduced", False, "Old data outside the list is refused."),
    Rule("ENUM_REMOVED", "enum dropped", True, "Any value is accepted now."),
    Rule("CONST_ADDED", "const introduced", False, "Old data with another value is refused."),
    Rule("CONST_REMOVED", "const dropped", True, "Any value is accepted now."),
    Rule("CONST_CHANGED", "const changed", False, "Old data with the old value is refused."),
    # -- numeric / length / size bounds ---------------------------------------------------------
    *(row for kw, (name, upper) in _BOUND_KEYWORDS.items() for row in _bounds(name, kw, upper)),
    # -- strings --------------------------------------------------------------------------------
    Rule("PATTERN_ADDED", "pattern introduced", False, "Old strings not matching are refused."),
    Rule("PATTERN_CHANGED", "pattern changed", False,
         "Regex containment is not decided: treated as tightened."),
    Rule("PATTERN_REMOVED", "pattern dropped", True, "Any string is accepted now."),
    Rule("FORMAT_ADDED", "format introduced", False, "Old strings not in the format are refused."),
    Rule("FORMAT_CHANGED", "format changed", False, "Old strings in the old format are refused."),
    Rule("FORMAT_REMOVED", "format dropped", True, "Any string is accepted now."),
    # -- numbers --------------------------------------------------------------------------------
    Rule("MULTIPLE_OF_ADDED", "multipleOf introduced", False,
         "Old numbers off the grid are refused."),
    Rule("MULTIPLE_OF_REMOVED", "multipleOf dropped", True, "Any number is accepted now."),
    Rule("MULTIPLE_OF_REDUCED", "multipleOf changed to a divisor of the old one", True,
         "Every multiple of the old value is a multiple of the new one (0.01 -> 0.001)."),
    Rule("MULTIPLE_OF_CHANGED", "multipleOf changed to a non-divisor", False,
         "Some multiples of the old value are off the new grid."),
    # -- objects: properties and the content model ----------------------------------------------
    Rule("OPTIONAL_PROPERTY_ADDED_TO_CLOSED_CONTENT_MODEL", "optional property added (closed)",
         True, "Old data cannot contain it (the old model was closed)."),
    Rule("REQUIRED_PROPERTY_ADDED_TO_CLOSED_CONTENT_MODEL", "required property added (closed)",
         False, "Old data never has it, and it is required without a default."),
    Rule("REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_CLOSED_CONTENT_MODEL",
         "required property with a default added (closed)", True,
         "Readers fill in the default for old data."),
    Rule("PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL", "property added (open, not covered)", False,
         "Old data may already hold that name with a value the new property schema refuses."),
    Rule("PROPERTY_ADDED_COVERED_BY_OPEN_CONTENT_MODEL", "property added (open, covered)", True,
         "The new property schema accepts whatever the old model allowed under that name."),
    Rule("PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL", "property removed (closed)", False,
         "Old data may contain it and the new closed model refuses it."),
    Rule("PROPERTY_REMOVED_FROM_OPEN_CONTENT_MODEL", "property removed (open, covered)", True,
         "The new model's additionalProperties/patternProperties accept what the property did."),
    Rule("PROPERTY_REMOVED_NOT_COVERED_BY_OPEN_CONTENT_MODEL",
         "property removed (open, not covered)", False,
         "Old values of it are refused by the new additionalProperties/patternProperties."),
    Rule("REQUIRED_ATTRIBUTE_ADDED", "an existing property made required", False,
         "Old data without it is refused (no default)."),
    Rule("REQUIRED_ATTRIBUTE_WITH_DEFAULT_ADDED",
         "an existing property with a default made required", True,
         "Readers fill in the default for old data."),
    Rule("REQUIRED_ATTRIBUTE_REMOVED", "a property no longer required", True,
         "Old data always has it; the new reader also accepts data without it."),
    Rule("ADDITIONAL_PROPERTIES_OPENED", "additionalProperties false -> true/schema", True,
         "Old data has no undeclared properties; the new reader accepts more."),
    Rule("ADDITIONAL_PROPERTIES_CLOSED", "additionalProperties true/schema -> false", False,
         "Old data with undeclared properties is refused."),
    Rule("ADDITIONAL_PROPERTIES_NARROWED", "additionalProperties true -> schema", False,
         "Old undeclared properties may not match the new schema."),
    Rule("ADDITIONAL_PROPERTIES_EXTENDED", "additionalProperties schema -> true", True,
         "Any undeclared property is accepted now."),
    Rule("PATTERN_PROPERTY_ADDED", "patternProperties entry added", False,
         "Old properties matching the new pattern may not match its schema."),
    Rule("PATTERN_PROPERTY_REMOVED", "patternProperties entry removed", False,
         "Names it matched now fall to additionalProperties: not decided, treated as tightened."),
    # -- arrays ---------------------------------------------------------------------------------
    Rule("UNIQUE_ITEMS_ADDED", "uniqueItems false -> true", False,
         "Old arrays with duplicates are refused."),
    Rule("UNIQUE_ITEMS_REMOVED", "uniqueItems true -> false", True, "Duplicates are accepted now."),
    # (items / prefixItems / contains / propertyNames / unevaluated* are compared recursively;
    #  an absent items/propertyNames/unevaluated* counts as `true`.)
    # -- composition ----------------------------------------------------------------------------
    Rule("ALL_OF_BRANCH_ADDED", "allOf branch added", False, "One more constraint to satisfy."),
    Rule("ALL_OF_BRANCH_REMOVED", "allOf branch removed", True, "One constraint fewer."),
    Rule("ANY_OF_BRANCH_ADDED", "anyOf branch added", True, "One more alternative."),
    Rule("ANY_OF_BRANCH_REMOVED", "anyOf branch removed (none covers it)", False,
         "Old data matching only that alternative is refused."),
    Rule("ONE_OF_BRANCH_ADDED", "oneOf branch added", True,
         "One more alternative (assuming the branches stay mutually exclusive)."),
    Rule("ONE_OF_BRANCH_REMOVED", "oneOf branch removed (none covers it)", False,
         "Old data matching only that alternative is refused."),
    Rule("SUM_TYPE_INTRODUCED", "anyOf/oneOf introduced, no branch covers the old schema", False,
         "Old data may match none of the alternatives."),
    Rule("SUM_TYPE_INTRODUCED_COVERING_OLD",
         "anyOf/oneOf introduced, a branch covers the old schema", True,
         "E.g. string -> anyOf[string, null]: old data matches the covering branch."),
    Rule("SUM_TYPE_DROPPED", "anyOf/oneOf dropped", True, "The alternatives no longer constrain."),
    Rule("NOT_ADDED", "not introduced", False, "Old data matching the excluded schema is refused."),
    Rule("NOT_REMOVED", "not dropped", True, "Nothing is excluded now."),
    Rule("NOT_NARROWED", "not: the excluded schema accepts less", True,
         "Fewer values are excluded (compared contravariantly)."),
    Rule("NOT_CHANGED", "not: the excluded schema accepts more or other values", False,
         "Old data may now be excluded."),
    Rule("CONDITIONAL_ADDED", "if/then/else introduced", False,
         "Old data meeting the condition may miss the new consequence."),
    Rule("CONDITIONAL_REMOVED", "if/then/else dropped", True, "The consequence no longer applies."),
    Rule("CONDITION_CHANGED", "if changed", False,
         "Which data the then/else apply to changed: not decided, treated as tightened."),
    # -- anything else --------------------------------------------------------------------------
    Rule("KEYWORD_ADDED", "another assertion keyword introduced", False,
         "An unclassified constraint: treated as tightened."),
    Rule("KEYWORD_REMOVED", "another assertion keyword dropped", True,
         "Dropping a constraint only loosens."),
    Rule("KEYWORD_CHANGED", "another assertion keyword changed", False,
         "An unclassified change: not decided, treated as tightened."),
)

#: kind -> rule
RULES: dict[str, Rule] = {r.kind: r for r in TABLE}
if len(RULES) != len(TABLE):  # pragma: no cover - guards the table itself
    raise RuntimeError("duplicate kinds in the compatibility table")

_ANNOTATION_KINDS = frozenset(
    {"ID_CHANGED", "TITLE_CHANGED", "DESCRIPTION_CHANGED", "DEFAULT_CHANGED", "ANNOTATION_CHANGED"}
)
_ANNOTATION_KEYWORDS = frozenset(
    {"$schema", "$comment", "$anchor", "$dynamicAnchor", "examples", "deprecated", "readOnly",
     "writeOnly", "contentMediaType", "contentEncoding"}
)
_NAMED_ANNOTATIONS = {"$id": "ID_CHANGED", "title": "TITLE_CHANGED",
                      "description": "DESCRIPTION_CHANGED", "default": "DEFAULT_CHANGED"}
# `$ref` siblings that can be merged over the target (no assertion of their own)
_MERGEABLE = frozenset({*_NAMED_ANNOTATIONS, *_ANNOTATION_KEYWORDS, "$defs", "definitions"})
# Subschema keywords compared recursively, where an absent keyword means `true`.
_COVARIANT_DEFAULT_TRUE = ("items", "propertyNames", "unevaluatedProperties", "unevaluatedItems")
_HANDLED = frozenset(
    {"$ref", "$defs", "definitions", "type", "enum", "const", "pattern", "format", "multipleOf",
     "properties", "required", "additionalProperties", "patternProperties", "prefixItems",
     "contains", "uniqueItems", "allOf", "anyOf", "oneOf", "not", "if", "then", "else",
     *_BOUND_KEYWORDS, *_COVARIANT_DEFAULT_TRUE, *_NAMED_ANNOTATIONS, *_ANNOTATION_KEYWORDS}
)
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_OLD_BASE = "https://compat.invalid/old.json"
_NEW_BASE = "https://compat.invalid/new.json"


# ------------------------------------------------------------------------------------------------
# public API
# ------------------------------------------------------------------------------------------------


def diff(old_schema: Any, new_schema: Any, *, resolve: Resolve | None = None) -> list[Difference]:
    """Every difference between two schema versions, each judged for a BACKWARD reader.

    `resolve(uri) -> dict` resolves an absolute `$ref` URI (with fragment) to its schema; local
    refs into `old_schema`/`new_schema` themselves are resolved without it. By default a
    `referencing.Registry` of `contracts.schemas()` plus both schemas is used.
    """
    if resolve is None:
        resolve = _default_resolver(old_schema, new_schema)
    old_side = _Side("old", old_schema, _OLD_BASE, resolve)
    new_side = _Side("new", new_schema, _NEW_BASE, resolve)
    walker = _Walker()
    out: list[Difference] = []
    walker.compare(_Node(old_schema, old_side.base, old_side),
                   _Node(new_schema, new_side.base, new_side), "$", out)
    return out


def check(mode: str, new_schema: Any, previous: list[Any], *,
          resolve: Resolve | None = None) -> list[Difference]:
    """The incompatible differences of `new_schema` under `mode`; `[]` means it may be registered.

    `previous` are the subject's registered versions, oldest first. Each returned difference's
    `detail` starts with the direction and the version (1-based position in `previous`) it was
    found against, e.g. `"backward vs version 2: ..."`.
    """
    mode = mode.upper()
    if mode not in MODES:
        raise ValueError(f"unknown compatibility mode {mode!r}; one of {', '.join(MODES)}")
    if mode == "NONE" or not previous:
        return []
    first = 0 if mode.endswith("_TRANSITIVE") else len(previous) - 1
    base = mode.removesuffix("_TRANSITIVE")
    found: list[Difference] = []
    for index in range(first, len(previous)):
        old = previous[index]
        if base in ("BACKWARD", "FULL"):
            found += _tagged(diff(old, new_schema, resolve=resolve), "backward", index + 1)
        if base in ("FORWARD", "FULL"):
            found += _tagged(diff(new_schema, old, resolve=resolve), "forward", index + 1)
    return found


def is_compatible(mode: str, new_schema: Any, previous: list[Any], *,
                  resolve: Resolve | None = None) -> bool:
    """`True` when `check` finds nothing."""
    return not check(mode, new_schema, previous, resolve=resolve)


def _tagged(diffs: list[Difference], direction: str, version: int) -> list[Difference]:
    return [replace(d, detail=f"{direction} vs version {version}: {d.detail}")
            for d in diffs if not d.compatible]


# ------------------------------------------------------------------------------------------------
# $ref resolution
# ------------------------------------------------------------------------------------------------


def _default_resolver(*schemas: Any) -> Resolve:
    from referencing import Resource
    from referencing.jsonschema import DRAFT202012

    import contracts

    extra = [(urldefrag(s["$id"]).url, Resource.from_contents(s, default_specification=DRAFT202012))
             for s in schemas if isinstance(s, dict) and isinstance(s.get("$id"), str)]
    registry = contracts.registry().with_resources(extra).crawl()
    resolver = registry.resolver()

    def resolve(uri: str) -> Any:
        return resolver.lookup(uri).contents

    return resolve


class _Unresolvable(Exception):
    pass


class _Side:
    """One of the two schemas being compared, with its own base URI for local refs."""

    def __init__(self, name: str, root: Any, fallback_base: str, resolve: Resolve) -> None:
        self.name = name
        self.root = root
        own = root.get("$id") if isinstance(root, dict) else None
        self.base = urldefrag(own).url if isinstance(own, str) and own else fallback_base
        self._resolve = resolve

    def lookup(self, uri: str) -> tuple[Any, str]:
        doc, fragment = urldefrag(uri)
        try:
            if doc == self.base:
                target = _fragment(self.root, fragment)
            else:
                target = self._resolve(uri)
        except Exception as exc:  # any lookup failure means "cannot be decided"
            raise _Unresolvable(f"{uri}: {type(exc).__name__}: {exc}") from exc
        base = doc
        if isinstance(target, dict) and isinstance(target.get("$id"), str):
            base = urldefrag(urljoin(doc, target["$id"])).url
        return target, base


def _fragment(doc: Any, fragment: str) -> Any:
    if fragment == "":
        return doc
    if not fragment.startswith("/"):
        found = _find_anchor(doc, fragment)
        if found is None:
            raise KeyError(f"no $anchor {fragment!r}")
        return found
    node = doc
    for raw in fragment[1:].split("/"):
        part = unescape(unquote(raw))
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def _find_anchor(node: Any, anchor: str) -> Any:
    if isinstance(node, dict):
        if node.get("$anchor") == anchor:
            return node
        children: Any = node.values()
    elif isinstance(node, list):
        children = node
    else:
        return None
    for child in children:
        found = _find_anchor(child, anchor)
        if found is not None:
            return found
    return None


# ------------------------------------------------------------------------------------------------
# the walk
# ------------------------------------------------------------------------------------------------


_Sub = dict[str, Any]  # one subschema object


class _Node(NamedTuple):
    schema: Any
    base: str
    side: _Side


def _key(path: str, keyword: str) -> str:
    if _IDENT.match(keyword):
        return f"{path}.{keyword}"
    quoted = keyword.replace("\\", "\\\\").replace("'", "\\'")
    return f"{path}['{quoted}']"


def _canon(value: Any) -> str:
    def norm(v: Any) -> Any:
        if isinstance(v, float) and v.is_integer():
            return int(v)
        if isinstance(v, dict):
            return {k: norm(x) for k, x in v.items()}
        if isinstance(v, list):
            return [norm(x) for x in v]
        return v

    return json.dumps(norm(value), sort_keys=True, ensure_ascii=False)


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= 120 else text[:117] + "..."


def _types(value: Any) -> set[str]:
    return {value} if isinstance(value, str) else set(value)


def _covers(wide: set[str], narrow: set[str]) -> bool:
    return all(t in wide or (t == "integer" and "number" in wide) for t in narrow)


class _Walker:
    def __init__(self) -> None:
        self._active: set[tuple[Any, ...]] = set()

    # -- helpers --------------------------------------------------------------------------------

    @staticmethod
    def _add(out: list[Difference], kind: str, path: str, detail: str) -> None:
        out.append(Difference(kind, path, detail, RULES[kind].compatible))

    def _sub(self, a: _Node, b: _Node, path: str) -> list[Difference]:
        found: list[Difference] = []
        self.compare(a, b, path, found)
        return found

    def _child(self, node: _Node, schema: Any) -> _Node:
        return _Node(schema, node.base, node.side)

    def _deref(self, node: _Node) -> tuple[_Node, str | None]:
        """Follow `$ref`s. Annotation-only siblings are merged over the target; other siblings
        keep the target as an extra `allOf` branch (2020-12 applies both)."""
        schema, base, side = node
        first: str | None = None
        seen: set[str] = set()
        while isinstance(schema, dict) and isinstance(schema.get("$ref"), str):
            if isinstance(schema.get("$id"), str):
                base = urldefrag(urljoin(base, schema["$id"])).url
            uri = urljoin(base, schema["$ref"])
            if uri in seen:
                raise _Unresolvable(f"{uri}: $ref cycle without any schema in between")
            seen.add(uri)
            siblings = {k: v for k, v in schema.items() if k != "$ref"}
            if any(k not in _MERGEABLE and not k.startswith("x-") for k in siblings):
                schema = {**siblings, "allOf": [*siblings.get("allOf", []), {"$ref": uri}]}
                break
            first = first or uri
            target, base = side.lookup(uri)
            if isinstance(target, bool):
                schema = target
                break
            if not isinstance(target, dict):
                raise _Unresolvable(f"{uri}: not a schema")
            schema = {**target, **{k: v for k, v in siblings.items()
                                   if k not in ("$id", "$defs", "definitions")}}
        if isinstance(schema, dict) and isinstance(schema.get("$id"), str) and first is None:
            base = urldefrag(urljoin(base, schema["$id"])).url
        return _Node(schema, base, side), first

    # -- entry ----------------------------------------------------------------------------------

    def compare(self, a: _Node, b: _Node, path: str, out: list[Difference]) -> None:
        try:
            a, a_ref = self._deref(a)
            b, b_ref = self._deref(b)
        except _Unresolvable as exc:
            self._add(out, "REF_UNRESOLVABLE", path, str(exc))
            return
        key = (a.side.name, a_ref or ("node", id(a.schema)), b.side.name,
               b_ref or ("node", id(b.schema)))
        if (a_ref or b_ref) and key in self._active:
            return  # the same pair is already being compared further up: recursion guard
        old = {} if a.schema is True else a.schema
        new = {} if b.schema is True else b.schema
        if old is False or new is False:
            if old is False and new is not False:
                self._add(out, "SCHEMA_EXTENDED_FROM_FALSE", path, "old schema was `false`")
            elif new is False and old is not False:
                self._add(out, "SCHEMA_NARROWED_TO_FALSE", path, "new schema is `false`")
            return
        if not isinstance(old, dict) or not isinstance(new, dict):
            if _canon(old) != _canon(new):
                self._add(out, "KEYWORD_CHANGED", path, "not a schema object")
            return
        a, b = _Node(old, a.base, a.side), _Node(new, b.base, b.side)
        if a_ref or b_ref:
            self._active.add(key)
        try:
            self._annotations(old, new, path, out)
            self._type(old, new, path, out)
            self._enum_const(old, new, path, out)
            self._bounds(old, new, path, out)
            self._strings_numbers(old, new, path, out)
            self._object(a, b, path, out)
            self._array(a, b, path, out)
            self._composition(a, b, path, out)
            self._not(a, b, path, out)
            self._conditional(a, b, path, out)
            self._others(a, b, path, out)
        finally:
            self._active.discard(key)

    # -- keyword groups -------------------------------------------------------------------------

    def _annotations(self, old: _Sub, new: _Sub, path: str, out: list[Difference]) -> None:
        for keyword, kind in _NAMED_ANNOTATIONS.items():
            if _canon(old.get(keyword)) != _canon(new.get(keyword)):
                self._add(out, kind, _key(path, keyword),
                          f"{_short(old.get(keyword))} -> {_short(new.get(keyword))}")
        changed = sorted(k for k in {*old, *new}
                         if (k in _ANNOTATION_KEYWORDS or k.startswith("x-"))
                         and _canon(old.get(k)) != _canon(new.get(k)))
        if changed:
            self._add(out, "ANNOTATION_CHANGED", path, ", ".join(changed) + " changed")

    def _type(self, old: _Sub, new: _Sub, path: str, out: list[Difference]) -> None:
        p = _key(path, "type")
        if "type" not in old and "type" not in new:
            return
        if "type" not in old:
            self._add(out, "TYPE_ADDED", p, f"type {_short(new['type'])} introduced")
            return
        if "type" not in new:
            self._add(out, "TYPE_REMOVED", p, f"type {_short(old['type'])} dropped")
            return
        o, n = _types(old["type"]), _types(new["type"])
        if o == n:
            return
        wider, narrower = _covers(n, o), _covers(o, n)
        detail = f"{_short(old['type'])} -> {_short(new['type'])}"
        if wider and narrower:
            return  # e.g. ["integer", "number"] -> "number": the same set of values
        if wider:
            kind = "TYPE_WIDENED" if "integer" in o and "number" in n - o else "TYPE_ADDED_TO_LIST"
        elif narrower:
            kind = ("TYPE_NARROWED" if "number" in o - n and "integer" in n
                    else "TYPE_REMOVED_FROM_LIST")
        else:
            kind = "TYPE_CHANGED"
        self._add(out, kind, p, detail)

    def _enum_const(self, old: _Sub, new: _Sub, path: str, out: list[Difference]) -> None:
        o_enum, n_enum = old.get("enum"), new.get("enum")
        o_const, n_const = "const" in old, "const" in new
        # const on one side against enum on the other: compare as value sets
        if o_const and not n_const and n_enum is not None and o_enum is None:
            o_enum, o_const = [old["const"]], False
        elif n_const and not o_const and o_enum is not None and n_enum is None:
            n_enum, n_const = [new["const"]], False
        elif o_const or n_const:
            p = _key(path, "const")
            if not n_const:
                self._add(out, "CONST_REMOVED", p, f"const {_short(old['const'])} dropped")
            elif not o_const:
                self._add(out, "CONST_ADDED", p, f"const {_short(new['const'])} introduced")
            elif _canon(old["const"]) != _canon(new["const"]):
                self._add(out, "CONST_CHANGED", p,
                          f"{_short(old['const'])} -> {_short(new['const'])}")
        if o_enum is None and n_enum is None:
            return
        p = _key(path, "enum")
        if n_enum is None:
            self._add(out, "ENUM_REMOVED", p, f"enum {_short(o_enum)} dropped")
            return
        if o_enum is None:
            self._add(out, "ENUM_ADDED", p, f"enum {_short(n_enum)} introduced")
            return
        o = {_canon(v): v for v in o_enum}
        n = {_canon(v): v for v in n_enum}
        added = [n[k] for k in n if k not in o]
        removed = [o[k] for k in o if k not in n]
        if not added and not removed:
            return
        parts = ([f"added {_short(added)}"] if added else []) + (
            [f"removed {_short(removed)}"] if removed else [])
        kind = "ENUM_CHANGED" if added and removed else (
            "ENUM_EXTENDED" if added else "ENUM_NARROWED")
        self._add(out, kind, p, "; ".join(parts))

    def _bounds(self, old: _Sub, new: _Sub, path: str, out: list[Difference]) -> None:
        for keyword, (name, upper) in _BOUND_KEYWORDS.items():
            o, n = old.get(keyword), new.get(keyword)
            if _canon(o) == _canon(n):
                continue
            p = _key(path, keyword)
            if n is None:
                kind = f"{name}_REMOVED"
            elif o is None:
                kind = f"{name}_ADDED"
            elif (n > o) == upper:
                kind = f"{name}_INCREASED" if upper else f"{name}_DECREASED"
            else:
                kind = f"{name}_DECREASED" if upper else f"{name}_INCREASED"
            self._add(out, kind, p, f"{_short(o)} -> {_short(n)}")

    def _strings_numbers(self, old: _Sub, new: _Sub, path: str, out: list[Difference]) -> None:
        for keyword, prefix in (("pattern", "PATTERN"), ("format", "FORMAT")):
            o, n = old.get(keyword), new.get(keyword)
            if o == n:
                continue
            kind = (f"{prefix}_REMOVED" if n is None else f"{prefix}_ADDED" if o is None
                    else f"{prefix}_CHANGED")
            self._add(out, kind, _key(path, keyword), f"{_short(o)} -> {_short(n)}")
        o, n = old.get("multipleOf"), new.get("multipleOf")
        if _canon(o) != _canon(n):
            if n is None:
                kind = "MULTIPLE_OF_REMOVED"
            elif o is None:
                kind = "MULTIPLE_OF_ADDED"
            else:
                kind = "MULTIPLE_OF_REDUCED" if _divides(n, o) else "MULTIPLE_OF_CHANGED"
            self._add(out, kind, _key(path, "multipleOf"), f"{_short(o)} -> {_short(n)}")

    # -- objects --------------------------------------------------------------------------------

    @staticmethod
    def _allowed(node: _Node, name: str) -> _Node | None:
        """The schema an object applies to property `name` when it is not declared in
        `properties`; `None` when the content model is closed for that name."""
        schema = node.schema
        matching = []
        for pattern, sub in (schema.get("patternProperties") or {}).items():
            try:
                if re.search(pattern, name):
                    matching.append(sub)
            except re.error:
                continue
        if matching:
            return _Node(matching[0] if len(matching) == 1 else {"allOf": matching},
                         node.base, node.side)
        extra = schema.get("additionalProperties", True)
        if extra is False:
            return None
        return _Node(extra, node.base, node.side)

    def _has_default(self, node: _Node) -> bool:
        try:
            resolved, _ = self._deref(node)
        except _Unresolvable:
            return False
        return isinstance(resolved.schema, dict) and "default" in resolved.schema

    def _object(self, a: _Node, b: _Node, path: str, out: list[Difference]) -> None:
        old, new = a.schema, b.schema
        o_props: dict[str, Any] = old.get("properties") or {}
        n_props: dict[str, Any] = new.get("properties") or {}
        o_req, n_req = set(old.get("required") or ()), set(new.get("required") or ())
        folded: set[str] = set()
        for name in [*o_props, *(k for k in n_props if k not in o_props)]:
            p = _key(_key(path, "properties"), name)
            if name in o_props and name in n_props:
                self.compare(self._child(a, o_props[name]), self._child(b, n_props[name]), p, out)
            elif name in n_props:
                allowed = self._allowed(a, name)
                new_prop = self._child(b, n_props[name])
                if allowed is None:
                    if name in n_req and name not in o_req:
                        folded.add(name)
                        kind = ("REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_CLOSED_CONTENT_MODEL"
                                if self._has_default(new_prop)
                                else "REQUIRED_PROPERTY_ADDED_TO_CLOSED_CONTENT_MODEL")
                        self._add(out, kind, p, f"required property {name!r} added")
                    else:
                        self._add(out, "OPTIONAL_PROPERTY_ADDED_TO_CLOSED_CONTENT_MODEL", p,
                                  f"optional property {name!r} added")
                else:
                    inner = [d for d in self._sub(allowed, new_prop, p) if not d.compatible]
                    if inner:
                        self._add(out, "PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL", p,
                                  f"property {name!r} added; under the old open model it was "
                                  f"allowed more widely ({_kinds(inner)})")
                    else:
                        self._add(out, "PROPERTY_ADDED_COVERED_BY_OPEN_CONTENT_MODEL", p,
                                  f"property {name!r} added; accepts what the old model allowed")
            else:
                allowed = self._allowed(b, name)
                if allowed is None:
                    self._add(out, "PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL", p,
                              f"property {name!r} removed; the new closed model refuses it")
                else:
                    inner = [d for d in self._sub(self._child(a, o_props[name]), allowed, p)
                             if not d.compatible]
                    if inner:
                        self._add(out, "PROPERTY_REMOVED_NOT_COVERED_BY_OPEN_CONTENT_MODEL", p,
                                  f"property {name!r} removed; the new model refuses some of its "
                                  f"old values ({_kinds(inner)})")
                    else:
                        self._add(out, "PROPERTY_REMOVED_FROM_OPEN_CONTENT_MODEL", p,
                                  f"property {name!r} removed; the open model still accepts it")
        for name in sorted(n_req - o_req - folded):
            p = _key(_key(path, "properties"), name)
            prop = n_props.get(name)
            with_default = prop is not None and self._has_default(self._child(b, prop))
            self._add(out, "REQUIRED_ATTRIBUTE_WITH_DEFAULT_ADDED" if with_default
                      else "REQUIRED_ATTRIBUTE_ADDED", p, f"{name!r} is now required")
        for name in sorted(o_req - n_req):
            self._add(out, "REQUIRED_ATTRIBUTE_REMOVED", _key(_key(path, "properties"), name),
                      f"{name!r} is no longer required")
        self._additional(a, b, path, out)
        o_pat: dict[str, Any] = old.get("patternProperties") or {}
        n_pat: dict[str, Any] = new.get("patternProperties") or {}
        for pattern in [*o_pat, *(k for k in n_pat if k not in o_pat)]:
            p = _key(_key(path, "patternProperties"), pattern)
            if pattern in o_pat and pattern in n_pat:
                self.compare(self._child(a, o_pat[pattern]), self._child(b, n_pat[pattern]), p, out)
            elif pattern in n_pat:
                self._add(out, "PATTERN_PROPERTY_ADDED", p, f"pattern {pattern!r} added")
            else:
                self._add(out, "PATTERN_PROPERTY_REMOVED", p, f"pattern {pattern!r} removed")

    def _additional(self, a: _Node, b: _Node, path: str, out: list[Difference]) -> None:
        o = a.schema.get("additionalProperties", True)
        n = b.schema.get("additionalProperties", True)
        p = _key(path, "additionalProperties")
        o_open = o is True or o == {}
        n_open = n is True or n == {}
        if o is False and n is not False:
            self._add(out, "ADDITIONAL_PROPERTIES_OPENED", p, f"false -> {_short(n)}")
        elif n is False and o is not False:
            self._add(out, "ADDITIONAL_PROPERTIES_CLOSED", p, f"{_short(o)} -> false")
        elif o is False or (o_open and n_open):
            return
        elif o_open:
            self._add(out, "ADDITIONAL_PROPERTIES_NARROWED", p, f"true -> {_short(n)}")
        elif n_open:
            self._add(out, "ADDITIONAL_PROPERTIES_EXTENDED", p, f"{_short(o)} -> true")
        else:
            self.compare(self._child(a, o), self._child(b, n), p, out)

    # -- arrays ---------------------------------------------------------------------------------

    def _array(self, a: _Node, b: _Node, path: str, out: list[Difference]) -> None:
        old, new = a.schema, b.schema
        o_prefix, n_prefix = old.get("prefixItems") or [], new.get("prefixItems") or []
        for i in range(max(len(o_prefix), len(n_prefix))):
            p = f"{_key(path, 'prefixItems')}[{i}]"
            # a position beyond one side's prefixItems is governed by that side's `items`
            o_sub = o_prefix[i] if i < len(o_prefix) else old.get("items", True)
            n_sub = n_prefix[i] if i < len(n_prefix) else new.get("items", True)
            self.compare(self._child(a, o_sub), self._child(b, n_sub), p, out)
        for keyword in _COVARIANT_DEFAULT_TRUE:
            if keyword in old or keyword in new:
                self.compare(self._child(a, old.get(keyword, True)),
                             self._child(b, new.get(keyword, True)), _key(path, keyword), out)
        if "contains" in old and "contains" in new:
            self.compare(self._child(a, old["contains"]), self._child(b, new["contains"]),
                         _key(path, "contains"), out)
        elif "contains" in new:
            self._add(out, "KEYWORD_ADDED", _key(path, "contains"), "contains introduced")
        elif "contains" in old:
            self._add(out, "KEYWORD_REMOVED", _key(path, "contains"), "contains dropped")
        o_unique, n_unique = bool(old.get("uniqueItems")), bool(new.get("uniqueItems"))
        if n_unique and not o_unique:
            self._add(out, "UNIQUE_ITEMS_ADDED", _key(path, "uniqueItems"), "false -> true")
        elif o_unique and not n_unique:
            self._add(out, "UNIQUE_ITEMS_REMOVED", _key(path, "uniqueItems"), "true -> false")

    # -- composition ----------------------------------------------------------------------------

    def _composition(self, a: _Node, b: _Node, path: str, out: list[Difference]) -> None:
        self._all_of(a, b, path, out)
        for keyword, prefix in (("anyOf", "ANY_OF"), ("oneOf", "ONE_OF")):
            o, n = a.schema.get(keyword), b.schema.get(keyword)
            p = _key(path, keyword)
            if o is None and n is None:
                continue
            if n is None:
                self._add(out, "SUM_TYPE_DROPPED", p, f"{keyword} dropped")
            elif o is None:
                # the old schema as a whole (its other keywords are compared as usual)
                covering = next((i for i, branch in enumerate(n) if not [
                    d for d in self._sub(a, self._child(b, branch), f"{p}[{i}]")
                    if not d.compatible]), None)
                if covering is None:
                    self._add(out, "SUM_TYPE_INTRODUCED", p,
                              f"{keyword} introduced; no branch accepts all old data")
                else:
                    self._add(out, "SUM_TYPE_INTRODUCED_COVERING_OLD", p,
                              f"{keyword} introduced; branch {covering} accepts all old data")
            else:
                self._branches(a, b, o, n, p, prefix, out)

    def _branches(self, a: _Node, b: _Node, o: list[Any], n: list[Any], p: str, prefix: str,
                  out: list[Difference]) -> None:
        """anyOf/oneOf: every old branch must be covered by some new branch."""
        used: set[int] = set()
        unmatched: list[int] = []
        for i, branch in enumerate(o):
            old_branch = self._child(a, branch)
            if i < len(n) and not self._sub(old_branch, self._child(b, n[i]), f"{p}[{i}]"):
                used.add(i)  # identical at the same position
                continue
            for j, candidate in enumerate(n):
                found = self._sub(old_branch, self._child(b, candidate), f"{p}[{j}]")
                if all(d.compatible for d in found):
                    used.add(j)
                    out.extend(found)
                    break
            else:
                unmatched.append(i)
        spare = [j for j in range(len(n)) if j not in used]
        if unmatched and len(unmatched) == len(spare):
            # the same number left on both sides: most likely edited in place
            for i, j in zip(unmatched, spare, strict=True):
                self.compare(self._child(a, o[i]), self._child(b, n[j]), f"{p}[{j}]", out)
            return
        for i in unmatched:
            self._add(out, f"{prefix}_BRANCH_REMOVED", f"{p}[{i}]",
                      f"no new branch accepts all of old branch {i}: {_short(o[i])}")
        for j in spare:
            self._add(out, f"{prefix}_BRANCH_ADDED", f"{p}[{j}]", f"branch added: {_short(n[j])}")

    def _all_of(self, a: _Node, b: _Node, path: str, out: list[Difference]) -> None:
        o, n = a.schema.get("allOf") or [], b.schema.get("allOf") or []
        p = _key(path, "allOf")
        if len(o) == len(n):
            for i in range(len(o)):
                self.compare(self._child(a, o[i]), self._child(b, n[i]), f"{p}[{i}]", out)
            return
        # different lengths: pair identical branches first, then the rest in order
        free = list(range(len(n)))
        unmatched: list[int] = []
        for i, branch in enumerate(o):
            for j in free:
                if not self._sub(self._child(a, branch), self._child(b, n[j]), f"{p}[{j}]"):
                    free.remove(j)
                    break
            else:
                unmatched.append(i)
        pairs = list(zip(unmatched, free, strict=False))  # the extra ones stay unmatched
        for i, j in pairs:
            self.compare(self._child(a, o[i]), self._child(b, n[j]), f"{p}[{j}]", out)
        for i in unmatched[len(pairs):]:
            self._add(out, "ALL_OF_BRANCH_REMOVED", f"{p}[{i}]", f"branch removed: {_short(o[i])}")
        for j in free[len(pairs):]:
            self._add(out, "ALL_OF_BRANCH_ADDED", f"{p}[{j}]", f"branch added: {_short(n[j])}")

    def _not(self, a: _Node, b: _Node, path: str, out: list[Difference]) -> None:
        o, n = a.schema.get("not"), b.schema.get("not")
        p = _key(path, "not")
        if o is None and n is None:
            return
        if n is None:
            self._add(out, "NOT_REMOVED", p, "not dropped")
        elif o is None:
            self._add(out, "NOT_ADDED", p, f"not {_short(n)} introduced")
        else:
            # contravariant: fine when the new excluded set is inside the old excluded set
            inner = self._sub(self._child(b, n), self._child(a, o), p)
            if not inner:
                return
            if all(d.compatible for d in inner):
                self._add(out, "NOT_NARROWED", p, "the excluded schema accepts less")
            else:
                self._add(out, "NOT_CHANGED", p,
                          f"the excluded schema accepts more or other values ({_kinds(inner)})")

    def _conditional(self, a: _Node, b: _Node, path: str, out: list[Difference]) -> None:
        def present(s: dict[str, Any]) -> bool:
            return "if" in s and ("then" in s or "else" in s)

        old, new = a.schema, b.schema
        p = _key(path, "if")
        if not present(old) and not present(new):
            return
        if not present(new):
            self._add(out, "CONDITIONAL_REMOVED", p, "if/then/else dropped")
            return
        if not present(old):
            self._add(out, "CONDITIONAL_ADDED", p, f"if {_short(new['if'])} introduced")
            return
        # the condition must stay the same (up to annotations) for then/else to be comparable
        cond = [d for d in self._sub(self._child(a, old["if"]), self._child(b, new["if"]), p)
                if d.kind not in _ANNOTATION_KINDS]
        if cond:
            self._add(out, "CONDITION_CHANGED", p,
                      f"{_short(old['if'])} -> {_short(new['if'])} ({_kinds(cond)})")
            return
        for keyword in ("then", "else"):
            if keyword in old or keyword in new:
                self.compare(self._child(a, old.get(keyword, True)),
                             self._child(b, new.get(keyword, True)), _key(path, keyword), out)

    def _others(self, a: _Node, b: _Node, path: str, out: list[Difference]) -> None:
        old, new = a.schema, b.schema
        for keyword in [*old, *(k for k in new if k not in old)]:
            if keyword in _HANDLED or keyword.startswith("x-"):
                continue
            p = _key(path, keyword)
            if keyword not in new:
                self._add(out, "KEYWORD_REMOVED", p, f"{keyword} dropped")
            elif keyword not in old:
                self._add(out, "KEYWORD_ADDED", p, f"{keyword} {_short(new[keyword])} introduced")
            elif _canon(old[keyword]) != _canon(new[keyword]):
                self._add(out, "KEYWORD_CHANGED", p,
                          f"{_short(old[keyword])} -> {_short(new[keyword])}")


def _kinds(diffs: list[Difference]) -> str:
    return ", ".join(sorted({f"{d.kind} at {d.path}" for d in diffs}))


def _divides(new: Any, old: Any) -> bool:
    """True when `old` is an integer multiple of `new` (decided in decimal, not float)."""
    try:
        n, o = Decimal(str(new)), Decimal(str(old))
    except InvalidOperation:
        return False
    return n != 0 and o % n == 0
