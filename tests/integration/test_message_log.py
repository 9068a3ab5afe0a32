"""The message log on a real database over real HTTP: leaves, checkpoints, proofs, tampering."""
from __future__ import annotations

import ast
import base64
import json
import shutil
import subprocess
import sys
import threading
from typing import Any

import pytest
import requests
from sqlalchemy import func, select, text

import contracts
from hub.client import HubClient, HubHTTPError
from hub.domain.errors import DomainError
from hub.messagelog import checkpoints, merkle, offline, verify
from hub.messagelog.bundle import export_case
from hub.messagelog.leaves import canonical, sha256_hex
from hub.messagelog.proofs import node_reader
from hub.messagelog.tables import LogLeaf
from hub.security import keys
from hub.services import deliveries
from hub.store.models import Delivery, DeliveryAttempt, Event
from tests.support.members import case_id


def get(client: HubClient, path: str, **params: Any) -> Any:
    return client._call("GET", path, params=params or None)


def b(x: str) -> bytes:
    return base64.b64decode(x)


def check_signature(hub_pub: Any, cp: dict[str, Any]) -> None:
    hub_pub.verify(b(cp["signature"]), cp["note"].encode("utf-8"))
    origin, size, root, _when, _ = cp["note"].split("\n")
    assert (origin, int(size), root) == (cp["origin"], cp["size"], cp["root_hash"])


def test_events_and_outcomes_are_leaves_with_verifiable_proofs(hub, live_hub, members
                                                               ):
    hrss = members["hrss"].client(live_hub.url)
    community = members["community"].client(live_hub.url)
    cid = case_id()
    receipt = hrss.emit("application_submitted", cid, contracts.example("application"))
    jwks = requests.get(live_hub.url + "/.well-known/jwks.json", timeout=10).json()
    hub_pub = keys.public_from_jwk(jwks["keys"][0])

    first = get(hrss, "/v1/log/checkpoints/latest")
    check_signature(hub_pub, first)
    assert first["size"] >= 2  # the application and the hub's own events

    # HRSS witnesses the checkpoint: its co-signature over the same note is kept and served
    note = first["note"].encode("utf-8")
    sig = base64.b64encode(members["hrss"].key.sign(note)).decode()
    cosigned = hrss._call("POST", f"/v1/log/checkpoints/{first['size']}/cosignatures",
                          {"signature": sig}, "application/json")
    assert [(c["member"], c["signature"]) for c in cosigned["cosignatures"]] == [("hrss", sig)]
    forged = base64.b64encode(members["hpf"].key.sign(note)).decode()
    with pytest.raises(HubHTTPError) as exc:
        hrss._call("POST", f"/v1/log/checkpoints/{first['size']}/cosignatures",
                   {"signature": forged}, "application/json")
    assert exc.value.response.status_code == 422
    assert exc.value.response.json()["code"] == "bad_cosignature"
    first = get(hrss, f"/v1/log/checkpoints/{first['size']}")

    # the application, as HRSS sent it and signed it, is in the log
    proof = get(hrss, "/v1/log/inclusion", event=receipt["id"])
    leaf = json.loads(proof["leaf"])
    assert leaf["kind"] == "event" and leaf["member"] == "hrss"
    assert leaf["keyid"] == members["hrss"].keyid and leaf["seq"] == receipt["sequence"]
    merkle.verify_inclusion(proof["leaf_index"], proof["tree_size"],
                            merkle.leaf_hash(proof["leaf"].encode()),
                            [b(p) for p in proof["proof"]], b(proof["checkpoint"]["root_hash"]))

    # the community unit pulls its request and acknowledges it: the outcome is a leaf
    feed = community.feed(after=0)
    request = feed["items"][0]["event"]
    community.ack(feed["next_cursor"])
    mine = get(community, "/v1/log/inclusion", event=request["id"])
    assert json.loads(mine["leaf"])["event_sha256"] == sha256_hex(canonical(request))
    with hub.transaction() as s:
        did = s.scalar(select(Delivery.id).where(Delivery.member_id == "community"))
        out = json.loads(s.scalars(select(LogLeaf.leaf).where(
            LogLeaf.kind == "delivery", LogLeaf.ref == did)).one())
    assert (out["outcome"], out["via"], out["member"]) == ("delivered", "pull", "community")
    assert out["sent_sha256"] == sha256_hex(canonical(request))

    # an event the caller neither published nor was sent stays invisible
    with pytest.raises(HubHTTPError) as exc:
        get(members["hpf"].client(live_hub.url), "/v1/log/inclusion", event=receipt["id"])
    assert exc.value.response.status_code == 404

    # a later checkpoint extends the first: the consistency proof says so
    hrss.emit("approval_decided", cid, contracts.example("approval-result"))
    later = checkpoints.to_dict(checkpoints.sign(hub, force=True))
    assert later["size"] > first["size"]
    cons = get(hrss, "/v1/log/consistency", **{"from": first["size"], "to": later["size"]})
    merkle.verify_consistency(first["size"], later["size"], b(first["root_hash"]),
                              b(later["root_hash"]), [b(p) for p in cons["proof"]])
    assert get(hrss, f"/v1/log/checkpoints/{first['size']}") == first
    with pytest.raises(HubHTTPError) as exc:
        get(hrss, "/v1/log/consistency", **{"from": 1, "to": later["size"] + 100})
    assert exc.value.response.status_code == 422

    # the stored nodes give the signed root, reading O(log n) of them, not every leaf
    with hub.transaction() as s:
        n = s.scalar(select(func.count()).select_from(LogLeaf))
        read = node_reader(s)
        seen: list[tuple[int, int]] = []
        assert merkle.root(lambda lv, ix: seen.append((lv, ix)) or read(lv, ix), n) == b(
            later["root_hash"])
    assert n == later["size"] and len(seen) == bin(n).count("1")
    assert verify.verify(hub).ok


