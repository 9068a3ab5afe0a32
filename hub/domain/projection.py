"""Build a department's payload from the case document by the item's JSON-pointer projection."""
from __future__ import annotations

from typing import Any

_MISSING = object()


def unescape(token: str) -> str:
    """One RFC 6901 reference token as the key it names (``~1`` is ``/``, ``~0`` is ``~``;
    in that order, so ``~01`` stays ``~1``): the one unescaper of the hub."""
    return token.replace("~1", "/").replace("~0", "~")


def resolve(document: Any, pointer: str) -> Any:
    """RFC 6901 lookup; returns ``_MISSING`` instead of raising when a step is absent."""
    if pointer in ("", "/"):
        return document
    node = document
    for raw in pointer.lstrip("/").split("/"):
        token = unescape(raw)
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return _MISSING
    return node


def exists(document: Any, pointer: str) -> bool:
    return resolve(document, pointer) is not _MISSING


def project(document: dict[str, Any], projection: dict[str, str]) -> dict[str, Any]:
    """Copy each source pointer's value to its target pointer; absent sources are left out."""
    out: dict[str, Any] = {}
    for target, source in projection.items():
        value = resolve(document, source)
        if value is _MISSING:
            continue
        tokens = [unescape(t) for t in target.lstrip("/").split("/")]
        node = out
        for token in tokens[:-1]:
            node = node.setdefault(token, {})
        node[tokens[-1]] = value
    return out
