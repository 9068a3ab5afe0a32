"""hub.registry.compat: one test per rule row, the modes, `$ref` resolution and real contracts.

Every row of `compat.TABLE` has a minimal (old, new) pair below. The per-row test checks that
`diff` reports the row's kind with the table's verdict, that a BACKWARD check refuses exactly the
incompatible rows, and that the verdict is *true* of the schemas themselves: for an incompatible
row a witness instance is valid under `old` and refused by `new`; for a compatible row no sample
instance valid under `old` is refused by `new`.
"""
from __future__ import annotations

import copy
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

import contracts
from hub.registry import compat
from hub.registry.compat import MODES, RULES, TABLE, Difference, check, diff

NO_WITNESS = object()
# compatible only by the registries' convention (readers fill in a default), not by validation
BY_CONVENTION = {"REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_CLOSED_CONTENT_MODEL",
                 "REQUIRED_ATTRIBUTE_WITH_DEFAULT_ADDED"}


def closed(props: dict[str, Any], required: list[str] | None = None, **kw: Any) -> dict[str, Any]:
    schema = {"type": "object", "additionalProperties": False, "properties": props, **kw}
    if required:
        schema["required"] = required
    return schema


def opened(props: dict[str, Any], **kw: Any) -> dict[str, Any]:
    return {"type": "object", "properties": props, **kw}


S = {"type": "string"}
S_DEFAULT = {"type": "string", "default": "x"}

