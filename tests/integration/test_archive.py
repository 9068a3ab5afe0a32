"""Archives on a real database: closed cases leave the hot tables, their proofs stay valid,
the files are chained and signed, and a case comes back intact."""
from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select

import contracts
from hub.client import make_event
from hub.messagelog import archive, checkpoints, merkle, offline, verify
from hub.messagelog.bundle import export_case
from hub.messagelog.proofs import inclusion
from hub.messagelog.tables import LogLeaf
from hub.services import deliveries
from hub.services.publish import publish
from hub.store.models import CaseRow, Delivery, DeliveryAttempt, Event
from tests.support.members import case_id


def _count(hub, model, *where):
    with hub.transaction() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where))


def _settle(hub, members):
    """Every member pulls and acknowledges all it is owed (receipts may owe more)."""
    while _count(hub, Delivery, Delivery.state == "pending"):
        for m in members:
            with hub.transaction() as s:
                top = s.scalar(select(func.max(Delivery.id)).where(Delivery.member_id == m))
            if top:
                deliveries.ack(hub, m, top)
        deliveries.apply_receipts(hub)


def test_archive_run_verify_restore(hub, members, tmp_path: Path):
    hub = dataclasses.replace(hub, config=hub.config.with_overrides(
        archive_dir=tmp_path / "archive"))
    closed = [case_id() for _ in range(3)]
    for cid in closed:
        publish(hub, "hrss", make_event("hrss", "application_submitted", cid,
                                        contracts.example("application")), batch=False)
        publish(hub, "hrss", make_event("hrss", "approval_decided", cid,
                                        contracts.example("approval-result-refused")), batch=False)
    still_open = case_id()
    publish(hub, "hrss", make_event("hrss", "application_submitted", still_open,
                                    contracts.example("application")), batch=False)
    _settle(hub, members)
    cp = checkpoints.sign(hub, force=True)
    assert cp is not None
    events_before = _count(hub, Event)
    closed_events = _count(hub, Event, Event.subject.in_(closed))
    assert closed_events > 0

    out = archive.run(hub, timedelta(0))
    assert out["archived"] == 3 and len(out["files"]) == 1
    assert _count(hub, Event) == events_before - closed_events  # the hot tables shrank
    assert _count(hub, CaseRow, CaseRow.id.in_(closed)) == 0
    assert _count(hub, CaseRow, CaseRow.id == still_open) == 1
    assert archive.verify(hub) == []
    raw = (tmp_path / "archive" / out["files"][0]).read_bytes()
    assert b"applicant" not in raw and "张".encode() not in raw  # personal data is encrypted

    # every proof about the archived cases still verifies against the signed root
    with hub.transaction() as s:
        idxs = list(s.scalars(select(LogLeaf.idx).where(LogLeaf.case_id.in_(closed))))
        assert idxs
        for idx in idxs:
            p = inclusion(s, idx, cp)
            merkle.verify_inclusion(idx, cp.size, merkle.leaf_hash(p["leaf"].encode()),
                                    [__import__("base64").b64decode(x) for x in p["proof"]],
                                    cp.root)
    assert verify.verify(hub).ok

    # a case comes back intact: its records match their leaves again
    counts = archive.restore(hub, closed[0])
    assert counts["events"] == _count(hub, Event, Event.subject == closed[0]) > 0
    assert verify.verify(hub).ok
    assert offline.verify_bundle(export_case(hub, closed[0])) == []

    # archived again, into a second file chained to the first
    again = archive.run(hub, timedelta(0))
    assert again["archived"] == 1 and archive.verify(hub) == []

    # a changed byte in the first file breaks its signed digest
    first = tmp_path / "archive" / out["files"][0]
    data = bytearray(first.read_bytes())
    data[10] ^= 1
    first.write_bytes(bytes(data))
    assert any(out["files"][0] in p and "digest" in p for p in archive.verify(hub))


def test_cases_with_pending_deliveries_or_recent_closure_stay(hub, members, tmp_path
                                                             ):
    hub = dataclasses.replace(hub, config=hub.config.with_overrides(
        archive_dir=tmp_path / "archive"))
    cid = case_id()
    publish(hub, "hrss", make_event("hrss", "application_submitted", cid,
                                    contracts.example("application")), batch=False)
    publish(hub, "hrss", make_event("hrss", "approval_decided", cid,
                                    contracts.example("approval-result-refused")), batch=False)
    assert archive.run(hub, timedelta(0))["archived"] == 0  # HRSS has not pulled its statuses
    _settle(hub, members)
    assert archive.run(hub, timedelta(days=1))["archived"] == 0  # closed just now
    assert archive.run(hub, timedelta(0))["archived"] == 1
    assert _count(hub, DeliveryAttempt) == 0 and archive.verify(hub) == []
