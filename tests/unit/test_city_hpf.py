"""The city housing provident fund centre stand-in, through its HTTP interface and callbacks."""
from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, Response, request
from flask.testing import FlaskClient
from werkzeug.serving import make_server

import contracts
from adapters.hpf import signing
from mock_departments.cities.hpf import create_app, parse_not_eligible

APPLY = "/gjj/api/txtq/sq"
QUERY = "/gjj/api/txtq/cx"
SECRET = "changzhou-centre-secret-0001"
CST = timezone(timedelta(hours=8))


def hpf_request(payload: dict[str, Any], case_id: str, hdurl: str | None = None
                ) -> dict[str, str]:
    """What an adapter sends, built from an `hpf-withdrawal-request/1` payload."""
    decided = datetime.fromisoformat(payload["approval_decided_at"]).astimezone(CST)
    doc = {"ywlsh": case_id, "xzqh": payload["city_code"], "zjlx": "01",
           "zjhm": payload["person"]["id_number"], "xm": payload["person"]["name"],
           "dwmc": payload["employer"]["name"], "dwzh": payload["employer"]["number"],
           "txny": payload["retirement_month"].replace("-", ""),
           "spsj": decided.strftime("%Y-%m-%d %H:%M:%S")}
    if hdurl:
        doc["hdurl"] = hdurl
    return doc


