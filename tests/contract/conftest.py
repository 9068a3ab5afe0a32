"""Fixtures for the pact and schemathesis contract tests: SQLite only, a signing proxy, scenarios.

The pact verifier and schemathesis send plain HTTP; every /v1 request must carry an RFC 9421
signature that covers a fresh nonce, `created` and the body digest, so a static header cannot do.
`SigningProxy` is a tiny reverse proxy in a thread: it re-sends what it receives to the live hub,
signed with the key of whichever member is `signer` at the time.
"""
from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

import contracts
from hub.bootstrap import Hub
from hub.client import make_event
from hub.security.signing import HubAuth
from hub.services import deliveries, publish
from hub.store import cases as case_store
from tests.support.members import Member

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
              "proxy-authorization", "proxy-authenticate", "content-length", "host"}


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """Contract tests check shapes, not storage: SQLite only (the suites elsewhere run both)."""
    return f"sqlite:///{tmp_path / 'hub.db'}"


class SigningProxy:
    """Forwards every request to `target`, signed as `signer` (unsigned when `signer` is None)."""

    def __init__(self, target: str) -> None:
        self.target = target.rstrip("/")
        self.signer: Member | None = None
        self.http = requests.Session()
        self.server = make_server("127.0.0.1", 0, self._app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def _app(self, environ: dict[str, Any], start_response: Any) -> Any:
        req = Request(environ)
        raw_target = environ.get("RAW_URI") or environ.get("REQUEST_URI") or req.full_path
        body = req.get_data() or None
        headers = {k: v for k, v in req.headers.items()
                   if k.lower() not in HOP_BY_HOP and k.lower() not in {
                       "signature", "signature-input", "content-digest"}}
        signer = self.signer
        auth = HubAuth(signer.key, signer.keyid) if signer is not None else None
        upstream = self.http.request(req.method, self.target + raw_target, data=body,
                                     headers=headers, auth=auth, timeout=30,
                                     allow_redirects=False)
        out_headers = [(k, v) for k, v in upstream.headers.items()
                       if k.lower() not in HOP_BY_HOP | {"content-encoding"}]
        return Response(upstream.content, status=upstream.status_code,
                        headers=out_headers)(environ, start_response)

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(5)
        self.http.close()


@pytest.fixture
def signing_proxy(live_hub: Any) -> Iterator[SigningProxy]:
    proxy = SigningProxy(live_hub.url)
    yield proxy
    proxy.stop()


class Scenario:
    """Drives cases through the real hub in-process (the same services the HTTP API calls)."""

    def __init__(self, hub: Hub, members: dict[str, Member]) -> None:
        self.hub = hub
        self.members = members

    def exists(self, case_id: str) -> bool:
        with self.hub.transaction() as s:
            return case_store.get(s, case_id) is not None

    def emit(self, member: str, type_key: str, case_id: str, data: dict[str, Any]) -> None:
        publish.publish(self.hub, member, make_event(member, type_key, case_id, data),
                        batch=False)

    def submit(self, case_id: str, application: dict[str, Any] | None = None) -> None:
        """Phase 1: the application is accepted (idempotent for one case id)."""
        if not self.exists(case_id):
            self.emit("hrss", "application_submitted", case_id,
                      application or contracts.example("application"))

    def decide(self, case_id: str, example: str = "approval-result") -> None:
        """Phase 2: HRSS's approval result (idempotent for one case id)."""
        self.submit(case_id)
        with self.hub.transaction() as s:
            case = case_store.get(s, case_id)
            decided = case is not None and "approval" in case.document
        if not decided:
            self.emit("hrss", "approval_decided", case_id, contracts.example(example))

    def pull_all(self, member: str) -> None:
        """The member pulls and acknowledges its whole feed (items become `delivered`)."""
        page = deliveries.feed(self.hub, member, 0, 500)
        if page["items"]:
            deliveries.ack(self.hub, member, page["next_cursor"])

    def latest(self, member: str, event_type: str, case_id: str) -> dict[str, Any]:
        """The newest event of that type for that case in the member's feed, as sent."""
        page = deliveries.feed(self.hub, member, 0, 500)
        found = [i["event"] for i in page["items"]
                 if i["event"]["type"] == event_type and i["event"]["subject"] == case_id]
        if not found:
            raise LookupError(f"no {event_type} for {case_id} in {member}'s feed")
        return found[-1]  # type: ignore[no-any-return]


@pytest.fixture
def scenario(hub: Hub, members: dict[str, Member]) -> Scenario:
    return Scenario(hub, members)
