"""RFC 9457 problem details, with a stable code and English and Chinese messages."""
from __future__ import annotations

from typing import Any, Iterable

from flask import Response, json

from hub.domain.errors import DomainError, Problem

PROBLEM_BASE = "https://retirement-hub.js.gov.cn/problems/"
TITLES = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
          405: "Method Not Allowed", 409: "Conflict", 413: "Content Too Large",
          415: "Unsupported Media Type", 422: "Unprocessable Content", 500: "Internal Server Error",
          503: "Service Unavailable"}


def problem(status: int, code: str, detail: str, detail_zh: str,
            errors: Iterable[Problem] = (), **extra: Any) -> Response:
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + code,
        "title": TITLES.get(status, "Error"),
        "status": status,
        "code": code,
        "detail": detail,
        "detail_zh": detail_zh,
        "errors": [{"path": p.path, "code": p.code, "message": p.message,
                    "message_zh": p.message_zh} for p in errors],
    }
    body.update(extra)
    resp = Response(json.dumps(body, ensure_ascii=False), status=status,
                    mimetype="application/problem+json")
    return resp


def from_domain(exc: DomainError) -> Response:
    return problem(exc.status, exc.code, exc.message, exc.message_zh, exc.problems)
