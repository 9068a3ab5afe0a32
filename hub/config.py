"""Hub configuration, read once at start-up from ``HUB_``-prefixed environment variables."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

DEFAULT_VAR = Path("var")


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

    @property
    def private_key_path(self) -> Path:
        return Path(self.key_dir) / "hub.private.pem"

    @property
    def public_key_path(self) -> Path:
        return Path(self.key_dir) / "hub.public.pem"

    def with_overrides(self, **kw: Any) -> "Config":
        return replace(self, **kw)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Config":
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
        if "HUB_RETRY_SCHEDULE" in env:
            kw["retry_schedule_s"] = tuple(float(x) for x in env["HUB_RETRY_SCHEDULE"].split(","))
        if "HUB_RUN_WORKER" in env:
            kw["run_worker"] = env["HUB_RUN_WORKER"].lower() in ("1", "true", "yes")
        if "HUB_RETIREMENT_RULES" in env:
            kw["retirement_rules"] = json.loads(Path(env["HUB_RETIREMENT_RULES"]).read_text("utf-8"))
        return cls(**kw)