# kind -> (old, new, witness valid under old and refused by new, or NO_WITNESS)
EXAMPLES: dict[str, tuple[Any, Any, Any]] = {
    "ID_CHANGED": ({"$id": "https://x.invalid/s/1.json", "type": "string"},
                   {"$id": "https://x.invalid/s/2.json", "type": "string"}, NO_WITNESS),
    "TITLE_CHANGED": ({"title": "甲"}, {"title": "乙"}, NO_WITNESS),
    "DESCRIPTION_CHANGED": ({"description": "a"}, {"description": "b"}, NO_WITNESS),
    "DEFAULT_CHANGED": ({"type": "integer", "default": 1}, {"type": "integer", "default": 2},
                        NO_WITNESS),
    "ANNOTATION_CHANGED": ({"type": "string", "x-labels": {"a": "甲"}},
                           {"type": "string", "x-labels": {"a": "乙"}}, NO_WITNESS),
    "REF_UNRESOLVABLE": (S, {"$ref": "#/$defs/missing"}, NO_WITNESS),
    "SCHEMA_EXTENDED_FROM_FALSE": (opened({"a": False}), opened({"a": S}), NO_WITNESS),
    "SCHEMA_NARROWED_TO_FALSE": (opened({"a": S}), opened({"a": False}), {"a": "x"}),
    "TYPE_WIDENED": ({"type": "integer"}, {"type": "number"}, NO_WITNESS),
    "TYPE_NARROWED": ({"type": "number"}, {"type": "integer"}, 1.5),
    "TYPE_ADDED_TO_LIST": ({"type": "string"}, {"type": ["string", "null"]}, NO_WITNESS),
    "TYPE_REMOVED_FROM_LIST": ({"type": ["string", "null"]}, {"type": "string"}, None),
    "TYPE_CHANGED": ({"type": "string"}, {"type": "integer"}, "a"),
    "TYPE_ADDED": ({}, {"type": "string"}, 1),
    "TYPE_REMOVED": ({"type": "string"}, {}, NO_WITNESS),
    "ENUM_EXTENDED": ({"enum": ["a", "b"]}, {"enum": ["a", "b", "c"]}, NO_WITNESS),
    "ENUM_NARROWED": ({"enum": ["a", "b", "c"]}, {"enum": ["a", "b"]}, "c"),
    "ENUM_CHANGED": ({"enum": ["a", "b"]}, {"enum": ["a", "c"]}, "b"),
    "ENUM_ADDED": (S, {"type": "string", "enum": ["a"]}, "b"),
    "ENUM_REMOVED": ({"type": "string", "enum": ["a"]}, S, NO_WITNESS),
    "CONST_ADDED": ({}, {"const": "a"}, "b"),
    "CONST_REMOVED": ({"const": "a"}, {}, NO_WITNESS),
    "CONST_CHANGED": ({"const": "a"}, {"const": "b"}, "a"),
    "PATTERN_ADDED": (S, {"type": "string", "pattern": "^a"}, "b"),
    "PATTERN_CHANGED": ({"type": "string", "pattern": "^a"},
                        {"type": "string", "pattern": "^b"}, "a"),
    "PATTERN_REMOVED": ({"type": "string", "pattern": "^a"}, S, NO_WITNESS),
    "FORMAT_ADDED": (S, {"type": "string", "format": "date"}, "not a date"),
    "FORMAT_CHANGED": ({"type": "string", "format": "date"},
                       {"type": "string", "format": "email"}, "2024-01-31"),
    "FORMAT_REMOVED": ({"type": "string", "format": "date"}, S, NO_WITNESS),
    "MULTIPLE_OF_ADDED": ({"type": "number"}, {"type": "number", "multipleOf": 2}, 3),
    "MULTIPLE_OF_REMOVED": ({"type": "number", "multipleOf": 2}, {"type": "number"}, NO_WITNESS),
    "MULTIPLE_OF_REDUCED": ({"type": "number", "multipleOf": 0.02},
                            {"type": "number", "multipleOf": 0.01}, NO_WITNESS),
    "MULTIPLE_OF_CHANGED": ({"type": "number", "multipleOf": 4},
                            {"type": "number", "multipleOf": 3}, 4),
    "OPTIONAL_PROPERTY_ADDED_TO_CLOSED_CONTENT_MODEL": (
        closed({"a": S}), closed({"a": S, "b": S}), NO_WITNESS),
    "REQUIRED_PROPERTY_ADDED_TO_CLOSED_CONTENT_MODEL": (
        closed({"a": S}), closed({"a": S, "b": S}, ["b"]), {"a": "x"}),
    "REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_CLOSED_CONTENT_MODEL": (
        closed({"a": S}), closed({"a": S, "b": S_DEFAULT}, ["b"]), NO_WITNESS),
    "PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL": (opened({"a": S}), opened({"a": S, "b": S}), {"b": 1}),
    "PROPERTY_ADDED_COVERED_BY_OPEN_CONTENT_MODEL": (
        opened({"a": S}, additionalProperties=S),
        opened({"a": S, "b": S}, additionalProperties=S), NO_WITNESS),
    "PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL": (
        closed({"a": S, "b": S}), closed({"a": S}), {"b": "x"}),
    "PROPERTY_REMOVED_FROM_OPEN_CONTENT_MODEL": (opened({"a": S, "b": S}), opened({"a": S}),
                                                 NO_WITNESS),
    "PROPERTY_REMOVED_NOT_COVERED_BY_OPEN_CONTENT_MODEL": (
        opened({"a": S, "b": S}, additionalProperties={"type": "integer"}),
        opened({"a": S}, additionalProperties={"type": "integer"}), {"b": "x"}),
    "REQUIRED_ATTRIBUTE_ADDED": (closed({"a": S}), closed({"a": S}, ["a"]), {}),
    "REQUIRED_ATTRIBUTE_WITH_DEFAULT_ADDED": (
        closed({"a": S_DEFAULT}), closed({"a": S_DEFAULT}, ["a"]), NO_WITNESS),
    "REQUIRED_ATTRIBUTE_REMOVED": (closed({"a": S}, ["a"]), closed({"a": S}), NO_WITNESS),
    "ADDITIONAL_PROPERTIES_OPENED": (closed({"a": S}),
                                     opened({"a": S}, additionalProperties=True), NO_WITNESS),
    "ADDITIONAL_PROPERTIES_CLOSED": (opened({"a": S}), closed({"a": S}), {"z": 1}),
    "ADDITIONAL_PROPERTIES_NARROWED": (opened({"a": S}),
                                       opened({"a": S}, additionalProperties=S), {"z": 1}),
    "ADDITIONAL_PROPERTIES_EXTENDED": (opened({"a": S}, additionalProperties=S),
                                       opened({"a": S}), NO_WITNESS),
    "PATTERN_PROPERTY_ADDED": ({"type": "object"},
                               {"type": "object", "patternProperties": {"^x": S}}, {"x1": 1}),
    "PATTERN_PROPERTY_REMOVED": (
        {"type": "object", "patternProperties": {"^x": S}, "additionalProperties": False},
        {"type": "object", "additionalProperties": False}, {"x1": "a"}),
    "UNIQUE_ITEMS_ADDED": ({"type": "array"}, {"type": "array", "uniqueItems": True}, [1, 1]),
    "UNIQUE_ITEMS_REMOVED": ({"type": "array", "uniqueItems": True}, {"type": "array"},
                             NO_WITNESS),
    "ALL_OF_BRANCH_ADDED": ({"allOf": [{"type": "integer"}]},
                            {"allOf": [{"type": "integer"}, {"minimum": 0}]}, -1),
    "ALL_OF_BRANCH_REMOVED": ({"allOf": [{"type": "integer"}, {"minimum": 0}]},
                              {"allOf": [{"type": "integer"}]}, NO_WITNESS),
    "ANY_OF_BRANCH_ADDED": ({"anyOf": [S]}, {"anyOf": [S, {"type": "integer"}]}, NO_WITNESS),
    "ANY_OF_BRANCH_REMOVED": ({"anyOf": [S, {"type": "integer"}]}, {"anyOf": [S]}, 1),
    "ONE_OF_BRANCH_ADDED": ({"oneOf": [S]}, {"oneOf": [S, {"type": "integer"}]}, NO_WITNESS),
    "ONE_OF_BRANCH_REMOVED": ({"oneOf": [S, {"type": "integer"}]}, {"oneOf": [S]}, 1),
    "SUM_TYPE_INTRODUCED": (S, {"type": "string",
                                "anyOf": [{"maxLength": 1}, {"pattern": "^a"}]}, "bc"),
    "SUM_TYPE_INTRODUCED_COVERING_OLD": (S, {"anyOf": [S, {"type": "null"}]}, NO_WITNESS),
    "SUM_TYPE_DROPPED": ({"anyOf": [S, {"type": "null"}]}, {}, NO_WITNESS),
    "NOT_ADDED": ({}, {"not": {"type": "null"}}, None),
    "NOT_REMOVED": ({"not": {"type": "null"}}, {}, NO_WITNESS),
    "NOT_NARROWED": ({"not": {"type": ["null", "string"]}}, {"not": {"type": "null"}},
                     NO_WITNESS),
    "NOT_CHANGED": ({"not": {"type": "null"}}, {"not": {"type": ["null", "string"]}}, "a"),
    "CONDITIONAL_ADDED": ({"type": "object"},
                          {"type": "object", "if": {"required": ["a"]},
                           "then": {"required": ["b"]}}, {"a": 1}),
    "CONDITIONAL_REMOVED": ({"type": "object", "if": {"required": ["a"]},
                             "then": {"required": ["b"]}}, {"type": "object"}, NO_WITNESS),
    "CONDITION_CHANGED": ({"type": "object", "if": {"required": ["a"]},
                           "then": {"required": ["b"]}},
                          {"type": "object", "if": {"required": ["c"]},
                           "then": {"required": ["b"]}}, {"c": 1}),
    "KEYWORD_ADDED": ({}, {"dependentRequired": {"a": ["b"]}}, {"a": 1}),
    "KEYWORD_REMOVED": ({"dependentRequired": {"a": ["b"]}}, {}, NO_WITNESS),
    "KEYWORD_CHANGED": ({"dependentRequired": {"a": ["b"]}},
                        {"dependentRequired": {"a": ["c"]}}, {"a": 1, "b": 1}),
}


