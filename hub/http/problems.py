"""RFC 9457 problem details, with a stable code and English and Chinese messages."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask import Response, json

from hub.domain.errors import DomainError, Problem

PROBLEM_BASE = "https://retirement-hub.js.gov.cn/problems/"
TITLES = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
          405: "Method Not Allowed", 409: "Conflict", 413: "Content Too Large",
          415: "Unsupported Media Type", 422: "Unprocessable Content", 500: "Internal Server Error",
          503: "Service Unavailable"}


MAX_ERRORS = 100  # a bad batch lists its first problems and how many there were in all
MAX_TEXT = 300  # messages quote the offending value; a path names its keys


def _clip(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + "…"


def problem(status: int, code: str, detail: str, detail_zh: str,
            errors: Iterable[Problem] = (), **extra: Any) -> Response:
    errors = list(errors)
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + code,
        "title": TITLES.get(status, "Error"),
        "status": status,
        "code": code,
        "detail": _clip(detail),
        "detail_zh": _clip(detail_zh),
        "errors": [{"path": _clip(p.path), "code": p.code, "message": _clip(p.message),
                    "message_zh": _clip(p.message_zh)} for p in errors[:MAX_ERRORS]],
    }
    if len(errors) > MAX_ERRORS:
        body["error_count"] = len(errors)
        body["errors_truncated"] = True
    body.update(extra)
    resp = Response(json.dumps(body, ensure_ascii=False), status=status,
                    mimetype="application/problem+json")
    return resp


def from_domain(exc: DomainError) -> Response:
    return problem(exc.status, exc.code, exc.message, exc.message_zh, exc.problems)
