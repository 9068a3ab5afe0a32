"""The four city stand-ins as real processes on loopback, driven over real HTTP and real files."""
from __future__ import annotations

import csv
import io
import json
import signal
import subprocess
import sys
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask, Response, request
from werkzeug.serving import make_server

import contracts
from adapters.hpf import signing
from mock_departments.launcher import free_port
from tests.unit.test_city_community import community_request
from tests.unit.test_city_health import drop, health_row, read_result
from tests.unit.test_city_hpf import hpf_request
from tests.unit.test_city_medical import medical_request

ID_NUMBER = contracts.example("hpf-withdrawal-request")["person"]["id_number"]
SECRET = "process-test-centre-secret"


class StandIn:
    def __init__(self, name: str, tmp: Path, *args: str) -> None:
        self.port = free_port()
        self.data_dir = tmp / name
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = tmp / f"{name}.log"
        self.log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", f"mock_departments.cities.{name}", "--port", str(self.port),
             "--data-dir", str(self.data_dir), *args],
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 15
        while True:
            try:
                if requests.get(self.url + "/admin/behaviour", timeout=1).ok:
                    return
            except requests.ConnectionError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{name} did not start:\n{self.log_path.read_text()}")
            time.sleep(0.05)

    def admin(self, what: str) -> Any:
        return requests.get(f"{self.url}/admin/{what}", timeout=5).json()

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait(5)
        self.log.close()
        return code


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Any]:
    started: list[StandIn] = []

    def _start(name: str, *args: str) -> StandIn:
        s = StandIn(name, tmp_path, *args)
        started.append(s)
        return s

    yield _start
    for s in started:
        assert s.stop() == 0, s.log_path.read_text()
        assert ID_NUMBER not in s.log_path.read_text("utf-8"), "clear ID number in a log"


@pytest.fixture
def callbacks() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    calls: list[dict[str, Any]] = []
    app = Flask("receiver")

    @app.post("/cb")
    def cb() -> Response:
        calls.append({"verified": signing.verify(SECRET.encode(), "POST", request.path,
                                                 request.headers, request.get_data()) is None,
                      "body": json.loads(request.get_data(as_text=True))})
        return Response("{}", content_type="application/json")

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.port}/cb", calls
    server.shutdown()
    thread.join(5)