def _sized(keyword: str, size: int) -> Any:
    if keyword.endswith("Length"):
        return "x" * size
    if keyword.endswith("Items"):
        return [0] * size
    if keyword.endswith("Properties"):
        return {f"p{i}": 0 for i in range(size)}
    return size


for _kw, (_name, _upper) in compat._BOUND_KEYWORDS.items():  # the same table
    _lo, _hi = 5, 10
    if _upper:
        EXAMPLES[f"{_name}_INCREASED"] = ({_kw: _lo}, {_kw: _hi}, NO_WITNESS)
        EXAMPLES[f"{_name}_REMOVED"] = ({_kw: _lo}, {}, NO_WITNESS)
        EXAMPLES[f"{_name}_DECREASED"] = ({_kw: _hi}, {_kw: _lo}, _sized(_kw, 7))
        EXAMPLES[f"{_name}_ADDED"] = ({}, {_kw: _lo}, _sized(_kw, 7))
    else:
        EXAMPLES[f"{_name}_DECREASED"] = ({_kw: _hi}, {_kw: _lo}, NO_WITNESS)
        EXAMPLES[f"{_name}_REMOVED"] = ({_kw: _lo}, {}, NO_WITNESS)
        EXAMPLES[f"{_name}_INCREASED"] = ({_kw: _lo}, {_kw: _hi}, _sized(_kw, 7))
        EXAMPLES[f"{_name}_ADDED"] = ({}, {_kw: _lo}, _sized(_kw, 3))

