"""The national algorithms against their standards' own examples; the sm2-sm3 signing profile."""
import base64
import datetime as dt
import hashlib

import pytest
from cryptography.exceptions import InvalidSignature, InvalidTag
from http_message_signatures import InvalidSignature as DigestRefused

from hub.security import keys, sm2
from hub.security.signing import SignatureError, sign_headers, verify_request
from hub.security.suites import SM4GCM, SUITES, suite

# GB/T 32918.5-2017 (GM/T 0003.5-2012) signature example on the recommended curve:
# ID "1234567812345678", M "message digest".
D = 0x3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8
PUB = bytes.fromhex(
    "04"
    "09F9DF311E5421A150DD7D161E4BC5C672179FAD1833FC076BB08FF356F35020"
    "CCEA490CE26775A52DC6EA718CC1AA600AED05FBF35E084A6632F6072DA9AD13")
ZA = bytes.fromhex("B2E14C5C79C6DF5B85F4FE7ED8DB7A262B9DA7E07CCB0EA9F4747B8CCDA8A4F3")
E = 0xF0B43E94BA45ACCAACE692ED534382EB17E6AB5A19CE7B31F4486FDFC0D28640
K = 0x59276E27D506861A16680F3AD9C02DCCEF3CC1FA3CDBE4CE6D54B80DEAC1BC21
R = 0xF5A03B0648D2C4630EEAC513E1BB81A15944DA3827D5B74143AC7EACEEE720B3
S = 0xB1B6AA29DF212FD8763182BC0D421CA1BB9038FD1F7F42D4840B69C485BBC1AA
MSG = b"message digest"


def _der(r: int, s: int) -> bytes:
    def integer(v: int) -> bytes:
        b = v.to_bytes(33, "big").lstrip(b"\0")
        b = b"\0" + b if b[0] & 0x80 else b
        return b"\x02" + bytes([len(b)]) + b
    body = integer(r) + integer(s)
    return b"\x30" + bytes([len(body)]) + body


def _sm3(data: bytes) -> bytes:
    return SUITES["sm"].digest(data)


# --------------------------------------------------------------------------- SM3 (GB/T 32905)

def test_sm3_reproduces_the_standards_two_examples():
    assert _sm3(b"abc").hex() == (
        "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0")
    assert _sm3(b"abcd" * 16).hex() == (
        "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732")


# --------------------------------------------------------------------------- SM2 (GB/T 32918)

def test_sm2_key_from_the_example_scalar_has_the_example_public_key():
    key = sm2.SM2PrivateKey.from_scalar(D)
    assert key.public_key().point == PUB


def test_sm2_za_and_e_match_the_example():
    pub = sm2.SM2PublicKey.from_point(PUB)
    assert sm2.za(pub) == ZA
    assert int.from_bytes(_sm3(ZA + MSG), "big") == E


def test_sm2_signing_equation_reproduces_the_example_signature():
    # x1 of [k]G comes from the library's scalar multiplication; r and s from GB/T 32918.2 6.1
    x1 = sm2.SM2PrivateKey.from_scalar(K).public_key().x
    r = (E + x1) % sm2.N
    s = pow(1 + D, -1, sm2.N) * (K - r * D) % sm2.N
    assert (r, s) == (R, S)


def test_sm2_verifies_the_example_signature_and_refuses_any_change():
    pub = sm2.SM2PublicKey.from_point(PUB)
    pub.verify(_der(R, S), MSG)
    with pytest.raises(InvalidSignature):
        pub.verify(_der(R, S), MSG + b"!")
    with pytest.raises(InvalidSignature):
        pub.verify(_der(R, S + 1), MSG)
    with pytest.raises(InvalidSignature):
        pub.with_distid(b"ALICE123@YAHOO.COM").verify(_der(R, S), MSG)
    with pytest.raises(InvalidSignature):  # the encoding is DER, not r||s
        pub.verify(R.to_bytes(32, "big") + S.to_bytes(32, "big"), MSG)


