"""Whole-log verification: recompute every leaf from the stored records, rebuild the tree
leaf by leaf and hold it against every signed checkpoint.

Memory stays O(log n): only the frontier is kept while the leaves stream past in batches.
Each finding names the record, the leaf and the first checkpoint that signed it.
"""
from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from sqlalchemy import and_, exists, select

from hub.bootstrap import Hub
from hub.domain.delivery import DEAD, DELIVERED, PENDING
from hub.messagelog import merkle
from hub.messagelog.archive import archived_among
from hub.messagelog.leaves import attempt_entry, canonical, event_leaf, sha256_hex
from hub.messagelog.tables import LogCheckpoint, LogHead, LogLeaf, LogVerification
from hub.services.outbox import envelope, utcnow
from hub.store.models import Delivery, DeliveryAttempt, Event


@dataclass(frozen=True)
class Finding:
    what: str          # changed, removed, inserted, leaf_changed, root_mismatch, bad_signature
    record: str        # e.g. "event 12 (id …)", "attempt 40 of delivery 7"
    leaf: int | None
    checkpoint: int | None  # size of the first checkpoint that signed the leaf
    detail: str

    def __str__(self) -> str:
        where = f" leaf {self.leaf}" if self.leaf is not None else ""
        cp = (f", signed by checkpoint {self.checkpoint}" if self.checkpoint is not None
              else ", not yet in a checkpoint" if self.leaf is not None else "")
        return f"{self.what}: {self.record}{where}{cp}: {self.detail}"


@dataclass
class Report:
    size: int
    checkpoints: int
    findings: list[Finding]

    @property
    def ok(self) -> bool:
        return not self.findings

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "size": self.size, "checkpoints": self.checkpoints,
                "findings": [asdict(f) for f in self.findings]}


def verify(hub: Hub, progress: Callable[[int, int], None] | None = None,
           batch: int = 2000) -> Report:
    findings: list[Finding] = []
    pub = hub.private_key.public_key()
    with hub.transaction() as s:
        cps = list(s.scalars(select(LogCheckpoint).order_by(LogCheckpoint.size)))
        size = s.scalar(select(LogLeaf.idx).order_by(LogLeaf.idx.desc()).limit(1))
        head_size = s.scalar(select(LogHead.size).where(LogHead.id == 1)) or 0
    total = (size + 1) if size is not None else 0
    sizes = [c.size for c in cps]

    def signed_by(idx: int) -> int | None:
        return next((z for z in sizes if z > idx), None)

    for cp in cps:
        try:
            if cp.keyid != hub.keyid:
                raise InvalidSignature
            pub.verify(base64.b64decode(cp.signature), cp.note.encode("utf-8"))
        except (InvalidSignature, ValueError):
            findings.append(Finding("bad_signature", f"checkpoint {cp.size}", None, cp.size,
                                    "the signature does not verify with the hub's key"))
    by_size = {c.size: c for c in cps}
    empty = by_size.get(0)
    if empty is not None and empty.root != merkle.EMPTY_ROOT:
        findings.append(Finding("root_mismatch", "checkpoint 0", None, 0, "not the empty root"))
    frontier: list[bytes] = []
    n = 0
    flagged_events: set[int] = set()
    gap = False
    while n < total and not gap:
        with hub.transaction() as s:
            leaves = list(s.scalars(select(LogLeaf).where(LogLeaf.idx >= n)
                                    .order_by(LogLeaf.idx).limit(batch)))
            if not leaves:
                break
            for leaf in leaves:
                if leaf.idx != n:  # a leaf row is gone: the tree cannot be rebuilt past it
                    findings.append(Finding("removed", f"log leaf {n}", n, signed_by(n),
                                            "the leaf row itself was deleted"))
                    gap = True
                    break
                data = leaf.leaf.encode("utf-8")
                h = merkle.leaf_hash(data)
                if bytes(leaf.leaf_hash) != h:
                    findings.append(Finding("leaf_changed", f"log leaf {n}", n, signed_by(n),
                                            "the stored leaf no longer hashes to its node"))
                frontier, made = merkle.append(frontier, n, h)
                if b"".join(x for _, _, x in made[1:]) != bytes(leaf.completes):
                    findings.append(Finding("leaf_changed", f"log leaf {n}", n, signed_by(n),
                                            "the stored subtree hashes differ from the leaves'"))
                n += 1
                at_n = by_size.get(n)
                if at_n is not None and merkle.frontier_root(frontier) != at_n.root:
                    findings.append(Finding("root_mismatch", f"checkpoint {n}", None, n,
                                            "the stored leaves do not give the signed root"))
            findings.extend(_record_findings(s, leaves, signed_by, flagged_events))
        if progress:
            progress(n, total)
    end = max([head_size] + sizes)
    if n < end and not gap:  # the newest leaves are gone (the head or a checkpoint counted them)
        findings.append(Finding("removed", f"log leaves {n} to {end - 1}", n, signed_by(n),
                                f"the log holds {n} leaves, the head or a checkpoint {end}"))
    with hub.transaction() as s:
        base = s.scalar(select(LogHead.baseline).where(LogHead.id == 1)) or {}
        findings.extend(_inserted(s, base))
    return _finish(hub, Report(total, len(cps), findings))


