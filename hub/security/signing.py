"""RFC 9421 HTTP Message Signatures (ed25519, sm2-sm3) for every request to and push from the hub.

Profile (the hub's rule):

* `alg="ed25519"` for an Ed25519 key, `alg="sm2-sm3"` for an SM2 key: the key registered
  under `keyid` decides the algorithm, and a signature naming the other one is refused;
* `sm2-sm3` (the hub's private profile; RFC 9421 has no SM2 entry): the signature base is
  signed with SM2 over SM3 (GB/T 32918.2, `e = SM3(Z_A || base)`), `Z_A` computed with the
  signer's distinguishing identifier (default `1234567812345678`, see `hub.security.sm2`);
  the signature value is the DER `SEQUENCE { r, s }` that OpenSSL writes and reads
  (`openssl pkeyutl -sign -rawin -digest sm3 -pkeyopt distid:1234567812345678`);
* covered components `@method @authority @path @query`, plus
  `content-type content-digest` when there is a (non-empty) body;
* Content-Digest per RFC 9530 with `sha-256`; `sm3` is accepted as well (a private
  algorithm name): a receiver checks every member it knows and needs `sha-256` or `sm3`;
* signature parameters `created`, `expires` (expires - created <= 300 s), `keyid`,
  `nonce` and `tag="retirement-hub"`; any label. A nonce may be used once per keyid
  while its signature is valid.

Signing and verification go through `http_message_signatures`; this module adds the
hub's policy (required parameters and components, time window, digest and nonce) and
stable error codes.

`@authority`, `@path` and `@query` are derived from the URL given to the verifier, so
the server must rebuild the URL exactly as the client sent it: use `request_url(environ)`
(or `verify_flask_request`) rather than Flask's `request.url`, which decodes
percent-escapes into Unicode (an IRI).
"""

from __future__ import annotations

import datetime as _dt
import heapq
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import quote, urlsplit

import http_sf
import requests
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from http_message_signatures import (
    ContentDigest,
    HTTPMessageSignaturesException,
    HTTPMessageSigner,
    HTTPMessageVerifier,
    HTTPSignatureAlgorithm,
    InvalidSignature,
    MappingKeyResolver,
    algorithms,
)
from http_message_signatures.structures import get_header_fields

from hub.domain.errors import DomainError

from .keys import PrivateKey, PublicKey, load_public_key, suite_of
from .sm2 import SM2PrivateKey, SM2PublicKey

__all__ = [
    "TAG",
    "MAX_WINDOW",
    "CLOCK_SKEW",
    "ALG",
    "BASE_COMPONENTS",
    "BODY_COMPONENTS",
    "content_digest",
    "sign_headers",
    "HubAuth",
    "Verified",
    "SignatureError",
    "verify_request",
    "verify_flask_request",
    "request_url",
    "url_authority",
    "NonceCache",
]

TAG = "retirement-hub"
MAX_WINDOW = 300  # seconds: maximum expires - created
CLOCK_SKEW = 30  # seconds: how far in the future `created` may be
ALG = "ed25519"
SM2_ALG = "sm2-sm3"
BASE_COMPONENTS: tuple[str, ...] = ("@method", "@authority", "@path", "@query")
BODY_COMPONENTS: tuple[str, ...] = ("content-type", "content-digest")
_REQUIRED_PARAMS = ("created", "expires", "keyid", "nonce")
_KNOWN_PARAMS = frozenset({"alg", "created", "expires", "keyid", "nonce", "tag"})


class _Sm3:
    """hashlib-shaped SM3, for the Content-Digest member `sm3`."""

    digest_size = 32

    def __init__(self, data: bytes = b"") -> None:
        self._h = hashes.Hash(hashes.SM3())
        self._h.update(data)

    def digest(self) -> bytes:
        return self._h.finalize()


class _Sha256Digest(ContentDigest):
    algorithm = "sha-256"
    # The library's table of digest constructors is its one extension point.
    _hashers: ClassVar[dict[str, Callable[..., Any]]] = {
        **ContentDigest._hashers, "sm3": _Sm3}  # noqa: SLF001


