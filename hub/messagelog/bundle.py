"""Export one case as a self-contained bundle: its records, their leaves and inclusion proofs,
the checkpoint they lead to and the hub's public key (checked by ``offline.py``).

The records are read as they are stored now, so a bundle made from a tampered database says
so when verified: the bundle never repairs anything from the log.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import select

from hub.bootstrap import Hub
from hub.domain.errors import DomainError
from hub.messagelog import checkpoints, merkle, proofs
from hub.messagelog.archive import archived_among
from hub.messagelog.leaves import attempt_entry, iso
from hub.messagelog.offline import FORMAT
from hub.messagelog.tables import LogLeaf
from hub.security import keys
from hub.services.outbox import envelope, utcnow
from hub.store.models import Delivery, DeliveryAttempt, Event


def export_case(hub: Hub, case_id: str) -> dict[str, Any]:
    with hub.transaction() as s:
        top = s.scalar(select(LogLeaf.idx).where(LogLeaf.case_id == case_id)
                       .order_by(LogLeaf.idx.desc()).limit(1))
        has_events = s.scalar(select(Event.seq).where(Event.subject == case_id).limit(1))
        if top is None and has_events is None:
            raise DomainError("case_not_found", f"nothing logged or stored for case {case_id}",
                              f"办件 {case_id} 没有任何记录", status=404)
        if archived_among(s, {case_id}):
            raise DomainError("case_archived", f"case {case_id} is archived: restore it first "
                              "('hub archive restore')", f"办件 {case_id} 已归档，请先恢复",
                              status=409)
        cp = checkpoints.latest(s)
        covered = top is None or (cp is not None and cp.size > top)
    if not covered:
        checkpoints.sign(hub, force=True)
    with hub.transaction() as s:
        cp = checkpoints.latest(s)
        if cp is None or (top is not None and cp.size <= top):
            raise DomainError("not_in_checkpoint", f"case {case_id} is in no signed checkpoint "
                              "(signing refused: see the notices)",
                              f"办件 {case_id} 的记录尚未包含在已签署的检查点中", status=409)
        evs = list(s.scalars(select(Event).where(Event.subject == case_id).order_by(Event.seq)))
        dels = list(s.scalars(select(Delivery).where(
            Delivery.event_seq.in_([e.seq for e in evs])).order_by(Delivery.id)))
        atts: dict[int, list[dict[str, Any]]] = {d.id: [] for d in dels}
        for a in s.scalars(select(DeliveryAttempt).where(
                DeliveryAttempt.delivery_id.in_(list(atts))).order_by(DeliveryAttempt.id)):
            atts[a.delivery_id].append(attempt_entry(a.id, a.at, a.status_code))
        nodes = proofs.node_reader(s)
        leaves = []
        for lf in s.scalars(select(LogLeaf).where(LogLeaf.case_id == case_id,
                                                  LogLeaf.idx < cp.size).order_by(LogLeaf.idx)):
            leaves.append({"index": lf.idx, "leaf": lf.leaf, "proof": [
                checkpoints.b64(p) for p in merkle.inclusion_proof(nodes, lf.idx, cp.size)]})
        return {
            "format": FORMAT, "case_id": case_id, "exported_at": iso(utcnow()),
            "origin": cp.origin, "keyid": hub.keyid,
            "public_key_pem": keys.public_key_pem(hub.private_key.public_key()),
            "checkpoint": checkpoints.to_dict(cp),
            "witnesses": _witnesses(hub, cp.cosignatures or []),
            "events": [{"seq": e.seq, "received_at": iso(e.received_at), "envelope": envelope(e)}
                       for e in evs],
            "deliveries": [{"id": d.id, "event_seq": d.event_seq, "member": d.member_id,
                            "state": d.state, "attempts": atts[d.id]} for d in dels],
            "leaves": leaves,
        }


def _witnesses(hub: Hub, cosignatures: list[dict[str, Any]]) -> dict[str, str]:
    """key id -> public key PEM of each co-signer (so the bundle checks them offline)."""
    known = hub.snap().keys
    return {c["keyid"]: keys.public_key_pem(known[c["keyid"]][1])
            for c in cosignatures if c.get("keyid") in known}