def _finish(hub: Hub, report: Report) -> Report:
    with hub.transaction() as s:
        s.add(LogVerification(at=utcnow(), size=report.size, ok=report.ok,
                              findings=len(report.findings)))
    return report


def _record_findings(s: Any, leaves: list[LogLeaf], signed_by: Callable[[int], int | None],
                     flagged: set[int]) -> list[Finding]:
    out: list[Finding] = []
    parsed = []
    archived = archived_among(s, {lf.case_id for lf in leaves if lf.case_id})
    for lf in leaves:
        if lf.case_id in archived:
            continue  # its records are in a signed archive file (``hub archive verify``)
        p = _parse(lf.leaf)
        if p is None:
            out.append(Finding("leaf_changed", f"log leaf {lf.idx}", lf.idx, signed_by(lf.idx),
                               "the stored leaf is not a leaf this hub writes"))
        else:
            parsed.append((lf.idx, p))
    seqs = {p["seq"] for _, p in parsed if p["kind"] == "event"}
    seqs |= {p["event_seq"] for _, p in parsed if p["kind"] == "delivery"}
    events = {e.seq: e for e in s.scalars(select(Event).where(Event.seq.in_(seqs)))}
    dids = {p["delivery"] for _, p in parsed if p["kind"] == "delivery"}
    dels = {d.id: d for d in s.scalars(select(Delivery).where(Delivery.id.in_(dids)))}
    aids = {a["id"] for _, p in parsed if p["kind"] == "delivery" for a in p["attempts"]}
    atts = {a.id: a for a in s.scalars(select(DeliveryAttempt).where(DeliveryAttempt.id.in_(aids)))}
    for idx, p in parsed:
        cp = signed_by(idx)
        if p["kind"] == "event":
            ev = events.get(p["seq"])
            name = f"event {p['seq']} (id {p['id']}, from {p['member']})"
            if ev is None:
                out.append(Finding("removed", name, idx, cp, "the event row is gone"))
                flagged.add(p["seq"])
                continue
            again = event_leaf(seq=ev.seq, event_id=ev.event_id, member=ev.source,
                               keyid=p.get("keyid"), received_at=ev.received_at,
                               envelope=envelope(ev))
            if again != p:
                diff = sorted(k for k in p if again.get(k) != p.get(k))
                out.append(Finding("changed", name, idx, cp,
                                   "stored event differs from what was logged: " + ", ".join(diff)))
                flagged.add(p["seq"])
            continue
        did = p["delivery"]
        name = f"delivery {did} ({p['outcome']} to {p['member']})"
        d = dels.get(did)
        if d is None:
            out.append(Finding("removed", name, idx, cp, "the delivery row is gone"))
            continue
        if d.member_id != p["member"] or d.event_seq != p["event_seq"]:
            out.append(Finding("changed", name, idx, cp, "member or event differs from the log"))
        ev = events.get(p["event_seq"])
        if ev is not None and p["event_seq"] not in flagged and \
                sha256_hex(canonical(envelope(ev))) != p["sent_sha256"]:
            out.append(Finding("changed", name, idx, cp, "the event sent differs from the log"))
        for logged in p["attempts"]:
            a = atts.get(logged["id"])
            aname = f"attempt {logged['id']} of delivery {did}"
            if a is None:
                out.append(Finding("removed", aname, idx, cp, "the attempt row is gone"))
            elif a.delivery_id != did or attempt_entry(a.id, a.at, a.status_code) != logged:
                out.append(Finding("changed", aname, idx, cp, "attempt differs from the log"))
    return out