# instances tried against every compatible row: none valid under old may be refused by new
POOL: list[Any] = [
    None, True, False, 0, 1, 2, 3, 4, 7, 12, -1, 1.5, 0.02, 0.06, 0.07, "", "a", "b", "c", "bc",
    "abc", "x" * 3, "x" * 7, "x" * 12, "2024-01-31", "a@b.example", [], [0] * 3, [0] * 7,
    [0] * 12, [1, 1], [1, 2], ["a"], {}, {"a": "x"}, {"a": 1}, {"b": "x"}, {"b": 1},
    {"a": "x", "b": "y"}, {"z": 1}, {"z": "x"}, {"x1": "a"}, {"x1": 1}, {"c": 1},
    {"a": 1, "b": 1}, {"a": 1, "c": 1}, *({f"p{i}": 0 for i in range(n)} for n in (3, 7, 12)),
]


def _valid(schema: Any, instance: Any) -> bool:
    registry: Registry = contracts.registry()
    if isinstance(schema, dict) and "$id" in schema:
        registry = registry.with_resource(
            schema["$id"], Resource.from_contents(schema, default_specification=DRAFT202012))
    validator = Draft202012Validator(schema, registry=registry,
                                     format_checker=Draft202012Validator.FORMAT_CHECKER)
    return validator.is_valid(instance)


def _kinds(diffs: list[Difference]) -> list[str]:
    return [d.kind for d in diffs]


# ------------------------------------------------------------------------------------------------
# the table
# ------------------------------------------------------------------------------------------------


def test_every_rule_has_an_example_and_every_example_a_rule() -> None:
    assert sorted(EXAMPLES) == sorted(RULES)
    assert len(RULES) == len(TABLE)


def test_the_rows_the_issue_names_have_the_agreed_verdicts() -> None:
    expected = {
        "OPTIONAL_PROPERTY_ADDED_TO_CLOSED_CONTENT_MODEL": True,
        "PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL": False,
        "REQUIRED_ATTRIBUTE_ADDED": False,
        "REQUIRED_ATTRIBUTE_WITH_DEFAULT_ADDED": True,
        "REQUIRED_ATTRIBUTE_REMOVED": True,
        "TYPE_WIDENED": True, "TYPE_NARROWED": False,
        "ENUM_EXTENDED": True, "ENUM_NARROWED": False,
        "MAX_LENGTH_INCREASED": True, "MAX_LENGTH_DECREASED": False,
        "MIN_LENGTH_DECREASED": True, "MIN_LENGTH_INCREASED": False,
        "PATTERN_ADDED": False, "PATTERN_CHANGED": False, "PATTERN_REMOVED": True,
        "ADDITIONAL_PROPERTIES_OPENED": True, "ADDITIONAL_PROPERTIES_CLOSED": False,
        "ANY_OF_BRANCH_ADDED": True, "ANY_OF_BRANCH_REMOVED": False,
        "UNIQUE_ITEMS_ADDED": False, "MULTIPLE_OF_REDUCED": True, "MULTIPLE_OF_CHANGED": False,
    }
    assert {k: RULES[k].compatible for k in expected} == expected


