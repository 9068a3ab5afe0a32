"""The stand-in HRSS entrance platform: submits and approves applications, receives pushes.

`create_app(config)` builds everything; nothing happens at import time. Config keys:

    hub_url        the hub's base URL (required)
    key_path       this member's Ed25519 private key, PEM (required)
    keyid          its key id as registered at the hub (required)
    data_dir       where the state file lives (required)
    member_id      "hrss"
    hub_member_id  "retirement-hub" (the `source` the pushes must carry)
    city_code      "320400" (case-number prefix when an application names no city; an
                   application's city is the body's `city_code`, else the applicant's own city)
    base_wage      8000.0 (DOMAIN.md §3 parameter)
    approve_on     "push" (when the pushed status shows retirement_approval in_progress),
                   "submit" (right after the hub accepts), or "manual" (POST /cases/<id>/decide)
    refuse         {id_number: {code, message_zh, message_en}}: refuse these applicants

Endpoints (loopback admin API, unauthenticated: it is a stand-in):
    POST /applications            submit one (body: person, case_id, city_code, linked_items,
                                  variant, paper_certificate, refuse; flexible "early"/"late"
                                  with retirement_month for flexible retirement, which the
                                  approval then follows: pension start, contributions, payout)
    POST /cases/<id>/decide       manual decision {decision, reason}
    POST /admin/refusals          {id_number, reason}: refuse that person's next decision
    POST /hub/events              the hub's signed pushes
    GET  /cases/<id>              what the applicant sees
    GET  /cases                   every case with its state
    GET  /received                ids of the pushed events received (duplicates not repeated)
    GET  /healthz
"""
from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import requests
from flask import Flask, Response, request

import contracts
from hub.client import HubClient, HubHTTPError, make_event
from hub.domain.clock import beijing_today
from hub.domain.idnumber import mask
from hub.security import keys
from hub.security.signing import NonceCache, SignatureError, verify_flask_request
from mock_departments.common import HubKeys, event_id, now_iso
from mock_departments.hrss.people import (
    DEFAULT_BASE_WAGE,
    PEOPLE,
    build_application,
    decide,
    person_by_id,
)

log = logging.getLogger("hrss")

STATUS_TYPE = contracts.event_type("case_status_changed")
ITEM_LABELS = contracts.labels("item_code")
STATE_LABELS = contracts.labels("item_state")
CASE_LABELS = contracts.labels("case_state")
DECISION_LABELS = contracts.labels("decision")


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body, ensure_ascii=False), status=status,
                    mimetype="application/json")


def _ts(value: str | None) -> float:
    if not value:
        return 0.0
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