def test_sm2_sign_verify_round_trip_with_a_configured_distinguishing_id():
    key = sm2.SM2PrivateKey.generate(distid=b"hub@js.gov.cn")
    sig = key.sign(b"payload")
    assert sig[0] == 0x30  # DER SEQUENCE
    key.public_key().verify(sig, b"payload")
    with pytest.raises(InvalidSignature):
        key.public_key().with_distid(sm2.DEFAULT_DISTID).verify(sig, b"payload")


def test_sm2_refuses_points_off_the_curve_and_bad_identifiers():
    bad = bytearray(PUB)
    bad[-1] ^= 1
    with pytest.raises(ValueError):
        sm2.SM2PublicKey.from_point(bytes(bad))
    with pytest.raises(ValueError):
        sm2.SM2PublicKey.from_point(PUB, distid=b"")
    with pytest.raises(ValueError):
        sm2.SM2PrivateKey.from_scalar(0)


# --------------------------------------------------------------------------- SM4-GCM (RFC 8998 A.1)

def test_sm4_gcm_known_answer_and_tamper():
    key = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
    nonce = bytes.fromhex("00001234567800000000ABCD")
    aad = bytes.fromhex("FEEDFACEDEADBEEFFEEDFACEDEADBEEFABADDAD2")
    plain = bytes.fromhex(
        "AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBBCCCCCCCCCCCCCCCCDDDDDDDDDDDDDDDD"
        "EEEEEEEEEEEEEEEEFFFFFFFFFFFFFFFFEEEEEEEEEEEEEEEEAAAAAAAAAAAAAAAA")
    sealed = bytes.fromhex(
        "17F399F08C67D5EE19D0DC9969C4BB7D5FD46FD3756489069157B282BB200735"
        "D82710CA5C22F0CCFA7CBF93D496AC15A56834CBCF98C397B4024A2691233B8D"
        "83DE3541E4C2B58177E065A9BF7B62EC")
    aead = suite("sm").aead(key)
    assert isinstance(aead, SM4GCM)
    assert aead.encrypt(nonce, plain, aad) == sealed
    assert aead.decrypt(nonce, sealed, aad) == plain
    with pytest.raises(InvalidTag):
        aead.decrypt(nonce, sealed, aad + b"x")
    damaged = bytearray(sealed)
    damaged[5] ^= 1
    with pytest.raises(InvalidTag):
        aead.decrypt(nonce, bytes(damaged), aad)


def test_suites_pick_digest_and_cipher():
    assert suite("intl").digest(b"abc") == hashlib.sha256(b"abc").digest()
    intl = suite("intl").aead(bytes(32))
    assert intl.decrypt(bytes(12), intl.encrypt(bytes(12), b"x", b"a"), b"a") == b"x"
    with pytest.raises(ValueError):
        suite("sm").aead(bytes(32))
    with pytest.raises(ValueError):
        suite("rsa")
    assert keys.suite_of(suite("sm").generate_signing_key()) == "sm"
    assert keys.suite_of(suite("intl").generate_signing_key()) == "intl"


# --------------------------------------------------------------------------- keys, PEM, JWK

def test_sm2_pem_files_round_trip(tmp_path):
    priv_path, pub_path = keys.write_keypair(tmp_path, "m", suite="sm")
    assert priv_path.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    assert oct(priv_path.stat().st_mode & 0o777) == "0o600"
    priv = keys.load_private_key(priv_path)
    pub = keys.load_public_key(pub_path)
    assert isinstance(priv, sm2.SM2PrivateKey) and isinstance(pub, sm2.SM2PublicKey)
    assert priv.public_key() == pub
    assert keys.public_from_pem(keys.public_key_pem(pub)) == pub


