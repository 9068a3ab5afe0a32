"""The hub's own signing keys: one current key per suite, the keys being retired, rotation.

Files in the key directory (every hub process reads the same directory):

* `hub.private.pem` / `hub.public.pem`: the current Ed25519 key (suite `intl`);
* `hub-sm2.private.pem` / `hub-sm2.public.pem`: the current SM2 key (suite `sm`);
* `retiring/<kid>.private.pem` and `retiring/<kid>.json` (`suite`, `rotated_at`, `sign_until`,
  `retire_at`): a key replaced by `rotate()`.

Rotation without downtime, in this order: the new key is written and published at once (the
JWKS holds old and new); every process keeps signing with the old key until `sign_until`
(a few seconds, so that each process, and every receiver that refetches the JWKS on an unknown
keyid, can see the new key before a signature needs it), then signs with the new one; the old
key stays published until `retire_at` (the overlap window) and is then dropped and its private
file deleted. Processes notice the change by looking at the directory at most once a second.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import keys
from .sm2 import SM2Unavailable

log = logging.getLogger("hub.keys")

__all__ = ["HubKey", "HubKeyRing", "FILE_NAMES"]

FILE_NAMES = {"intl": "hub", "sm": "hub-sm2"}
RETIRING = "retiring"
SIGN_LEAD_S = 5.0  # how long the old key keeps signing after a rotation
RELOAD_S = 1.0


@dataclass(frozen=True)
class HubKey:
    suite: str
    keyid: str
    private: Any
    created_at: float  # POSIX seconds


@dataclass(frozen=True)
class _Retiring:
    key: HubKey
    sign_until: float
    retire_at: float


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="seconds")


def _ts(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


class HubKeyRing:
    """Which key signs now for each suite, and which public keys the JWKS publishes."""

    def __init__(self, key_dir: str | os.PathLike[str], *, distid: bytes | str | None = None,
                 clock: Callable[[], float] = time.time, reload_s: float = RELOAD_S) -> None:
        self.key_dir = Path(key_dir)
        self.distid = distid
        self.clock = clock
        self.reload_s = reload_s
        self._lock = threading.Lock()
        self._checked = -1e18
        self._stamp: tuple[Any, ...] | None = None
        self._current: dict[str, HubKey] = {}
        self._retiring: list[_Retiring] = []

    # ------------------------------------------------------------------ files
    def private_path(self, suite: str) -> Path:
        return self.key_dir / f"{FILE_NAMES[suite]}.private.pem"

    def _stamp_now(self) -> tuple[Any, ...]:
        parts: list[Any] = []
        for p in [self.private_path(s) for s in FILE_NAMES] + [self.key_dir / RETIRING]:
            try:
                st = p.stat()
                parts.append((p.name, st.st_mtime_ns, st.st_ino))
            except FileNotFoundError:
                parts.append((p.name, None))
        return tuple(parts)

    def _load(self) -> None:
        current: dict[str, HubKey] = {}
        for suite in FILE_NAMES:
            path = self.private_path(suite)
            if path.exists():
                priv = keys.load_private_key(path, distid=self.distid)
                current[suite] = HubKey(suite, keys.key_id(priv.public_key()), priv,
                                        path.stat().st_mtime)
        retiring: list[_Retiring] = []
        folder = self.key_dir / RETIRING
        now = self.clock()
        if folder.is_dir():
            for meta_path in sorted(folder.glob("*.json")):
                try:
                    meta = json.loads(meta_path.read_text("utf-8"))
                    priv_path = folder / f"{meta_path.stem}.private.pem"
                    retire_at = _ts(meta["retire_at"])
                    if retire_at <= now:
                        self._delete(meta_path.stem)
                        continue
                    priv = keys.load_private_key(priv_path, distid=self.distid)
                    retiring.append(_Retiring(
                        HubKey(meta["suite"], meta_path.stem, priv, _ts(meta["created_at"])),
                        _ts(meta["sign_until"]), retire_at))
                except (OSError, ValueError, KeyError):
                    continue  # half-written or already removed by another process
        self._current, self._retiring = current, retiring

    def _delete(self, kid: str) -> None:
        for suffix in (".private.pem", ".json"):
            try:
                (self.key_dir / RETIRING / f"{kid}{suffix}").unlink()
            except FileNotFoundError:
                pass

    def refresh(self, *, force: bool = False) -> None:
        now = self.clock()
        with self._lock:
            if not force and now - self._checked < self.reload_s:
                return
            self._checked = now
            stamp = self._stamp_now()
            expired = any(r.retire_at <= now for r in self._retiring)
            if force or stamp != self._stamp or expired:
                self._load()
                self._stamp = stamp

    # ------------------------------------------------------------------ reading
    def current(self, suite: str) -> HubKey | None:
        self.refresh()
        return self._current.get(suite)

    def signer(self, suite: str) -> HubKey:
        """The key that signs for `suite` now (the old one for a few seconds after rotation)."""
        self.refresh()
        now = self.clock()
        for r in self._retiring:
            if r.key.suite == suite and now < r.sign_until:
                return r.key
        key = self._current.get(suite) or self._current.get("intl")
        if key is None:
            raise FileNotFoundError(f"no hub key in {self.key_dir}: run 'hub init'")
        return key

    def published(self) -> dict[str, Any]:
        """kid -> public key: current keys, then those still inside their overlap window."""
        self.refresh()
        now = self.clock()
        out = {k.keyid: k.private.public_key() for k in self._current.values()}
        for r in self._retiring:
            if now < r.retire_at:
                out.setdefault(r.key.keyid, r.key.private.public_key())
        return out

    def jwks(self) -> dict[str, Any]:
        return keys.jwks(self.published())

    def status(self) -> list[dict[str, Any]]:
        """Every published key with its suite, age and state, for metrics and notices."""
        self.refresh()
        now = self.clock()
        rows = [{"suite": k.suite, "keyid": k.keyid, "state": "current",
                 "age_s": max(0.0, now - k.created_at), "retire_at": None}
                for k in self._current.values()]
        rows += [{"suite": r.key.suite, "keyid": r.key.keyid, "state": "retiring",
                  "age_s": max(0.0, now - r.key.created_at), "retire_at": _iso(r.retire_at)}
                 for r in self._retiring if now < r.retire_at]
        return rows

    # ------------------------------------------------------------------ changing
    def ensure(self, suites: tuple[str, ...] = ("intl", "sm")) -> list[str]:
        """Create the missing current keys; returns the suites created."""
        created = []
        for suite in suites:
            if not self.private_path(suite).exists():
                try:
                    keys.write_keypair(self.key_dir, FILE_NAMES[suite], suite=suite)
                except SM2Unavailable as exc:  # the intl suite still works without it
                    log.warning("no SM2 key for the hub: %s", exc)
                    continue
                created.append(suite)
        self.refresh(force=True)
        return created

    def rotate(self, suite: str, *, overlap_s: float = 3600.0,
               sign_lead_s: float = SIGN_LEAD_S) -> tuple[str | None, str]:
        """Replace the suite's current key; returns (old kid, new kid)."""
        if overlap_s < sign_lead_s:
            raise ValueError("the overlap window must be longer than the signing lead")
        self.refresh(force=True)
        old = self._current.get(suite)
        now = self.clock()
        new_priv = keys.generate_keypair(suite)
        if old is not None:
            folder = self.key_dir / RETIRING
            folder.mkdir(mode=0o700, exist_ok=True)
            keys.write_keypair(folder, old.keyid, old.private, overwrite=True)
            (folder / f"{old.keyid}.public.pem").unlink()
            meta = {"suite": suite, "created_at": _iso(old.created_at),
                    "rotated_at": _iso(now), "sign_until": _iso(now + sign_lead_s),
                    "retire_at": _iso(now + overlap_s)}
            tmp = folder / f".{old.keyid}.json.tmp"
            tmp.write_text(json.dumps(meta), encoding="utf-8")
            os.replace(tmp, folder / f"{old.keyid}.json")
        staging = self.key_dir / ".rotating"
        staging.mkdir(mode=0o700, exist_ok=True)
        name = FILE_NAMES[suite]
        priv_path, pub_path = keys.write_keypair(staging, name, new_priv, overwrite=True)
        os.replace(pub_path, self.key_dir / f"{name}.public.pem")
        os.replace(priv_path, self.key_dir / f"{name}.private.pem")
        self.refresh(force=True)
        return (old.keyid if old else None), keys.key_id(new_priv.public_key())
