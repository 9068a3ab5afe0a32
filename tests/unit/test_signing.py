import base64
import datetime as dt
import hashlib
import threading
import time
from functools import partial

import pytest
import requests
import responses
from cryptography.hazmat.primitives.serialization import load_pem_private_key, load_pem_public_key
from http_message_signatures import (
    HTTPMessageSigner,
    HTTPMessageVerifier,
    MappingKeyResolver,
    algorithms,
)
from http_message_signatures.exceptions import InvalidSignature

from hub.security import keys
from hub.security.signing import (
    MAX_WINDOW,
    TAG,
    HubAuth,
    NonceCache,
    SignatureError,
    Verified,
    content_digest,
    request_url,
    sign_headers,
    verify_flask_request,
    verify_request,
)

UTC = dt.UTC
URL = "https://hub.example.gov.cn:8443/api/v1/cases?item=retirement&page=2"
PING = "https://hub.example.gov.cn:8443/api/v1/ping"
BASE = ("@method", "@authority", "@path", "@query")
BODY = '{"applicant": "张三", "n": 1}'.encode()
JSON = {"Content-Type": "application/json; charset=utf-8"}

# RFC 9421 Appendix B.1.4 (test-key-ed25519)
RFC_ED25519_PUBLIC = b"""-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAJrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0bs=
-----END PUBLIC KEY-----
"""
RFC_ED25519_PRIVATE = b"""-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIJ+DYvh6SEqVTm50DFtMDoQikTmiCqirVv9mWG9qfSnF
-----END PRIVATE KEY-----
"""
B26_INPUT = (
    'sig-b26=("date" "@method" "@path" "@authority" "content-type" "content-length")'
    ';created=1618884473;keyid="test-key-ed25519"'
)
B26_SIGNATURE = (
    "sig-b26=:wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1"
    "u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw==:"
)


def _rfc_test_request(extra_headers=None):
    """The RFC 9421 Appendix B.2 test-request."""
    req = requests.PreparedRequest()
    req.prepare_method("POST")
    req.prepare_url("https://example.com/foo?param=Value&Pet=dog", None)
    req.prepare_headers(
        {
            "Host": "example.com",
            "Date": "Tue, 20 Apr 2021 02:07:55 GMT",
            "Content-Type": "application/json",
            "Content-Digest": (
                "sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrI"
                "iYllu7BNNyealdVLvRwEmTHWXvJwew==:"
            ),
            "Content-Length": "18",
            **(extra_headers or {}),
        }
    )
    req.body = b'{"hello": "world"}'
    return req


def test_rfc9421_b26_sign_reproduces_expected_signature():
    key = load_pem_private_key(RFC_ED25519_PRIVATE, password=None)
    req = _rfc_test_request()
    signer = HTTPMessageSigner(
        signature_algorithm=algorithms.ED25519,
        key_resolver=MappingKeyResolver(public_keys={}, private_keys={"test-key-ed25519": key}),
    )
    signer.sign(
        req,
        key_id="test-key-ed25519",
        created=dt.datetime.fromtimestamp(1618884473, tz=UTC),
        label="sig-b26",
        include_alg=False,
        use_existing_digest=True,  # the test-request already has a sha-512 Content-Digest
        covered_component_ids=(
            "date", "@method", "@path", "@authority", "content-type", "content-length"
        ),
    )
    assert req.headers["Signature-Input"] == B26_INPUT
    assert req.headers["Signature"] == B26_SIGNATURE


def test_rfc9421_b26_given_signature_verifies():
    pub = load_pem_public_key(RFC_ED25519_PUBLIC)
    private = load_pem_private_key(RFC_ED25519_PRIVATE, None)
    assert keys.key_id(pub) == keys.key_id(private.public_key())
    req = _rfc_test_request({"Signature-Input": B26_INPUT, "Signature": B26_SIGNATURE})
    verifier = HTTPMessageVerifier(
        signature_algorithm=algorithms.ED25519,
        key_resolver=MappingKeyResolver(public_keys={"test-key-ed25519": pub}, private_keys={}),
    )
    (result,) = verifier.verify(req, max_age=None)
    assert result.label == "sig-b26"
    assert result.parameters["keyid"] == "test-key-ed25519"
    assert result.covered_components['"@authority"'] == "example.com"

    # a single changed byte in a covered field breaks it
    bad = _rfc_test_request(
        {"Signature-Input": B26_INPUT, "Signature": B26_SIGNATURE, "Content-Length": "19"}
    )
    with pytest.raises(InvalidSignature):
        verifier.verify(bad, max_age=None)