def test_sm2_jwk_form_and_thumbprint():
    pub = sm2.SM2PublicKey.from_point(PUB)
    doc = keys.jwk(pub)
    assert doc == {
        "kty": "EC", "crv": "SM2",
        "x": base64.urlsafe_b64encode(PUB[1:33]).rstrip(b"=").decode(),
        "y": base64.urlsafe_b64encode(PUB[33:]).rstrip(b"=").decode(),
        "kid": keys.key_id(pub), "alg": "SM2-SM3", "use": "sig"}
    assert keys.public_from_jwk(doc) == pub
    canonical = f'{{"crv":"SM2","kty":"EC","x":"{doc["x"]}","y":"{doc["y"]}"}}'.encode()
    assert keys.key_id(pub) == base64.urlsafe_b64encode(
        hashlib.sha256(canonical).digest()).rstrip(b"=").decode()
    with pytest.raises(ValueError):
        keys.public_from_jwk({**doc, "d": "AAAA"})
    with pytest.raises(ValueError):
        keys.public_from_jwk({**doc, "y": doc["x"]})  # not on the curve
    mixed = keys.jwks({"a": pub, "b": keys.generate_keypair().public_key()})
    assert [k["kty"] for k in mixed["keys"]] == ["EC", "OKP"]


# --------------------------------------------------------------------------- RFC 9421 sm2-sm3

URL = "https://hub.example.gov.cn/v1/events"
BODY = '{"申请人": "张三"}'.encode()
CT = {"Content-Type": "application/cloudevents+json"}
NOW = dt.datetime(2026, 11, 29, 8, 0, tzinfo=dt.UTC)


def _verify(headers, body, key, *, keyid="m-1"):
    return verify_request("POST", URL, {**CT, **headers}, body, {keyid: key}.get,
                          lambda *_: True, now=NOW)


def test_sm2_signed_request_verifies_with_alg_sm2_sm3():
    key = keys.generate_keypair("sm")
    headers = sign_headers("POST", URL, CT, BODY, key, "m-1", created=NOW)
    assert 'alg="sm2-sm3"' in headers["Signature-Input"]
    assert headers["Content-Digest"].startswith("sha-256=")
    assert _verify(headers, BODY, key.public_key()).keyid == "m-1"
    with pytest.raises(SignatureError) as err:
        _verify(headers, BODY.replace("三".encode(), "四".encode()), key.public_key())
    assert err.value.code == "digest_mismatch"


def test_the_registered_key_decides_the_algorithm():
    sm_key, ed_key = keys.generate_keypair("sm"), keys.generate_keypair("intl")
    headers = sign_headers("POST", URL, CT, BODY, ed_key, "m-1", created=NOW)
    with pytest.raises(SignatureError) as err:  # ed25519 signature for a keyid registered as SM2
        _verify(headers, BODY, sm_key.public_key())
    assert err.value.code == "signature_params"
    forged = dict(headers, **{"Signature-Input": headers["Signature-Input"].replace(
        'alg="ed25519"', 'alg="sm2-sm3"')})
    with pytest.raises(SignatureError) as err:
        _verify(forged, BODY, sm_key.public_key())
    assert err.value.code == "signature_invalid"


def test_sm3_content_digest_is_accepted_and_checked():
    key = keys.generate_keypair("sm")
    sm3_digest = "sm3=:" + base64.b64encode(_sm3(BODY)).decode() + ":"
    headers = sign_headers("POST", URL, {**CT, "Content-Digest": sm3_digest}, BODY, key, "m-1",
                           created=NOW)
    assert headers["Content-Digest"] == sm3_digest
    assert _verify(headers, BODY, key.public_key())
    wrong = "sm3=:" + base64.b64encode(_sm3(b"other")).decode() + ":"
    with pytest.raises(DigestRefused):  # the signer refuses a digest that does not match
        sign_headers("POST", URL, {**CT, "Content-Digest": wrong}, BODY, key, "m-1", created=NOW)
