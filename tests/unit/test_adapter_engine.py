"""The adapter engine with fakes: a hub client in memory and a city connector in memory."""
from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

import contracts
from adapters.base import CityConnector, CityProgress, CityUnavailable, Forwarded, Unit
from adapters.engine import Adapter
from adapters.routing import Route, RoutingTable
from adapters.state import Request, State
from hub.client import HubClient, HubHTTPError

REQUEST_TYPE = contracts.item("hpf_withdrawal")["request_type"]


class FakeHub(HubClient):
    """The hub's feed, ack cursor and publish (idempotent by id) in memory."""

    def __init__(self, member_id: str = "hpf") -> None:
        self.member_id = member_id
        self.deliveries: list[dict[str, Any]] = []
        self.acked = 0
        self.published: dict[str, dict[str, Any]] = {}
        self.refuse_types: set[str] = set()

    def add(self, event: dict[str, Any]) -> None:
        self.deliveries.append(event)

    def feed(self, after: int | None = None, limit: int = 100) -> dict[str, Any]:
        start = self.acked if after is None else after
        rows = [(i + 1, e) for i, e in enumerate(self.deliveries) if i + 1 > start][:limit]
        return {"items": [{"cursor": c, "event": e} for c, e in rows],
                "next_cursor": rows[-1][0] if rows else start, "has_more": False}

    def ack(self, cursor: int) -> dict[str, Any]:
        self.acked = max(self.acked, cursor)
        return {"cursor": cursor}

    def publish(self, event: dict[str, Any]) -> dict[str, Any]:
        if event["type"] in self.refuse_types:
            resp = _Resp(403, {"code": "forbidden", "detail": "no"})
            raise HubHTTPError(resp)  # type: ignore[arg-type]
        dup = event["id"] in self.published
        self.published.setdefault(event["id"], event)
        return {"id": event["id"], "status": "duplicate" if dup else "accepted"}

    def of_type(self, key: str) -> list[dict[str, Any]]:
        t = contracts.event_type(key)
        return [e for e in self.published.values() if e["type"] == t]


class _Resp:
    def __init__(self, status: int, doc: dict[str, Any]) -> None:
        self.status_code = status
        self._doc = doc
        self.text = json.dumps(doc)

    def json(self) -> dict[str, Any]:
        return self._doc


class FakeCity(CityConnector):
    """A city system in memory: records what reached it (by route), can be down."""

    needs = ("url",)

    def __init__(self) -> None:
        self.received: list[tuple[str, str]] = []  # (route url, event id)
        self.down = False
        self.answers: list[Any] = []

    def forward(self, route: Route, request: Request) -> Forwarded:
        if self.down:
            raise CityUnavailable("connection refused")
        self.received.append((route.get("url"), request.event_id))
        return Forwarded(f"REF-{len(self.received)}",
                         [CityProgress({"status": "received"})])

    def collect(self, route: Route, open_requests: Any) -> list[Any]:
        out, self.answers = self.answers, []
        return out


UNIT = Unit(name="hpf", item="hpf_withdrawal", handler="测试经办", connector=lambda o: FakeCity())
ROUTES = {"320400": {"name": "常州", "url": "http://cz"},
          "320200": {"name": "无锡", "url": "http://wx"}}


def _request_event(city: str = "320400", case: str | None = None) -> dict[str, Any]:
    payload = contracts.example("hpf-withdrawal-request") | {"city_code": city}
    return {"specversion": "1.0", "id": str(uuid.uuid4()), "type": REQUEST_TYPE,
            "source": "retirement-hub",
            "subject": case or f"RT{city}-20261125-{uuid.uuid4().hex[:6]}",
            "data": payload}


def _adapter(tmp_path: Path, hub: FakeHub, city: FakeCity,
             routes: dict[str, Any] | None = None) -> Adapter:
    return Adapter(UNIT, hub, RoutingTable.from_mapping(routes or ROUTES, "hpf"),
                   State(tmp_path / "state"), city, retry_schedule=(0.0,))