def test_content_digest_rfc9530():
    # RFC 9530 Appendix B.1 style: {"hello": "world"} with sha-256
    expected = base64.b64encode(hashlib.sha256(b'{"hello": "world"}').digest()).decode()
    assert content_digest(b'{"hello": "world"}') == f"sha-256=:{expected}:"
    known = "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:"
    assert content_digest(b'{"hello": "world"}') == known


# --------------------------------------------------------------------------- helpers


@pytest.fixture()
def member():
    return keys.generate_keypair()


@pytest.fixture()
def registry(member):
    return {"member-1": member.public_key()}


def _verify(headers, *, body=BODY, url=URL, method="POST", registry=None, nonces=None, now=None):
    return verify_request(
        method,
        url,
        headers,
        body,
        (registry or {}).get,
        nonces if nonces is not None else NonceCache(),
        now=now,
    )


def _verify_prepared(prepared, registry):
    return _verify(prepared.headers, url=prepared.url, body=prepared.body, registry=registry)


def _code(fn):
    with pytest.raises(SignatureError) as info:
        fn()
    assert info.value.status == 401
    assert info.value.message and info.value.message_zh
    return info.value.code


def _signed(member, *, body=BODY, url=URL, method="POST", headers=JSON, **kw):
    added = sign_headers(method, url, headers, body, member, "member-1", **kw)
    return {**headers, **added}


def _lib_sign(member, *, body=BODY, url=URL, covered=None, headers=None, **kw):
    """Sign with http_message_signatures directly (not through sign_headers)."""
    headers = headers if headers is not None else dict(JSON)
    req = requests.Request("POST", url, headers=headers, data=body)
    prepared = req.prepare()
    signer = HTTPMessageSigner(
        signature_algorithm=algorithms.ED25519,
        key_resolver=MappingKeyResolver(public_keys={}, private_keys={"member-1": member}),
    )
    now = dt.datetime.now(UTC)
    options = dict(
        key_id="member-1",
        created=now,
        expires=now + dt.timedelta(seconds=120),
        nonce="n-" + str(time.time_ns()),
        tag=TAG,
        label="m",
        covered_component_ids=covered or (*BASE, "content-type"),
        body=body,
    )
    options.update(kw)
    signer.sign(prepared, **options)
    return prepared


# --------------------------------------------------------------------------- round trips


def test_round_trip_with_body(member, registry):
    headers = _signed(member)
    assert headers["Content-Digest"] == content_digest(BODY)
    assert 'tag="retirement-hub"' in headers["Signature-Input"]
    assert 'alg="ed25519"' in headers["Signature-Input"]
    assert '"content-type" "content-digest"' in headers["Signature-Input"]
    verified = _verify(headers, registry=registry)
    assert isinstance(verified, Verified)
    assert verified.keyid == "member-1" and verified.label == "sig1"
    assert verified.expires - verified.created == dt.timedelta(seconds=MAX_WINDOW)
    assert verified.created.tzinfo is not None and verified.nonce


def test_round_trip_without_body(member, registry):
    headers = _signed(member, body=None, method="GET", headers={})
    assert "Content-Digest" not in headers
    assert headers["Signature-Input"].startswith('sig1=("@method" "@authority" "@path" "@query");')
    verified = _verify(headers, body=b"", method="GET", registry=registry)
    assert verified.keyid == "member-1"


def test_header_names_are_case_insensitive_and_pairs_accepted(member, registry):
    headers = _signed(member)
    lowered = [(k.lower(), v) for k, v in headers.items()]
    assert _verify(lowered, registry=registry).keyid == "member-1"


