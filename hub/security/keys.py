"""Signing keys of both suites: generation, PEM files, JWK and JWKS, key ids (RFC 7638).

`intl` keys are Ed25519 (JWK: RFC 8037 `{"kty": "OKP", "crv": "Ed25519", "x"}`); `sm` keys are
SM2 on the GB/T 32918.5 curve (JWK: `{"kty": "EC", "crv": "SM2", "x", "y"}`, coordinates as
32-byte big-endian base64url, `"alg": "SM2-SM3"`; there is no JOSE registration for SM2, so
this is the hub's private profile). PEM files are PKCS#8 / SubjectPublicKeyInfo in both suites,
the same files `openssl genpkey -algorithm ed25519|SM2` writes. A key's type decides how it
signs (see `hub.security.signing`). The hub publishes its public keys at
`/.well-known/jwks.json` using `jwks()`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .sm2 import SM2PrivateKey, SM2PublicKey

__all__ = [
    "generate_keypair",
    "write_keypair",
    "load_private_key",
    "load_public_key",
    "public_key_pem",
    "public_from_pem",
    "jwk",
    "public_from_jwk",
    "jwks",
    "key_id",
    "suite_of",
    "PrivateKey",
    "PublicKey",
    "SUITES",
]

PrivateKey = Ed25519PrivateKey | SM2PrivateKey
PublicKey = Ed25519PublicKey | SM2PublicKey
SUITES = ("intl", "sm")


SM2_JWK_ALG = "SM2-SM3"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    if not isinstance(text, str):
        raise ValueError("expected a base64url string")
    if "=" in text or "+" in text or "/" in text:
        raise ValueError("expected base64url without padding")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _raw_public(pub: Ed25519PublicKey) -> bytes:
    return pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def suite_of(key: PrivateKey | PublicKey) -> str:
    """`sm` for SM2 keys, `intl` for Ed25519 keys."""
    if isinstance(key, (SM2PrivateKey, SM2PublicKey)):
        return "sm"
    if isinstance(key, (Ed25519PrivateKey, Ed25519PublicKey)):
        return "intl"
    raise TypeError(f"not a signing key of a known suite: {type(key).__name__}")


def generate_keypair(suite: str = "intl") -> PrivateKey:
    """A new private key of the suite (its public key is `.public_key()`)."""
    if suite == "sm":
        return SM2PrivateKey.generate()
    if suite != "intl":
        raise ValueError(f"unknown suite {suite!r} (expected one of {', '.join(SUITES)})")
    return Ed25519PrivateKey.generate()


def private_key_pem(key: PrivateKey) -> bytes:
    """Unencrypted PKCS#8 PEM of a private key."""
    if isinstance(key, SM2PrivateKey):
        return key.pem()
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def write_keypair(
    directory: str | os.PathLike[str],
    name: str,
    private_key: PrivateKey | None = None,
    *,
    overwrite: bool = False,
    suite: str = "intl",
) -> tuple[Path, Path]:
    """Write `<name>.private.pem` (PKCS#8, mode 0600) and `<name>.public.pem` (SPKI).

    Generates a new key of `suite` unless `private_key` is given. Refuses to replace existing
    files unless `overwrite=True` (raises FileExistsError). Returns the two paths.
    """
    if not name or "/" in name or "\\" in name or name in {".", ".."}:
        raise ValueError(f"invalid key name {name!r}")
    key = private_key if private_key is not None else generate_keypair(suite)
    if not isinstance(key, (Ed25519PrivateKey, SM2PrivateKey)):
        raise TypeError("private_key must be an Ed25519 or SM2 private key")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    private_path = directory / f"{name}.private.pem"
    public_path = directory / f"{name}.public.pem"
    if not overwrite:
        for path in (private_path, public_path):
            if path.exists():
                raise FileExistsError(f"{path} already exists")

    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(private_path, flags, 0o600)
    try:
        os.fchmod(fd, 0o600)  # the file may have existed with looser permissions
        with os.fdopen(fd, "wb") as fh:
            fd = -1
            fh.write(private_key_pem(key))
    finally:
        if fd != -1:
            os.close(fd)
    public_path.write_text(public_key_pem(key.public_key()), encoding="ascii")
    return private_path, public_path


def load_private_key(
    path: str | os.PathLike[str], *, distid: bytes | str | None = None
) -> PrivateKey:
    """Load an unencrypted PEM (PKCS#8) Ed25519 or SM2 private key from a file.

    `distid` is the SM2 distinguishing identifier the key signs with (default
    `1234567812345678`); it is ignored for Ed25519 keys.
    """
    data = Path(path).read_bytes()
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except UnsupportedAlgorithm:  # cryptography does not know the SM2 curve
        try:
            return SM2PrivateKey.from_pem(data, distid)
        except ValueError as exc:
            raise ValueError(f"{path}: not an Ed25519 or SM2 private key") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path}: not an Ed25519 or SM2 private key")
    return key


