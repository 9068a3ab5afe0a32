"""The console blueprint: sessions, CSRF, CSP, roles; the pages themselves are in `pages`."""
from __future__ import annotations

import hmac
import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import wraps
from pathlib import Path
from typing import Any, cast

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.blueprints import BlueprintSetupState

from hub.bootstrap import Hub
from hub.console import accounts, queries
from hub.console import levels as L
from hub.console.clock import Clock
from hub.console.i18n import word
from hub.domain import states as S
from hub.domain.errors import DomainError

bp = Blueprint("console", __name__, url_prefix="/console", template_folder="templates",
               static_folder="static", static_url_path="/static")

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
PUBLIC = frozenset({"console.login", "console.static", "console.language"})


@dataclass
class ConsoleState:
    clock: Clock = field(default_factory=Clock)
    spans_cache: dict[Any, Any] = field(default_factory=dict)


def _secret(key_dir: Path) -> bytes:
    """The session signing key, kept next to the hub keys so every process shares it. Written
    to a private temporary file and linked into place, so a process starting at the same time
    reads either no file or the whole key."""
    path = Path(key_dir) / "console-session.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(secrets.token_bytes(32))
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # another process won; use its key
        finally:
            tmp.unlink()
    return path.read_bytes()


@bp.record_once
def _setup(state: BlueprintSetupState) -> None:
    app = cast(Flask, state.app)  # the blueprint is only registered on a Flask app
    hub_: Hub = app.extensions["retirement_hub"]
    app.secret_key = app.secret_key or _secret(hub_.config.key_dir)
    insecure = os.environ.get("HUB_CONSOLE_INSECURE_COOKIE", "") in ("1", "true", "yes")
    app.config.update(SESSION_COOKIE_NAME="hub_console", SESSION_COOKIE_HTTPONLY=True,
                      SESSION_COOKIE_SECURE=not insecure, SESSION_COOKIE_SAMESITE="Strict",
                      PERMANENT_SESSION_LIFETIME=timedelta(hours=8))
    app.extensions["hub_console"] = ConsoleState()


def hub() -> Hub:
    return current_app.extensions["retirement_hub"]  # type: ignore[no-any-return]


def now() -> datetime:
    return current_app.extensions["hub_console"].clock.now()  # type: ignore[no-any-return]


def lang() -> str:
    return "en" if session.get("lang") == "en" else "zh"


def actor() -> str:
    return str(g.user["username"])


@bp.before_request
def _guard() -> Any:
    session.setdefault("csrf", secrets.token_urlsafe(32))
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        sent = request.form.get("csrf_token") or request.headers.get("X-CSRF-Token") or ""
        if not hmac.compare_digest(sent, session["csrf"]):
            return page("error.html", 400, code="csrf_failed",
                        message="the form is missing its CSRF token or it is stale",
                        message_zh="表单缺少防跨站请求令牌或令牌已失效，请刷新页面后重试")
    g.user = None
    name = session.get("user")
    if name:
        with hub().transaction() as s:
            u = queries.user(s, name)
            if u is not None and u.disabled_at is None:
                g.user = {"username": u.username, "role": u.role}
        if g.user is None:
            session.clear()
    if g.user is None and request.endpoint not in PUBLIC:
        return redirect(url_for("console.login", next=request.path))
    return None


@bp.after_request
def _headers(resp: Response) -> Response:
    resp.headers["Content-Security-Policy"] = CSP
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["X-Frame-Options"] = "DENY"
    resp.headers["Referrer-Policy"] = "no-referrer"
    resp.headers.setdefault("Cache-Control", "no-store")
    return resp


@bp.errorhandler(DomainError)
def _domain_error(exc: DomainError) -> Any:
    return page("error.html", exc.status if 400 <= exc.status < 500 else 422, code=exc.code,
                message=exc.message, message_zh=exc.message_zh)


def page(template: str, status: int = 200, **ctx: Any) -> Response:
    return Response(render_template(f"console/{template}", **ctx), status=status,
                    mimetype="text/html")


def requires(role: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Refuse (403, audited) a page above the user's role."""
    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(fn)
        def inner(*a: Any, **kw: Any) -> Any:
            if not accounts.at_least(g.user["role"], role):
                accounts.record(hub(), actor(), "access_denied", request.path, now=now(),
                                detail={"needs": role, "has": g.user["role"]})
                return page("error.html", 403, code="forbidden",
                            message=f"this page needs the {role} role",
                            message_zh=f"该页面需要“{accounts.ROLE_LABELS[role]}”及以上角色")
            return fn(*a, **kw)
        return inner
    return deco


@bp.app_template_filter("bj")
def _bj(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, datetime):
        return value.astimezone(L.BEIJING).isoformat(sep=" ", timespec="minutes")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


@bp.context_processor
def _context() -> dict[str, Any]:
    lg = lang()
    role = g.user["role"] if getattr(g, "user", None) else None
    return {"t": lambda key: word(key, lg), "lang": lg, "user": getattr(g, "user", None),
            "csrf_token": session.get("csrf", ""),
            "can": lambda needed: isinstance(role, str) and accounts.at_least(role, needed),
            "state_label": lambda st: S.label(st, lg),
            "level_label": lambda lv: L.label(lv, lg), "levels": L.LEVELS,
            "cases_url": lambda by, key, fk, fv: url_for("console.cases", **{by: key, fk: fv}),
            "role_label": lambda r: accounts.ROLE_LABELS.get(r, r) if lg == "zh" else r}


# ----- login, logout, language -------------------------------------------------------

@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    error = None
    if request.method == "POST":
        try:
            user = accounts.authenticate(
                hub(), request.form.get("username", "")[:64], request.form.get("password", ""),
                request.form.get("code", "").strip()[:10],
                now=datetime.now(UTC),  # one-time codes follow the wall clock
                client=request.remote_addr or "")
        except DomainError as exc:
            error = exc
        else:
            keep = session.get("lang")
            session.clear()  # a new session on login: no fixation
            session.update(user=user["username"], csrf=secrets.token_urlsafe(32))
            if keep:
                session["lang"] = keep
            return redirect(_local(request.args.get("next", "")))
    return page("login.html", 401 if error else 200, error=error)


@bp.post("/logout")
def logout() -> Any:
    session.clear()
    return redirect(url_for("console.login"))


@bp.get("/lang/<code>")
def language(code: str) -> Any:
    session["lang"] = "en" if code == "en" else "zh"
    return redirect(_local(request.args.get("next", "")))


def _local(target: str) -> str:
    """A console path to go back to; anything else (another site, `//host`) goes home."""
    if target.startswith("/console/") and not target.startswith("/console//"):
        return target
    return url_for("console.overview")


def bad_request(field_name: str, en: str, zh: str) -> DomainError:
    return DomainError("bad_console_input", f"{field_name}: {en}", f"{field_name}：{zh}",
                       status=400)


def parse_date(name: str, source: Mapping[str, str] | None = None) -> date | None:
    """A YYYY-MM-DD field of the query string (or of ``source``, e.g. the posted form)."""
    raw = (request.args if source is None else source).get(name, "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise bad_request(name, "expected a date YYYY-MM-DD", "应为日期 YYYY-MM-DD") from None


def abort_404() -> None:
    abort(404)


from hub.console import pages  # noqa: E402,F401  (the pages register on `bp`)