def test_signed_directly_with_library_verifies(member, registry):
    prepared = _lib_sign(member)
    verified = _verify(prepared.headers, url=prepared.url, body=prepared.body, registry=registry)
    assert verified.label == "m" and verified.nonce.startswith("n-")


def test_hub_signature_selected_among_several_labels(member, registry):
    other = keys.generate_keypair()
    prepared = _lib_sign(member)
    foreign = HTTPMessageSigner(
        signature_algorithm=algorithms.ED25519,
        key_resolver=MappingKeyResolver(public_keys={}, private_keys={"proxy": other}),
    )
    foreign.sign(prepared, key_id="proxy", label="proxy", covered_component_ids=("@method",),
                 append_if_signature_exists=True, use_existing_digest=True)
    assert "proxy=" in prepared.headers["Signature-Input"]
    verified = _verify(prepared.headers, url=prepared.url, body=prepared.body, registry=registry)
    assert verified.label == "m"


def test_hub_auth_signs_requests_calls(member, registry):
    seen = {}

    def callback(request):
        try:
            seen["verified"] = verify_request(
                request.method,
                request.url,
                request.headers,
                request.body,
                registry.get,
                NonceCache(),
            )
        except SignatureError as exc:
            return (401, {}, exc.code)
        return (204, {}, "")

    with responses.RequestsMock() as mock:
        mock.add_callback(responses.POST, URL, callback=callback)
        mock.add_callback(responses.GET, PING, callback=callback)
        r = requests.post(URL, data=BODY, headers=JSON, auth=HubAuth(member, "member-1"))
        assert r.status_code == 204, r.text
        r = requests.post(URL, json={"名字": "李四"}, auth=HubAuth(member, "member-1"))
        assert r.status_code == 204, r.text
        r = requests.get(PING, auth=HubAuth(member, "member-1"))
        assert r.status_code == 204, r.text
    assert seen["verified"].keyid == "member-1"


def test_flask_view_verifies_with_raw_url(member, registry):
    flask = pytest.importorskip("flask")
    app = flask.Flask(__name__)
    nonces = NonceCache()

    @app.post("/api/v1/cases")
    def view():
        try:
            verified = verify_flask_request(flask.request, registry.get, nonces)
        except SignatureError as exc:
            return {"code": exc.code}, exc.status
        return {"keyid": verified.keyid, "url": request_url(flask.request.environ)}

    # Flask's test client talks to http://localhost (Host: localhost)
    url = "http://localhost/api/v1/cases?name=%E5%BC%A0%E4%B8%89&x=a%2Fb"
    headers = _signed(member, url=url)
    client = app.test_client()
    r = client.post("/api/v1/cases?name=%E5%BC%A0%E4%B8%89&x=a%2Fb", data=BODY, headers=headers)
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["url"] == url
    # same request again: replay
    r = client.post("/api/v1/cases?name=%E5%BC%A0%E4%B8%89&x=a%2Fb", data=BODY, headers=headers)
    assert r.status_code == 401 and r.get_json()["code"] == "nonce_replayed"
    # signed for another authority (e.g. port lost by a proxy) does not verify
    headers = _signed(member, url="http://localhost:8080/api/v1/cases")
    r = client.post("/api/v1/cases", data=BODY, headers=headers)
    assert r.get_json()["code"] == "signature_invalid"


def test_request_url_fallback_without_raw_uri():
    environ = {
        "wsgi.url_scheme": "https",
        "HTTP_HOST": "hub.example:8443",
        "SCRIPT_NAME": "",
        "PATH_INFO": "/api/\u00e5".encode().decode("latin-1"),
        "QUERY_STRING": "q=%E5%BC%A0",
    }
    assert request_url(environ) == "https://hub.example:8443/api/%C3%A5?q=%E5%BC%A0"
    environ["RAW_URI"] = "/api/%c3%a5?q=%E5%BC%A0"
    assert request_url(environ) == "https://hub.example:8443/api/%c3%a5?q=%E5%BC%A0"


# --------------------------------------------------------------------------- failures


