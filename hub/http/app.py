"""``create_app`` builds everything; nothing binds to an app at import time."""
from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, json, request
from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from werkzeug.exceptions import HTTPException

from hub.bootstrap import Hub, bootstrap
from hub.config import Config
from hub.console import web as console_web
from hub.domain.errors import DomainError
from hub.http import admin, api, metrics, registry
from hub.http import log as message_log
from hub.http.openapi import document as openapi_document
from hub.http.problems import from_domain, problem
from hub.services import operations
from hub.store.db import OUTAGE, unavailable

log = logging.getLogger("hub.http")
RETRY_AFTER_S = 2
# answered without the database: liveness, and what a caller needs to verify or call us
NO_DATABASE = {"/healthz", "/readyz", "/.well-known/jwks.json", "/openapi.json"}


class SchemaNotReady(RuntimeError):
    """The database answers but its schema is not at head yet (a migration is on its way)."""


def database_unavailable() -> Response:
    """503 while the database is out of reach: the caller comes back after ``Retry-After``."""
    resp = problem(503, "database_unavailable",
                   "the database is unavailable for a moment; try again after Retry-After "
                   "(sending the same event ids again is safe)",
                   "数据库暂时不可用，请在 Retry-After 指定的秒数后重试"
                   "（以相同事件标识重发是安全的）")
    resp.headers["Retry-After"] = str(RETRY_AFTER_S)
    return resp


def create_app(config: Config | None = None, hub: Hub | None = None) -> Flask:
    hub = hub or bootstrap(config)
    app = Flask("hub")
    app.config.from_mapping(MAX_CONTENT_LENGTH=hub.config.max_body_bytes, JSON_AS_ASCII=False)
    app.extensions["retirement_hub"] = hub
    app.register_blueprint(api.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(registry.bp)
    app.register_blueprint(message_log.bp)
    app.register_blueprint(console_web.bp)

    @app.get("/.well-known/jwks.json")
    def jwks() -> Response:
        return Response(json.dumps(hub.jwks()), mimetype="application/jwk-set+json")

    @app.get("/openapi.json")
    def openapi() -> Response:
        return Response(json.dumps(openapi_document(), ensure_ascii=False),
                        mimetype="application/json")

    @app.before_request
    def schema_at_head() -> None:
        if request.path not in NO_DATABASE and not hub.schema_ready():
            raise SchemaNotReady()

    @app.get("/healthz")
    def healthz() -> Response:
        """Liveness: the process answers, whether or not the database does (see /readyz)."""
        try:
            with hub.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            database = "ok"
        except Exception as exc:
            if not unavailable(exc):
                raise
            OUTAGE.lost(exc)
            database = "unreachable"
        return Response(json.dumps({"status": "ok", "database": database,
                                    "member": hub.config.hub_member_id, "keyid": hub.keyid}),
                        mimetype="application/json")

    @app.get("/readyz")
    def readyz() -> Response:
        try:
            schema = hub.schema_ready()
        except Exception as exc:  # noqa: BLE001 - any database failure means not ready
            if unavailable(exc):
                OUTAGE.lost(exc)
            schema = False
        if not schema:
            resp = Response(json.dumps({"ready": False, "checks": {
                "database": "unreachable or schema not at head"}}),
                status=503, mimetype="application/json")
            resp.headers["Retry-After"] = str(RETRY_AFTER_S)
            return resp
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

    @app.errorhandler(SchemaNotReady)
    def schema_not_ready(exc: SchemaNotReady) -> Response:
        return database_unavailable()

    @app.errorhandler(sa_exc.SQLAlchemyError)
    def database_error(exc: sa_exc.SQLAlchemyError) -> Any:
        if not unavailable(exc):
            return unexpected(exc)
        OUTAGE.lost(exc)  # logged once per outage, not per request
        return database_unavailable()

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Any:
        if unavailable(exc):  # the driver's own error, not wrapped by SQLAlchemy
            OUTAGE.lost(exc)
            return database_unavailable()
        log.exception("unhandled error")
        return problem(500, "internal_error", "an unexpected error occurred; nothing was stored",
                       "发生意外错误，本次请求未保存任何数据")

    return app
