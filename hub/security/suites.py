"""The two algorithm suites behind one small interface: `intl` and `sm` (国密).

| suite | signatures | digests | encryption |
|---|---|---|---|
| `intl` | Ed25519 (`alg="ed25519"`) | SHA-256 | AES-256-GCM |
| `sm` | SM2 with SM3 (`alg="sm2-sm3"`, GB/T 32918) | SM3 (GB/T 32905) | SM4-GCM (RFC 8998) |

A member's key type decides how its requests are verified and how pushes to it are signed
(`hub.security.signing.ALGORITHMS`); the deployment's suite decides the hub's own digests and
field encryption. Everything goes through `Suite` and the `SigningKey` protocol, so a
certified signing device (an HSM behind GM/T 0018 SDF) can stand in for the software keys: it
needs only `sign(data) -> bytes` and `public_key()`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Protocol

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from . import keys

__all__ = ["SUITES", "Suite", "SigningKey", "Aead", "SM4GCM", "suite"]


class SigningKey(Protocol):
    """What signing needs from a key: software keys and HSM handles alike."""

    def sign(self, data: bytes) -> bytes: ...

    def public_key(self) -> Any: ...


class Aead(Protocol):
    def encrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes: ...

    def decrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes: ...


class SM4GCM:
    """SM4-GCM with `AESGCM`'s interface: ciphertext || 16-byte tag, 12-byte nonces."""

    TAG = 16

    def __init__(self, key: bytes) -> None:
        if len(key) != 16:
            raise ValueError("an SM4 key is 16 bytes")
        self._key = bytes(key)

    def encrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes:
        enc = Cipher(algorithms.SM4(self._key), modes.GCM(nonce)).encryptor()
        if associated_data:
            enc.authenticate_additional_data(associated_data)
        return enc.update(data) + enc.finalize() + enc.tag

    def decrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes:
        if len(data) < self.TAG:
            raise ValueError("ciphertext shorter than its tag")
        dec = Cipher(algorithms.SM4(self._key), modes.GCM(nonce, data[-self.TAG :])).decryptor()
        if associated_data:
            dec.authenticate_additional_data(associated_data)
        return dec.update(data[: -self.TAG]) + dec.finalize()  # InvalidTag if tampered


def _sm3(data: bytes) -> bytes:
    h = hashes.Hash(hashes.SM3())
    h.update(data)
    return h.finalize()


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


@dataclass(frozen=True)
class Suite:
    name: str
    signature_alg: str
    digest_name: str  # the RFC 9530 / private Content-Digest member name
    aead_key_bytes: int

    def digest(self, data: bytes) -> bytes:
        return (_sm3 if self.name == "sm" else _sha256)(data)

    def aead(self, key: bytes) -> Aead:
        if len(key) != self.aead_key_bytes:
            raise ValueError(f"the {self.name} suite's data keys are {self.aead_key_bytes} bytes")
        return SM4GCM(key) if self.name == "sm" else AESGCM(key)

    def generate_signing_key(self) -> SigningKey:
        return keys.generate_keypair(self.name)


SUITES: dict[str, Suite] = {
    "intl": Suite("intl", "ed25519", "sha-256", 32),
    "sm": Suite("sm", "sm2-sm3", "sm3", 16),
}


def suite(name: str) -> Suite:
    try:
        return SUITES[name]
    except KeyError:
        raise ValueError(f"unknown suite {name!r} (expected intl or sm)") from None
