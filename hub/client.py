"""A member's side of the API: signed publish, feed pull, ack and case lookup over HTTP."""
from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import requests

import contracts
from hub.security.keys import PrivateKey
from hub.security.signing import HubAuth


class HubHTTPError(Exception):
    def __init__(self, response: requests.Response) -> None:
        self.response = response
        self.status = response.status_code
        try:
            self.problem = response.json()
        except ValueError:
            self.problem = {"detail": response.text}
        super().__init__(f"{self.status} {self.problem.get('code', '')}: "
                         f"{self.problem.get('detail', '')}")


def make_event(source: str, type_key: str, subject: str, data: dict[str, Any],
               event_id: str | None = None, dataschema: str | None = None) -> dict[str, Any]:
    """A CloudEvent for an event type: a key of contracts/events.json, or a full type name
    (for types registered at runtime) together with ``dataschema``."""
    spec = next((e for e in contracts.events() if e["key"] == type_key), None)
    if spec is None:
        if not dataschema:
            raise KeyError(f"{type_key} is not a known event key; give the type and dataschema")
        spec = {"type": type_key, "dataschema": dataschema}
    return {
        "specversion": "1.0",
        "id": event_id or str(uuid.uuid4()),
        "source": source,
        "type": spec["type"],
        "subject": subject,
        "time": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "dataschema": dataschema or spec["dataschema"],
        "datacontenttype": "application/json",
        "data": data,
    }


class HubClient:
    def __init__(self, base_url: str, member_id: str, private_key: PrivateKey, keyid: str,
                 timeout: float = 10.0) -> None:
        self.base = base_url.rstrip("/")
        self.member_id = member_id
        self.auth = HubAuth(private_key, keyid)
        self.http = requests.Session()
        self.timeout = timeout

    def _call(self, method: str, path: str, body: Any = None, content_type: str | None = None,
              params: dict[str, Any] | None = None) -> dict[str, Any]:
        data = None if body is None else json.dumps(body, ensure_ascii=False).encode("utf-8")
        headers = {"Content-Type": content_type} if content_type else {}
        resp = self.http.request(method, self.base + path, data=data, headers=headers,
                                 params=params, auth=self.auth, timeout=self.timeout)
        if resp.status_code >= 400:
            raise HubHTTPError(resp)
        answer: dict[str, Any] = resp.json()  # the hub answers with a JSON object
        return answer

    def publish(self, event: dict[str, Any]) -> dict[str, Any]:
        answer = self._call("POST", "/v1/events", event, "application/cloudevents+json")
        receipt: dict[str, Any] = answer["receipts"][0]
        return receipt

    def publish_batch(self, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        answer = self._call("POST", "/v1/events", events, "application/cloudevents-batch+json")
        receipts: list[dict[str, Any]] = answer["receipts"]
        return receipts

    def emit(self, type_key: str, subject: str, data: dict[str, Any],
             event_id: str | None = None, dataschema: str | None = None) -> dict[str, Any]:
        return self.publish(make_event(self.member_id, type_key, subject, data, event_id,
                                       dataschema))

    def feed(self, after: int | None = None, limit: int = 100) -> dict[str, Any]:
        params: dict[str, Any] = {"limit": limit}
        if after is not None:
            params["after"] = after
        return self._call("GET", "/v1/feed", params=params)

    def ack(self, cursor: int) -> dict[str, Any]:
        return self._call("POST", "/v1/feed/ack", {"cursor": cursor},
                          "application/json")

    def case(self, case_id: str) -> dict[str, Any]:
        return self._call("GET", f"/v1/cases/{case_id}")