@pytest.mark.parametrize("rule", TABLE, ids=[r.kind for r in TABLE])
def test_rule(rule: compat.Rule) -> None:
    old, new, witness = EXAMPLES[rule.kind]
    found = diff(old, new)
    hits = [d for d in found if d.kind == rule.kind]
    assert hits, f"{rule.kind} not reported; got {found}"
    assert all(d.compatible is rule.compatible for d in hits)
    assert all(d.path.startswith("$") and d.detail for d in found)
    # the example is minimal: a BACKWARD check refuses it exactly when the row says so
    refused = check("BACKWARD", new, [old])
    assert bool(refused) is (not rule.compatible), refused
    # ... and the verdict holds for the schemas themselves
    if witness is not NO_WITNESS:
        assert not rule.compatible
        assert _valid(old, witness) and not _valid(new, witness)
    elif rule.compatible and rule.kind not in BY_CONVENTION:
        broken = [i for i in POOL if _valid(old, i) and not _valid(new, i)]
        assert not broken, f"valid under old, refused by new: {broken}"
    else:
        assert rule.kind == "REF_UNRESOLVABLE" or rule.kind in BY_CONVENTION


@pytest.mark.parametrize("rule", TABLE, ids=[r.kind for r in TABLE])
def test_forward_is_the_same_table_on_the_swapped_pair(rule: compat.Rule) -> None:
    old, new, _ = EXAMPLES[rule.kind]
    forward = check("FORWARD", new, [old])
    assert _kinds(forward) == [d.kind for d in diff(new, old) if not d.compatible]
    assert all(d.detail.startswith("forward vs version 1: ") for d in forward)


def test_identical_schemas_have_no_difference() -> None:
    for schema in [*(old for old, _, _ in EXAMPLES.values()), *contracts.schemas().values()]:
        assert diff(schema, copy.deepcopy(schema)) == []


def test_paths_quote_names_that_are_not_identifiers() -> None:
    found = diff(closed({"a-b": S, "it's": S}), closed({}))
    assert [d.path for d in found] == ["$.properties['a-b']", "$.properties['it\\'s']"]


def test_difference_is_frozen() -> None:
    d = Difference("ENUM_NARROWED", "$.enum", "removed", False)
    with pytest.raises(AttributeError):
        d.kind = "X"  # type: ignore[misc]


# ------------------------------------------------------------------------------------------------
# direction: the same change judged by BACKWARD and by FORWARD
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("old", "new", "backward_ok", "forward_ok"), [
    # closed model: adding an optional property only breaks old readers
    (closed({"a": S}), closed({"a": S, "b": S}), True, False),
    # closed model: removing an optional property only breaks new readers of old data
    (closed({"a": S, "b": S}), closed({"a": S}), False, True),
    ({"type": "integer"}, {"type": "number"}, True, False),
    ({"enum": ["a", "b"]}, {"enum": ["a"]}, False, True),
    ({"maxLength": 5}, {"maxLength": 10}, True, False),
    ({"title": "甲", "type": "string"}, {"title": "乙", "type": "string"}, True, True),
    ({"enum": ["a", "b"]}, {"enum": ["a", "c"]}, False, False),
])
def test_backward_forward_full(old: Any, new: Any, backward_ok: bool, forward_ok: bool) -> None:
    assert (not check("BACKWARD", new, [old])) is backward_ok
    assert (not check("FORWARD", new, [old])) is forward_ok
    assert (not check("FULL", new, [old])) is (backward_ok and forward_ok)
    assert check("NONE", new, [old]) == []