def load_public_key(source: str | os.PathLike[str] | bytes) -> PublicKey:
    """Load an Ed25519 or SM2 public key from PEM bytes, a PEM string, or a file path."""
    if isinstance(source, (bytes, bytearray)):
        data = bytes(source)
    elif isinstance(source, str) and source.lstrip().startswith("-----BEGIN"):
        data = source.encode("ascii")
    else:
        data = Path(source).read_bytes()
    return public_from_pem(data)


def public_key_pem(pub: PublicKey) -> str:
    """SubjectPublicKeyInfo PEM text of a public key."""
    if isinstance(pub, SM2PublicKey):
        return pub.pem()
    return pub.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def public_from_pem(pem: str | bytes, *, distid: bytes | str | None = None) -> PublicKey:
    """Parse SubjectPublicKeyInfo PEM (text or bytes) into an Ed25519 or SM2 public key."""
    data = pem.encode("ascii") if isinstance(pem, str) else pem
    try:
        key = serialization.load_pem_public_key(data)
    except UnsupportedAlgorithm:  # the SM2 curve
        try:
            return SM2PublicKey.from_pem(data, distid)
        except ValueError as exc:
            raise ValueError("not an Ed25519 or SM2 public key") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("not an Ed25519 or SM2 public key")
    return key


def jwk(pub: PublicKey, kid: str | None = None) -> dict[str, str]:
    """Public JWK of a key (OKP for Ed25519, EC/SM2 for SM2); `kid` defaults to `key_id(pub)`."""
    if isinstance(pub, SM2PublicKey):
        return {**pub.jwk_members(), "kid": kid if kid is not None else key_id(pub),
                "alg": SM2_JWK_ALG, "use": "sig"}
    return {
        "kty": "OKP",
        "crv": "Ed25519",
        "x": _b64url(_raw_public(pub)),
        "kid": kid if kid is not None else key_id(pub),
        "alg": "EdDSA",
        "use": "sig",
    }


def public_from_jwk(
    data: Mapping[str, Any], *, distid: bytes | str | None = None
) -> PublicKey:
    """Parse an OKP/Ed25519 or EC/SM2 public JWK. Rejects private JWKs and other key types."""
    if "d" in data:
        raise ValueError("refusing a JWK that contains private key material")
    if data.get("kty") == "EC" and data.get("crv") == "SM2":
        if data.get("alg") not in (None, SM2_JWK_ALG) or data.get("use") not in (None, "sig"):
            raise ValueError("unexpected alg or use in an SM2 JWK")
        x, y = _b64url_decode(data.get("x", "")), _b64url_decode(data.get("y", ""))
        if len(x) != 32 or len(y) != 32:
            raise ValueError("SM2 JWK x and y must be 32 bytes each")
        return SM2PublicKey.from_point(b"\x04" + x + y, distid)
    if data.get("kty") != "OKP" or data.get("crv") != "Ed25519":
        raise ValueError("JWK is neither an OKP Ed25519 nor an EC SM2 key")
    if data.get("alg") not in (None, "EdDSA", "Ed25519"):
        raise ValueError(f"unexpected JWK alg {data.get('alg')!r}")
    if data.get("use") not in (None, "sig"):
        raise ValueError(f"unexpected JWK use {data.get('use')!r}")
    raw = _b64url_decode(data.get("x", ""))
    if len(raw) != 32:
        raise ValueError("JWK x must be 32 bytes")
    return Ed25519PublicKey.from_public_bytes(raw)


def jwks(keys: Mapping[str, PublicKey]) -> dict[str, list[dict[str, str]]]:
    """JWK Set ({"keys": [...]}) for a mapping of kid -> public key, in mapping order."""
    return {"keys": [jwk(pub, kid) for kid, pub in keys.items()]}


def key_id(pub: PublicKey) -> str:
    """Default kid: the RFC 7638 JWK SHA-256 thumbprint, base64url without padding."""
    members = (pub.jwk_members() if isinstance(pub, SM2PublicKey)
               else {"crv": "Ed25519", "kty": "OKP", "x": _b64url(_raw_public(pub))})
    canonical = json.dumps(
        members,
        separators=(",", ":"),
        sort_keys=True,
    )
    return _b64url(hashlib.sha256(canonical.encode("ascii")).digest())
