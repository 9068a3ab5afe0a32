"""Ed25519 keys: generation, PEM files, JWK (RFC 8037 OKP) and JWKS, key ids (RFC 7638).

Members and the hub sign HTTP messages with Ed25519 (see `hub.security.signing`).
The hub publishes its public keys at `/.well-known/jwks.json` using `jwks()`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

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
]


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


def generate_keypair() -> Ed25519PrivateKey:
    """A new Ed25519 private key (its public key is `.public_key()`)."""
    return Ed25519PrivateKey.generate()


def private_key_pem(key: Ed25519PrivateKey) -> bytes:
    """Unencrypted PKCS#8 PEM of a private key."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def write_keypair(
    directory: str | os.PathLike[str],
    name: str,
    private_key: Ed25519PrivateKey | None = None,
    *,
    overwrite: bool = False,
) -> tuple[Path, Path]:
    """Write `<name>.private.pem` (PKCS#8, mode 0600) and `<name>.public.pem` (SPKI).

    Generates a new key unless `private_key` is given. Refuses to replace existing
    files unless `overwrite=True` (raises FileExistsError). Returns the two paths.
    """
    if not name or "/" in name or "\\" in name or name in {".", ".."}:
        raise ValueError(f"invalid key name {name!r}")
    key = private_key if private_key is not None else generate_keypair()
    if not isinstance(key, Ed25519PrivateKey):
        raise TypeError("private_key must be an Ed25519PrivateKey")
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


def load_private_key(path: str | os.PathLike[str]) -> Ed25519PrivateKey:
    """Load an unencrypted PEM (PKCS#8) Ed25519 private key from a file."""
    key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path}: not an Ed25519 private key")
    return key


def load_public_key(source: str | os.PathLike[str] | bytes) -> Ed25519PublicKey:
    """Load an Ed25519 public key from PEM bytes, a PEM string, or a file path."""
    if isinstance(source, (bytes, bytearray)):
        data = bytes(source)
    elif isinstance(source, str) and source.lstrip().startswith("-----BEGIN"):
        data = source.encode("ascii")
    else:
        data = Path(source).read_bytes()
    return public_from_pem(data)


def public_key_pem(pub: Ed25519PublicKey) -> str:
    """SubjectPublicKeyInfo PEM text of a public key."""
    return pub.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def public_from_pem(pem: str | bytes) -> Ed25519PublicKey:
    """Parse SubjectPublicKeyInfo PEM (text or bytes) into an Ed25519 public key."""
    data = pem.encode("ascii") if isinstance(pem, str) else pem
    key = serialization.load_pem_public_key(data)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("not an Ed25519 public key")
    return key


def jwk(pub: Ed25519PublicKey, kid: str | None = None) -> dict[str, str]:
    """RFC 8037 OKP JWK of a public key; `kid` defaults to `key_id(pub)`."""
    return {
        "kty": "OKP",
        "crv": "Ed25519",
        "x": _b64url(_raw_public(pub)),
        "kid": kid if kid is not None else key_id(pub),
        "alg": "EdDSA",
        "use": "sig",
    }


def public_from_jwk(data: Mapping[str, Any]) -> Ed25519PublicKey:
    """Parse an OKP/Ed25519 public JWK. Rejects private JWKs (with "d") and other key types."""
    if data.get("kty") != "OKP" or data.get("crv") != "Ed25519":
        raise ValueError("JWK is not an OKP Ed25519 key")
    if "d" in data:
        raise ValueError("refusing a JWK that contains private key material")
    if data.get("alg") not in (None, "EdDSA", "Ed25519"):
        raise ValueError(f"unexpected JWK alg {data.get('alg')!r}")
    if data.get("use") not in (None, "sig"):
        raise ValueError(f"unexpected JWK use {data.get('use')!r}")
    raw = _b64url_decode(data.get("x", ""))
    if len(raw) != 32:
        raise ValueError("JWK x must be 32 bytes")
    return Ed25519PublicKey.from_public_bytes(raw)


def jwks(keys: Mapping[str, Ed25519PublicKey]) -> dict[str, list[dict[str, str]]]:
    """JWK Set ({"keys": [...]}) for a mapping of kid -> public key, in mapping order."""
    return {"keys": [jwk(pub, kid) for kid, pub in keys.items()]}


def key_id(pub: Ed25519PublicKey) -> str:
    """Default kid: the RFC 7638 JWK SHA-256 thumbprint, base64url without padding."""
    canonical = json.dumps(
        {"crv": "Ed25519", "kty": "OKP", "x": _b64url(_raw_public(pub))},
        separators=(",", ":"),
        sort_keys=True,
    )
    return _b64url(hashlib.sha256(canonical.encode("ascii")).digest())
