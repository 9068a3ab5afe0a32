"""``create_app`` builds everything; nothing binds to an app at import time."""
from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, json
from sqlalchemy import text
from werkzeug.exceptions import HTTPException

from hub.bootstrap import Hub, bootstrap
from hub.config import Config
from hub.console import web as console_web
from hub.domain.errors import DomainError
from hub.services import operations
from hub.http import admin, api, metrics, registry
from hub.http.openapi import document as openapi_document
from hub.http.problems import from_domain, problem

log = logging.getLogger("hub.http")


def create_app(config: Config | None = None, hub: Hub | None = None) -> Flask:
    hub = hub or bootstrap(config)
    app = Flask("hub")
    app.config.from_mapping(MAX_CONTENT_LENGTH=hub.config.max_body_bytes, JSON_AS_ASCII=False)
    app.extensions["retirement_hub"] = hub
    app.register_blueprint(api.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(registry.bp)
    app.register_blueprint(console_web.bp)

    @app.get("/.well-known/jwks.json")
    def jwks() -> Response:
        return Response(json.dumps(hub.jwks()), mimetype="application/jwk-set+json")

    @app.get("/openapi.json")
    def openapi() -> Response:
        return Response(json.dumps(openapi_document(), ensure_ascii=False),
                        mimetype="application/json")

    @app.get("/healthz")
    def healthz() -> Response:
        with hub.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return Response(json.dumps({"status": "ok", "member": hub.config.hub_member_id,
                                    "keyid": hub.keyid}), mimetype="application/json")

    @app.get("/readyz")
    def readyz() -> Response:
        ready, checks = operations.readiness(hub)
        return Response(json.dumps({"ready": ready, "checks": checks}),
                        status=200 if ready else 503, mimetype="application/json")

    @app.get("/metrics")
    def prometheus() -> Response:
        return Response(metrics.render(hub), mimetype="text/plain; version=0.0.4; charset=utf-8")

    @app.errorhandler(DomainError)
    def domain_error(exc: DomainError) -> Response:
        return from_domain(exc)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        codes = {404: ("not_found", "no such resource", "资源不存在"),
                 405: ("method_not_allowed", "method not allowed here", "不支持该请求方法"),
                 413: ("body_too_large",
                       f"the body exceeds {hub.config.max_body_bytes} bytes",
                       f"请求体超过 {hub.config.max_body_bytes} 字节")}
        code, en, zh = codes.get(status, ("http_error", exc.description or "error", "请求错误"))
        return problem(status, code, en, zh)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Any:
        log.exception("unhandled error")
        return problem(500, "internal_error", "an unexpected error occurred; nothing was stored",
                       "发生意外错误，本次请求未保存任何数据")

    return app
