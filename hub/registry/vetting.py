"""What makes a schema safe to hold: one dialect, one base, references inside the registry, and
regular expressions both engines compile and match in linear time.

A schema is run by two engines: jsonschema-rs gives the verdict on every event and the Python
jsonschema explains a refusal. Both must take it, and neither may reach outside the registry
(a ``$ref`` to a URL would be an outside fetch) or backtrack on a pattern. The same checks run
when a version is registered (every problem, with its path) and when a stored one is loaded (a
version that fails is set aside, so only events naming it are refused).
"""
from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any
from urllib.parse import urldefrag, urljoin

import jsonschema_rs
import re2  # type: ignore[import-untyped]

import contracts
from hub.domain.errors import Problem

DIALECT = "https://json-schema.org/draft/2020-12/schema"
MAX_PATTERN = 1000  # characters; the contracts' longest is under 50
# Keywords whose values are data, not schemas: a "$ref" inside a const is just a string.
_DATA_KEYWORDS = frozenset({"const", "enum", "default", "examples", "x-labels"})
_SUBSCHEMA_MAPS = frozenset({"properties", "patternProperties", "$defs", "definitions",
                             "dependentSchemas"})


def _re2_options() -> Any:
    opts = re2.Options()
    opts.log_errors = False
    opts.max_mem = 1 << 20
    return opts


@functools.lru_cache(maxsize=4096)
def linear_regex(pattern: str) -> Any:
    """A compiled RE2 expression (linear-time matching); ``re2.error`` when RE2 can't take it."""
    return re2.compile(pattern, _re2_options())


def rs_validator(schema: dict[str, Any], registry: Any) -> Any:
    """The verdict engine, with linear-time regular expressions and no network."""
    return jsonschema_rs.validator_for(schema, registry=registry, validate_formats=True,
                                       pattern_options=jsonschema_rs.RegexOptions())


def _walk(
    node: Any, path: str = "$", root: bool = True,
) -> Iterator[tuple[str, dict[str, Any], bool]]:
    """Every subschema object with its path; ``root`` is True only for the document itself."""
    if not isinstance(node, dict):
        return
    yield path, node, root
    for key, sub in node.items():
        if key in _DATA_KEYWORDS or key.startswith("x-"):
            continue
        if key in _SUBSCHEMA_MAPS and isinstance(sub, dict):
            for name, child in sub.items():
                yield from _walk(child, f"{path}.{key}['{name}']" if not name.isidentifier()
                                 else f"{path}.{key}.{name}", False)
        elif isinstance(sub, dict):
            yield from _walk(sub, f"{path}.{key}", False)
        elif isinstance(sub, list):
            for i, child in enumerate(sub):
                yield from _walk(child, f"{path}.{key}[{i}]", False)


def _problem(code: str, path: str, en: str, zh: str) -> Problem:
    return Problem(code, path, en, zh)


def static_problems(schema_id: str, schema: dict[str, Any], known: set[str]) -> list[Problem]:
    """Checks that need no engine: dialect, base, where references point, regular expressions.

    ``known`` holds the ``$id`` of every schema a reference may name (this one included).
    """
    found: list[Problem] = []
    dialect = schema.get("$schema")
    if dialect is not None and (not isinstance(dialect, str) or dialect.rstrip("#") != DIALECT):
        found.append(_problem("schema_dialect", "$.$schema",
                              f"only JSON Schema 2020-12 ({DIALECT}) is accepted",
                              "只接受 JSON Schema 2020-12 方言"))
    for path, node, root in _walk(schema):
        if not root and isinstance(node.get("$id"), str):
            found.append(_problem("schema_nested_id", f"{path}.$id",
                                  "a nested $id would re-base the references below it",
                                  "不允许嵌套 $id（会改变其下引用的基准地址）"))
        if not root and "$schema" in node:
            found.append(_problem("schema_dialect", f"{path}.$schema",
                                  "$schema is allowed only at the top", "只允许在顶层声明 $schema"))
        for keyword in ("$ref", "$dynamicRef"):
            ref = node.get(keyword)
            if ref is None:
                continue
            target = urldefrag(urljoin(schema_id, ref))[0] if isinstance(ref, str) else None
            if target is None or target not in known:
                found.append(_problem("ref_unresolvable", f"{path}.{keyword}",
                                      f"{keyword} {str(ref)[:200]} does not name a contract in "
                                      "this registry", f"{keyword} 未指向本平台已登记的数据合同"))
        patterns = []
        if isinstance(node.get("pattern"), str):
            patterns.append((f"{path}.pattern", node["pattern"]))
        if isinstance(node.get("patternProperties"), dict):
            patterns += [(f"{path}.patternProperties", p) for p in node["patternProperties"]]
        for where, pattern in patterns:
            reason = _regex_problem(pattern)
            if reason:
                found.append(_problem("schema_pattern", where,
                                      f"pattern {pattern[:100]!r} {reason}",
                                      "正则表达式无效或无法以线性时间匹配（不支持回溯引用、环视等）"))
    return found


def _regex_problem(pattern: str) -> str | None:
    if len(pattern) > MAX_PATTERN:
        return f"is longer than {MAX_PATTERN} characters"
    try:
        linear_regex(pattern)
    except re2.error as exc:
        return f"is not a linear-time regular expression: {exc}"
    try:
        rs_validator({"type": "string", "pattern": pattern}, None)
    except (ValueError, jsonschema_rs.ValidationError) as exc:
        return f"is not accepted by the validation engine: {str(exc)[:200]}"
    return None


def engine_problems(schema: dict[str, Any], rs_registry: Any, explainer: Any) -> list[Problem]:
    """Both engines compile the schema and run it without error."""
    try:
        rs_validator(schema, rs_registry).is_valid({})
    except Exception as exc:  # noqa: BLE001 - whatever the engine raises, the schema is unfit
        return [_problem("schema_uncompilable", "$", f"jsonschema-rs can't compile the schema: "
                         f"{str(exc)[:300]}", "验证引擎无法编译该数据合同")]
    try:
        samples: tuple[Any, ...] = ({}, [], "", 0, None)
        for sample in samples:
            list(explainer.iter_errors(sample))
    except Exception as exc:  # noqa: BLE001
        return [_problem("schema_uncompilable", "$", f"jsonschema can't run the schema: "
                         f"{str(exc)[:300]}", "验证引擎无法运行该数据合同")]
    return []


def contract_ids(ids: Any) -> set[str]:
    """The ids references may name: contracts only, never anything outside their space."""
    return {i for i in ids if isinstance(i, str) and i.startswith(contracts.BASE)}
