"""Hub configuration, read once at start-up from ``HUB_``-prefixed environment variables."""
from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any

DEFAULT_VAR = Path("var")
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}
_ANY = {"0.0.0.0", "::", ""}
_LOOPBACK_NAMES = {"127.0.0.1", "localhost", "[::1]"}


def _without_default_port(authority: str) -> str:
    for default in (":80", ":443"):
        if authority.endswith(default):
            return authority[: -len(default)]
    return authority


@dataclass(frozen=True)
class Config:
    """Everything the hub needs to run; tests build one directly."""

    database_url: str = f"sqlite:///{DEFAULT_VAR / 'hub.db'}"
    key_dir: Path = DEFAULT_VAR / "keys"
    hub_member_id: str = "retirement-hub"
    hrss_member_id: str = "hrss"
    host: str = "127.0.0.1"
    port: int = 8080
    max_body_bytes: int = 1_048_576
    feed_max_limit: int = 500
    signature_window_s: int = 300
    public_authority: tuple[str, ...] = ()
    push_timeout_s: float = 10.0
    retry_schedule_s: tuple[float, ...] = (0, 5, 30, 120, 600, 1800, 3600) + (3600,) * 22
    retry_jitter: float = 0.1
    lease_s: float = 60.0
    push_batch: int = 50
    heartbeat_stale_s: float = 30.0
    inline_receipts: int = 20
    worker_poll_s: float = 2.0
    run_worker: bool = True
    log_origin: str = "retirement-hub.js.gov.cn/log"
    log_checkpoint_s: float = 60.0        # sign a checkpoint at least this often (when it grew)
    log_checkpoint_leaves: int = 1000     # ... or as soon as this many leaves are unsigned
    log_checkpoint_stale_s: float = 600.0  # an unsigned, growing log older than this: a notice
    archive_dir: Path = DEFAULT_VAR / "archive"
    archive_after_days: float = 365.0     # closed cases older than this leave the hot tables
    retirement_rules: Mapping[str, Any] = field(default_factory=dict)
    sm2_distid: str = "1234567812345678"  # SM2 distinguishing identifier (GM/T 0009 default)
    key_max_age_days: float = 365.0  # a hub key older than this is due for rotation
    key_notice_days: float = 30.0  # an administrator notice this long before it is due
    # from this day (MM-DD, Beijing) on, an unregistered next-year calendar raises a notice
    calendar_warn_from: str = "10-01"

    @property
    def private_key_path(self) -> Path:
        return Path(self.key_dir) / "hub.private.pem"

    @property
    def public_key_path(self) -> Path:
        return Path(self.key_dir) / "hub.public.pem"

    def accepts_authority(self, authority: str) -> bool:
        """Is ``authority`` (a signed ``@authority``: host[:port], lower case) this hub?

        ``public_authority`` names the hub as its members reach it (``hub.example.cn``,
        ``hub.example.cn:8443``). Unset, it is derived from the listen address: a hub bound to
        loopback (local runs and tests, any port) answers to loopback names only; one bound to
        a named host answers to that host and port.
        """
        authority = _without_default_port(authority.lower())
        if self.public_authority:
            return authority in {_without_default_port(a.strip().lower())
                                 for a in self.public_authority}
        host = authority.rsplit(":", 1)[0] if not authority.endswith("]") else authority
        if self.host in _LOOPBACK or self.host in _ANY:
            return host in _LOOPBACK_NAMES
        return authority in {self.host.lower(), f"{self.host.lower()}:{self.port}"}

    def with_overrides(self, **kw: Any) -> Config:
        return replace(self, **kw)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Config:
        """Read ``HUB_*`` variables; unknown ones are ignored, bad values raise."""
        env = os.environ if environ is None else environ
        kw: dict[str, Any] = {}
        simple = {
            "HUB_DATABASE_URL": ("database_url", str),
            "HUB_KEY_DIR": ("key_dir", Path),
            "HUB_MEMBER_ID": ("hub_member_id", str),
            "HUB_HRSS_MEMBER_ID": ("hrss_member_id", str),
            "HUB_HOST": ("host", str),
            "HUB_PORT": ("port", int),
            "HUB_MAX_BODY_BYTES": ("max_body_bytes", int),
            "HUB_FEED_MAX_LIMIT": ("feed_max_limit", int),
            "HUB_PUSH_TIMEOUT_S": ("push_timeout_s", float),
            "HUB_WORKER_POLL_S": ("worker_poll_s", float),
            "HUB_RETRY_JITTER": ("retry_jitter", float),
            "HUB_LEASE_S": ("lease_s", float),
            "HUB_PUSH_BATCH": ("push_batch", int),
            "HUB_HEARTBEAT_STALE_S": ("heartbeat_stale_s", float),
            "HUB_INLINE_RECEIPTS": ("inline_receipts", int),
            "HUB_SM2_DISTID": ("sm2_distid", str),
            "HUB_KEY_MAX_AGE_DAYS": ("key_max_age_days", float),
            "HUB_KEY_NOTICE_DAYS": ("key_notice_days", float),
            "HUB_CALENDAR_WARN_FROM": ("calendar_warn_from", str),
            "HUB_SIGNATURE_WINDOW_S": ("signature_window_s", int),
            "HUB_LOG_ORIGIN": ("log_origin", str),
            "HUB_LOG_CHECKPOINT_S": ("log_checkpoint_s", float),
            "HUB_LOG_CHECKPOINT_LEAVES": ("log_checkpoint_leaves", int),
            "HUB_LOG_CHECKPOINT_STALE_S": ("log_checkpoint_stale_s", float),
            "HUB_ARCHIVE_DIR": ("archive_dir", Path),
            "HUB_ARCHIVE_AFTER_DAYS": ("archive_after_days", float),
        }
        for var, (name, conv) in simple.items():
            if var in env:
                kw[name] = conv(env[var])
        if "HUB_CALENDAR_WARN_FROM" in env:
            date.fromisoformat("2000-" + kw["calendar_warn_from"])  # MM-DD or raise
        if "HUB_RETRY_SCHEDULE" in env:
            kw["retry_schedule_s"] = tuple(float(x) for x in env["HUB_RETRY_SCHEDULE"].split(","))
        if env.get("HUB_PUBLIC_AUTHORITY"):
            kw["public_authority"] = tuple(a.strip() for a in env["HUB_PUBLIC_AUTHORITY"].split(",")
                                           if a.strip())
        if "HUB_RUN_WORKER" in env:
            kw["run_worker"] = env["HUB_RUN_WORKER"].lower() in ("1", "true", "yes")
        if "HUB_RETIREMENT_RULES" in env:
            rules_file = Path(env["HUB_RETIREMENT_RULES"])
            kw["retirement_rules"] = json.loads(rules_file.read_text("utf-8"))
        return cls(**kw)