# A three-version history in which the new version matches the latest one (only its description
# changed) but not the first: v2 dropped property `b` and extended the enum of `a` (registered
# under NONE). Only the transitive checks reach v1.
V1 = closed({"a": {"enum": ["x", "y"]}, "b": S}, description="v1")
V2 = closed({"a": {"enum": ["x", "y", "z"]}}, description="v2")
V3 = closed({"a": {"enum": ["x", "y", "z"]}}, description="v3")


@pytest.mark.parametrize(("mode", "expected"), [
    ("BACKWARD", []),
    ("FORWARD", []),
    ("FULL", []),
    ("NONE", []),
    ("BACKWARD_TRANSITIVE",
     [("PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL", "$.properties.b", "backward vs version 1")]),
    ("FORWARD_TRANSITIVE",
     [("ENUM_NARROWED", "$.properties.a.enum", "forward vs version 1")]),
    ("FULL_TRANSITIVE",
     [("PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL", "$.properties.b", "backward vs version 1"),
      ("ENUM_NARROWED", "$.properties.a.enum", "forward vs version 1")]),
])
def test_modes_on_a_three_version_history(mode: str, expected: list[tuple[str, str, str]]) -> None:
    found = check(mode, V3, [V1, V2])
    assert [(d.kind, d.path, d.detail.split(":")[0]) for d in found] == expected
    assert all(d.compatible is False for d in found)
    assert check(mode.lower(), V3, [V1, V2]) == found


def test_modes_constant_and_errors() -> None:
    assert MODES == ("BACKWARD", "BACKWARD_TRANSITIVE", "FORWARD", "FORWARD_TRANSITIVE", "FULL",
                     "FULL_TRANSITIVE", "NONE")
    assert compat.DEFAULT_MODE == "BACKWARD"
    assert check("FULL_TRANSITIVE", V3, []) == []  # the first version of a subject
    with pytest.raises(ValueError, match="unknown compatibility mode"):
        check("SIDEWAYS", V3, [V1])


# ------------------------------------------------------------------------------------------------
# $ref resolution
# ------------------------------------------------------------------------------------------------


def _with_code(enum: list[str]) -> dict[str, Any]:
    return {
        "$defs": {"code": {"title": "代码", "type": "string", "enum": enum}},
        "type": "object", "additionalProperties": False,
        "properties": {"applicant": {"type": "object", "additionalProperties": False,
                                     "properties": {"kind": {"title": "类别",
                                                             "$ref": "#/$defs/code"}}}},
    }


def test_change_inside_a_local_defs_is_found_where_it_is_used() -> None:
    found = diff(_with_code(["a", "b"]), _with_code(["a"]))
    assert found == [Difference("ENUM_NARROWED", "$.properties.applicant.properties.kind.enum",
                                'removed ["b"]', False)]
    assert diff(_with_code(["a"]), _with_code(["a", "b"]))[0].kind == "ENUM_EXTENDED"


def test_absolute_ref_into_the_codes_contract_is_resolved() -> None:
    sex_ref = {"$ref": "https://contracts.retirement.js.gov.cn/codes/1.json#/$defs/sex"}
    inline = copy.deepcopy(contracts.schema("codes")["$defs"]["sex"])
    old = closed({"sex": sex_ref})
    assert diff(old, closed({"sex": inline})) == []  # resolved, it is the same schema
    inline["enum"] = ["male"]
    found = diff(old, closed({"sex": inline}))
    assert [(d.kind, d.path, d.compatible) for d in found] == [
        ("ENUM_NARROWED", "$.properties.sex.enum", False)]


