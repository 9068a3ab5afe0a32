"""The four unit adapters against the real city stand-ins and a real hub over HTTP."""
from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

import contracts
from adapters import community, health, hpf, medical
from adapters.cli import Running, build
from adapters.hpf import signing
from adapters.routing import RoutingTable
from tests.support.servers import LiveServer

UNITS = {"hpf": hpf.UNIT, "medical": medical.UNIT, "health": health.UNIT,
         "community": community.UNIT}


class City:
    """One city: the four stand-ins as live servers, and its routing entry."""

    def __init__(self, code: str, root: Path, hpf_config: dict[str, Any] | None = None) -> None:
        from mock_departments.cities import community as c
        from mock_departments.cities import health as h
        from mock_departments.cities import hpf as f
        from mock_departments.cities import medical as m

        self.code = code
        self.secret = f"hpf-secret-of-city-{code}-for-tests"
        self.apps: dict[str, Any] = {}
        self.servers: dict[str, LiveServer] = {}
        base = {"city": code}
        configs = {"hpf": (f, {"callback_delay_s": 0.05, "secret": self.secret,
                               **(hpf_config or {})}),
                   "medical": (m, {}), "health": (h, {"interval_s": 0.1}),
                   "community": (c, {"process_delay_s": 0.05})}
        for name, (mod, extra) in configs.items():
            app = mod.create_app({**base, "data_dir": str(root / code / name), **extra})
            self.apps[name] = app
            if name != "health":
                self.servers[name] = LiveServer(app)
        self.health_dir = root / code / "health"

    def route(self, name: str) -> dict[str, Any]:
        return {"name": self.code, "hpf": {"url": self.servers["hpf"].url,
                                           "secret": self.secret},
                "medical": {"url": self.servers["medical"].url},
                "community": {"url": self.servers["community"].url},
                "health": {"inbox": str(self.health_dir / "inbox"),
                           "outbox": str(self.health_dir / "outbox")}}

    def admin(self, system: str, path: str) -> dict[str, Any]:
        return self.apps[system].test_client().get(path).get_json()  # type: ignore[no-any-return]

    def close(self) -> None:
        for s in self.servers.values():
            s.stop()
        for app in self.apps.values():
            app.extensions["city"].close()


@pytest.fixture
def cities(tmp_path: Path) -> Iterator[dict[str, City]]:
    made = {"320400": City("320400", tmp_path / "cities", {
        "not_eligible": {"320402196605150033": "arrears"}})}
    yield made
    for c in made.values():
        c.close()


@pytest.fixture
def units(make_member: Any) -> dict[str, Any]:
    return {"hrss": make_member("hrss", ["application_submitted", "approval_decided"]),
            **{m: make_member(m, ["item_progressed", "issue_reported"]) for m in UNITS}}


def _routes(cities: dict[str, City]) -> dict[str, Any]:
    return {code: c.route(code) for code, c in cities.items()}


def _start(name: str, live_hub: Any, units: dict[str, Any], routes: dict[str, Any],
           data_dir: Path) -> Running:
    m = units[name]
    return build(UNITS[name], hub=live_hub.url, member=m.id, key=m.key, keyid=m.keyid,
                 routes=RoutingTable.from_mapping(routes, name), data_dir=data_dir,
                 interval=0.05, callback_port=0 if name == "hpf" else None,
                 retry_schedule=(0.1, 0.2)).start_loop()