def _wait(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_hpf_process_calls_back_not_eligible_signed(start: Any, callbacks: Any) -> None:
    url, calls = callbacks
    hpf = start("hpf", "--city", "320400", "--secret", SECRET, "--callback-url", url,
                "--callback-delay-s", "0.1", "--not-eligible", f"{ID_NUMBER}:frozen")
    payload = contracts.example("hpf-withdrawal-request")
    doc, event_id = hpf_request(payload, "RT320400-20261125-000001"), str(uuid.uuid4())
    raw = json.dumps(doc).encode()
    headers = {"X-Hub-Event-Id": event_id, "Content-Type": "application/json",
               **signing.sign(SECRET.encode(), "320400", "POST", "/gjj/api/txtq/sq", raw)}
    resp = requests.post(hpf.url + "/gjj/api/txtq/sq", data=raw, headers=headers, timeout=5)
    assert resp.status_code == 202 and resp.json()["fhm"] == "01"
    _wait(lambda: len(calls) == 1)
    assert calls[0]["verified"]
    assert (calls[0]["body"]["blzt"], calls[0]["body"]["yydm"]) == ("09", "E03")
    again = requests.post(hpf.url + "/gjj/api/txtq/sq", data=raw, headers=headers, timeout=5)
    assert again.json()["cf"] == "1"
    assert hpf.admin("applied")["count"] == 1
    sent = [json.loads(e["body"]) for e in hpf.admin("received")["received"]]
    assert set(sent[0]) <= {"ywlsh", "xzqh", "zjlx", "zjhm", "xm", "dwmc", "dwzh", "txny", "spsj",
                            "hdurl"}


def test_medical_process_with_configured_years_and_down_by_option(start: Any) -> None:
    med = start("medical", "--required-years-male", "45")
    payload = contracts.example("medical-transfer-request")
    raw = medical_request(payload, "RT320400-20261125-000001", "m-1")
    resp = requests.post(med.url + "/ybj/ws/ZtxService", data=raw,
                         headers={"Content-Type": "text/xml; charset=utf-8"}, timeout=5)
    root = ET.fromstring(resp.content)
    assert root.findtext("Body/ZtxResponse/Result") == "2"
    assert root.findtext("Body/ZtxResponse/ReasonCode") == "YB-NX-01"
    [entry] = med.admin("received")["received"]
    assert entry["body"].encode("utf-8") == raw

    down = start("medical", "--mode", "down")
    resp = requests.post(down.url + "/ybj/ws/ZtxService", data=raw, timeout=5)
    assert resp.status_code == 503
    assert down.admin("behaviour")["mode"] == "down"


def test_health_process_batches_on_its_schedule(start: Any) -> None:
    health = start("health", "--interval-s", "0.1")
    payload = contracts.example("only-child-certificate-request")
    good = health_row(payload, "B1", "ev-1")
    name = drop(health.data_dir / "inbox", [good, good[:3]], batch="B1")
    outbox = health.data_dir / "outbox"
    _wait(lambda: (outbox / name.replace(".csv", "_RESULT.csv")).exists())
    rows = read_result(outbox, name)
    assert [(r["结果"], r["原因代码"]) for r in rows] == [("登记成功", "00"), ("不予登记", "E101")]
    assert (health.data_dir / "processed" / name).exists()
    [entry] = health.admin("received")["received"]
    table = list(csv.reader(io.StringIO(entry["body"].lstrip("\ufeff"))))
    assert table[0] == ["批次号", "事件编号", "姓名", "身份证号", "性别", "是否持证", "退休年月"]


def test_community_process_receives_then_poll_assigns(start: Any) -> None:
    community = start("community", "--process-delay-s", "0.1")
    payload = contracts.example("socialized-management-request")
    resp = requests.post(community.url + "/sqfw/v1/enrolments",
                         json=community_request(payload, "RT320400-20261125-000001"),
                         headers={"Idempotency-Key": str(uuid.uuid4())}, timeout=5)
    assert resp.status_code == 202 and resp.json()["state"] == "RECEIVED"
    poll = community.url + resp.headers["Location"]
    _wait(lambda: requests.get(poll, timeout=5).json()["state"] == "ASSIGNED")
    assert requests.get(poll, timeout=5).json()["assigned"]["community"] == "示例社区"
    requests.post(community.url + "/admin/behaviour", json={"mode": "error"}, timeout=5)
    assert requests.get(poll, timeout=5).status_code == 500


APPLICANT = contracts.example("application")
CLEAR = [APPLICANT["applicant"]["id_number"], APPLICANT["applicant"]["mobile"],
         APPLICANT["applicant"]["household_address"],
         APPLICANT["socialized_management"]["residence"]["phone"],
         APPLICANT["socialized_management"]["residence"]["address"]["detail"],
         APPLICANT["socialized_management"]["contact_1"]["address"]["detail"]]


def test_malformed_input_leaves_no_personal_data_or_forged_line_in_any_log(start: Any) -> None:
    """Each stand-in process driven down its malformed-input paths; then every log is read."""
    a, s = APPLICANT["applicant"], APPLICANT["socialized_management"]
    smuggled = (f"{a['id_number']} {a['mobile']} {a['household_address']} "
                f"{s['residence']['phone']}\nINFO forged line")
    health = start("health", "--interval-s", "0.1", "-v")
    # a file name with a newline, rows whose 事件编号 carry the applicant's data
    inbox = health.data_dir / "inbox"
    rows = [["B1", smuggled, a["name"], a["id_number"], "男", "是", "202610"],
            ["B1", f"{a['mobile']}", a["name"], "not-an-id", "男", "是", "202610"],
            ["B1", s["contact_1"]["address"]["detail"], a["name"], a["id_number"], "?", "是",
             "2026-10"]]
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows(
        [["批次号", "事件编号", "姓名", "身份证号", "性别", "是否持证", "退休年月"], *rows])
    name = "DSZN_320400_20260922103005_B1\nINFO forged file.csv"
    (inbox / (name + ".tmp")).write_bytes(b"\xef\xbb\xbf" + buf.getvalue().encode("utf-8"))
    (inbox / (name + ".tmp")).rename(inbox / name)
    _wait(lambda: any(health.data_dir.joinpath("outbox").iterdir()))
    community = start("community", "--process-delay-s", "0.1", "-v")
    body = community_request(contracts.example("socialized-management-request"),
                             smuggled)
    requests.post(community.url + "/sqfw/v1/enrolments", json=body, timeout=5,
                  headers={"Idempotency-Key": str(uuid.uuid4())})
    requests.post(community.url + "/sqfw/v1/enrolments", json={**body, "regionCode": "x"},
                  timeout=5, headers={"Idempotency-Key": str(uuid.uuid4())})
    medical = start("medical", "-v")
    requests.post(medical.url + "/ybj/ws/ZtxService", timeout=5,
                  data=f"<Envelope><Body><ZtxRequest><CertNo>{a['id_number']}</CertNo>"
                       f"<Addr>{a['household_address']}</Addr>".encode())
    hpf = start("hpf", "--secret", SECRET, "-v")
    raw = json.dumps({"zjhm": a["id_number"], "sjhm": a["mobile"],
                      "dz": a["household_address"]}, ensure_ascii=False).encode()
    requests.post(hpf.url + "/gjj/api/txtq/sq", data=raw, timeout=5,
                  headers={"X-Hub-Event-Id": f"{a['id_number']} {a['mobile']}"})
    for proc in (health, community, medical, hpf):
        assert proc.stop() == 0
        text = proc.log_path.read_text("utf-8")
        for clear in CLEAR:
            assert clear not in text, (proc.log_path.name, clear)
        assert not any(line.startswith("INFO forged") for line in text.splitlines())
    assert "forged" in health.log_path.read_text("utf-8")  # the paths were logged, escaped
