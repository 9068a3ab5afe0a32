"""Archives: closed cases leave the hot tables for signed, chained, encrypted files.

A run takes closed cases older than the configured age whose deliveries are all settled, and
writes them (case, items, history, members, issues, events, deliveries, attempts) as one JSON
line per case, the rows encrypted with AES-256-GCM (the key in ``<key_dir>/archive.key``, the
case id as associated data). Beside each file a manifest holds the file's SHA-256, the digest of
the previous manifest (a chain) and the hub's Ed25519 signature. The file is on disk before the
rows are deleted in one transaction, and removed again if that transaction fails. The log's
leaves stay, so every proof about an archived case still verifies.
"""
from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Date, Table, delete, exists, insert, select
from sqlalchemy.orm import Session

from hub.bootstrap import Hub
from hub.domain.delivery import PENDING
from hub.domain.errors import DomainError
from hub.messagelog.leaves import canonical, iso
from hub.messagelog.tables import ArchivedCase
from hub.services.outbox import utcnow
from hub.store.models import (
    CaseIssueRow,
    CaseItemHistoryRow,
    CaseItemRow,
    CaseMember,
    CaseRow,
    Delivery,
    DeliveryAttempt,
    Event,
    UTCDateTime,
)

# insertion order; deletion runs backwards
TABLES: list[Table] = [t.__table__ for t in (  # type: ignore[misc]
    CaseRow, CaseItemRow, CaseItemHistoryRow, CaseMember, CaseIssueRow, Event, Delivery,
    DeliveryAttempt)]
GENESIS = "0" * 64


def _key(hub: Hub) -> bytes:
    path = Path(hub.config.key_dir) / "archive.key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(AESGCM.generate_key(bit_length=256))
    return path.read_bytes()


def _dir(hub: Hub) -> Path:
    d = Path(hub.config.archive_dir)
    d.mkdir(parents=True, exist_ok=True)
    return d


@contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """One archiver at a time per archive directory, so the chain never forks."""
    with open(directory / ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _plain(v: Any) -> Any:
    return iso(v) if isinstance(v, datetime) else v.isoformat() if isinstance(v, date) else v


def _rows(s: Session, case_id: str) -> dict[str, list[dict[str, Any]]]:
    seqs = select(Event.seq).where(Event.subject == case_id)
    dids = select(Delivery.id).where(Delivery.event_seq.in_(seqs))
    where = {"cases": CaseRow.id == case_id, "case_items": CaseItemRow.case_id == case_id,
             "case_item_history": CaseItemHistoryRow.case_id == case_id,
             "case_members": CaseMember.case_id == case_id,
             "case_issues": CaseIssueRow.case_id == case_id, "events": Event.subject == case_id,
             "deliveries": Delivery.id.in_(dids),
             "delivery_attempts": DeliveryAttempt.delivery_id.in_(dids)}
    out = {}
    for t in TABLES:
        out[t.name] = [{k: _plain(v) for k, v in r._mapping.items()}  # noqa: SLF001 - Row's API
                       for r in s.execute(select(t).where(where[t.name]))]
    return out


def _manifests(directory: Path) -> list[Path]:
    return sorted(directory.glob("archive-*.manifest.json"))


def _digest(manifest: dict[str, Any]) -> str:
    return hashlib.sha256(canonical({k: v for k, v in manifest.items()
                                     if k != "signature"})).hexdigest()


def run(hub: Hub, older_than: timedelta | None = None, batch: int = 1000) -> dict[str, Any]:
    """Archive every closed case older than ``older_than`` (default: the configured age)."""
    age = older_than if older_than is not None else timedelta(days=hub.config.archive_after_days)
    cutoff = utcnow() - age
    directory = _dir(hub)
    aead = AESGCM(_key(hub))
    files, total = [], 0
    with _locked(directory):
        while True:
            with hub.transaction() as s:
                unsettled = exists().where(Delivery.state == PENDING,
                                           Delivery.event_seq.in_(select(Event.seq).where(
                                               Event.subject == CaseRow.id)))
                ids = list(s.scalars(select(CaseRow.id).where(
                    CaseRow.state == "closed", CaseRow.closed_at <= cutoff, ~unsettled)
                    .order_by(CaseRow.closed_at, CaseRow.id).limit(batch)))
                if not ids:
                    break
                lines = []
                for cid in ids:
                    nonce = os.urandom(12)
                    sealed = aead.encrypt(nonce, canonical(_rows(s, cid)), cid.encode())
                    lines.append(canonical({"case_id": cid,
                                            "nonce": base64.b64encode(nonce).decode(),
                                            "rows": base64.b64encode(sealed).decode()}))
                data = b"\n".join(lines) + b"\n"
                path, manifest = _write(hub, directory, ids, data)
                try:
                    for t in reversed(TABLES):
                        _delete(s, t, ids)
                    s.execute(insert(ArchivedCase), [
                        {"case_id": c, "file": path.name, "archived_at": utcnow()} for c in ids])
                    s.flush()
                except BaseException:
                    path.unlink(missing_ok=True)
                    manifest.unlink(missing_ok=True)
                    raise
            files.append(path.name)
            total += len(ids)
    return {"archived": total, "files": files}


def _delete(s: Session, t: Table, ids: list[str]) -> None:
    seqs = select(Event.seq).where(Event.subject.in_(ids))
    dids = select(Delivery.id).where(Delivery.event_seq.in_(seqs))
    cond = {"cases": CaseRow.id.in_(ids), "events": Event.subject.in_(ids),
            "deliveries": Delivery.id.in_(dids),
            "delivery_attempts": DeliveryAttempt.delivery_id.in_(dids)}.get(t.name)
    s.execute(delete(t).where(cond if cond is not None else t.c.case_id.in_(ids)))


def _write(hub: Hub, directory: Path, ids: list[str], data: bytes) -> tuple[Path, Path]:
    previous = _manifests(directory)
    prev = _digest(json.loads(previous[-1].read_text("utf-8"))) if previous else GENESIS
    n = len(previous) + 1
    path = directory / f"archive-{n:06d}.jsonl"
    manifest = {"file": path.name, "sha256": hashlib.sha256(data).hexdigest(), "prev": prev,
                "cases": ids, "created_at": iso(utcnow()), "keyid": hub.keyid}
    manifest["signature"] = base64.b64encode(
        hub.private_key.sign(canonical({k: v for k, v in manifest.items()}))).decode()
    mpath = directory / f"archive-{n:06d}.manifest.json"
    for p, body in ((path, data), (mpath, canonical(manifest))):
        with open(p, "xb") as fh:
            fh.write(body)
            fh.flush()
            os.fsync(fh.fileno())
    return path, mpath


def verify(hub: Hub) -> list[str]:
    """Check the chain, each file's digest and signature, and that every line decrypts."""
    directory = _dir(hub)
    aead = AESGCM(_key(hub))
    pub = hub.private_key.public_key()
    problems, prev = [], GENESIS
    for mpath in _manifests(directory):
        m = json.loads(mpath.read_text("utf-8"))
        try:
            pub.verify(base64.b64decode(m.get("signature", "")),
                       canonical({k: v for k, v in m.items() if k != "signature"}))
        except (InvalidSignature, ValueError):
            problems.append(f"{mpath.name}: the signature does not verify")
        if m.get("prev") != prev:
            problems.append(f"{mpath.name}: the chain is broken (previous manifest differs)")
        prev = _digest(m)
        path = directory / m["file"]
        if not path.exists():
            problems.append(f"{m['file']}: missing")
            continue
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() != m["sha256"]:
            problems.append(f"{m['file']}: content differs from its signed digest")
        seen = []
        for line in data.splitlines():
            try:
                rec = json.loads(line)
                aead.decrypt(base64.b64decode(rec["nonce"]), base64.b64decode(rec["rows"]),
                             rec["case_id"].encode())
                seen.append(rec["case_id"])
            except (ValueError, KeyError, InvalidTag):
                problems.append(f"{m['file']}: a line does not decrypt")
        if seen != m["cases"]:
            problems.append(f"{m['file']}: cases differ from the manifest")
    return problems


def restore(hub: Hub, case_id: str) -> dict[str, int]:
    """Bring an archived case back into the hot tables (the archive file stays as it is)."""
    with hub.transaction() as s:
        entry = s.get(ArchivedCase, case_id)
        if entry is None:
            raise DomainError("case_not_archived", f"case {case_id} is not archived",
                              f"办件 {case_id} 未归档", status=404)
        path = _dir(hub) / entry.file
        rows = None
        for line in path.read_bytes().splitlines():
            rec = json.loads(line)
            if rec["case_id"] == case_id:
                rows = json.loads(AESGCM(_key(hub)).decrypt(
                    base64.b64decode(rec["nonce"]), base64.b64decode(rec["rows"]),
                    case_id.encode()))
        if rows is None:
            raise DomainError("archive_damaged", f"case {case_id} is missing from {entry.file}",
                              f"归档文件 {entry.file} 中找不到办件 {case_id}", status=409)
        counts = {}
        for t in TABLES:
            values = [_typed(t, r) for r in rows[t.name]]
            if values:
                s.execute(insert(t), values)
            counts[t.name] = len(values)
        s.delete(entry)
    return counts


def _typed(t: Table, row: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in row.items():
        typ = t.c[k].type
        if v is not None and isinstance(typ, UTCDateTime):
            v = datetime.fromisoformat(v.replace("Z", "+00:00"))
        elif v is not None and isinstance(typ, Date):
            v = date.fromisoformat(v)
        out[k] = v
    return out


def archived_among(s: Session, case_ids: set[str]) -> set[str]:
    if not case_ids:
        return set()
    return set(s.scalars(select(ArchivedCase.case_id).where(ArchivedCase.case_id.in_(case_ids))))
