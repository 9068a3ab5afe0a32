"""Strict JSON request bodies: what Python's parser lets through but nothing after it can store.

``json.loads`` accepts ``NaN``/``Infinity``, turns ``1e400`` into infinity, builds integers of
any size, keeps lone surrogates (``"\\ud800"``) and NUL characters, and recurses once per level
of nesting. Each of these would later fail far from the input (digest, database, validators)
as a 5xx; here each is a problem with its JSON path, all found in one linear pass.
"""
from __future__ import annotations

import json
import re
from typing import Any

from hub.domain.errors import DomainError, Problem

MAX_DEPTH = 32  # the deepest contract (a batch of events with nested data) needs under 12
MAX_INT = 2**63 - 1  # what both validators, SQLite and PostgreSQL hold without surprise
MAX_NUMBER_CHARS = 40
MAX_PROBLEMS = 100
_BAD_CHARS = re.compile("[\ud800-\udfff\x00]")
_RISKY_ESCAPE = re.compile(rb"\\u(?:[dD][89a-fA-F]|0000)")


class _Unfit:
    """A number the body spelled that no store or validator here can hold as given."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text[:MAX_NUMBER_CHARS] + ("…" if len(text) > MAX_NUMBER_CHARS else "")


def _int(text: str) -> Any:
    if len(text) > 20:
        return _Unfit(text)
    value = int(text)
    return value if -MAX_INT - 1 <= value <= MAX_INT else _Unfit(text)


def _float(text: str) -> Any:
    if len(text) > 400:
        return _Unfit(text)
    value = float(text)
    return _Unfit(text) if value in (float("inf"), float("-inf")) else value


def _key(path: str, key: str) -> str:
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,63}", key):
        return f"{path}.{key}"
    shown = key[:64].encode("unicode_escape").decode("ascii").replace("'", "\\'")
    return f"{path}['{shown}{'…' if len(key) > 64 else ''}']"


def _bad(code: str, path: str, en: str, zh: str) -> Problem:
    return Problem(code, path, en, zh)


def problems_in(doc: Any, check_chars: bool) -> list[Problem]:
    """Every unfit number, over-deep container and (if asked) bad character, with its path."""
    found: list[Problem] = []
    stack: list[tuple[Any, str, int]] = [(doc, "$", 0)]
    while stack and len(found) <= MAX_PROBLEMS:
        node, path, depth = stack.pop()
        if isinstance(node, (dict, list)):
            if depth >= MAX_DEPTH:
                found.append(_bad("too_deep", path, f"nesting deeper than {MAX_DEPTH} levels",
                                  f"嵌套层级超过 {MAX_DEPTH} 层"))
                continue
            items = node.items() if isinstance(node, dict) else enumerate(node)
            children = []
            for k, v in items:
                child = _key(path, k) if isinstance(k, str) else f"{path}[{k}]"
                if check_chars and isinstance(k, str) and _BAD_CHARS.search(k):
                    found.append(_bad("invalid_character", child,
                                      "names may not hold NUL or unpaired surrogate characters",
                                      "字段名不得包含 NUL 或不成对的代理字符"))
                if isinstance(v, (dict, list, _Unfit)) or (check_chars and isinstance(v, str)):
                    children.append((v, child, depth + 1))
            stack.extend(reversed(children))
        elif isinstance(node, _Unfit):
            found.append(_bad("number_out_of_range", path,
                              f"{node.text} is not a finite number within ±{MAX_INT}",
                              f"数值 {node.text} 超出允许范围（须为 ±{MAX_INT} 以内的有限数）"))
        elif isinstance(node, str) and _BAD_CHARS.search(node):
            found.append(_bad("invalid_character", path,
                              "strings may not hold NUL or unpaired surrogate characters",
                              "字符串不得包含 NUL 或不成对的代理字符"))
    return found


def parse(raw: bytes) -> Any:
    """The body as JSON, or a 400 problem listing every place it can't be taken as given."""
    flagged: list[bool] = []

    def constant(text: str) -> Any:
        flagged.append(True)
        return _Unfit(text)

    def as_int(text: str) -> Any:
        value = _int(text)
        if isinstance(value, _Unfit):
            flagged.append(True)
        return value

    def as_float(text: str) -> Any:
        value = _float(text)
        if isinstance(value, _Unfit):
            flagged.append(True)
        return value

    try:
        doc = json.loads(raw.decode("utf-8"), parse_constant=constant, parse_int=as_int,
                         parse_float=as_float)
    except RecursionError as exc:
        raise _refuse([_bad("too_deep", "$", f"nesting deeper than {MAX_DEPTH} levels",
                            f"嵌套层级超过 {MAX_DEPTH} 层")]) from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DomainError("malformed_json", f"the body is not valid UTF-8 JSON: {exc}",
                          "请求体不是合法的 UTF-8 JSON", status=400,
                          problems=[Problem("malformed_json", "$",
                                            f"the body is not valid UTF-8 JSON: {exc}",
                                            "请求体不是合法的 UTF-8 JSON")]) from exc
    check_chars = bool(_RISKY_ESCAPE.search(raw))
    if flagged or check_chars or not _shallow(doc):
        found = problems_in(doc, check_chars)
        if found or flagged:
            raise _refuse(found)
    return doc


def _shallow(doc: Any) -> bool:
    """The quick pass every body takes: no container deeper than ``MAX_DEPTH``."""
    if type(doc) is not dict and type(doc) is not list:
        return True
    stack = [(doc, 0)]
    while stack:
        node, depth = stack.pop()
        if depth >= MAX_DEPTH:
            return False
        for v in node.values() if type(node) is dict else node:
            if type(v) is dict or type(v) is list:
                stack.append((v, depth + 1))
    return True


def _refuse(found: list[Problem]) -> DomainError:
    return DomainError("unacceptable_json",
                       "the body is JSON the hub can't take as given (see errors)",
                       "请求体中有无法按原样接收的 JSON 内容（见 errors）", status=400,
                       problems=found)