def test_forwarded_once_acked_after_and_progress_published(tmp_path: Path) -> None:
    hub, city = FakeHub(), FakeCity()
    ev = _request_event()
    hub.add(ev)
    a = _adapter(tmp_path, hub, city)
    a.tick()
    assert city.received == [("http://cz", ev["id"])]
    assert hub.acked == 1
    (progress,) = hub.of_type("item_progressed")
    assert progress["subject"] == ev["subject"]
    assert progress["data"]["status"] == "received"
    assert progress["data"]["department_reference"] == "REF-1"
    assert progress["data"]["handler"] == "测试经办"
    assert contracts.validator("progress").is_valid(progress["data"])


def test_restart_resumes_and_never_forwards_twice(tmp_path: Path) -> None:
    hub, city = FakeHub(), FakeCity()
    first = _request_event()
    hub.add(first)
    a = _adapter(tmp_path, hub, city)
    a.intake(first)          # recorded, then the process dies before forwarding and acking
    a.state.close()
    b = _adapter(tmp_path, hub, city)
    b.tick()                 # feed from the (unacknowledged) cursor: the same event again
    b.tick()
    assert city.received == [("http://cz", first["id"])]
    second = _request_event()
    hub.add(second)
    b.tick()
    b.state.close()
    hub.acked = 0            # even if the hub handed out everything again...
    c = _adapter(tmp_path, hub, city)
    c.tick()
    assert [e for _, e in city.received] == [first["id"], second["id"]]  # ...nothing twice
    assert len(hub.of_type("item_progressed")) == 2


def test_a_resend_is_a_duplicate_at_the_hub(tmp_path: Path) -> None:
    hub, city = FakeHub(), FakeCity()
    ev = _request_event()
    hub.add(ev)
    a = _adapter(tmp_path, hub, city)
    a.tick()
    (row,) = a.state.outgoing("progress")
    a.state.mark_outgoing(row["seq"], "pending")   # as if the publish answer was lost
    a.publish_pending()
    assert len(hub.published) == 1                  # same id, same bytes


def test_unknown_city_is_reported_against_the_case(tmp_path: Path) -> None:
    hub, city = FakeHub(), FakeCity()
    ev = _request_event(city="320999")
    hub.add(ev)
    a = _adapter(tmp_path, hub, city)
    a.tick()
    a.tick()
    assert city.received == []
    (issue,) = hub.of_type("issue_reported")
    assert issue["subject"] == ev["subject"]
    assert issue["data"]["code"] == "unknown_city" and issue["data"]["city_code"] == "320999"
    assert issue["data"]["item"] == "hpf_withdrawal"
    assert contracts.validator("issue-report").is_valid(issue["data"])
    assert a.state.request(ev["id"]).state == "unroutable"  # type: ignore[union-attr]
    assert [e["code"] for e in a.state.errors()] == ["unknown_city"]
    assert hub.acked == 1  # recorded and reported: the adapter moves on


def test_a_third_city_is_configuration_only(tmp_path: Path) -> None:
    hub, city = FakeHub(), FakeCity()
    ev = _request_event(city="320500")
    hub.add(ev)
    routes = {**ROUTES, "320500": {"name": "苏州", "url": "http://sz"}}
    _adapter(tmp_path, hub, city, routes).tick()
    assert city.received == [("http://sz", ev["id"])]


def test_city_down_stays_pending_is_reported_and_forwarded_later(tmp_path: Path) -> None:
    hub, city = FakeHub(), FakeCity()
    city.down = True
    ev = _request_event()
    hub.add(ev)
    a = _adapter(tmp_path, hub, city)
    for _ in range(4):
        a.tick()
    assert hub.acked == 1 and city.received == []
    assert a.state.request(ev["id"]).state == "pending"  # type: ignore[union-attr]
    assert [i["data"]["code"] for i in hub.of_type("issue_reported")] == ["city_unreachable"]
    city.down = False
    a.tick()
    assert city.received == [("http://cz", ev["id"])]


def test_progress_for_an_item_never_forwarded(tmp_path: Path) -> None:
    hub, city = FakeHub(), FakeCity()
    a = _adapter(tmp_path, hub, city)
    city.answers = [CityProgress({"status": "completed"}, request_event_id="not-ours")]
    a.tick()
    assert hub.published == {}                       # no case known: kept locally
    assert [e["code"] for e in a.state.errors()] == ["progress_for_unknown_item"]
    ev = _request_event(city="320999")              # known, but never forwarded
    hub.add(ev)
    a.tick()
    city.answers = [CityProgress({"status": "completed"}, request_event_id=ev["id"])]
    a.tick()
    codes = [i["data"]["code"] for i in hub.of_type("issue_reported")]
    assert codes == ["unknown_city"]                 # the answer's claim is not the case's issue
    refused = [e for e in a.state.errors() if e["code"] == "answer_not_ours"]
    assert refused and all(e["case_id"] is None for e in refused)


