"""The national-algorithm suite across the wire: SM2 members, SM2-signed pushes, and OpenSSL.

The OpenSSL tests build the RFC 9421 signature base by hand (as any client would) and let the
`openssl` command line do every SM2 and SM3 operation: it signs a request the hub accepts, and
it alone verifies a push from the hub. A tampered body fails both ways.
"""
from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import threading
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from flask import Flask, request

import contracts
from hub.client import make_event
from hub.security import keys
from hub.security.jwks import HubKeys
from hub.security.signing import NonceCache, verify_request
from hub.services.members import add_member
from hub.worker import Worker
from tests.support.members import case_id
from tests.support.servers import LiveServer

DISTID = "1234567812345678"
CE = "application/cloudevents+json"

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl CLI")


def _openssl(*args: str, data: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["openssl", *args], input=data, capture_output=True, timeout=30)


class Recorder:
    """A department endpoint that keeps each push exactly as it arrived, verifying nothing."""

    def __init__(self) -> None:
        self.pushes: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        app = Flask("recorder")

        @app.post("/events")
        def events() -> Any:
            with self.lock:
                self.pushes.append({
                    "method": request.method, "host": request.host,
                    "path": request.environ.get("RAW_URI") or request.path,
                    "headers": {k.lower(): v for k, v in request.headers.items()},
                    "body": request.get_data()})
            return "", 204

        self.server = LiveServer(app)

    def wait_for(self, n: int, timeout: float = 15) -> list[dict[str, Any]]:
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.lock:
                if len(self.pushes) >= n:
                    return list(self.pushes)
            time.sleep(0.05)
        raise AssertionError(f"only {len(self.pushes)} of {n} pushes arrived")


def _base(method: str, authority: str, path: str, query: str, headers: dict[str, str],
          components: list[str], params: str) -> bytes:
    """The RFC 9421 section 2.5 signature base."""
    lines = []
    for c in components:
        value = {"@method": method, "@authority": authority, "@path": path,
                 "@query": "?" + query}.get(c, headers.get(c))
        lines.append(f'"{c}": {value}')
    lines.append(f'"@signature-params": {params}')
    return "\n".join(lines).encode()


def _others(make_member: Any) -> None:
    for m in ("community", "hpf", "medical", "health"):
        make_member(m, ["item_progressed"])


def test_openssl_signs_a_request_the_hub_accepts(hub, live_hub, make_member, tmp_path):
    key_path = tmp_path / "hrss.pem"
    assert _openssl("genpkey", "-algorithm", "SM2", "-out", str(key_path)).returncode == 0
    pub_pem = _openssl("pkey", "-in", str(key_path), "-pubout").stdout.decode()
    kid = f"hrss-sm2-{uuid.uuid4().hex[:6]}"
    add_member(hub, "hrss", pub_pem, keyid=kid,
               publish=[contracts.event_type("application_submitted")])
    _others(make_member)

    url = urlsplit(live_hub.url)
    body = json.dumps(make_event("hrss", "application_submitted", case_id(),
                                 contracts.example("application")), ensure_ascii=False).encode()

    def signed(body: bytes, signed_body: bytes | None = None) -> dict[str, str]:
        sm3 = _openssl("dgst", "-sm3", "-binary", data=body).stdout
        digest = "sm3=:" + base64.b64encode(sm3).decode() + ":"
        now = int(time.time())
        params = ('("@method" "@authority" "@path" "@query" "content-type" "content-digest")'
                  f';created={now};expires={now + 120};keyid="{kid}"'
                  f';nonce="{uuid.uuid4().hex}";tag="retirement-hub";alg="sm2-sm3"')
        headers = {"content-type": CE, "content-digest": digest}
        base_path = tmp_path / f"base-{uuid.uuid4().hex}"
        base_path.write_bytes(_base("POST", url.netloc, "/v1/events", "", headers,
                                    ["@method", "@authority", "@path", "@query",
                                     "content-type", "content-digest"], params))
        sig = _openssl("pkeyutl", "-sign", "-rawin", "-digest", "sm3", "-inkey", str(key_path),
                       "-pkeyopt", f"distid:{DISTID}", "-in", str(base_path)).stdout
        assert sig[:1] == b"\x30"  # OpenSSL writes DER
        return {"Content-Type": CE, "Content-Digest": digest,
                "Signature-Input": f"sig1={params}",
                "Signature": "sig1=:" + base64.b64encode(sig).decode() + ":"}

    ok = requests.post(live_hub.url + "/v1/events", data=body, headers=signed(body), timeout=10)
    assert ok.status_code == 202, ok.text
    assert ok.json()["receipts"][0]["id"] == json.loads(body)["id"]

    headers = signed(body)
    tampered = body.replace(b'"hrss"', b'"hpf"', 1)
    bad = requests.post(live_hub.url + "/v1/events", data=tampered, headers=headers, timeout=10)
    assert bad.status_code == 401 and bad.json()["code"] == "digest_mismatch"

    # a digest recomputed for the tampered body does not carry the signature with it
    forged = dict(signed(tampered), **{"Signature-Input": headers["Signature-Input"],
                                       "Signature": headers["Signature"]})
    bad = requests.post(live_hub.url + "/v1/events", data=tampered, headers=forged, timeout=10)
    assert bad.status_code == 401 and bad.json()["code"] == "signature_invalid"