def test_missing_signature(registry):
    assert _code(lambda: _verify(dict(JSON), registry=registry)) == "signature_missing"
    only_sig = {**JSON, "Signature": "a=:AA==:"}
    assert _code(lambda: _verify(only_sig, registry=registry)) == "signature_missing"


def test_malformed_signature(member, registry):
    headers = _signed(member)
    broken = {**headers, "Signature": "sig1=((("}
    assert _code(lambda: _verify(broken, registry=registry)) == "signature_malformed"
    assert _code(lambda: _verify({**headers, "Signature": "other=:AA==:"}, registry=registry)) == (
        "signature_malformed"
    )


def test_tampered_body_is_digest_mismatch(member, registry):
    headers = _signed(member)
    assert _code(lambda: _verify(headers, body=BODY + b" ", registry=registry)) == "digest_mismatch"


def test_body_added_to_bodyless_signature_is_digest_missing(member, registry):
    headers = _signed(member, body=None)
    assert _code(lambda: _verify(headers, registry=registry)) == "digest_missing"


def test_tampered_digest_header_is_signature_invalid(member, registry):
    headers = _signed(member)
    other = BODY.replace(b"1", b"2")
    headers["Content-Digest"] = content_digest(other)
    assert _code(lambda: _verify(headers, body=other, registry=registry)) == "signature_invalid"


def test_tampered_url_is_signature_invalid(member, registry):
    headers = _signed(member)
    changes = [("page=2", "page=3"), ("8443", "9443"), ("/cases", "/CASES")]
    for url in (URL.replace(a, b) for a, b in changes):
        assert _code(partial(_verify, headers, url=url, registry=registry)) == "signature_invalid"
    assert _code(lambda: _verify(headers, method="PUT", registry=registry)) == "signature_invalid"


def test_wrong_key_is_signature_invalid(member):
    headers = _signed(member)
    impostor = {"member-1": keys.generate_keypair().public_key()}
    assert _code(lambda: _verify(headers, registry=impostor)) == "signature_invalid"


def test_unknown_keyid(member):
    headers = _signed(member)
    others = {"someone-else": member.public_key()}
    assert _code(lambda: _verify(headers, registry=others)) == "unknown_key"


def test_expired(member, registry):
    created = int(time.time()) - 1000
    headers = _signed(member, created=created, expires_in=300)
    assert _code(lambda: _verify(headers, registry=registry)) == "signature_expired"
    # valid at a time inside its window
    assert _verify(headers, registry=registry, now=created + 100).keyid == "member-1"
    late = created + 301
    assert _code(lambda: _verify(headers, registry=registry, now=late)) == "signature_expired"


def test_created_in_future(member, registry):
    headers = _signed(member, created=int(time.time()) + 120)
    assert _code(lambda: _verify(headers, registry=registry)) == "signature_expired"
    headers = _signed(member, created=int(time.time()) + 10)  # within clock skew
    assert _verify(headers, registry=registry).keyid == "member-1"


def test_window_longer_than_five_minutes(member, registry):
    with pytest.raises(ValueError):
        sign_headers("POST", URL, JSON, BODY, member, "member-1", expires_in=301)
    now = dt.datetime.now(UTC)
    prepared = _lib_sign(member, created=now, expires=now + dt.timedelta(seconds=600))
    code = _code(lambda: _verify_prepared(prepared, registry))
    assert code in {"signature_expired", "signature_params"}


def test_replayed_nonce(member, registry):
    nonces = NonceCache()
    headers = _signed(member)
    _verify(headers, registry=registry, nonces=nonces)
    assert _code(lambda: _verify(headers, registry=registry, nonces=nonces)) == "nonce_replayed"
    # a fresh signature with the same nonce is also refused
    again = _signed(member, nonce=headers["Signature-Input"].split('nonce="')[1].split('"')[0])
    assert _code(lambda: _verify(again, registry=registry, nonces=nonces)) == "nonce_replayed"