class Platform:
    """The stand-in's state and behaviour; the Flask views are thin wrappers."""

    def __init__(self, config: dict[str, Any]) -> None:
        for required in ("hub_url", "key_path", "keyid", "data_dir"):
            if not config.get(required):
                raise ValueError(f"hrss config: '{required}' is required")
        self.config = config
        self.member_id = config.get("member_id", "hrss")
        self.hub_member_id = config.get("hub_member_id", "retirement-hub")
        self.city_code = config.get("city_code", "320400")
        self.base_wage = float(config.get("base_wage", DEFAULT_BASE_WAGE))
        self.approve_on = config.get("approve_on", "push")
        if self.approve_on not in ("push", "submit", "manual"):
            raise ValueError("approve_on must be push, submit or manual")
        self.refuse_ids: dict[str, dict[str, str]] = {
            k.upper(): v for k, v in (config.get("refuse") or {}).items()}
        self.client = HubClient(config["hub_url"], self.member_id,
                                keys.load_private_key(config["key_path"]), config["keyid"])
        self.hub_keys = HubKeys(config["hub_url"])
        self.nonces = NonceCache()
        self.data_dir = Path(config["data_dir"])
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.state_file = self.data_dir / "hrss-state.json"
        self.lock = threading.RLock()
        self.executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="hrss-decide")
        self.deciding: set[str] = set()
        # persisted state
        self.seq = 0
        self.applications: dict[str, dict[str, Any]] = {}   # case_id -> application
        self.case_refusals: dict[str, dict[str, str]] = {}  # case_id -> reason (per case)
        self.decisions: dict[str, dict[str, Any]] = {}      # case_id -> approval-result
        self.statuses: dict[str, dict[str, Any]] = {}       # case_id -> latest case-status
        self.received: list[dict[str, Any]] = []            # one entry per distinct event id
        self.received_ids: set[str] = set()
        self.duplicates = 0
        self.contract_problems: list[dict[str, Any]] = []
        self._load()

    # ----- persistence ---------------------------------------------------------------
    def _load(self) -> None:
        if not self.state_file.exists():
            return
        doc = json.loads(self.state_file.read_text("utf-8"))
        self.seq = doc.get("seq", 0)
        self.applications = doc.get("applications", {})
        self.case_refusals = doc.get("case_refusals", {})
        self.decisions = doc.get("decisions", {})
        self.statuses = doc.get("statuses", {})
        self.received = doc.get("received", [])
        self.received_ids = {r["id"] for r in self.received}
        self.duplicates = doc.get("duplicates", 0)

    def _save(self) -> None:
        doc = {"seq": self.seq, "applications": self.applications,
               "case_refusals": self.case_refusals, "decisions": self.decisions,
               "statuses": self.statuses, "received": self.received,
               "duplicates": self.duplicates}
        fd, tmp = tempfile.mkstemp(dir=self.data_dir, prefix=".hrss-state.")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(doc, fh, ensure_ascii=False)
        os.replace(tmp, self.state_file)

    # ----- submitting ----------------------------------------------------------------
    def next_case_id(self, city_code: str | None = None) -> str:
        with self.lock:
            self.seq += 1
            self._save()
            return f"RT{city_code or self.city_code}-{beijing_today():%Y%m%d}-{self.seq:06d}"

    def submit(self, body: dict[str, Any]) -> tuple[dict[str, Any], int]:
        person_key = body.get("person", "wang")
        person = PEOPLE.get(person_key)
        if person is None:
            return {"code": "unknown_person", "detail": f"no fixture person {person_key!r}",
                    "known": sorted(PEOPLE)}, 404
        city_code = str(body.get("city_code") or person.city_code or self.city_code)
        case_id = body.get("case_id") or self.next_case_id(city_code)
        application = build_application(
            person, city_code=city_code, linked_items=body.get("linked_items"),
            variant=body.get("variant", "annex3"),
            paper_certificate=body.get("paper_certificate"),
            flexible=body.get("flexible") if body.get("flexible") in ("early", "late") else None,
            retirement_month=(str(body["retirement_month"]) if body.get("retirement_month")
                              else None))
        with self.lock:
            if case_id in self.applications:
                return {"code": "case_exists", "detail": f"{case_id} already submitted here"}, 409
            # Recorded before publishing: the hub's first push may arrive before publish returns.
            self.applications[case_id] = application
            if body.get("refuse"):
                self.case_refusals[case_id] = body["refuse"]
            self._save()
        ev = make_event(self.member_id, "application_submitted", case_id, application,
                        event_id=event_id(self.member_id, case_id, "application"))
        try:
            receipt = self._publish(ev)
        except HubHTTPError as exc:
            with self.lock:
                self.applications.pop(case_id, None)
                self.case_refusals.pop(case_id, None)
                self._save()
            log.warning("case %s: hub refused the application: %s", case_id, exc)
            return {"code": "hub_refused", "case_id": case_id, "status": exc.status,
                    "problem": exc.problem}, 502
        log.info("case %s submitted for applicant %s (%s, legal age %s, retires %s)", case_id,
                 mask(person.id_number), person_key, application["retirement"]["legal_age"],
                 application["retirement"]["month"])
        if self.approve_on == "submit":
            self.decide(case_id)
        return {"case_id": case_id, "receipt": receipt,
                "legal_age": application["retirement"]["legal_age"],
                "retirement_month": application["retirement"]["month"],
                "linked_items": application["linked_items"]}, 201

    def _publish(self, ev: dict[str, Any], attempts: int = 4) -> dict[str, Any]:
        """Publish, retrying transport errors and 5xx with the same event (same id and content)."""
        delay = 0.25
        for attempt in range(1, attempts + 1):
            try:
                return self.client.publish(ev)
            except HubHTTPError as exc:
                if exc.status < 500 or attempt == attempts:
                    raise
            except requests.RequestException:
                if attempt == attempts:
                    raise
            time.sleep(delay)
            delay *= 2
        raise AssertionError("unreachable")

    # ----- deciding ------------------------------------------------------------------
    def refuse_person(self, id_number: str, reason: dict[str, str]) -> None:
        with self.lock:
            self.refuse_ids[id_number.upper()] = reason

    def decide(self, case_id: str, decision: str | None = None,
               reason: dict[str, str] | None = None) -> dict[str, Any] | None:
        """Compute and publish the approval result once; None if already decided or unknown."""
        with self.lock:
            application = self.applications.get(case_id)
            if application is None or case_id in self.decisions or case_id in self.deciding:
                return None
            self.deciding.add(case_id)
            seq = self.seq
        try:
            id_number = application["applicant"]["id_number"]
            person = person_by_id(id_number)
            refusal = None
            if decision == "refused":
                refusal = reason or {"code": "refused", "message_zh": "经审核不予批准"}
            elif decision is None:
                refusal = self.case_refusals.get(case_id) or self.refuse_ids.get(id_number)
            year = application["retirement"]["month"][:4]
            suffix = case_id.rsplit("-", 1)[-1][-12:] or f"{seq:06d}"
            cert = f"JS-TX-{application['city_code']}-{year}-{suffix}"
            result = decide(application, person, decided_at=now_iso(), certificate_number=cert,
                            base_wage=self.base_wage, refusal=refusal)
            errors = [e.message for e in contracts.validator("approval-result").iter_errors(result)]
            if errors:
                raise ValueError(f"approval result breaks its contract: {errors}")
            ev = make_event(self.member_id, "approval_decided", case_id, result,
                            event_id=event_id(self.member_id, case_id, "approval"))
            try:
                self._publish(ev)
            except HubHTTPError as exc:
                if exc.problem.get("code") != "approval_already_decided":
                    raise
            with self.lock:
                self.decisions[case_id] = result
                self._save()
            if result["decision"] == "approved":
                log.info("case %s approved: monthly pension %.2f, certificate %s", case_id,
                         result["pension"]["monthly_total"], result["certificate"]["number"])
            else:
                log.info("case %s refused: %s", case_id, result["refusal_reason"].get("code"))
            return result
        except Exception:
            log.exception("case %s: decision failed", case_id)
            raise
        finally:
            with self.lock:
                self.deciding.discard(case_id)

    def _decide_in_background(self, case_id: str) -> None:
        def run() -> None:
            try:
                self.decide(case_id)
            except Exception:  # noqa: BLE001, S110 - logged in decide; a later push tries again
                pass
        self.executor.submit(run)

    # ----- receiving pushes ----------------------------------------------------------
    def receive(self) -> tuple[dict[str, Any], int]:
        try:
            verified = verify_flask_request(request, self.hub_keys, self.nonces)
        except SignatureError as exc:
            log.warning("push refused: %s (%s)", exc.code, exc.detail or exc.message)
            return {"code": exc.code, "detail": exc.message}, exc.status
        if (request.mimetype or "").lower() != "application/cloudevents+json":
            return {"code": "unsupported_media_type"}, 415
        try:
            ev = json.loads(request.get_data(cache=True).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            return {"code": "malformed_json"}, 400
        if not isinstance(ev, dict) or not isinstance(ev.get("id"), str):
            return {"code": "not_a_cloudevent"}, 400
        if ev.get("source") != self.hub_member_id:
            return {"code": "source_mismatch", "detail": f"expected {self.hub_member_id}"}, 403
        ev_id = ev["id"]
        delivery = request.headers.get("X-Hub-Delivery")
        with self.lock:
            if ev_id in self.received_ids:
                self.duplicates += 1
                self._save()
                log.info("push %s (delivery %s) already applied: duplicate", ev_id, delivery)
                return {"status": "duplicate", "id": ev_id}, 200
            entry = {"id": ev_id, "type": ev.get("type"), "subject": ev.get("subject"),
                     "delivery": delivery, "keyid": verified.keyid, "received_at": now_iso()}
            decide_now = None
            if ev.get("type") == STATUS_TYPE:
                data = ev.get("data") or {}
                problems = [e.message for e in
                            contracts.validator("case-status").iter_errors(data)]
                if problems:
                    self.contract_problems.append({"id": ev_id, "problems": problems})
                    entry["contract_problems"] = problems
                    log.warning("push %s: case-status breaks its contract: %s", ev_id, problems)
                decide_now = self._apply_status(ev.get("subject") or data.get("case_id"), data)
                entry["state"] = data.get("state")
            self.received.append(entry)
            self.received_ids.add(ev_id)
            self._save()
        if decide_now:
            self._decide_in_background(decide_now)
        return {"status": "accepted", "id": ev_id}, 200

    def _apply_status(self, case_id: str | None, data: dict[str, Any]) -> str | None:
        if not case_id:
            return None
        old = self.statuses.get(case_id)
        if old is None or (old.get("state") != "closed"
                           and _ts(data.get("updated_at")) >= _ts(old.get("updated_at"))):
            self.statuses[case_id] = data
            log.info("case %s status: %s; %s", case_id, data.get("state"), ", ".join(
                f"{i.get('code')}={i.get('state')}" for i in data.get("items", [])))
        items = {i.get("code"): i for i in data.get("items", [])}
        approval = items.get("retirement_approval") or {}
        if (self.approve_on == "push" and approval.get("state") == "in_progress"
                and case_id in self.applications and case_id not in self.decisions):
            return case_id
        return None

    # ----- views ---------------------------------------------------------------------
    def applicant_view(self, case_id: str) -> dict[str, Any] | None:
        with self.lock:
            app = self.applications.get(case_id)
            status = self.statuses.get(case_id)
            decision = self.decisions.get(case_id)
        if app is None and status is None:
            return None
        view: dict[str, Any] = {"case_id": case_id}
        if status is None:
            view.update(state="submitted", state_zh="已提交，等待受理", items=[])
            return view
        state = status.get("state", "open")
        view.update(state=state, state_zh=CASE_LABELS.get(state, {}).get("zh", state),
                    updated_at=status.get("updated_at"), items=[])
        if decision:
            view["decision"] = decision["decision"]
            view["decision_zh"] = DECISION_LABELS[decision["decision"]]["zh"]
        for it in status.get("items", []):
            code = it.get("code")
            reason = it.get("reason")
            result = it.get("result") or self._own_result(code, decision)
            view["items"].append({
                "code": code,
                "name_zh": it.get("name_zh") or ITEM_LABELS.get(code, {}).get("zh", code),
                "state": it.get("state"),
                "state_zh": STATE_LABELS.get(it.get("state"), {}).get("zh")
                or it.get("state_zh"),
                "reason": reason,
                "reason_zh": (reason or {}).get("message_zh"),
                "result": result,
                "result_zh": _result_zh(code, result),
                "updated_at": it.get("updated_at"),
                "deadlines": it.get("deadlines"),
            })
        return view

    @staticmethod
    def _own_result(code: str | None, decision: dict[str, Any] | None) -> dict[str, Any] | None:
        """The HRSS's own results for the items its approval settles (the hub passes none)."""
        if not decision or decision.get("decision") != "approved":
            return None
        if code == "retirement_approval":
            return {"decision": "approved", "retirement_month": decision["retirement_month"]}
        if code == "pension_verification":
            p = decision["pension"]
            return {"monthly_total": p["monthly_total"], "start_month": p["start_month"]}
        if code == "retirement_certificate":
            return dict(decision["certificate"])
        return None

    def cases(self) -> list[dict[str, Any]]:
        with self.lock:
            ids = sorted(set(self.applications) | set(self.statuses))
            return [{"case_id": c, "state": (self.statuses.get(c) or {}).get("state", "submitted"),
                     "decision": (self.decisions.get(c) or {}).get("decision")} for c in ids]


def _result_zh(code: str | None, result: dict[str, Any] | None) -> str | None:
    """One line for the applicant; the hub may nest approval data ({"pension": {...}})."""
    if not result:
        return None
    if "note_zh" in result:
        return str(result["note_zh"])
    if code == "retirement_approval":
        if result.get("decision") == "refused":
            return "不予批准"
        if result.get("retirement_month"):
            return f"批准退休，退休时间 {result['retirement_month']}"
    pension = result.get("pension", result)
    if code == "pension_verification" and "monthly_total" in pension:
        return (f"月基本养老金 {pension['monthly_total']:.2f} 元，"
                f"自 {pension.get('start_month', '')} 起发放")
    cert = result.get("certificate", result)
    if code == "retirement_certificate" and "number" in cert:
        paper = "，打印纸质退休证" if cert.get("paper_copy") else "，电子退休证"
        return f"退休证编号 {cert['number']}{paper}"
    if "amount" in result:
        return f"金额 {result['amount']:.2f} 元"
    return None


def create_app(config: dict[str, Any]) -> Flask:
    platform = Platform(config)
    app = Flask("mock_departments.hrss")
    app.config["JSON_AS_ASCII"] = False
    app.extensions["hrss"] = platform

    @app.get("/healthz")
    def healthz() -> Response:
        return _json({"status": "ok", "member": platform.member_id,
                      "approve_on": platform.approve_on})

    @app.post("/applications")
    def post_application() -> Response:
        body = request.get_json(silent=True) or {}
        doc, status = platform.submit(body)
        return _json(doc, status)

    @app.post("/cases/<case_id>/decide")
    def post_decide(case_id: str) -> Response:
        body = request.get_json(silent=True) or {}
        if case_id not in platform.applications:
            return _json({"code": "case_not_found"}, 404)
        try:
            result = platform.decide(case_id, body.get("decision"), body.get("reason"))
        except HubHTTPError as exc:
            return _json({"code": "hub_refused", "problem": exc.problem}, 502)
        if result is None:
            return _json({"code": "already_decided", "decision": platform.decisions.get(case_id)},
                         409)
        return _json(result, 201)

    @app.post("/admin/refusals")
    def post_refusal() -> Response:
        body = request.get_json(silent=True) or {}
        if not body.get("id_number") or not (body.get("reason") or {}).get("message_zh"):
            return _json({"code": "invalid", "detail": "id_number and reason.message_zh"}, 422)
        platform.refuse_person(body["id_number"], body["reason"])
        log.info("will refuse applicant %s", mask(body["id_number"]))
        return _json({"status": "ok"}, 201)

    @app.post("/hub/events")
    def post_hub_event() -> Response:
        doc, status = platform.receive()
        return _json(doc, status)

    @app.get("/cases")
    def get_cases() -> Response:
        return _json({"cases": platform.cases()})

    @app.get("/cases/<case_id>")
    def get_case(case_id: str) -> Response:
        view = platform.applicant_view(case_id)
        if view is None:
            return _json({"code": "case_not_found"}, 404)
        return _json(view)

    @app.get("/received")
    def get_received() -> Response:
        with platform.lock:
            return _json({"count": len(platform.received), "duplicates": platform.duplicates,
                          "ids": [r["id"] for r in platform.received],
                          "events": list(platform.received),
                          "contract_problems": list(platform.contract_problems)})

    return app