def _push_attempts(hub: Any, did: int) -> None:
    deliveries.record_attempt(hub, did, status=503, duration_ms=5, response="busy", error=None)
    deliveries.record_attempt(hub, did, status=200, duration_ms=7, response="ok", error=None)


def test_tampering_is_named_by_verify_and_breaks_the_bundle(hub, members, make_member, tmp_path
                                                            ):
    from hub.client import make_event
    from hub.services.publish import publish

    make_member("sscard", subscribe=[contracts.event_type("application_submitted")],
                push_url="http://127.0.0.1:9/push")
    from hub.store.models import CaseMember

    cid = case_id()
    publish(hub, "hrss", make_event("hrss", "application_submitted", cid,
                                    contracts.example("application")), batch=False)
    with hub.transaction() as s:
        # a pushed delivery with a retry and a success
        ev = s.scalars(select(Event).where(Event.subject == cid, Event.source != "hrss")
                       .order_by(Event.seq)).first()
        s.add(CaseMember(case_id=cid, member_id="sscard"))
        s.add(Delivery(event_seq=ev.seq, member_id="sscard", state="pending", attempts=0,
                       created_at=ev.received_at, next_attempt_at=ev.received_at))
    with hub.transaction() as s:
        did = s.scalar(select(Delivery.id).where(Delivery.member_id == "sscard"))
    _push_attempts(hub, did)
    report = verify.verify(hub)
    assert report.ok, [str(f) for f in report.findings]

    cp = checkpoints.sign(hub, force=True)
    assert cp is not None
    hrss_sig = members["hrss"].key.sign(cp.note.encode("utf-8"))
    checkpoints.cosign(hub, "hrss", members["hrss"].keyid, cp.size,
                       base64.b64encode(hrss_sig).decode())
    good = export_case(hub, cid)
    assert offline.verify_bundle(good) == []
    assert good["checkpoint"]["size"] == cp.size and good["witnesses"]
    forged = json.loads(json.dumps(good))
    forged["witnesses"] = {k: keys.public_key_pem(keys.generate_keypair().public_key())
                           for k in forged["witnesses"]}
    assert offline.verify_bundle(forged) == [
        "checkpoint: the co-signature of hrss does not verify"]
    path = tmp_path / "good.json"
    path.write_text(json.dumps(good, ensure_ascii=False), encoding="utf-8")
    # the standalone verifier, copied away from the code base, needs nothing of the hub
    lone = tmp_path / "elsewhere" / "verify_bundle.py"
    lone.parent.mkdir()
    shutil.copy(offline.__file__, lone)
    run = subprocess.run([sys.executable, str(lone), str(path)], capture_output=True, text=True,
                         cwd=lone.parent, timeout=60)
    assert run.returncode == 0 and "OK" in run.stdout, run.stdout + run.stderr
    assert "co-signed by hrss" in run.stdout
    imported = {n.names[0].name.split(".")[0] if isinstance(n, ast.Import) else
                (n.module or "").split(".")[0]
                for n in ast.walk(ast.parse(lone.read_text()))
                if isinstance(n, (ast.Import, ast.ImportFrom))}
    assert imported <= {"__future__", "base64", "hashlib", "json", "sys", "typing", "cryptography"}

    # tamper: edit the application, delete the failed attempt, insert a fake delivery
    with hub.engine.begin() as c:
        app_seq, data = c.execute(select(Event.seq, Event.data).where(
            Event.subject == cid, Event.source == "hrss")).one()
        data = dict(data)
        data["city_code"] = "320500"
        c.execute(Event.__table__.update().where(Event.seq == app_seq).values(data=data))
        first_attempt = c.scalar(select(func.min(DeliveryAttempt.id)).where(
            DeliveryAttempt.delivery_id == did))
        c.execute(DeliveryAttempt.__table__.delete().where(DeliveryAttempt.id == first_attempt))
        fake = c.execute(Delivery.__table__.insert().values(
            event_seq=app_seq, member_id="hpf", state="delivered", attempts=1,
            delivered_at=ev.received_at, delivered_by="push", receipt_pending=False,
            created_at=ev.received_at)).inserted_primary_key[0]
    report = verify.verify(hub)
    named = [str(f) for f in report.findings]
    assert any(f.what == "changed" and f.record.startswith(f"event {app_seq} ")
               and f.checkpoint is not None for f in report.findings), named
    assert any(f.what == "removed" and f.record == f"attempt {first_attempt} of delivery {did}"
               for f in report.findings), named
    assert any(f.what == "inserted" and f.record.startswith(f"delivery {fake} ")
               for f in report.findings), named
    assert verify.last_run(hub).ok is False

    bad = offline.verify_bundle(export_case(hub, cid))
    assert any(p.startswith(f"event {app_seq} ") and "digest" in p for p in bad), bad
    assert any(p.startswith(f"attempt {first_attempt} ") and "removed" in p for p in bad), bad
    assert any(p.startswith(f"delivery {fake} ") and "inserted" in p for p in bad), bad


