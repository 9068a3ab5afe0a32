import json
import stat

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from hub.security import keys


def _raw(pub: Ed25519PublicKey) -> bytes:
    return keys._raw_public(pub)


def test_generate_keypair_is_ed25519():
    key = keys.generate_keypair()
    assert isinstance(key, Ed25519PrivateKey)
    assert _raw(key.public_key()) != _raw(keys.generate_keypair().public_key())


def test_write_and_load_pem_round_trip(tmp_path):
    private_path, public_path = keys.write_keypair(tmp_path / "k", "hub")
    assert private_path.name == "hub.private.pem" and public_path.name == "hub.public.pem"
    assert stat.S_IMODE(private_path.stat().st_mode) == 0o600
    assert b"BEGIN PRIVATE KEY" in private_path.read_bytes()  # PKCS#8
    assert public_path.read_text().startswith("-----BEGIN PUBLIC KEY-----")  # SPKI

    priv = keys.load_private_key(private_path)
    pub_from_path = keys.load_public_key(public_path)
    pub_from_str_path = keys.load_public_key(str(public_path))
    pub_from_bytes = keys.load_public_key(public_path.read_bytes())
    expected = _raw(priv.public_key())
    assert _raw(pub_from_path) == _raw(pub_from_str_path) == _raw(pub_from_bytes) == expected

    sig = priv.sign(b"hello")
    pub_from_path.verify(sig, b"hello")


def test_write_keypair_refuses_overwrite_and_keeps_given_key(tmp_path):
    key = keys.generate_keypair()
    private_path, _ = keys.write_keypair(tmp_path, "m1", key)
    assert _raw(keys.load_private_key(private_path).public_key()) == _raw(key.public_key())
    with pytest.raises(FileExistsError):
        keys.write_keypair(tmp_path, "m1")
    private_path.chmod(0o644)
    keys.write_keypair(tmp_path, "m1", overwrite=True)
    assert stat.S_IMODE(private_path.stat().st_mode) == 0o600
    with pytest.raises(ValueError):
        keys.write_keypair(tmp_path, "../evil")


def test_public_pem_text_round_trip():
    pub = keys.generate_keypair().public_key()
    pem = keys.public_key_pem(pub)
    assert isinstance(pem, str) and pem.startswith("-----BEGIN PUBLIC KEY-----")
    assert _raw(keys.public_from_pem(pem)) == _raw(pub)
    assert _raw(keys.load_public_key(pem)) == _raw(pub)


def test_public_from_pem_rejects_other_key_types():
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    pem = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(ValueError):
        keys.public_from_pem(pem)


def test_jwk_round_trip_and_shape():
    pub = keys.generate_keypair().public_key()
    doc = keys.jwk(pub, "hub-2025")
    assert set(doc) == {"kty", "crv", "x", "kid", "alg", "use"}
    assert doc["kty"] == "OKP" and doc["crv"] == "Ed25519"
    assert doc["alg"] == "EdDSA" and doc["use"] == "sig" and doc["kid"] == "hub-2025"
    assert "=" not in doc["x"] and "+" not in doc["x"] and "/" not in doc["x"]
    assert len(doc["x"]) == 43
    assert _raw(keys.public_from_jwk(json.loads(json.dumps(doc)))) == _raw(pub)
    assert keys.jwk(pub)["kid"] == keys.key_id(pub)


def test_public_from_jwk_rejects_bad_input():
    pub = keys.generate_keypair().public_key()
    good = keys.jwk(pub, "k")
    with pytest.raises(ValueError):
        keys.public_from_jwk({**good, "kty": "EC"})
    with pytest.raises(ValueError):
        keys.public_from_jwk({**good, "crv": "X25519"})
    with pytest.raises(ValueError):
        keys.public_from_jwk({**good, "d": good["x"]})
    with pytest.raises(ValueError):
        keys.public_from_jwk({**good, "x": good["x"][:-4]})


def test_key_id_is_rfc7638_thumbprint():
    # RFC 8037 Appendix A.2/A.3: thumbprint of the example Ed25519 public key.
    pub = keys.public_from_jwk(
        {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}
    )
    assert keys.key_id(pub) == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
    assert keys.key_id(pub) == keys.key_id(keys.public_from_pem(keys.public_key_pem(pub)))


def test_jwks_shape():
    a = keys.generate_keypair().public_key()
    b = keys.generate_keypair().public_key()
    doc = keys.jwks({"a": a, "b": b})
    assert list(doc) == ["keys"]
    assert [k["kid"] for k in doc["keys"]] == ["a", "b"]
    assert all(k["kty"] == "OKP" and k["crv"] == "Ed25519" for k in doc["keys"])
    assert _raw(keys.public_from_jwk(doc["keys"][1])) == _raw(b)
    assert keys.jwks({}) == {"keys": []}
    json.dumps(doc)  # serialisable as /.well-known/jwks.json