def test_custom_resolver_and_unresolvable_ref() -> None:
    docs: dict[str, Any] = {"https://x.invalid/a.json": {"$defs": {"n": {"type": "integer"}}},
            "https://x.invalid/b.json": {"$defs": {"n": {"type": "number"}}}}

    def resolve(uri: str) -> Any:
        doc, _, pointer = uri.partition("#")
        node = docs[doc]
        for part in pointer.strip("/").split("/"):
            node = node[part]
        return node

    found = diff({"$ref": "https://x.invalid/a.json#/$defs/n"},
                 {"$ref": "https://x.invalid/b.json#/$defs/n"}, resolve=resolve)
    assert [(d.kind, d.path) for d in found] == [("TYPE_WIDENED", "$.type")]
    missing = diff(S, {"$ref": "https://x.invalid/nowhere.json"}, resolve=resolve)
    assert [(d.kind, d.compatible) for d in missing] == [("REF_UNRESOLVABLE", False)]


def test_recursive_schemas_terminate_and_deep_changes_are_found() -> None:
    def tree(max_length: int) -> dict[str, Any]:
        children = {"type": "array", "items": {"$ref": "#/$defs/node"}}
        return {"$defs": {"node": {"type": "object", "additionalProperties": False,
                                   "properties": {"name": {"type": "string",
                                                           "maxLength": max_length},
                                                  "children": children}}},
                "$ref": "#/$defs/node"}

    assert diff(tree(5), tree(5)) == []
    found = diff(tree(5), tree(3))
    assert [(d.kind, d.path) for d in found] == [("MAX_LENGTH_DECREASED",
                                                  "$.properties.name.maxLength")]


def test_ref_with_assertion_siblings_is_compared_as_all_of() -> None:
    old = {"$defs": {"s": S}, "$ref": "#/$defs/s", "maxLength": 10}
    new = {"$defs": {"s": S}, "$ref": "#/$defs/s", "maxLength": 5}
    assert _kinds(diff(old, new)) == ["MAX_LENGTH_DECREASED"]
    assert _kinds(diff(old, {"$defs": {"s": {"type": "integer"}}, "$ref": "#/$defs/s",
                             "maxLength": 10})) == ["TYPE_CHANGED"]


def test_items_are_compared_recursively() -> None:
    found = diff({"type": "array", "items": {"type": "integer"}},
                 {"type": "array", "items": {"type": "number", "maximum": 9}})
    assert [(d.kind, d.path, d.compatible) for d in found] == [
        ("TYPE_WIDENED", "$.items.type", True), ("MAXIMUM_ADDED", "$.items.maximum", False)]


def test_changed_then_under_the_same_if_is_compared_recursively() -> None:
    old = {"if": {"required": ["a"]}, "then": {"properties": {"b": {"maxLength": 5}}}}
    new = {"if": {"required": ["a"]}, "then": {"properties": {"b": {"maxLength": 3}}}}
    assert [(d.kind, d.path) for d in diff(old, new)] == [
        ("MAX_LENGTH_DECREASED", "$.then.properties.b.maxLength")]


def test_a_branch_edited_in_place_is_compared_recursively() -> None:
    old = {"anyOf": [S, {"type": "integer", "maximum": 10}]}
    new = {"anyOf": [S, {"type": "integer", "maximum": 5}]}
    assert [(d.kind, d.path) for d in diff(old, new)] == [
        ("MAXIMUM_DECREASED", "$.anyOf[1].maximum")]


# ------------------------------------------------------------------------------------------------
# the real progress contract
# ------------------------------------------------------------------------------------------------

PROGRESS_ID = contracts.schema_id("progress")
CODES_ID = contracts.schema_id("codes")
CODES_2 = contracts.schema_id("codes", 2)


@pytest.fixture
def progress() -> dict[str, Any]:
    return contracts.schemas()[PROGRESS_ID]


def _next_version(schema: dict[str, Any]) -> dict[str, Any]:
    new = copy.deepcopy(schema)
    new["$id"] = contracts.schema_id("progress", 2)
    return new