EVENT_KEYS = {"v", "kind", "seq", "id", "member", "keyid", "received_at", "event_sha256"}
DELIVERY_KEYS = {"v", "kind", "delivery", "event_seq", "member", "outcome", "via", "at",
                 "attempts", "sent_sha256"}


def _parse(raw: str) -> dict[str, Any] | None:
    try:
        p = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(p, dict):
        return None
    keys = EVENT_KEYS if p.get("kind") == "event" else DELIVERY_KEYS
    if set(p) != keys:
        return None
    if p["kind"] == "delivery" and not (isinstance(p["attempts"], list) and all(
            isinstance(a, dict) and isinstance(a.get("id"), int) for a in p["attempts"])):
        return None
    return p


def _inserted(s: Any, base: dict[str, Any]) -> list[Finding]:
    """Records with no leaf: events never logged, settled deliveries and attempts nobody logged
    (records older than the log itself, its baseline, excepted)."""
    out: list[Finding] = []
    ev_leaf = exists().where(LogLeaf.kind == "event", LogLeaf.ref == Event.seq)
    for seq, eid, src in s.execute(select(Event.seq, Event.event_id, Event.source)
                                   .where(~ev_leaf, Event.seq > int(base.get("events", 0)))
                                   .order_by(Event.seq)):
        out.append(Finding("inserted", f"event {seq} (id {eid}, from {src})", None, None,
                           "stored but never logged"))
    d_leaf = exists().where(LogLeaf.kind == "delivery", LogLeaf.ref == Delivery.id)
    for did, member, state in s.execute(select(Delivery.id, Delivery.member_id, Delivery.state)
                                        .where(Delivery.state.in_((DELIVERED, DEAD)), ~d_leaf,
                                               Delivery.id > int(base.get("deliveries", 0)))
                                        .order_by(Delivery.id)):
        out.append(Finding("inserted", f"delivery {did} ({state} to {member})", None, None,
                           "a settled delivery that was never logged"))
    a_leaf = exists().where(LogLeaf.kind == "delivery",
                            LogLeaf.ref == DeliveryAttempt.delivery_id,
                            LogLeaf.attempt_max >= DeliveryAttempt.id)
    for aid, did in s.execute(
            select(DeliveryAttempt.id, DeliveryAttempt.delivery_id)
            .join(Delivery, Delivery.id == DeliveryAttempt.delivery_id)
            .where(and_(Delivery.state != PENDING, ~a_leaf,
                        DeliveryAttempt.id > int(base.get("delivery_attempts", 0))))
            .order_by(DeliveryAttempt.id)):
        out.append(Finding("inserted", f"attempt {aid} of delivery {did}", None, None,
                           "an attempt of a settled delivery that was never logged"))
    return out


def last_run(hub: Hub) -> LogVerification | None:
    with hub.transaction() as s:
        newest = select(LogVerification).order_by(LogVerification.id.desc()).limit(1)
        return s.scalars(newest).first()