class Receiver:
    """A real HTTP server standing in for the adapter's callback endpoint."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.status = 200
        app = Flask("receiver")

        @app.post("/hpf/callback")
        def callback() -> Response:
            raw = request.get_data()
            self.calls.append({"headers": dict(request.headers),
                               "verified": signing.verify(SECRET.encode(), "POST", request.path,
                                                          request.headers, raw) is None,
                               "body": json.loads(request.get_data(as_text=True))})
            return Response('{"fhm": "00"}', status=self.status, content_type="application/json")

        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.port}/hpf/callback"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait(self, n: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while len(self.calls) < n and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(self.calls) >= n, f"expected {n} callbacks, got {len(self.calls)}"
        return self.calls

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(5)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.stop()


@pytest.fixture
def payload() -> dict[str, Any]:
    return contracts.example("hpf-withdrawal-request")


def _app(tmp_path: Path, **config: Any) -> Flask:
    config.setdefault("callback_delay_s", 0.05)
    config.setdefault("secret", SECRET)
    return create_app({"data_dir": str(tmp_path / "hpf"), "city": "320400", **config})


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    a = _app(tmp_path)
    yield a
    a.extensions["city"].close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def _case() -> str:
    return f"RT320400-20261125-{uuid.uuid4().int % 10**6:06d}"


def _post(client: FlaskClient, doc: dict[str, Any], event_id: str | None = None,
          **headers: str) -> Any:
    raw = json.dumps(doc, ensure_ascii=False).encode()
    h = {"X-Hub-Event-Id": event_id or str(uuid.uuid4()),
         **signing.sign(SECRET.encode(), "320400", "POST", APPLY, raw), **headers}
    return client.post(APPLY, data=raw, headers=h, content_type="application/json")


def _query(client: FlaskClient, query: str) -> Any:
    path = f"{QUERY}?{query}"
    return client.get(path, headers=signing.sign(SECRET.encode(), "320400", "GET", path, b""))


def test_accepts_with_202_then_calls_back_completed(client: FlaskClient, receiver: Receiver,
                                                      payload: dict[str, Any]) -> None:
    case, event_id = _case(), str(uuid.uuid4())
    resp = _post(client, hpf_request(payload, case, receiver.url), event_id)
    assert resp.status_code == 202
    body = resp.get_json()
    assert body["fhm"] == "01" and body["ywlsh"] == case and body["slbh"].startswith("GJJ320400-")
    call = receiver.wait(1)[0]
    assert call["headers"]["X-Hub-Event-Id"] == event_id
    assert call["body"]["slbh"] == body["slbh"] and call["body"]["sjid"] == event_id
    assert call["body"]["blzt"] == "02" and call["body"]["tqje"] == "86543.21"
    assert "zjhm" not in call["body"]  # no personal data in the callback
    assert call["verified"] and call["headers"]["X-Gjj-Xzqh"] == "320400"
    query = _query(client, f"slbh={body['slbh']}").get_json()
    assert query["blzt"] == "02" and query["bjsj"] == call["body"]["bjsj"]
    assert _query(client, f"ywlsh={case}").get_json()["slbh"] == body["slbh"]


def test_query_says_accepted_until_the_result_is_ready(tmp_path: Path,
                                                       payload: dict[str, Any]) -> None:
    app = _app(tmp_path, callback_delay_s=0.4)
    try:
        c = app.test_client()
        slbh = _post(c, hpf_request(payload, _case())).get_json()["slbh"]
        assert _query(c, f"slbh={slbh}").get_json()["blzt"] == "01"
        time.sleep(0.5)
        assert _query(c, f"slbh={slbh}").get_json()["blzt"] == "02"
        assert _query(c, "slbh=GJJ-none").status_code == 404
    finally:
        app.extensions["city"].close()


@pytest.mark.parametrize("reason,code,message", [("no_account", "E01", "未查询到住房公积金账户"),
                                                 ("arrears", "E02", "住房公积金账户存在欠缴"),
                                                 ("frozen", "E03", "住房公积金账户已冻结")])
def test_not_eligible_for_configured_id_numbers(tmp_path: Path, receiver: Receiver,
                                                payload: dict[str, Any], reason: str,
                                                code: str, message: str) -> None:
    app = _app(tmp_path, callback_url=receiver.url,
               not_eligible={payload["person"]["id_number"]: reason})
    try:
        assert _post(app.test_client(), hpf_request(payload, _case())).status_code == 202
        result = receiver.wait(1)[0]["body"]
        assert (result["blzt"], result["yydm"], result["yyxx"]) == ("09", code, message)
        assert result["tqje"] == ""
    finally:
        app.extensions["city"].close()


def test_not_eligible_spec_parsing() -> None:
    assert parse_not_eligible(["320402196605150033:arrears"]) == {
        "320402196605150033": ("E02", "住房公积金账户存在欠缴")}
    assert parse_not_eligible({"11010519491231002x": "E03"})["11010519491231002X"][0] == "E03"
    with pytest.raises(ValueError):
        parse_not_eligible(["320402196605150033:bankrupt"])


def test_dedupes_by_event_id(client: FlaskClient, app: Flask, receiver: Receiver,
                             payload: dict[str, Any]) -> None:
    doc, event_id = hpf_request(payload, _case(), receiver.url), str(uuid.uuid4())
    first = _post(client, doc, event_id).get_json()
    second = _post(client, doc, event_id)
    assert second.status_code == 202
    assert second.get_json() == {**first, "cf": "1"}
    receiver.wait(1)
    time.sleep(0.3)
    assert len(receiver.calls) == 1  # applied once, called back once
    applied = client.get("/admin/applied").get_json()
    assert applied["count"] == 1 and applied["duplicates"] == 1
    assert applied["applied"][0]["event_id"] == event_id
    assert len(client.get("/admin/received").get_json()["received"]) == 2


def test_refuses_with_reason_and_a_retry_is_evaluated_afresh(client: FlaskClient,
                                                              payload: dict[str, Any]) -> None:
    set_to = client.post("/admin/behaviour", json={
        "mode": "refuse", "reason": {"code": "E08", "message": "年终结算，暂停受理"}})
    assert set_to.status_code == 200 and set_to.get_json()["mode"] == "refuse"
    doc, event_id = hpf_request(payload, _case()), str(uuid.uuid4())
    resp = _post(client, doc, event_id)
    assert resp.status_code == 200
    assert resp.get_json() == {"fhm": "08", "fhxx": "年终结算，暂停受理", "yydm": "E08",
                               "slbh": None}
    client.post("/admin/behaviour", json={"mode": "accept"})
    again = _post(client, doc, event_id)
    assert again.status_code == 202 and "cf" not in again.get_json()


def test_error_mode_answers_500_and_stores_nothing(client: FlaskClient,
                                                   payload: dict[str, Any]) -> None:
    client.post("/admin/behaviour", json={"mode": "error"})
    resp = _post(client, hpf_request(payload, _case()))
    assert resp.status_code == 500 and resp.get_json()["fhm"] == "96"
    assert client.get("/admin/applied").get_json()["count"] == 0


def test_down_mode_answers_503_except_admin(client: FlaskClient, receiver: Receiver,
                                            payload: dict[str, Any]) -> None:
    _post(client, hpf_request(payload, _case(), receiver.url))
    client.post("/admin/behaviour", json={"mode": "down"})
    resp = _post(client, hpf_request(payload, _case()))
    assert resp.status_code == 503 and resp.get_json()["fhm"] == "95"
    assert client.get("/healthz").status_code == 503
    assert client.get("/admin/behaviour").get_json()["mode"] == "down"
    time.sleep(0.3)
    assert receiver.calls == []  # held while down
    client.post("/admin/behaviour", json={"mode": "accept"})
    assert receiver.wait(1)[0]["body"]["blzt"] == "02"


def test_slow_mode_delays_the_answer(client: FlaskClient, payload: dict[str, Any]) -> None:
    client.post("/admin/behaviour", json={"mode": "slow", "delay_s": 0.3})
    started = time.monotonic()
    assert _post(client, hpf_request(payload, _case())).status_code == 202
    assert time.monotonic() - started >= 0.3


def test_callback_is_retried_until_the_adapter_answers(client: FlaskClient, receiver: Receiver,
                                                      payload: dict[str, Any]) -> None:
    receiver.status = 500
    _post(client, hpf_request(payload, _case(), receiver.url))
    receiver.wait(1)
    receiver.status = 200
    calls = receiver.wait(2, timeout=5)
    assert calls[0]["body"] == calls[1]["body"]


def test_bad_requests_get_the_centres_own_codes(tmp_path: Path, payload: dict[str, Any]) -> None:
    app = _app(tmp_path)
    try:
        c = app.test_client()
        doc = hpf_request(payload, _case())
        unsigned = c.post(APPLY, json=doc, headers={"X-Hub-Event-Id": "e-0"})
        assert unsigned.status_code == 401 and unsigned.get_json()["fhm"] == "98"
        wrong = _post(c, doc, **signing.sign(b"another-city-secret-0002", "320400", "POST",
                                             APPLY, json.dumps(doc).encode()))
        assert wrong.status_code == 401
        stale = _post(c, doc, **signing.sign(SECRET.encode(), "320400", "POST", APPLY,
                                             json.dumps(doc, ensure_ascii=False).encode(),
                                             now=time.time() - 3600))
        assert stale.status_code == 401
        unsigned_query = c.get(f"{QUERY}?slbh=GJJ320400-000001")
        assert unsigned_query.status_code == 401
        no_id = c.post(APPLY, data=json.dumps(doc).encode(), content_type="application/json",
                       headers=signing.sign(SECRET.encode(), "320400", "POST", APPLY,
                                            json.dumps(doc).encode()))
        assert no_id.status_code == 400 and no_id.get_json()["fhm"] == "97"
        for broken, word in [({**doc, "sjhm": "13800000000"}, "sjhm"),
                             ({k: v for k, v in doc.items() if k != "dwzh"}, "dwzh"),
                             ({**doc, "zjhm": "320402196605150034"}, "zjhm"),
                             ({**doc, "txny": "2026-10"}, "txny"),
                             ({**doc, "xzqh": "320200"}, "xzqh")]:
            resp = _post(c, broken)
            assert resp.status_code == 400, broken
            assert resp.get_json()["fhm"] == "99" and word in resp.get_json()["fhxx"]
        bad_json = c.post(APPLY, data=b"{not json", headers={
            **signing.sign(SECRET.encode(), "320400", "POST", APPLY, b"{not json"),
            "X-Hub-Event-Id": "e-1"})
        assert bad_json.status_code == 400 and bad_json.get_json()["fhm"] == "99"
        assert app.extensions["city"].applied == {}
    finally:
        app.extensions["city"].close()


def test_journal_keeps_bodies_exactly_and_logs_no_clear_id(client: FlaskClient,
                                                            payload: dict[str, Any],
                                                            caplog: pytest.LogCaptureFixture
                                                            ) -> None:
    caplog.set_level(logging.DEBUG)
    raw = json.dumps(hpf_request(payload, _case()), ensure_ascii=False, indent=1)
    client.post(APPLY, data=raw.encode(), content_type="application/json", headers={
        "X-Hub-Event-Id": "ev-1",
        **signing.sign(SECRET.encode(), "320400", "POST", APPLY, raw.encode())})
    entry = client.get("/admin/received").get_json()["received"][0]
    assert entry["body"] == raw and entry["event_id"] == "ev-1" and entry["format"] == "json"
    assert entry["path"] == APPLY
    assert payload["person"]["id_number"] not in caplog.text
    assert "3204**********0033" in caplog.text


def test_dedupe_survives_a_restart(tmp_path: Path, payload: dict[str, Any]) -> None:
    doc, event_id = hpf_request(payload, _case()), str(uuid.uuid4())
    first_app = _app(tmp_path)
    first = _post(first_app.test_client(), doc, event_id).get_json()
    first_app.extensions["city"].close()
    second_app = _app(tmp_path)
    try:
        again = _post(second_app.test_client(), doc, event_id).get_json()
        assert again["slbh"] == first["slbh"] and again["cf"] == "1"
    finally:
        second_app.extensions["city"].close()


def test_admin_rejects_an_unknown_mode_and_reset_clears(client: FlaskClient,
                                                        payload: dict[str, Any]) -> None:
    assert client.post("/admin/behaviour", json={"mode": "asleep"}).status_code == 400
    assert client.post("/admin/behaviour", json={"mode": "slow", "delay_s": -1}).status_code == 400
    _post(client, hpf_request(payload, _case()))
    client.post("/admin/behaviour", json={"mode": "down"})
    assert client.post("/admin/reset").get_json()["mode"] == "accept"
    assert client.get("/admin/received").get_json()["received"] == []
    assert client.get("/admin/applied").get_json()["count"] == 0


def test_a_centre_without_a_secret_does_not_start(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="secret"):
        create_app({"data_dir": str(tmp_path / "hpf"), "city": "320400"})