class _SM2SM3(HTTPSignatureAlgorithm):
    """`alg="sm2-sm3"`: SM2 signature with SM3 over the signature base, DER-encoded."""

    algorithm_id = SM2_ALG

    def __init__(self, public_key: Any = None, private_key: Any = None) -> None:
        if public_key is not None and not isinstance(public_key, SM2PublicKey):
            raise HTTPMessageSignaturesException("Unexpected public key type")
        if private_key is not None and not isinstance(private_key, SM2PrivateKey):
            raise HTTPMessageSignaturesException("Unexpected private key type")
        self.public_key, self.private_key = public_key, private_key

    def sign(self, message: bytes) -> bytes:
        return self.private_key.sign(message)  # type: ignore[union-attr]

    def verify(self, signature: bytes, message: bytes) -> None:
        self.public_key.verify(signature, message)  # type: ignore[union-attr]


# The key's suite picks the algorithm: one table, for signing and for verifying.
ALGORITHMS: dict[str, type[HTTPSignatureAlgorithm]] = {
    "intl": algorithms.ED25519,
    "sm": _SM2SM3,
}
ALGORITHM_IDS = frozenset(a.algorithm_id for a in ALGORITHMS.values())


# --------------------------------------------------------------------------- errors

_MESSAGES: dict[str, tuple[str, str]] = {
    "signature_missing": (
        "The request is not signed (Signature / Signature-Input missing).",
        "请求未签名（缺少 Signature / Signature-Input 头）。",
    ),
    "signature_malformed": ("The signature headers are malformed.", "签名头格式错误。"),
    "signature_params": (
        "The signature does not meet the hub's signing profile.",
        "签名参数或覆盖的组件不符合平台签名要求。",
    ),
    "signature_expired": (
        "The signature has expired or its validity window is not acceptable.",
        "签名已过期或有效期不合规。",
    ),
    "unknown_key": ("The signing key is not known to the receiver.", "签名密钥未登记或不可用。"),
    "signature_invalid": ("The signature does not verify.", "签名验证失败。"),
    "digest_missing": (
        "The request has a body but no sha-256 Content-Digest.",
        "请求带有正文但缺少 sha-256 Content-Digest 摘要。",
    ),
    "digest_mismatch": (
        "The Content-Digest does not match the body.",
        "Content-Digest 摘要与请求正文不一致。",
    ),
    "nonce_replayed": (
        "The nonce was already used (replayed request).",
        "随机数（nonce）已被使用，疑似重放请求。",
    ),
    "wrong_authority": (
        "The request was signed for another host (@authority is not this hub's).",
        "请求签名中的 @authority 不是本平台地址，疑似转发或重放其他平台的请求。",
    ),
}

SIGNATURE_ERROR_CODES = frozenset(_MESSAGES)


class SignatureError(DomainError):
    """Verification failure: stable `code`, English `message`, Chinese `message_zh`, `status`."""

    code = "signature_invalid"
    status = 401

    def __init__(self, code: str, detail: str = "", *, status: int = 401) -> None:
        if code not in _MESSAGES:
            raise ValueError(f"unknown signature error code {code!r}")
        base, base_zh = _MESSAGES[code]
        message = f"{base} {detail}".strip() if detail else base
        super().__init__(code=code, message=message, message_zh=base_zh, status=status)
        self.detail = detail


# --------------------------------------------------------------------------- helpers


def content_digest(body: bytes) -> str:
    """RFC 9530 Content-Digest field value with sha-256: `sha-256=:<base64>:`."""
    return _Sha256Digest.create(bytes(body))


def _to_epoch(value: _dt.datetime | int | float | None) -> int:
    if value is None:
        return int(time.time())
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None:  # naive datetimes are taken as UTC
            value = value.replace(tzinfo=_dt.UTC)
        return int(value.timestamp())
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError("expected a datetime or a POSIX timestamp")
    return int(value)


def _utc(ts: int) -> _dt.datetime:
    return _dt.datetime.fromtimestamp(ts, tz=_dt.UTC)