def test_nonce_not_consumed_when_crypto_fails(member, registry):
    calls = []

    def remember(keyid, nonce, expires_at):
        calls.append((keyid, nonce, expires_at))
        return True

    headers = _signed(member)
    with pytest.raises(SignatureError):
        impostor = {"member-1": keys.generate_keypair().public_key()}
        _verify(headers, registry=impostor, nonces=remember)
    with pytest.raises(SignatureError):
        _verify(headers, body=b"x", registry=registry, nonces=remember)
    assert calls == []
    verified = _verify(headers, registry=registry, nonces=remember)
    assert calls == [("member-1", verified.nonce, verified.expires)]


def test_missing_tag(member, registry):
    prepared = _lib_sign(member, tag=None)
    code = _code(lambda: _verify_prepared(prepared, registry))
    assert code == "signature_params"
    prepared = _lib_sign(member, tag="someone-else")
    code = _code(lambda: _verify_prepared(prepared, registry))
    assert code == "signature_params"


@pytest.mark.parametrize(
    "options",
    [
        {"nonce": None},
        {"expires": None},
        {"include_alg": False},
        {"covered_component_ids": ("@method", "@authority", "@path", "content-type")},
        {"covered_component_ids": ("@method", "@authority", "@path", "@query")},  # no content-type
    ],
)
def test_profile_violations_are_signature_params(member, registry, options):
    prepared = _lib_sign(member, **options)
    code = _code(lambda: _verify_prepared(prepared, registry))
    assert code == "signature_params"


def test_uncovered_content_digest_with_body(member, registry):
    headers = {**JSON, "Content-Digest": content_digest(BODY)}
    prepared = _lib_sign(
        member,
        body=None,
        headers=headers,
        covered=("@method", "@authority", "@path", "@query", "content-type"),
        use_existing_digest=True,
    )
    assert '"content-digest"' not in prepared.headers["Signature-Input"]
    code = _code(lambda: _verify(prepared.headers, url=prepared.url, body=BODY, registry=registry))
    assert code == "signature_params"


def test_sign_headers_requires_content_type_for_body(member):
    with pytest.raises(ValueError):
        sign_headers("POST", URL, {}, BODY, member, "member-1")


def test_nonce_cache_expiry_and_threads():
    clock = [1000.0]
    cache = NonceCache(clock=lambda: clock[0])
    exp = dt.datetime.fromtimestamp(1100, tz=UTC)
    assert cache("k", "n", exp) is True
    assert cache("k", "n", exp) is False
    assert cache("other", "n", exp) is True  # nonces are per keyid
    clock[0] = 1101.0
    assert len(cache) == 0
    assert cache("k", "n", dt.datetime.fromtimestamp(1200, tz=UTC)) is True

    cache = NonceCache()
    results = []
    expires = dt.datetime.now(UTC) + dt.timedelta(seconds=60)

    def worker():
        results.append(cache("k", "same", expires))

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(True) == 1 and results.count(False) == 15


def test_authority_and_window_are_the_receivers_choice() -> None:
    from hub.config import Config
    from hub.security.signing import url_authority

    assert url_authority("https://Hub.Example.CN:443/v1/feed?x=1") == "hub.example.cn"
    assert url_authority("http://127.0.0.1:8080/v1") == "127.0.0.1:8080"
    local = Config()
    assert local.accepts_authority("127.0.0.1:5000") and local.accepts_authority("localhost")
    assert not local.accepts_authority("staging.example.cn")
    named = Config(host="hub.internal", port=8443)
    assert named.accepts_authority("hub.internal:8443")
    assert not named.accepts_authority("127.0.0.1:8443")
    public = Config(public_authority=("hub.example.cn",))
    assert public.accepts_authority("HUB.example.cn")
    assert Config(public_authority=("hub.example.cn:443",)).accepts_authority("hub.example.cn")
    assert not public.accepts_authority("127.0.0.1:8080")
    env = Config.from_env({"HUB_PUBLIC_AUTHORITY": "a.example, b.example:8443",
                           "HUB_SIGNATURE_WINDOW_S": "60"})
    assert env.public_authority == ("a.example", "b.example:8443")
    assert env.signature_window_s == 60