def test_a_changed_leaf_row_breaks_the_signed_root(hub, members):
    from hub.client import make_event
    from hub.services.publish import publish

    publish(hub, "hrss", make_event("hrss", "application_submitted", case_id(),
                                    contracts.example("application")), batch=False)
    cp = checkpoints.sign(hub, force=True)
    assert cp is not None and verify.verify(hub).ok
    with hub.engine.begin() as c:
        c.execute(text("UPDATE log_leaves SET leaf = :l WHERE idx = 0"),
                  {"l": '{"kind":"event","forged":true}'})
    whats = {(f.what, f.checkpoint) for f in verify.verify(hub).findings}
    assert ("leaf_changed", cp.size) in whats and ("root_mismatch", cp.size) in whats

    # the newest leaf deleted outright: the checkpoint that counted it says so
    with hub.engine.begin() as c:
        c.execute(text("DELETE FROM log_leaves WHERE idx = :i"), {"i": cp.size - 1})
    gone = [f for f in verify.verify(hub).findings if f.what == "removed"]
    assert [(f.record, f.checkpoint) for f in gone][:1] == [
        (f"log leaves {cp.size - 1} to {cp.size - 1}", cp.size)]

    # rewritten stored hashes: the hub refuses to sign a history contradicting its checkpoint
    with hub.engine.begin() as c:
        for idx, completes in c.execute(select(LogLeaf.idx, LogLeaf.completes)).all():
            c.execute(LogLeaf.__table__.update().where(LogLeaf.idx == idx).values(
                leaf_hash=b"\x00" * 32, completes=b"\x00" * len(completes)))
    case_id_of_last = case_id()
    publish(hub, "hrss", make_event("hrss", "application_submitted", case_id_of_last,
                                    contracts.example("application")), batch=False)
    assert checkpoints.sign(hub, force=True) is None
    assert checkpoints.sign(hub, force=True) is None
    from hub.services.operations import notices

    assert [n["kind"] for n in notices(hub)].count("log_inconsistent") == 1
    assert checkpoints.get(hub)["size"] == cp.size
    with pytest.raises(DomainError) as refused:
        export_case(hub, case_id_of_last)
    assert refused.value.code == "not_in_checkpoint"
    # the leaves appended since leave a hole where the deleted one was
    gone = [f for f in verify.verify(hub).findings if f.what == "removed"]
    assert (gone[0].record, gone[0].checkpoint) == (f"log leaf {cp.size - 1}", cp.size)


@pytest.mark.postgres
def test_concurrent_publishers_append_one_consistent_log(hub, members
                                                         ):
    if hub.engine.dialect.name != "postgresql":
        pytest.skip("the global order across connections is a PostgreSQL matter")
    from hub.client import make_event
    from hub.services.publish import publish

    sizes: list[Any] = []
    errors: list[BaseException] = []

    def publisher(n: int) -> None:
        try:
            for _ in range(n):
                publish(hub, "hrss", make_event("hrss", "application_submitted", case_id(),
                                                contracts.example("application")), batch=False)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    def signer() -> None:
        for _ in range(15):
            cp = checkpoints.sign(hub, force=True)
            if cp is not None:
                sizes.append((cp.size, cp.root))

    threads = [threading.Thread(target=publisher, args=(6,)) for _ in range(4)]
    threads.append(threading.Thread(target=signer))
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    final = checkpoints.sign(hub, force=True)
    assert final is not None
    with hub.transaction() as s:
        leaves = s.scalar(select(func.count()).select_from(LogLeaf))
        top = s.scalar(select(func.max(LogLeaf.idx)))
        logged = s.scalar(select(func.count()).select_from(LogLeaf).where(LogLeaf.kind == "event"))
        events = s.scalar(select(func.count()).select_from(Event))
    assert leaves == top + 1 == final.size and logged == events
    seen = sorted(set(sizes + [(final.size, final.root)]))
    from hub.messagelog.proofs import consistency

    for (a, ra), (z, rz) in zip(seen, seen[1:], strict=False):  # neighbours
        proof = consistency(hub, a, z)
        merkle.verify_consistency(a, z, ra, rz, [b(p) for p in proof["proof"]])
    assert verify.verify(hub).ok