def test_progress_optional_property_added_is_compatible(progress: dict[str, Any]) -> None:
    new = _next_version(progress)
    new["properties"]["channel"] = {"title": "办理渠道", "type": "string", "maxLength": 20}
    found = diff(progress, new)
    assert [(d.kind, d.path, d.compatible) for d in found] == [
        ("ID_CHANGED", "$['$id']", True),
        ("OPTIONAL_PROPERTY_ADDED_TO_CLOSED_CONTENT_MODEL", "$.properties.channel", True)]
    assert check("BACKWARD", new, [progress]) == []
    # an old reader (closed model) refuses data carrying it
    assert _kinds(check("FORWARD", new, [progress])) == [
        "PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL"]


def test_progress_handler_removed_is_incompatible(progress: dict[str, Any]) -> None:
    new = _next_version(progress)
    del new["properties"]["handler"]
    found = check("BACKWARD", new, [progress])
    assert [(d.kind, d.path) for d in found] == [
        ("PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL", "$.properties.handler")]
    assert check("FORWARD", new, [progress]) == []


def test_progress_required_property_without_default_is_incompatible(
        progress: dict[str, Any]) -> None:
    new = _next_version(progress)
    new["properties"]["channel"] = {"title": "办理渠道", "type": "string"}
    new["required"].append("channel")
    assert [(d.kind, d.path) for d in check("BACKWARD", new, [progress])] == [
        ("REQUIRED_PROPERTY_ADDED_TO_CLOSED_CONTENT_MODEL", "$.properties.channel")]
    new["properties"]["channel"]["default"] = "online"
    assert check("BACKWARD", new, [progress]) == []
    # making an existing optional property required is caught too
    newer = _next_version(progress)
    newer["required"].append("handler")
    assert [(d.kind, d.path) for d in check("BACKWARD", newer, [progress])] == [
        ("REQUIRED_ATTRIBUTE_ADDED", "$.properties.handler")]


def _codes_2(progress_status: list[str]) -> dict[str, Any]:
    codes = contracts.schemas()[CODES_ID]
    codes["$id"] = CODES_2
    codes["$defs"]["progress_status"]["enum"] = progress_status
    return codes


def _resolver_with(*docs: dict[str, Any]) -> compat.Resolve:
    registry = contracts.registry().with_resources(
        (d["$id"], Resource.from_contents(d, default_specification=DRAFT202012)) for d in docs)
    resolver = registry.resolver()
    return lambda uri: resolver.lookup(uri).contents


def test_progress_status_enum_narrowed_through_the_codes_ref(progress: dict[str, Any]) -> None:
    new = _next_version(progress)
    new["properties"]["status"]["$ref"] = CODES_2 + "#/$defs/progress_status"
    narrowed = _codes_2(["received", "in_progress", "completed", "not_eligible"])
    found = check("BACKWARD", new, [progress], resolve=_resolver_with(narrowed))
    assert [(d.kind, d.path) for d in found] == [("ENUM_NARROWED", "$.properties.status.enum")]
    assert '"failed"' in found[0].detail

    extended = _codes_2([*contracts.codes("progress_status"), "suspended"])
    resolve = _resolver_with(extended)
    assert check("BACKWARD", new, [progress], resolve=resolve) == []
    assert _kinds(check("FORWARD", new, [progress], resolve=resolve)) == ["ENUM_NARROWED"]


def test_progress_all_four_changes_at_once(progress: dict[str, Any]) -> None:
    new = _next_version(progress)
    new["properties"]["channel"] = {"title": "办理渠道", "type": "string"}
    new["properties"]["office"] = {"title": "经办机构", "type": "string"}
    new["required"].append("office")
    del new["properties"]["handler"]
    new["properties"]["status"]["$ref"] = CODES_2 + "#/$defs/progress_status"
    resolve = _resolver_with(_codes_2(["received", "in_progress", "completed"]))
    found = check("BACKWARD", new, [progress], resolve=resolve)
    assert sorted((d.kind, d.path) for d in found) == [
        ("ENUM_NARROWED", "$.properties.status.enum"),
        ("PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL", "$.properties.handler"),
        ("REQUIRED_PROPERTY_ADDED_TO_CLOSED_CONTENT_MODEL", "$.properties.office"),
    ]
