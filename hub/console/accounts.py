"""Console accounts and the audit log: argon2id passwords, TOTP for operators and admins,
login throttling. Writes only; reads are in `queries`."""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy.orm import Session

from hub.bootstrap import Hub
from hub.console import queries
from hub.console.models import ConsoleAudit, ConsoleUser
from hub.domain.errors import DomainError

ROLES = ("observer", "supervisor", "operator", "admin")  # each adds to the one before
ROLE_LABELS = {"observer": "观察员", "supervisor": "督查员", "operator": "运维员",
               "admin": "管理员"}
NEEDS_TOTP = frozenset({"operator", "admin"})  # 等保三级: two factors for administrators
MIN_PASSWORD = 12
MAX_FAILURES = 5
LOCK_FOR = timedelta(minutes=15)
ISSUER = "退休一件事枢纽"

_hasher = PasswordHasher()  # argon2id with the library's RFC 9106 low-memory profile


def at_least(role: str, needed: str) -> bool:
    return role in ROLES and ROLES.index(role) >= ROLES.index(needed)


def audit(s: Session, actor: str, action: str, target: str, now: datetime,
          reason: str | None = None, detail: dict[str, Any] | None = None) -> None:
    s.add(ConsoleAudit(at=now, actor=actor, action=action, target=target[:300],
                       reason=reason, detail=detail))


def _error(code: str, en: str, zh: str, status: int = 422) -> DomainError:
    return DomainError(code, en, zh, status=status)


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise _error("weak_password", f"a password needs at least {MIN_PASSWORD} characters",
                     f"密码至少 {MIN_PASSWORD} 位")


@dataclass(frozen=True)
class NewCredentials:
    username: str
    role: str
    password: str
    totp_secret: str | None

    @property
    def totp_uri(self) -> str | None:
        if not self.totp_secret:
            return None
        return pyotp.TOTP(self.totp_secret).provisioning_uri(name=self.username, issuer_name=ISSUER)


def add_user(hub: Hub, username: str, role: str, password: str | None = None, *,
             actor: str = "cli", now: datetime | None = None) -> NewCredentials:
    now = now or datetime.now(UTC)
    if role not in ROLES:
        raise _error("unknown_role", f"role must be one of {', '.join(ROLES)}",
                     f"角色须为 {'、'.join(ROLES)} 之一")
    if not username or len(username) > 64 or not username.replace("-", "").replace(
            "_", "").replace(".", "").isalnum():
        raise _error("bad_username", "a user name is 1-64 letters, digits, '-', '_' or '.'",
                     "用户名为 1-64 位字母、数字、-、_ 或 .")
    password = password or secrets.token_urlsafe(15)
    _check_password(password)
    secret = pyotp.random_base32() if role in NEEDS_TOTP else None
    with hub.transaction() as s:
        if queries.user(s, username) is not None:
            raise _error("user_exists", f"user {username} exists", f"用户 {username} 已存在", 409)
        s.add(ConsoleUser(username=username, role=role, password_hash=_hasher.hash(password),
                          totp_secret=secret, failed_logins=0, created_at=now))
        audit(s, actor, "user_add", username, now, detail={"role": role})
    return NewCredentials(username, role, password, secret)


def _get(s: Session, username: str) -> ConsoleUser:
    u = queries.user(s, username)
    if u is None:
        raise _error("user_not_found", f"no user {username}", f"用户 {username} 不存在", 404)
    return u


def disable_user(hub: Hub, username: str, *, actor: str = "cli",
                 now: datetime | None = None) -> None:
    now = now or datetime.now(UTC)
    with hub.transaction() as s:
        u = _get(s, username)
        u.disabled_at = u.disabled_at or now
        audit(s, actor, "user_disable", username, now)


def reset_user(hub: Hub, username: str, password: str | None = None, *, actor: str = "cli",
               now: datetime | None = None) -> NewCredentials:
    """A new password (and a new TOTP secret where one is required); unlocks and re-enables."""
    now = now or datetime.now(UTC)
    password = password or secrets.token_urlsafe(15)
    _check_password(password)
    with hub.transaction() as s:
        u = _get(s, username)
        u.password_hash = _hasher.hash(password)
        u.totp_secret = pyotp.random_base32() if u.role in NEEDS_TOTP else None
        u.failed_logins, u.locked_until, u.disabled_at = 0, None, None
        audit(s, actor, "user_reset", username, now)
        return NewCredentials(username, u.role, password, u.totp_secret)


LOGIN_FAILED = ("login_failed", "wrong user name, password or code", "用户名、密码或动态码错误")


def authenticate(hub: Hub, username: str, password: str, code: str, *, now: datetime,
                 client: str = "") -> dict[str, Any]:
    """The user's name and role, or a DomainError that says nothing about which part failed.

    After MAX_FAILURES failures in a row the account is locked for LOCK_FOR, even for the
    right password: guessing is throttled per account whatever address it comes from.
    """
    failure = _error(*LOGIN_FAILED, status=401)
    locked = _error("login_locked", "too many failed logins; try again later",
                    "登录失败次数过多，请稍后再试", 429)
    # the audit line commits before the refusal is raised: a raise inside rolls back
    with hub.transaction() as s:
        u = queries.user(s, username)
        if u is None:
            _hasher.hash(password or "x")  # the same work as for a real account
            audit(s, username[:64] or "-", "login_failed", username[:64], now,
                  detail={"client": client})
            refused: DomainError | None = failure
        elif u.locked_until is not None and u.locked_until > now:
            audit(s, username, "login_locked", username, now, detail={"client": client})
            refused = locked
        else:
            refused = None
    if refused is not None:
        raise refused
    with hub.transaction() as s:
        u = _get(s, username)
        ok = _verify(u.password_hash, password) and u.disabled_at is None
        if ok and u.totp_secret:
            ok = bool(code) and pyotp.TOTP(u.totp_secret).verify(code, for_time=now,
                                                                 valid_window=1)
        elif ok and u.role in NEEDS_TOTP:
            ok = False  # an operator or admin without a second factor cannot log in
        if not ok:
            u.failed_logins = (u.failed_logins or 0) + 1
            if u.failed_logins >= MAX_FAILURES:
                u.locked_until, u.failed_logins = now + LOCK_FOR, 0
            audit(s, username, "login_failed", username, now, detail={"client": client})
    if not ok:
        raise failure
    with hub.transaction() as s:
        u = _get(s, username)
        u.failed_logins, u.locked_until, u.last_login_at = 0, None, now
        if _hasher.check_needs_rehash(u.password_hash):
            u.password_hash = _hasher.hash(password)
        audit(s, username, "login", username, now, detail={"client": client})
        return {"username": u.username, "role": u.role}


def _verify(stored: str, password: str) -> bool:
    try:
        return _hasher.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def record(hub: Hub, actor: str, action: str, target: str, *, now: datetime,
           reason: str | None = None, detail: dict[str, Any] | None = None) -> None:
    """One audit line in its own transaction (for actions whose service commits by itself)."""
    with hub.transaction() as s:
        audit(s, actor, action, target, now, reason, detail)