def test_progress_moves_forward_only_and_conflicts_are_reported(tmp_path: Path) -> None:
    hub, city = FakeHub(), FakeCity()
    ev = _request_event()
    hub.add(ev)
    a = _adapter(tmp_path, hub, city)
    a.tick()
    done = {"status": "completed", "result": {"note_zh": "已办结", "amount": 1.5}}
    city.answers = [CityProgress(done, request_event_id=ev["id"]),
                    CityProgress({"status": "in_progress"}, request_event_id=ev["id"]),
                    CityProgress(done, request_event_id=ev["id"]),
                    CityProgress({"status": "not_eligible", "reason": {"message_zh": "不符"}},
                                 request_event_id=ev["id"])]
    a.tick()
    assert [p["data"]["status"] for p in hub.of_type("item_progressed")] == ["received",
                                                                            "completed"]
    assert [i["data"]["code"] for i in hub.of_type("issue_reported")] == ["progress_conflict"]


def test_city_progress_that_breaks_the_contract_is_an_issue(tmp_path: Path) -> None:
    hub, city = FakeHub(), FakeCity()
    ev = _request_event()
    hub.add(ev)
    a = _adapter(tmp_path, hub, city)
    a.tick()
    city.answers = [CityProgress({"status": "failed"}, request_event_id=ev["id"])]  # no reason
    a.tick()
    (issue,) = hub.of_type("issue_reported")
    assert issue["data"]["code"] == "progress_invalid"


def test_cancelled_before_forwarding_is_not_forwarded(tmp_path: Path) -> None:
    hub, city = FakeHub(), FakeCity()
    city.down = True
    ev = _request_event()
    hub.add(ev)
    a = _adapter(tmp_path, hub, city)
    a.tick()
    hub.add({"id": str(uuid.uuid4()), "type": contracts.event_type("item_cancelled"),
             "subject": ev["subject"], "data": contracts.example("item-cancelled")})
    city.down = False
    a.tick()
    assert city.received == []
    assert a.state.request(ev["id"]).state == "cancelled"  # type: ignore[union-attr]
    assert a.state.cancellation(ev["subject"], "hpf_withdrawal") is not None


def test_hub_refusal_is_kept_not_looped(tmp_path: Path) -> None:
    hub, city = FakeHub(), FakeCity()
    hub.refuse_types = {contracts.event_type("issue_reported")}
    hub.add(_request_event(city="320999"))
    a = _adapter(tmp_path, hub, city)
    a.tick()
    a.tick()
    (row,) = a.state.outgoing("issue")
    assert row["state"] == "refused" and "forbidden" in row["last_error"]


def test_a_failing_step_does_not_crash_the_adapter(tmp_path: Path) -> None:
    class Broken(FakeCity):
        def collect(self, route: Route, open_requests: Any) -> list[Any]:
            raise RuntimeError("boom")

    hub = FakeHub()
    ev = _request_event()
    hub.add(ev)
    a = _adapter(tmp_path, hub, Broken())
    a.tick()
    assert hub.acked == 1


def test_routing_table_rejects_bad_codes() -> None:
    from adapters.routing import RoutingError

    with pytest.raises(RoutingError):
        RoutingTable.from_mapping({"3204": {"url": "x"}})
    with pytest.raises(RoutingError):
        RoutingTable.from_mapping({"320400": {"name": "常州"}}).require(["url"])


def test_requests_for_an_unknown_city_go_out_once_the_city_is_configured(tmp_path):
    from adapters.state import State

    state = State(tmp_path / "adapter")
    payload = contracts.example("hpf-withdrawal-request")
    payload["city_code"] = "320500"
    assert state.record_request("ev-1", "RT-1", "hpf_withdrawal", "320500", payload)
    state.mark_request("ev-1", "unroutable", "unknown city")
    assert state.due_requests() == []
    assert state.requeue_unroutable(["320400"]) == 0
    assert state.requeue_unroutable(["320400", "320500"]) == 1
    assert [r.event_id for r in state.due_requests()] == ["ev-1"]