def test_openssl_alone_verifies_a_push_from_the_hub(hub, live_hub, make_member, tmp_path):
    rec = Recorder()
    hrss = make_member("hrss", ["application_submitted"], push_url=rec.server.url + "/events",
                       suite="sm")
    _others(make_member)
    worker = Worker(hub)
    worker.start()
    try:
        hrss.client(live_hub.url).emit("application_submitted", case_id(),
                                       contracts.example("application"))
        (push,) = rec.wait_for(1)
    finally:
        worker.stop()
        rec.server.stop()

    # the hub's SM2 public key, as an administrator hands it to a department
    hub_pub = Path(hub.config.key_dir) / "hub-sm2.public.pem"
    h = push["headers"]
    (label, params), = [h["signature-input"].split("=", 1)]
    assert 'alg="sm2-sm3"' in params
    assert re.search(r'keyid="([^"]+)"', params)[1] == hub.keyring.current("sm").keyid
    sig = re.fullmatch(rf"{label}=:([A-Za-z0-9+/=]+):", h["signature"])[1]
    components = re.findall(r'"([^"]+)"', params[: params.index(")")])
    path, _, query = push["path"].partition("?")

    def openssl_verifies(base: bytes) -> bool:
        (tmp_path / "base").write_bytes(base)
        (tmp_path / "sig").write_bytes(base64.b64decode(sig))
        out = _openssl("pkeyutl", "-verify", "-rawin", "-digest", "sm3", "-pubin", "-inkey",
                       str(hub_pub), "-pkeyopt", f"distid:{DISTID}", "-in",
                       str(tmp_path / "base"), "-sigfile", str(tmp_path / "sig"))
        return out.returncode == 0 and b"Signature Verified Successfully" in out.stdout

    def body_matches(body: bytes) -> bool:
        sha = _openssl("dgst", "-sha256", "-binary", data=body).stdout
        return bool(h["content-digest"] == "sha-256=:" + base64.b64encode(sha).decode() + ":")

    base = _base("POST", push["host"], path, query, h, components, params)
    assert openssl_verifies(base) and body_matches(push["body"])

    tampered = push["body"].replace(b'"specversion": "1.0"', b'"specversion": "1.1"', 1)
    assert tampered != push["body"] and not body_matches(tampered)
    forged_digest = "sha-256=:" + base64.b64encode(
        _openssl("dgst", "-sha256", "-binary", data=tampered).stdout).decode() + ":"
    assert not openssl_verifies(_base("POST", push["host"], path, query,
                                      {**h, "content-digest": forged_digest}, components,
                                      params))


def test_members_of_each_suite_get_pushes_signed_their_way(hub, live_hub, make_member):
    rec = Recorder()
    hrss = make_member("hrss", ["application_submitted"], push_url=rec.server.url + "/events",
                       suite="sm")
    make_member("health", ["item_progressed"], push_url=rec.server.url + "/events")
    make_member("community", ["item_progressed"], suite="sm")
    worker = Worker(hub)
    worker.start()
    try:
        hrss.client(live_hub.url).emit("application_submitted", case_id(),
                                       contracts.example("application"))
        pushes = rec.wait_for(2)
    finally:
        worker.stop()
        rec.server.stop()
    jwks = HubKeys(live_hub.url)  # the receivers' JWKS fetcher takes both key types
    algs = {}
    for p in pushes:
        event = json.loads(p["body"])
        verified = verify_request("POST", f"http://{p['host']}{p['path']}", p["headers"],
                                  p["body"], jwks, NonceCache())
        algs[event["type"]] = (re.search(r'alg="([^"]+)"', p["headers"]["signature-input"])[1],
                               verified.keyid)
    hrss_alg = algs[contracts.event_type("case_status_changed")]
    health_alg = algs[contracts.item("only_child_certificate")["request_type"]]
    assert hrss_alg == ("sm2-sm3", hub.keyring.current("sm").keyid)
    assert health_alg == ("ed25519", hub.keyring.current("intl").keyid)


def test_cli_generates_sm2_keys_and_registers_them(hub, hub_config, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from hub.cli import main

    monkeypatch.setenv("HUB_DATABASE_URL", hub_config.database_url)
    monkeypatch.setenv("HUB_KEY_DIR", str(hub_config.key_dir))
    runner = CliRunner()
    out = runner.invoke(main, ["keys", "generate", str(tmp_path), "--name", "med", "--suite",
                               "sm"])
    assert out.exit_code == 0, out.output
    pem = (tmp_path / "med.public.pem").read_text()
    assert _openssl("pkey", "-pubin", "-in", str(tmp_path / "med.public.pem"), "-text",
                    "-noout").stdout.count(b"SM2") >= 1
    out = runner.invoke(main, ["members", "add", "medical", "--key-file",
                               str(tmp_path / "med.public.pem"), "--key-id=medical-sm2"])
    assert out.exit_code == 0, out.output
    owner, pub = hub.snap().keys["medical-sm2"]
    assert owner == "medical" and keys.public_key_pem(pub) == pem
    (tmp_path / "junk.pem").write_text(
        "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
    out = runner.invoke(main, ["members", "add", "medical", "--key-file",
                               str(tmp_path / "junk.pem")])
    assert out.exit_code != 0 and "invalid_key" in out.output