def _wait(pred: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = pred()
        if got:
            return got
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def _application(city: str = "320400") -> dict[str, Any]:
    app = contracts.example("application")
    app["city_code"] = city
    return app


def test_every_unit_through_its_city_and_back(live_hub: Any, units: dict[str, Any],
                                              cities: dict[str, City], tmp_path: Path) -> None:
    running = [_start(n, live_hub, units, _routes(cities), tmp_path / n) for n in UNITS]
    try:
        hrss = units["hrss"].client(live_hub.url)
        cid = f"RT320400-20261125-{uuid.uuid4().hex[:6]}"
        hrss.emit("application_submitted", cid, _application())
        hrss.emit("approval_decided", cid, contracts.example("approval-result"))

        def closed() -> dict[str, Any] | None:
            doc = hrss.case(cid)
            return doc if doc["state"] == "closed" else None

        doc = _wait(closed, 30)
        items = {i["code"]: i for i in doc["items"]}
        assert items["socialized_management"]["state"] == "completed"
        assert items["only_child_certificate"]["state"] == "completed"
        assert items["medical_transfer"]["state"] == "completed"
        hpf_item = items["hpf_withdrawal"]
        assert hpf_item["state"] == "standalone"            # the configured arrears
        assert hpf_item["reason"]["code"] == "hpf_arrears"
        city = cities["320400"]
        for system in UNITS:
            applied = city.admin(system, "/admin/applied")
            assert applied["count"] == 1, (system, applied)
            assert applied["duplicates"] == 0, (system, applied)
        # each city system got exactly its interface's fields, nothing more
        (hpf_body,) = [json.loads(e["body"]) for e in city.admin("hpf", "/admin/received")
                       ["received"]]
        assert set(hpf_body) == {"ywlsh", "xzqh", "zjlx", "zjhm", "xm", "dwmc", "dwzh", "txny",
                                 "spsj", "hdurl"}
        assert hpf_body["ywlsh"] == cid
    finally:
        for r in running:
            r.stop()


def test_unknown_city_is_an_issue_on_the_case(live_hub: Any, units: dict[str, Any],
                                              cities: dict[str, City], tmp_path: Path) -> None:
    # the health unit has no entry for Wuxi: the only-child item of a Wuxi case cannot go anywhere
    running = _start("health", live_hub, units, _routes(cities), tmp_path / "health")
    try:
        hrss = units["hrss"].client(live_hub.url)
        cid = f"RT320200-20261125-{uuid.uuid4().hex[:6]}"
        hrss.emit("application_submitted", cid, _application("320200"))
        (issue,) = _wait(lambda: [e for e in running.adapter.state.outgoing("issue")
                                  if e["state"] == "published"])
        assert issue["envelope"]["data"]["code"] == "unknown_city"
        assert issue["envelope"]["data"]["city_code"] == "320200"
        assert issue["case_id"] == cid
    finally:
        running.stop()


def test_a_third_city_by_configuration_and_a_crash_in_between(
        live_hub: Any, units: dict[str, Any], cities: dict[str, City], tmp_path: Path) -> None:
    cities["320200"] = City("320200", tmp_path / "cities")
    routes = _routes(cities)
    hrss = units["hrss"].client(live_hub.url)
    cid = f"RT320200-20261125-{uuid.uuid4().hex[:6]}"
    hrss.emit("application_submitted", cid, _application("320200"))
    hrss.emit("approval_decided", cid, contracts.example("approval-result"))

    # the medical unit starts, forwards, and "crashes" (stopped) before anything else happens
    data_dir = tmp_path / "medical"
    first = _start("medical", live_hub, units, routes, data_dir)
    _wait(lambda: first.adapter.state.count_requests("forwarded") == 1)
    first.stop()
    # a restarted unit re-reads from its last acknowledged cursor and sends nothing twice
    second = _start("medical", live_hub, units, routes, data_dir)
    try:
        _wait(lambda: {i["code"]: i["state"] for i in hrss.case(cid)["items"]}
              ["medical_transfer"] == "completed")
        wuxi = cities["320200"].admin("medical", "/admin/applied")
        assert wuxi["count"] == 1 and wuxi["duplicates"] == 0
        assert cities["320400"].admin("medical", "/admin/applied")["count"] == 0
    finally:
        second.stop()


def test_hpf_callback_that_does_not_fit_is_reported(live_hub: Any, units: dict[str, Any],
                                                    cities: dict[str, City],
                                                    tmp_path: Path) -> None:
    running = _start("hpf", live_hub, units, _routes(cities), tmp_path / "hpf")
    try:
        url = running.servers["callback"].url + "/hpf/callback"
        body = json.dumps({"slbh": "GJJ-1", "blzt": "77"}).encode()
        headers = signing.sign(cities["320400"].secret.encode(), "320400", "POST",
                               "/hpf/callback", body)
        resp = requests.post(url, data=body, headers=headers, timeout=5)
        assert resp.status_code == 400 and resp.json()["fhm"] == "99"
        errors = running.adapter.state.errors()
        assert [e["code"] for e in errors] == ["city_answer_invalid"]
        assert errors[0]["case_id"] is None  # no request known: kept locally
    finally:
        running.stop()


def test_push_mode_verifies_the_hub_signature(hub: Any, live_hub: Any, make_member: Any,
                                              cities: dict[str, City], tmp_path: Path) -> None:
    from hub.worker import Worker
    from mock_departments.launcher import free_port

    port = free_port()
    hrss = make_member("hrss", ["application_submitted", "approval_decided"])
    for m in ("community", "hpf", "medical"):
        make_member(m, ["item_progressed", "issue_reported"])
    health_member = make_member("health", ["item_progressed", "issue_reported"],
                                push_url=f"http://127.0.0.1:{port}/hub/events")
    running = build(health.UNIT, hub=live_hub.url, member="health", key=health_member.key,
                    keyid=health_member.keyid,
                    routes=RoutingTable.from_mapping(_routes(cities), "health"),
                    data_dir=tmp_path / "health", interval=0.05, push_port=port,
                    catch_up_s=3600).start_loop()
    worker = Worker(hub)
    worker.start()
    try:
        # an unsigned push is refused and records nothing
        resp = requests.post(f"http://127.0.0.1:{port}/hub/events", json={"id": "x"}, timeout=5)
        assert resp.status_code == 401
        cid = f"RT320400-20261125-{uuid.uuid4().hex[:6]}"
        client = hrss.client(live_hub.url)
        client.emit("application_submitted", cid, _application())
        _wait(lambda: {i["code"]: i["state"] for i in client.case(cid)["items"]}
              ["only_child_certificate"] == "completed")
        assert running.adapter.state.count_requests() == 1
    finally:
        worker.stop()
        running.stop()


def test_a_forged_hpf_callback_changes_no_case(live_hub: Any, units: dict[str, Any],
                                               tmp_path: Path) -> None:
    # the Changzhou centre accepts but holds its result; Wuxi is configured with its own secret
    cz = City("320400", tmp_path / "cities", {"callback_delay_s": 3600})
    wx = City("320200", tmp_path / "cities")
    running = _start("hpf", live_hub, units, _routes({"320400": cz, "320200": wx}),
                     tmp_path / "hpf")
    try:
        hrss = units["hrss"].client(live_hub.url)
        cid = f"RT320400-20261125-{uuid.uuid4().hex[:6]}"
        hrss.emit("application_submitted", cid, _application())
        hrss.emit("approval_decided", cid, contracts.example("approval-result"))
        (req,) = _wait(lambda: running.adapter.state.forwarded_requests())
        assert req.city_reference
        url = running.servers["callback"].url + "/hpf/callback"
        result = {"slbh": req.city_reference, "ywlsh": cid, "sjid": req.event_id, "blzt": "02",
                  "blztmc": "办结", "tqje": "99999999.99", "bjsj": "", "yydm": "", "yyxx": ""}

        def post(doc: dict[str, Any], secret: str | None, city: str = "320400") -> Any:
            raw = json.dumps(doc, ensure_ascii=False).encode()
            headers = {"Content-Type": "application/json"}
            if secret is not None:
                headers.update(signing.sign(secret.encode(), city, "POST", "/hpf/callback", raw))
            return requests.post(url, data=raw, headers=headers, timeout=5)

        forged = [
            post(result, None),                                         # no credential
            post(result, "a-guessed-secret-of-enough-length"),          # wrong credential
            post(result, cz.secret, city="320201"),                     # a city not configured
            post({**result, "sjid": str(uuid.uuid4())}, cz.secret),     # unknown request
            post({**result, "slbh": "GJJ320400-999999"}, cz.secret),    # not the centre's slbh
            post({**result, "ywlsh": "RT320400-20261125-other"}, cz.secret),  # another case
            post(result, wx.secret, city="320200"),                     # another city's request
        ]
        assert [r.status_code for r in forged] == [401, 401, 401, 422, 422, 422, 422]
        # the callback with the Changzhou request's slbh alone, without naming the request
        assert post({k: v for k, v in result.items() if k != "sjid"},
                    cz.secret).status_code == 400
        statuses = [e["envelope"]["data"]["status"]
                    for e in running.adapter.state.outgoing("progress")]
        assert statuses == ["received"]
        assert running.adapter.state.progress_statuses(req.event_id) == {"received"}
        refused = [e["code"] for e in running.adapter.state.errors() if e["case_id"] is None]
        assert sorted(refused) == ["answer_not_ours"] * 3 + ["city_answer_invalid",
                                                             "progress_for_unknown_item"]
        assert all(e["case_id"] is None for e in running.adapter.state.errors())
        assert not running.adapter.state.outgoing("issue")          # nothing sent on the case
        _wait(lambda: all(e["state"] == "published"
                          for e in running.adapter.state.outgoing()))
        item = {i["code"]: i for i in hrss.case(cid)["items"]}["hpf_withdrawal"]
        assert item["state"] not in ("completed", "standalone")
        assert "result" not in item or not item["result"]
        # the genuine answer, signed by the Changzhou centre for its own request, is applied
        assert post(result, cz.secret).status_code == 200
        assert "completed" in running.adapter.state.progress_statuses(req.event_id)
    finally:
        running.stop()
        cz.close()
        wx.close()


def test_the_adapter_process_logs_no_personal_data_from_hostile_callbacks(
        live_hub: Any, units: dict[str, Any], cities: dict[str, City], tmp_path: Path) -> None:
    """`python -m adapters.hpf` fed malformed and forged callbacks carrying the applicant's data."""
    import subprocess
    import sys

    from hub.security import keys
    from mock_departments.launcher import free_port

    applicant = contracts.example("application")["applicant"]
    clear = [applicant["id_number"], applicant["mobile"], applicant["household_address"]]
    m = units["hpf"]
    key_path = tmp_path / "hpf.pem"
    key_path.write_bytes(keys.private_key_pem(m.key))
    routes = tmp_path / "routes.json"
    routes.write_text(json.dumps(_routes(cities), ensure_ascii=False), "utf-8")
    port = free_port()
    log_path = tmp_path / "adapter.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "adapters.hpf", "--hub", live_hub.url, "--member", m.id,
             "--key", str(key_path), f"--keyid={m.keyid}", "--routes", str(routes),
             "--data-dir", str(tmp_path / "state"), "--callback-port", str(port), "-v"],
            stdout=log, stderr=subprocess.STDOUT)
        try:
            url = f"http://127.0.0.1:{port}/hpf/callback"
            _wait(lambda: "listening on" in log_path.read_text("utf-8", "replace"))
            secret = cities["320400"].secret.encode()
            smuggled = " ".join(clear) + "\nINFO adapter:hpf forged line"
            bodies = [
                {"slbh": smuggled, "sjid": smuggled, "blzt": "02", "tqje": "1.00"},
                {"slbh": "GJJ-1", "sjid": str(uuid.uuid4()), "blzt": smuggled},
                {"slbh": "GJJ-1", "sjid": smuggled, "blzt": "02", "tqje": smuggled},
            ]
            for doc in bodies:
                raw = json.dumps(doc, ensure_ascii=False).encode()
                signed = signing.sign(secret, "320400", "POST", "/hpf/callback", raw)
                assert requests.post(url, data=raw, headers=signed, timeout=5).status_code in (
                    400, 422)
                assert requests.post(url, data=raw, timeout=5).status_code == 401
            assert requests.post(url, data=b"\xff" + smuggled.encode(), timeout=5,
                                 headers=signing.sign(secret, "320400", "POST",
                                                      "/hpf/callback",
                                                      b"\xff" + smuggled.encode())
                                 ).status_code == 400
        finally:
            proc.terminate()
            proc.wait(10)
    text = log_path.read_text("utf-8")
    assert "city_answer_invalid" in text or "progress_for_unknown_item" in text
    for value in clear:
        assert value not in text, value
    assert not any(line.startswith("INFO adapter:hpf forged") for line in text.splitlines())
