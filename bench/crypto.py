"""Signature costs per suite, in-process: raw sign and verify per second, and a whole signed
request (``sign_headers`` + ``verify_request``, RFC 9421 with Content-Digest) per second.

Part (s) of ``python -m bench.run``; also ``python -m bench.crypto`` on its own.
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from hub.security import keys
from hub.security.signing import sign_headers, verify_request

ALGS = {"intl": "ed25519", "sm": "sm2-sm3"}
URL = "https://hub.example.gov.cn/v1/events"
CT = {"Content-Type": "application/cloudevents+json"}


def _suite_rates(suite: str, base: bytes, body: bytes, seconds: float) -> dict[str, float]:
    """Raw and request-level sign/verify rates of one suite's freshly made key."""
    key = keys.generate_keypair(suite)
    pub = key.public_key()
    sig = key.sign(base)

    def verify() -> None:
        pub.verify(sig, base)  # same argument order for Ed25519 and SM2 keys
    headers = sign_headers("POST", URL, CT, body, key, "k")
    resolve = {"k": pub}.get

    def verify_req() -> None:
        verify_request("POST", URL, {**CT, **headers}, body, resolve, lambda *_: True)

    return {
        "sign_per_s": _rate(lambda: key.sign(base), seconds),
        "verify_per_s": _rate(verify, seconds),
        "signed_request_per_s": _rate(
            lambda: sign_headers("POST", URL, CT, body, key, "k"), seconds),
        "verified_request_per_s": _rate(verify_req, seconds),
    }


def _rate(fn: Callable[[], Any], seconds: float) -> float:
    fn()  # warm
    n, start = 0, time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(20):
            fn()
        n += 20
        now = time.perf_counter()
        if now >= deadline:
            return round(n / (now - start), 1)


def signature_rates(seconds: float = 1.0, body_bytes: int = 2048) -> dict[str, Any]:
    """{suite: {alg, sign_per_s, verify_per_s, signed_request_per_s, verified_request_per_s}}."""
    base = (b'"@method": POST\n"@authority": hub.example.gov.cn\n"@path": /v1/events\n'
            b'"@query": ?\n"content-type": application/cloudevents+json\n'
            b'"content-digest": sha-256=:' + b"A" * 44 + b':\n"@signature-params": ("@method" '
            b'"@authority" "@path" "@query" "content-type" "content-digest");created=1;'
            b'expires=2;keyid="k";nonce="n";tag="retirement-hub"')
    body = b'{"data": "' + b"x" * max(0, body_bytes - 12) + b'"}'
    out: dict[str, Any] = {}
    for suite, alg in ALGS.items():
        out[suite] = {"alg": alg, **_suite_rates(suite, base, body, seconds)}
    out["what"] = (f"one process, one thread; raw = sign/verify a {len(base)}-byte RFC 9421 "
                   f"signature base; request = sign_headers / verify_request of a POST with a "
                   f"{len(body)}-byte body (Content-Digest included)")
    return out


if __name__ == "__main__":
    print(json.dumps(signature_rates(), indent=2))