def test_stale_checkpoint_is_a_notice_and_the_log_has_metrics(hub_config, members_for_stale
                                                              ):
    hub, live = members_for_stale
    from hub.client import make_event
    from hub.services.operations import notices
    from hub.services.publish import publish

    checkpoints.tick(hub)  # the first checkpoint is signed at once, even of an empty log
    publish(hub, "hrss", make_event("hrss", "application_submitted", case_id(),
                                    contracts.example("application")), batch=False)
    checkpoints.tick(hub)  # not due (an hour, a million leaves) but waiting longer than 0 s
    checkpoints.tick(hub)
    stale = [n for n in notices(hub) if n["kind"] == "log_checkpoint_stale"]
    assert len(stale) == 1 and "unsigned" in stale[0]["message"] and stale[0]["message_zh"]
    verify.verify(hub)
    body = requests.get(live.url + "/metrics", timeout=10).text
    size = checkpoints.status(hub)["size"]
    assert f"hub_log_size {float(size)}" in body
    assert "hub_log_checkpoint_size 0.0" in body
    assert "hub_log_last_verification_ok 1.0" in body
    assert "hub_log_checkpoint_age_seconds" in body


@pytest.fixture
def members_for_stale(hub_config, make_member):
    """A hub that signs only hourly or per million leaves and calls a log stale at once."""
    from hub.bootstrap import bootstrap
    from hub.http.app import create_app
    from tests.support.servers import LiveServer

    make_member("hrss", ["application_submitted"])
    h = bootstrap(hub_config.with_overrides(log_checkpoint_s=3600.0, log_checkpoint_leaves=10**6,
                                            log_checkpoint_stale_s=0.0))
    srv = LiveServer(create_app(hub=h))
    yield h, srv
    srv.stop()
    h.engine.dispose()


def test_records_older_than_the_log_are_its_baseline(database_url, tmp_path
                                                     ):
    """An installation upgraded to the log: what it stored before is not 'inserted'."""
    from hub.bootstrap import init
    from hub.config import Config
    from hub.store import migrate
    from hub.store.db import make_engine

    engine = make_engine(database_url)
    migrate.upgrade(engine, "0003")
    with engine.begin() as c:
        c.execute(Event.__table__.insert().values(
            event_id="before-the-log", source="hrss", type="t", subject="RT-old", data={},
            digest="sha256:x", received_at=checkpoints.utcnow()))
    engine.dispose()
    _, hub = init(Config(database_url=database_url, key_dir=tmp_path / "keys", run_worker=False))
    try:
        assert verify.verify(hub).ok
        with hub.engine.begin() as c:  # a later event slipped in without a leaf is not
            c.execute(Event.__table__.insert().values(
                event_id="after-the-log", source="hrss", type="t", subject="RT-old", data={},
                digest="sha256:y", received_at=checkpoints.utcnow()))
        found = verify.verify(hub).findings
        assert [f.what for f in found] == ["inserted"] and "after-the-log" in found[0].record
    finally:
        hub.engine.dispose()


def test_a_large_acknowledgement_is_logged_whole(hub, members, make_member
                                                 ):
    """More leaves in one transaction than one multi-row statement takes."""
    from hub.services.outbox import emit, utcnow

    with hub.transaction() as s:
        for _ in range(700):
            emit(s, "retirement-hub", contracts.event_type("case_status_changed"), "RT-bulk",
                 {}, ["hrss"], utcnow(), dataschema="x", known=hub.snap().members)
    with hub.transaction() as s:
        top = s.scalar(select(func.max(Delivery.id)).where(Delivery.member_id == "hrss"))
    assert deliveries.ack(hub, "hrss", top)["acknowledged"] == 700
    with hub.transaction() as s:
        logged = s.scalar(select(func.count()).select_from(LogLeaf).where(
            LogLeaf.kind == "delivery"))
    assert logged == 700
    assert verify.verify(hub).ok