def _header_pairs(headers: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> list[tuple[str, str]]:
    items = headers.items() if hasattr(headers, "items") else headers
    pairs = []
    for name, value in items:
        if isinstance(value, bytes):
            value = value.decode("latin-1")
        if isinstance(name, bytes):
            name = name.decode("ascii")
        pairs.append((str(name), str(value)))
    return pairs


class _Headers:
    """Read-only header view preserving field lines, for the library's resolvers."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self._pairs = pairs

    def items(self) -> list[tuple[str, str]]:
        return list(self._pairs)

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys(name for name, _ in self._pairs))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and any(n.lower() == name.lower() for n, _ in self._pairs)

    def get(self, name: str, default: str | None = None) -> str | None:
        values = [v for n, v in self._pairs if n.lower() == name.lower()]
        return ", ".join(values) if values else default


@dataclass
class _Message:
    method: str
    url: str
    headers: _Headers


def _ascii_url(url: str) -> str:
    """Percent-encode non-ASCII characters (UTF-8), as clients do when sending an IRI."""
    if url.isascii():
        return url
    return "".join(c if c.isascii() else quote(c, safe="") for c in url)


# --------------------------------------------------------------------------- signing


def sign_headers(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes | None,
    private_key: PrivateKey,
    keyid: str,
    *,
    label: str = "sig1",
    created: _dt.datetime | int | float | None = None,
    expires_in: int = MAX_WINDOW,
    nonce: str | None = None,
) -> dict[str, str]:
    """Sign a request; return the headers to add.

    Returns Content-Digest (only when there is a body), Signature-Input and Signature.

    `url` should be the URL exactly as it will be sent (a `requests.PreparedRequest.url`);
    it is normalised with requests' own URL preparation. A body (non-empty bytes) requires
    a Content-Type header. An existing Content-Digest header is reused if it matches.
    """
    if not isinstance(private_key, (Ed25519PrivateKey, SM2PrivateKey)):
        raise TypeError("private_key must be an Ed25519 or SM2 private key")
    if not keyid or not isinstance(keyid, str):
        raise ValueError("keyid must be a non-empty string")
    if type(expires_in) is not int or not 0 < expires_in <= MAX_WINDOW:
        raise ValueError(f"expires_in must be an int in 1..{MAX_WINDOW}")
    if body is not None and not isinstance(body, (bytes, bytearray)):
        raise TypeError("body must be bytes or None")
    body = bytes(body) if body else None  # an empty body is no body

    prepared = requests.PreparedRequest()
    prepared.prepare_method(method)
    prepared.prepare_url(url, None)
    prepared.prepare_headers(dict(headers.items()) if headers else {})
    for name in list(prepared.headers):
        if name.lower() in {"signature", "signature-input"}:
            del prepared.headers[name]
    has_digest = "Content-Digest" in prepared.headers

    covered = list(BASE_COMPONENTS)
    if body is not None:
        if not prepared.headers.get("Content-Type"):
            raise ValueError("a Content-Type header is required to sign a request body")
        covered.append("content-type")  # the library appends content-digest itself

    created_ts = _to_epoch(created)
    signer = HTTPMessageSigner(
        signature_algorithm=ALGORITHMS[suite_of(private_key)],
        key_resolver=MappingKeyResolver(public_keys={},
                                        private_keys={keyid: _lib_key(private_key)}),
    )
    signer.content_digest_class = _Sha256Digest
    signer.sign(
        prepared,
        key_id=keyid,
        created=_utc(created_ts),
        expires=_utc(created_ts + expires_in),
        nonce=nonce if nonce is not None else secrets.token_urlsafe(18),
        label=label,
        tag=TAG,
        covered_component_ids=covered,
        body=body,
        use_existing_digest=has_digest,
    )
    out = {
        "Signature-Input": prepared.headers["Signature-Input"],
        "Signature": prepared.headers["Signature"],
    }
    if body is not None:
        out["Content-Digest"] = prepared.headers["Content-Digest"]
    return out


class HubAuth(requests.auth.AuthBase):
    """requests auth hook: `requests.post(url, data=..., headers=..., auth=HubAuth(key, keyid))`.

    Every call signs afresh (new created/expires/nonce). Transport-level retries that
    resend the same prepared request (urllib3 Retry) will hit `nonce_replayed` if the
    first attempt reached the server; retry by calling requests again instead.
    """

    def __init__(
        self,
        private_key: PrivateKey,
        keyid: str,
        *,
        label: str = "sig1",
        expires_in: int = MAX_WINDOW,
    ) -> None:
        self.private_key = private_key
        self.keyid = keyid
        self.label = label
        self.expires_in = expires_in

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        body = r.body
        if isinstance(body, str):
            body = body.encode("utf-8")
        elif body is not None and hasattr(body, "read"):
            body = body.read()
        elif body is not None and not isinstance(body, (bytes, bytearray)):
            raise TypeError("HubAuth cannot sign a streamed (generator) request body")
        if body is not None and body is not r.body:
            r.body = bytes(body)
            r.headers.pop("Transfer-Encoding", None)
            r.prepare_content_length(r.body)
        r.headers.update(
            sign_headers(
                r.method or "GET",
                r.url or "",
                r.headers,
                bytes(body) if body else None,
                self.private_key,
                self.keyid,
                label=self.label,
                expires_in=self.expires_in,
            )
        )
        return r


# --------------------------------------------------------------------------- verifying


@dataclass
class Verified:
    keyid: str
    label: str
    created: _dt.datetime
    expires: _dt.datetime
    nonce: str


def _lib_key(key: PrivateKey | PublicKey) -> Any:
    """A key as the library's resolver holds it: its annotations name only the `cryptography`
    key types, while an SM2 key offers the same `sign`/`verify` and is used alike."""
    return key


class _PolicyVerifier(HTTPMessageVerifier):
    """Time checks are done by `verify_request` against its `now`, not the wall clock."""

    def validate_created_and_expires(self, sig_input: Any, max_age: Any = None) -> None:
        return None


def _parse_dict(value: str, field: str) -> dict[str, Any]:
    def reject_duplicate(key: str, context: str) -> None:
        if context == "dictionary":
            raise ValueError(f"duplicate member {key!r}")

    try:
        parsed = http_sf.parse(
            value.encode("latin-1"), tltype="dictionary", on_duplicate_key=reject_duplicate
        )
    except (ValueError, TypeError, UnicodeEncodeError) as exc:
        raise SignatureError("signature_malformed", f"{field}: {exc}") from exc
    if not isinstance(parsed, dict) or not parsed:
        raise SignatureError("signature_malformed", f"{field} is empty")
    return parsed


def verify_request(
    method: str,
    url: str,
    headers: Mapping[str, str] | Iterable[tuple[str, str]],
    body: bytes | None,
    resolve_key: Callable[[str], PublicKey | None],
    remember_nonce: Callable[[str, str, _dt.datetime], bool],
    *,
    now: _dt.datetime | int | float | None = None,
    authority: Callable[[str], bool] | None = None,
    window: int | None = None,
) -> Verified:
    """Verify the hub-profile signature of a request; raise SignatureError otherwise.

    `url` must be the absolute URL as the client sent it (scheme, Host, raw path and query).
    `remember_nonce(keyid, nonce, expires_at)` returns False when the nonce was already
    seen; it is called only after the signature and digest have been verified, and must
    keep the nonce at least until `expires_at`.
    `authority(host)` says whether the signed `@authority` names this receiver, so a request
    signed for another host can't be replayed here; `window` is the receiver's maximum
    signature age in seconds (at most the profile's `MAX_WINDOW` matters while `expires`
    holds).
    """
    body = bytes(body or b"")
    now_ts = _to_epoch(now)
    pairs = _header_pairs(headers)
    fields = get_header_fields(_Headers(pairs))

    if "signature" not in fields or "signature-input" not in fields:
        raise SignatureError("signature_missing")
    inputs = _parse_dict(fields["signature-input"], "Signature-Input")
    signatures = _parse_dict(fields["signature"], "Signature")
    if inputs.keys() != signatures.keys():
        raise SignatureError("signature_malformed", "Signature / Signature-Input labels differ.")
    for lbl, (member, _params) in inputs.items():
        if not isinstance(member, list):
            raise SignatureError("signature_malformed", f"Signature-Input {lbl!r}: not a list.")
        if not isinstance(signatures[lbl][0], bytes):
            raise SignatureError("signature_malformed", f"Signature {lbl!r}: not a byte sequence.")

    # ---- select the hub signature
    candidates = [lbl for lbl, (_m, params) in inputs.items() if params.get("tag") == TAG]
    if not candidates:
        raise SignatureError("signature_params", f'No signature has tag="{TAG}".')
    if len(candidates) > 1:
        raise SignatureError("signature_params", f'Several signatures have tag="{TAG}".')
    label = candidates[0]
    components, params = inputs[label]
    if type(params.get("tag")) is not str:
        raise SignatureError("signature_params", "tag must be a string.")

    # ---- parameters
    unknown = set(params) - _KNOWN_PARAMS
    if unknown:
        raise SignatureError("signature_params", f"Unexpected parameters {sorted(unknown)}.")
    if type(params.get("alg")) is not str or params.get("alg") not in ALGORITHM_IDS:
        raise SignatureError(
            "signature_params", f'alg must be one of {", ".join(sorted(ALGORITHM_IDS))}.')
    for name in _REQUIRED_PARAMS:
        if name not in params:
            raise SignatureError("signature_params", f'Missing "{name}".')
    created, expires, keyid, nonce = (params[n] for n in _REQUIRED_PARAMS)
    if type(created) is not int or type(expires) is not int:
        raise SignatureError("signature_params", "created and expires must be integers.")
    if type(keyid) is not str or not keyid or type(nonce) is not str or not nonce:
        raise SignatureError("signature_params", "keyid and nonce must be non-empty strings.")

    # ---- covered components
    names = [value for value, _p in components]
    if any(type(v) is not str for v in names):
        raise SignatureError("signature_malformed", "Component identifiers must be strings.")
    plain = {value for value, p in components if not p}
    required = list(BASE_COMPONENTS)
    if body:
        if "content-digest" not in fields:
            raise SignatureError("digest_missing")
        try:
            digest_members = http_sf.parse(
                fields["content-digest"].encode("latin-1"), tltype="dictionary"
            )
        except (ValueError, TypeError, UnicodeEncodeError) as exc:
            raise SignatureError("digest_mismatch", "Content-Digest is malformed.") from exc
        if not isinstance(digest_members, dict) or not (
                "sha-256" in digest_members or "sm3" in digest_members):
            raise SignatureError("digest_missing", "No sha-256 or sm3 member in Content-Digest.")
        required += BODY_COMPONENTS
    missing = [c for c in required if c not in plain]
    if missing:
        raise SignatureError("signature_params", f"Components not covered: {' '.join(missing)}.")

    # ---- time window
    if expires - created > MAX_WINDOW:
        raise SignatureError("signature_expired", f"Validity window exceeds {MAX_WINDOW} s.")
    if expires <= created:
        raise SignatureError("signature_params", "expires must be after created.")
    if created > now_ts + CLOCK_SKEW:
        raise SignatureError("signature_expired", "created is in the future.")
    if now_ts > expires:
        raise SignatureError("signature_expired")
    if window is not None and now_ts - created > window:
        raise SignatureError("signature_expired", f"Signature older than {window} s.")

    # ---- audience: the signed @authority is taken from the URL, so check that URL's host
    if authority is not None and not authority(url_authority(url)):
        raise SignatureError("wrong_authority", f"@authority={url_authority(url)!r}")

    # ---- key
    key = resolve_key(keyid)
    if key is None:
        raise SignatureError("unknown_key", f"keyid={keyid!r}")
    if isinstance(key, (bytes, str)):
        key = load_public_key(key)
    if not isinstance(key, (Ed25519PublicKey, SM2PublicKey)):
        raise SignatureError("unknown_key", f"keyid={keyid!r} is not an Ed25519 or SM2 key")
    algorithm = ALGORITHMS[suite_of(key)]
    if params["alg"] != algorithm.algorithm_id:
        raise SignatureError(
            "signature_params", f'keyid={keyid!r} signs with alg="{algorithm.algorithm_id}".')

    # ---- cryptographic check (library)
    message = _Message(
        method=str(method).upper(), url=_ascii_url(str(url)), headers=_Headers(pairs)
    )
    verifier = _PolicyVerifier(
        signature_algorithm=algorithm,
        key_resolver=MappingKeyResolver(public_keys={keyid: _lib_key(key)}, private_keys={}),
    )
    try:
        (result,) = verifier.verify(
            message,
            max_age=None,
            expect_tag=TAG,
            expect_label=label,
            require_components=required,
        )
    except InvalidSignature as exc:
        raise SignatureError("signature_invalid", str(exc)) from exc
    except HTTPMessageSignaturesException as exc:
        raise SignatureError("signature_malformed", str(exc)) from exc

    # ---- body digest (only authenticated values are used)
    if body or "content-digest" in fields:
        try:
            _Sha256Digest.verify_components(result.covered_components, body)
        except InvalidSignature as exc:
            raise SignatureError("digest_mismatch") from exc
        except HTTPMessageSignaturesException as exc:
            raise SignatureError("digest_mismatch", str(exc)) from exc

    # ---- replay
    expires_at = _utc(expires)
    if not remember_nonce(keyid, nonce, expires_at):
        raise SignatureError("nonce_replayed")
    return Verified(
        keyid=keyid, label=label, created=_utc(created), expires=expires_at, nonce=nonce
    )


# --------------------------------------------------------------------------- WSGI / Flask


def url_authority(url: str) -> str:
    """The normalised `@authority` of a URL (RFC 9421 2.2.3): lower case, no default port.

    Split by hand: the Host header is the client's, and `urlsplit` raises on some ("[").
    """
    scheme, _, rest = _ascii_url(str(url)).partition("://")
    netloc = rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    host = netloc.rpartition("@")[2].lower()
    default = {"http": ":80", "https": ":443"}.get(scheme.lower())
    if default and host.endswith(default):
        host = host[: -len(default)]
    return host


def request_url(environ: Mapping[str, Any]) -> str:
    """The absolute request URL as the client sent it, from a WSGI environ.

    Uses the Host header and the raw request target (RAW_URI / REQUEST_URI, set by
    gunicorn, uWSGI, mod_wsgi and Werkzeug) so that percent-escapes are preserved;
    falls back to re-quoting SCRIPT_NAME + PATH_INFO with the raw QUERY_STRING.
    """
    scheme = environ.get("wsgi.url_scheme", "http")
    host = environ.get("HTTP_HOST")
    if not host:
        host = environ.get("SERVER_NAME", "")
        port = str(environ.get("SERVER_PORT", ""))
        if port and (scheme, port) not in {("http", "80"), ("https", "443")}:
            host = f"{host}:{port}"
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if raw:
        if not raw.startswith("/"):  # absolute-form request target
            parts = urlsplit(raw)
            raw = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        target = raw
    else:
        path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
        target = quote(path.encode("latin-1"), safe="/:@!$&'()*+,;=~")
        query = environ.get("QUERY_STRING", "")
        if query:
            target += "?" + query
    return f"{scheme}://{host}{target or '/'}"


def verify_flask_request(
    request: Any,
    resolve_key: Callable[[str], PublicKey | None],
    remember_nonce: Callable[[str, str, _dt.datetime], bool],
    *,
    now: _dt.datetime | int | float | None = None,
    authority: Callable[[str], bool] | None = None,
    window: int | None = None,
) -> Verified:
    """`verify_request` for a Flask/Werkzeug request.

    Reads the raw body with `get_data(cache=True)`: call it before touching `request.form`.
    """
    return verify_request(
        request.method,
        request_url(request.environ),
        request.headers,
        request.get_data(cache=True),
        resolve_key,
        remember_nonce,
        now=now,
        authority=authority,
        window=window,
    )


# --------------------------------------------------------------------------- nonce store


class NonceCache:
    """Thread-safe in-memory `remember_nonce` for stand-ins and tests.

    `cache(keyid, nonce, expires_at)` returns True the first time and False while the
    same (keyid, nonce) is remembered. Entries are dropped once `expires_at` has passed.
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._seen: dict[tuple[str, str], float] = {}
        self._heap: list[tuple[float, tuple[str, str]]] = []

    def __call__(self, keyid: str, nonce: str, expires_at: _dt.datetime | int | float) -> bool:
        until = float(_to_epoch(expires_at)) if not isinstance(expires_at, float) else expires_at
        key = (keyid, nonce)
        with self._lock:
            self._purge(self._clock())
            if key in self._seen:
                return False
            self._seen[key] = until
            heapq.heappush(self._heap, (until, key))
            return True

    remember = __call__

    def _purge(self, now: float) -> None:
        while self._heap and self._heap[0][0] < now:
            until, key = heapq.heappop(self._heap)
            if self._seen.get(key) == until:
                del self._seen[key]

    def __len__(self) -> int:
        with self._lock:
            self._purge(self._clock())
            return len(self._seen)
