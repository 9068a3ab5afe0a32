"""The adapter loop: take events from the hub, forward them to the city, relay progress back.

Order of durability (why a crash loses nothing and repeats nothing at the city):

1. an event from the hub (pulled page or push) is recorded in local state first;
2. due requests are forwarded, and each is marked `forwarded` right after the city has it;
3. only then is the hub cursor acknowledged: a restart without an ack re-reads the page, and the
   recorded event ids make it a no-op; a request whose city is down stays `pending` locally (it is
   recorded, so the ack does not lose it) and is retried on later ticks;
4. progress and issue events are stored whole with deterministic ids before being published, so
   a resend after a crash is a duplicate at the hub.

The one window left, a crash after the city took a request and before it was marked, leads to one
resend with the same hub event id, which every city system dedupes.
"""
from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Iterable, Sequence
from typing import Any

import requests

import contracts
from adapters.base import (
    Answer,
    CityConnector,
    CityProblem,
    CityProgress,
    CityRejected,
    CityUnavailable,
    ForeignAnswer,
    Forwarded,
    Resend,
    Unit,
    deterministic_id,
    now_iso,
)
from adapters.issues import (
    ISSUE_CONTRACT,
    ISSUE_EVENT_KEY,
    ISSUE_TYPE,
    ConversionError,
    Issue,
    mask_personal,
)
from adapters.routing import CITY_CODE, Route, RoutingTable
from adapters.state import FINAL, STATUS_RANK, Request, State
from hub.client import HubClient, HubHTTPError, make_event

log = logging.getLogger("adapter")

CANCELLED_TYPE = contracts.event_type("item_cancelled")
RETRY_SCHEDULE = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0)


class Adapter:
    def __init__(self, unit: Unit, client: HubClient, routes: RoutingTable, state: State,
                 connector: CityConnector, *, interval: float = 0.2, pull: bool = True,
                 catch_up_s: float = 30.0, unreachable_after: int = 3,
                 retry_schedule: Sequence[float] = RETRY_SCHEDULE) -> None:
        self.unit = unit
        self.client = client
        self.member = client.member_id
        self.routes = routes
        self.state = state
        self.connector = connector
        self.interval = interval
        self.pull = pull
        self.catch_up_s = catch_up_s
        self.unreachable_after = unreachable_after
        self.retry_schedule = tuple(retry_schedule)
        self.stop_event = threading.Event()
        self.wake_event = threading.Event()
        self._work = threading.Lock()
        self._answers = threading.RLock()  # callbacks arrive on receiver threads
        self._last_pull = 0.0
        d = contracts.item(unit.item)
        self.request_type: str = d["request_type"]

    # ----- the loop ------------------------------------------------------------------------
    def run(self) -> None:
        log.info("%s: %s every %.2fs, %d cities", self.member,
                 "pulling" if self.pull else "receiving pushes", self.interval, len(self.routes))
        n = self.state.requeue_unroutable([r.city_code for r in self.routes])
        if n:
            log.info("%s: %d request(s) for cities now in the routing table queued again",
                     self.member, n)
        while not self.stop_event.is_set():
            busy = self.tick()
            if not busy:
                self.wake_event.wait(self.interval)
                self.wake_event.clear()

    def stop(self) -> None:
        self.stop_event.set()
        self.wake_event.set()

    def wake(self) -> None:
        self.wake_event.set()

    def tick(self) -> bool:
        """One round; never raises (an adapter does not crash on a bad day). True if more waits."""
        more = False
        with self._work:
            for name in ("_pull_step", "forward_due", "pass_on_cancellations", "collect",
                         "publish_pending"):
                try:
                    result = getattr(self, name)()
                except Exception:  # logged, retried next tick
                    log.exception("%s: %s failed", self.member, name)
                    continue
                if name == "_pull_step":
                    more = bool(result)
        return more

    def _pull_step(self) -> bool:
        now = time.monotonic()
        if not self.pull and now - self._last_pull < self.catch_up_s:
            return False
        self._last_pull = now
        try:
            return self.poll_once()
        except (requests.RequestException, HubHTTPError) as exc:
            log.warning("%s: feed unavailable: %s", self.member, exc)
            return False

    def poll_once(self) -> bool:
        """One feed page from the last acknowledged cursor: record, forward, then acknowledge."""
        page = self.client.feed()
        for entry in page["items"]:
            self.intake(entry["event"])
        if page["items"]:
            self.forward_due()
            self.client.ack(page["next_cursor"])
            self.state.set_meta("acked_cursor", str(page["next_cursor"]))
        return bool(page.get("has_more"))

    # ----- from the hub --------------------------------------------------------------------
    def intake(self, ev: dict[str, Any]) -> None:
        """Record one hub event durably (idempotent by event id)."""
        case_id = str(ev.get("subject") or "")
        raw_data = ev.get("data")
        data: dict[str, Any] = raw_data if isinstance(raw_data, dict) else {}
        if ev.get("type") == self.request_type:
            city = data.get("city_code")
            if self.state.record_request(str(ev["id"]), case_id, self.unit.item,
                                         city if isinstance(city, str) else None, data):
                log.info("%s: case %s %s for city %s recorded", self.member, case_id,
                         self.unit.item, city)
        elif ev.get("type") == CANCELLED_TYPE:
            item = str(data.get("item") or "")
            req = self.state.request_for_item(case_id, item)
            reason = data.get("reason") or {}
            if self.state.record_cancellation(str(ev["id"]), case_id, item, reason,
                                              req.event_id if req else None):
                log.info("%s: case %s %s cancelled (%s)", self.member, case_id, item,
                         reason.get("code"))
        else:
            log.info("%s: event type %s is not for this unit; ignored", self.member,
                     ev.get("type"))

    # ----- to the city ---------------------------------------------------------------------
    def forward_due(self) -> int:
        due = self.state.due_requests()
        by_city: dict[str, list[Request]] = {}
        for req in due:
            if self.state.cancellation(req.case_id, req.item):
                self.state.mark_request(req.event_id, "cancelled")
                continue
            route = self.routes.lookup(req.city_code)
            if route is None:
                self.state.mark_request(req.event_id, "unroutable", "unknown city")
                self.report(Issue.of("unknown_city", f"city_code={req.city_code!r}",
                                     city=str(req.city_code)), request=req)
                continue
            by_city.setdefault(route.city_code, []).append(req)
        for code, reqs in by_city.items():
            route = self.routes.lookup(code)
            assert route is not None
            outcomes = self.connector.forward_many(route, reqs)
            for req in reqs:
                self._settle(route, req, outcomes.get(req.event_id,
                                                      CityUnavailable("no outcome")))
        return len(due)

    def _settle(self, route: Route, req: Request, outcome: Forwarded | Exception) -> None:
        if isinstance(outcome, Forwarded):
            self.state.mark_forwarded(req.event_id, outcome.city_reference)
            log.info("%s: case %s forwarded to %s (%s)", self.member, req.case_id, route.name,
                     outcome.city_reference)
            self.receive(outcome.answers, default_request=self.state.request(req.event_id),
                         route=route)
        elif isinstance(outcome, ConversionError):
            self.state.mark_request(req.event_id, "invalid", outcome.detail)
            self.report(outcome.issue(city=route.city_code), request=req)
        elif isinstance(outcome, CityRejected):
            self.state.mark_request(req.event_id, "rejected", str(outcome))
            self.report(Issue.of("city_rejected", str(outcome)), request=req)
        else:
            if isinstance(outcome, ForeignAnswer):
                self.refuse(str(outcome), route)
            detail = f"{type(outcome).__name__}: {outcome}"
            n = self.state.retry_later(req.event_id, detail,
                                       self.retry_schedule[min(req.attempts,
                                                               len(self.retry_schedule) - 1)])
            log.warning("%s: case %s to %s failed (attempt %d): %s", self.member, req.case_id,
                        route.name, n, mask_personal(detail))
            if n == self.unreachable_after:
                self.report(Issue.of("city_unreachable", detail), request=req)

    def pass_on_cancellations(self) -> int:
        done = 0
        for c in self.state.due_cancellations():
            req = self.state.request(c["request_event_id"])
            route = self.routes.lookup(req.city_code if req else None)
            if req is None or route is None:
                continue
            try:
                passed = self.connector.cancel(route, req, c)
            except CityUnavailable:
                continue
            except Exception as exc:  # noqa: BLE001 - reported, kept locally
                self.report(Issue.of("cancel_not_passed_on", str(exc)), request=req)
                passed = False
            self.state.mark_cancellation(c["event_id"], "passed_on" if passed else "kept")
            done += 1
        return done

    # ----- from the city -------------------------------------------------------------------
    def collect(self) -> int:
        n = 0
        open_by_city: dict[str, list[Request]] = {}
        for req in self.state.forwarded_requests():
            if not (self.state.progress_statuses(req.event_id) & FINAL):
                open_by_city.setdefault(req.city_code or "", []).append(req)
        for route in self.routes:
            try:
                answers = self.connector.collect(route, open_by_city.get(route.city_code, []))
            except CityUnavailable as exc:
                log.info("%s: %s not reachable for results: %s", self.member, route.name, exc)
                continue
            self.receive(answers, route=route)
            self.connector.collected(route)
            n += len(answers)
        return n

    def receive(self, answers: Iterable[Answer], default_request: Request | None = None, *,
                route: Route | None = None) -> int:
        """Apply what a city said (a synchronous answer, a callback, a result file, a poll).

        `route` is the city the answers came from (who signed the callback, whose outbox or
        server was read): an answer is applied only to a request this adapter sent to that city,
        for the case it names; anything else is refused. Returns the number refused.
        """
        refused = 0
        with self._answers:
            for a in answers:
                refused += not self._receive_one(a, default_request, route)
        return refused

    def _receive_one(self, a: Answer, default_request: Request | None,
                     route: Route | None) -> bool:
        if isinstance(a, CityProblem) and not a.request_event_id and a.city_reference:
            batch = [r for r in self.state.requests_by_reference(a.city_reference)
                     if route is None or r.city_code == route.city_code]
            for member in batch:  # a problem with a whole batch concerns each of its requests
                self.report(a.issue, request=member, key=a.key or a.issue.detail)
            if batch:
                return True
        req = self._find(a, default_request, route)
        if req is not None:
            why = self._not_ours(a, req, route)
            if why is not None:
                self.refuse(f"{why}: {_describe(a)}", route)
                return False
        if isinstance(a, CityProblem):
            self.report(a.issue, request=req, key=a.key or a.issue.detail)
            return True
        if isinstance(a, Resend):
            if req is not None and self.state.requeue(req.event_id, a.detail):
                log.info("%s: case %s to be sent again: %s", self.member, req.case_id, a.detail)
        else:
            self._progress(a, req)  # naming no request: reported against nothing
        return req is not None

    def _find(self, a: Answer, default: Request | None, route: Route | None) -> Request | None:
        if a.request_event_id:
            return self.state.request(a.request_event_id)
        ref = getattr(a, "city_reference", None)
        if ref:
            found = [r for r in self.state.requests_by_reference(ref)
                     if route is None or r.city_code == route.city_code]
            return found[0] if len(found) == 1 else None
        return default

    @staticmethod
    def _not_ours(a: Answer, req: Request, route: Route | None) -> str | None:
        """Why an answer does not answer this request sent to that city by this adapter, or None.

        (An answer naming no known request at all is reported by the caller, against nothing.)
        """
        if route is not None and req.city_code != route.city_code:
            return f"it names a request sent to another city than {route.city_code}"
        if isinstance(a, CityProgress) and req.state not in ("forwarded", "cancelled"):
            return f"it names a request in state {req.state}"
        ref = getattr(a, "city_reference", None)
        if ref and req.city_reference and ref != req.city_reference:
            return "its reference is not the one the city gave for that request"
        case = getattr(a, "case_reference", None)
        if case and case != req.case_id[:64]:
            return "it names another case than the request's"
        return None

    def refuse(self, detail: str, route: Route | None) -> None:
        """Record an answer that is not ours: locally, against no case (its claims are unproven)."""
        self.report(Issue.of("answer_not_ours", detail), city_code=route.city_code
                    if route else None)

    def _progress(self, a: CityProgress, req: Request | None) -> None:
        if req is None or req.state not in ("forwarded", "cancelled"):
            self.report(Issue.of("progress_for_unknown_item",
                                 f"event={a.request_event_id} reference={a.city_reference} "
                                 f"status={a.data.get('status')}"), request=req,
                        key=f"{a.request_event_id}|{a.city_reference}|{a.data.get('status')}")
            return
        if req.state == "cancelled" or self.state.cancellation(req.case_id, req.item):
            log.info("%s: case %s %s is cancelled; city progress %s kept locally", self.member,
                     req.case_id, req.item, a.data.get("status"))
            return
        data = {"item": req.item, **a.data}
        data.setdefault("occurred_at", now_iso())
        data.setdefault("handler", self.unit.handler)
        if req.city_reference and "department_reference" not in data:
            data["department_reference"] = req.city_reference[:64]
        errors = [f"{'/'.join(map(str, e.absolute_path)) or '$'}: {e.message}"
                  for e in contracts.validator("progress").iter_errors(data)]
        if errors:
            self.report(Issue.of("progress_invalid", "; ".join(errors)), request=req)
            return
        status = data["status"]
        done = self.state.progress_statuses(req.event_id)
        if status in done:
            return
        if done & FINAL and status in FINAL:
            self.report(Issue.of("progress_conflict", f"{sorted(done & FINAL)} then {status}"),
                        request=req, key=status)
            return
        if done and STATUS_RANK[status] <= max(STATUS_RANK[s] for s in done):
            log.info("%s: case %s late %s ignored", self.member, req.case_id, status)
            return
        ev = make_event(self.member, "item_progressed", req.case_id, data,
                        event_id=deterministic_id(self.member, req.event_id, status))
        if self.state.queue_progress(req.event_id, status, req.case_id, ev):
            log.info("%s: case %s %s -> %s queued", self.member, req.case_id, req.item, status)

    # ----- problems ------------------------------------------------------------------------
    def report(self, issue: Issue, *, request: Request | None = None, case_id: str | None = None,
               key: str = "", city_code: str | None = None) -> None:
        """Keep a problem locally and, when its case is known, queue an issue report to the hub."""
        case_id = case_id or (request.case_id if request else None)
        city = request.city_code if request else city_code
        item = request.item if request else self.unit.item
        envelope = None
        if case_id:
            digest = hashlib.sha256((key or issue.detail).encode()).hexdigest()[:16]
            data: dict[str, Any] = {"item": item, "code": issue.code,
                                    "message_zh": issue.message_zh,
                                    "message_en": issue.message_en, "occurred_at": now_iso()}
            if issue.detail:
                data["detail"] = issue.detail
            if city and CITY_CODE.match(city):
                data["city_code"] = city
            envelope = _issue_event(self.member, case_id, data, deterministic_id(
                self.member, "issue", case_id, request.event_id if request else "",
                issue.code, digest))
        if self.state.record_error(code=issue.code, message_zh=issue.message_zh,
                                   message_en=issue.message_en, detail=issue.detail,
                                   case_id=case_id,
                                   request_event_id=request.event_id if request else None,
                                   item=item, city_code=city, envelope=envelope):
            log.warning("%s: issue %s case=%s city=%s: %s", self.member, issue.code,
                        case_id or "-", city or "-", issue.detail)

    # ----- to the hub ----------------------------------------------------------------------
    def publish_pending(self) -> int:
        """Send queued events in order; stop at the first transient failure (order matters)."""
        sent = 0
        for row in self.state.pending_outgoing():
            ev = row["envelope"]
            try:
                receipt = self.client.publish(ev)
            except requests.RequestException as exc:
                log.warning("%s: hub unreachable: %s", self.member, exc)
                return sent
            except HubHTTPError as exc:
                code = exc.problem.get("code")
                if exc.status >= 500 or exc.status == 429:
                    log.warning("%s: hub answered %s; retrying later", self.member, exc.status)
                    return sent
                if code == "event_id_conflict":  # this id was published before (other bytes)
                    self.state.mark_outgoing(row["seq"], "published", str(code))
                    continue
                self.state.mark_outgoing(row["seq"], "refused", f"{exc.status} {code}: "
                                         f"{exc.problem.get('detail', '')}")
                log.warning("%s: hub refused %s for case %s: %s %s", self.member, row["kind"],
                            ev.get("subject"), exc.status, code)
                continue
            self.state.mark_outgoing(row["seq"], "published")
            sent += 1
            log.info("%s: case %s %s published (%s)", self.member, ev.get("subject"),
                     row["kind"], receipt.get("status"))
        return sent


def _issue_event(member: str, case_id: str, data: dict[str, Any], event_id: str) -> dict[str, Any]:
    try:
        return make_event(member, ISSUE_EVENT_KEY, case_id, data, event_id=event_id)
    except StopIteration:  # a contracts package without the issue-report event yet
        ev = make_event(member, "item_progressed", case_id, data, event_id=event_id)
        ev.update(type=ISSUE_TYPE, dataschema=ISSUE_CONTRACT)
        return ev


def _describe(a: Answer) -> str:
    """What an answer claims, for the record of a refusal (no personal data: ids and codes)."""
    status = a.data.get("status") if isinstance(a, CityProgress) else type(a).__name__
    return (f"event={a.request_event_id} reference={getattr(a, 'city_reference', None)} "
            f"case={getattr(a, 'case_reference', None)} answer={status}")[:500]
