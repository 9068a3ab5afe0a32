"""SM2 keys and SM2-with-SM3 signatures (GB/T 32918), through the system's OpenSSL 3 libcrypto.

Why libcrypto: `cryptography` has SM3 and SM4 but refuses the SM2 curve; the pure-Python SM2
packages are correct but sign and verify about 100 and 50 times a second; the compiled ones
either bundle an OpenSSL 1.1.1 from 2020 (tongsuopy) or cannot set the distinguishing
identifier. The system libcrypto (OpenSSL 3, kept current by the distribution's security
updates) signs and verifies about 3,000 times a second, reads and writes the same PEM files as
the `openssl` command line and takes the distinguishing identifier per signature.

Signatures are DER `SEQUENCE { r INTEGER, s INTEGER }` (GB/T 35276 / GM/T 0009), as OpenSSL
writes them; `e = SM3(Z_A || M)` with `Z_A = SM3(ENTL || ID || a || b || xG || yG || xA || yA)`.
The default distinguishing identifier is GM/T 0009's `1234567812345678`.
"""

from __future__ import annotations

import base64
import ctypes
import ctypes.util
import threading
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes

__all__ = [
    "DEFAULT_DISTID",
    "SM2Unavailable",
    "SM2PrivateKey",
    "SM2PublicKey",
    "available",
    "za",
]

DEFAULT_DISTID = b"1234567812345678"
MAX_DISTID = 8191  # ENTL is the identifier's length in bits, two bytes

# GB/T 32918.5 recommended curve
P = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF
A = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC
B = 0x28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93
N = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123
GX = 0x32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7
GY = 0xBC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0

# SubjectPublicKeyInfo { id-ecPublicKey, sm2p256v1 } BIT STRING 04||x||y : a fixed 26-byte head
_SPKI_HEAD = bytes.fromhex("3059301306072a8648ce3d020106082a811ccf5501822d03420004")


class SM2Unavailable(RuntimeError):
    """The system libcrypto is missing, older than OpenSSL 3, or built without SM2."""


_lib: Any = None
_lib_lock = threading.Lock()


def _crypto() -> Any:
    global _lib
    if _lib is not None:
        return _lib
    with _lib_lock:
        if _lib is None:
            _lib = _load()
    return _lib


def _load() -> Any:
    name = ctypes.util.find_library("crypto") or "libcrypto.so.3"
    try:
        lib = ctypes.CDLL(name)
    except OSError as exc:
        raise SM2Unavailable(f"cannot load libcrypto ({name}): {exc}") from exc
    vp, cp, ci, sz = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_size_t
    sigs: dict[str, tuple[Any, list[Any]]] = {
        "OpenSSL_version_num": (ctypes.c_ulong, []),
        "ERR_clear_error": (None, []),
        "BIO_new_mem_buf": (vp, [cp, ci]),
        "BIO_new": (vp, [vp]),
        "BIO_s_mem": (vp, []),
        "BIO_ctrl": (ctypes.c_long, [vp, ci, ctypes.c_long, vp]),
        "BIO_free": (ci, [vp]),
        "PEM_read_bio_PrivateKey": (vp, [vp, vp, vp, vp]),
        "PEM_write_bio_PKCS8PrivateKey": (ci, [vp, vp, vp, vp, ci, vp, vp]),
        "d2i_PUBKEY": (vp, [vp, ctypes.POINTER(ctypes.c_char_p), ctypes.c_long]),
        "i2d_PUBKEY": (ci, [vp, ctypes.POINTER(ctypes.c_char_p)]),
        "EVP_PKEY_is_a": (ci, [vp, cp]),
        "EVP_PKEY_free": (None, [vp]),
        "EVP_PKEY_CTX_new_from_name": (vp, [vp, cp, vp]),
        "EVP_PKEY_CTX_new_from_pkey": (vp, [vp, vp, vp]),
        "EVP_PKEY_CTX_free": (None, [vp]),
        "EVP_PKEY_keygen_init": (ci, [vp]),
        "EVP_PKEY_generate": (ci, [vp, ctypes.POINTER(vp)]),
        "EVP_PKEY_CTX_set1_id": (ci, [vp, cp, ci]),
        "EVP_MD_CTX_new": (vp, []),
        "EVP_MD_CTX_free": (None, [vp]),
        "EVP_MD_CTX_set_pkey_ctx": (None, [vp, vp]),
        "EVP_sm3": (vp, []),
        "EVP_DigestSignInit": (ci, [vp, vp, vp, vp, vp]),
        "EVP_DigestSign": (ci, [vp, cp, ctypes.POINTER(sz), cp, sz]),
        "EVP_DigestVerifyInit": (ci, [vp, vp, vp, vp, vp]),
        "EVP_DigestVerify": (ci, [vp, cp, sz, cp, sz]),
        "CRYPTO_free": (None, [vp, cp, ci]),
    }
    try:
        for fn, (restype, argtypes) in sigs.items():
            f = getattr(lib, fn)
            f.restype, f.argtypes = restype, argtypes
    except AttributeError as exc:
        raise SM2Unavailable(f"libcrypto lacks {exc}: OpenSSL 3 is required for SM2") from exc
    if lib.OpenSSL_version_num() < 0x30000000:
        raise SM2Unavailable("OpenSSL 3 is required for SM2")
    if not lib.EVP_sm3():
        raise SM2Unavailable("this libcrypto is built without SM3")
    return lib


def available() -> bool:
    """True when SM2 can be used here (the `sm` suite needs it)."""
    try:
        _crypto()
        SM2PrivateKey.generate()
    except SM2Unavailable:
        return False
    return True


class _PKey:
    """Owns one EVP_PKEY; freed with the object."""

    def __init__(self, ptr: int) -> None:
        self.ptr = ptr

    def __del__(self) -> None:
        if self.ptr and _lib is not None:
            _lib.EVP_PKEY_free(self.ptr)
            self.ptr = 0


def _check_sm2(lib: Any, ptr: int | None, what: str) -> _PKey:
    if not ptr:
        lib.ERR_clear_error()
        raise ValueError(f"not a valid {what}")
    pkey = _PKey(ptr)
    if lib.EVP_PKEY_is_a(ptr, b"SM2") != 1:
        raise ValueError(f"{what} is not an SM2 key")
    return pkey


def _bio_bytes(lib: Any, bio: int) -> bytes:
    data = ctypes.c_char_p()
    length = lib.BIO_ctrl(bio, 3, 0, ctypes.byref(data))  # BIO_CTRL_INFO = BIO_get_mem_data
    return ctypes.string_at(data, length)


def _distid(distid: bytes | str | None) -> bytes:
    value = DEFAULT_DISTID if distid is None else distid
    if isinstance(value, str):
        value = value.encode("utf-8")
    if not isinstance(value, bytes) or not 0 < len(value) <= MAX_DISTID:
        raise ValueError(f"an SM2 distinguishing identifier is 1..{MAX_DISTID} bytes")
    return value


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class SM2PublicKey:
    """An SM2 public key on the recommended curve, with the signer's distinguishing identifier."""

    def __init__(self, pkey: _PKey, point: bytes, distid: bytes | str | None = None) -> None:
        self._pkey = pkey
        self.point = point  # 04 || x || y, 65 bytes
        self.distid = _distid(distid)

    # ---- construction
    @classmethod
    def from_point(cls, point: bytes, distid: bytes | str | None = None) -> SM2PublicKey:
        """From the uncompressed point `04||x||y`; OpenSSL refuses a point not on the curve."""
        if len(point) != 65 or point[0] != 4:
            raise ValueError("an SM2 public point is 65 bytes starting with 04")
        return cls.from_der(_SPKI_HEAD[:-1] + point, distid)

    @classmethod
    def from_der(cls, der: bytes, distid: bytes | str | None = None) -> SM2PublicKey:
        lib = _crypto()
        buf = ctypes.c_char_p(bytes(der))
        pkey = _check_sm2(lib, lib.d2i_PUBKEY(None, ctypes.byref(buf), len(der)), "public key")
        return cls(pkey, _spki_point(_i2d_pubkey(lib, pkey.ptr)), distid)

    @classmethod
    def from_pem(cls, pem: str | bytes, distid: bytes | str | None = None) -> SM2PublicKey:
        text = pem.decode("ascii") if isinstance(pem, bytes) else pem
        body = "".join(
            line for line in text.strip().splitlines() if not line.startswith("-----"))
        if "BEGIN PUBLIC KEY" not in text:
            raise ValueError("expected a PEM PUBLIC KEY block")
        return cls.from_der(base64.b64decode(body, validate=True), distid)

    def with_distid(self, distid: bytes | str | None) -> SM2PublicKey:
        return SM2PublicKey(self._pkey, self.point, distid)

    # ---- use
    def verify(self, signature: bytes, data: bytes) -> None:
        """Raise InvalidSignature unless `signature` (DER) is this key's SM2-with-SM3 of `data`."""
        lib = _crypto()
        with _Ctx(lib, self._pkey.ptr, self.distid) as (mctx, _p):
            if lib.EVP_DigestVerifyInit(mctx, None, lib.EVP_sm3(), None, self._pkey.ptr) != 1:
                lib.ERR_clear_error()
                raise InvalidSignature("cannot start SM2 verification")
            ok = lib.EVP_DigestVerify(mctx, bytes(signature), len(signature), bytes(data),
                                      len(data))
        if ok != 1:
            lib.ERR_clear_error()
            raise InvalidSignature("SM2 signature does not verify")

    @property
    def x(self) -> int:
        return int.from_bytes(self.point[1:33], "big")

    @property
    def y(self) -> int:
        return int.from_bytes(self.point[33:], "big")

    def der(self) -> bytes:
        return _SPKI_HEAD[:-1] + self.point

    def pem(self) -> str:
        b64 = base64.b64encode(self.der()).decode("ascii")
        lines = [b64[i:i + 64] for i in range(0, len(b64), 64)]
        return "-----BEGIN PUBLIC KEY-----\n" + "\n".join(lines) + "\n-----END PUBLIC KEY-----\n"

    def jwk_members(self) -> dict[str, str]:
        return {"kty": "EC", "crv": "SM2", "x": _b64url(self.point[1:33]),
                "y": _b64url(self.point[33:])}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SM2PublicKey) and other.point == self.point

    def __hash__(self) -> int:
        return hash(self.point)

    def __repr__(self) -> str:
        return f"SM2PublicKey({self.point[1:9].hex()}…)"


class SM2PrivateKey:
    """An SM2 private key; `sign` gives a DER SM2-with-SM3 signature."""

    def __init__(self, pkey: _PKey, distid: bytes | str | None = None) -> None:
        self._pkey = pkey
        self.distid = _distid(distid)
        lib = _crypto()
        self._public = SM2PublicKey(pkey, _spki_point(_i2d_pubkey(lib, pkey.ptr)), self.distid)

    @classmethod
    def generate(cls, distid: bytes | str | None = None) -> SM2PrivateKey:
        lib = _crypto()
        ctx = lib.EVP_PKEY_CTX_new_from_name(None, b"SM2", None)
        if not ctx:
            lib.ERR_clear_error()
            raise SM2Unavailable("this libcrypto cannot make SM2 keys")
        try:
            out = ctypes.c_void_p()
            if lib.EVP_PKEY_keygen_init(ctx) != 1 or lib.EVP_PKEY_generate(
                    ctx, ctypes.byref(out)) != 1:
                lib.ERR_clear_error()
                raise SM2Unavailable("SM2 key generation failed")
        finally:
            lib.EVP_PKEY_CTX_free(ctx)
        return cls(_PKey(out.value or 0), distid)

    @classmethod
    def from_pem(cls, pem: bytes | str, distid: bytes | str | None = None) -> SM2PrivateKey:
        """An unencrypted PEM private key (PKCS#8 `PRIVATE KEY` or `EC PRIVATE KEY`)."""
        lib = _crypto()
        data = pem.encode("ascii") if isinstance(pem, str) else bytes(pem)
        bio = lib.BIO_new_mem_buf(data, len(data))
        try:
            ptr = lib.PEM_read_bio_PrivateKey(bio, None, None, None)
        finally:
            lib.BIO_free(bio)
        return cls(_check_sm2(lib, ptr, "private key"), distid)

    @classmethod
    def from_scalar(cls, d: int, distid: bytes | str | None = None) -> SM2PrivateKey:
        """From the private scalar (1 <= d < n-1); OpenSSL derives the public point."""
        if not 1 <= d < N - 1:
            raise ValueError("SM2 private scalar out of range")
        ec_private = (bytes.fromhex("3031020101") + b"\x04\x20" + d.to_bytes(32, "big")
                      + bytes.fromhex("a00a06082a811ccf5501822d"))
        algid = bytes.fromhex("301306072a8648ce3d020106082a811ccf5501822d")
        inner = b"\x02\x01\x00" + algid + b"\x04" + bytes([len(ec_private)]) + ec_private
        der = b"\x30" + bytes([len(inner)]) + inner
        b64 = base64.b64encode(der).decode("ascii")
        return cls.from_pem(f"-----BEGIN PRIVATE KEY-----\n{b64}\n-----END PRIVATE KEY-----\n",
                            distid)

    def public_key(self) -> SM2PublicKey:
        return self._public

    def sign(self, data: bytes) -> bytes:
        lib = _crypto()
        with _Ctx(lib, self._pkey.ptr, self.distid) as (mctx, _p):
            if lib.EVP_DigestSignInit(mctx, None, lib.EVP_sm3(), None, self._pkey.ptr) != 1:
                lib.ERR_clear_error()
                raise ValueError("cannot start SM2 signing")
            size = ctypes.c_size_t(0)
            data = bytes(data)
            if lib.EVP_DigestSign(mctx, None, ctypes.byref(size), data, len(data)) != 1:
                lib.ERR_clear_error()
                raise ValueError("SM2 signing failed")
            buf = ctypes.create_string_buffer(size.value)
            if lib.EVP_DigestSign(mctx, buf, ctypes.byref(size), data, len(data)) != 1:
                lib.ERR_clear_error()
                raise ValueError("SM2 signing failed")
            return buf.raw[: size.value]

    def pem(self) -> bytes:
        """Unencrypted PKCS#8 PEM, as `openssl genpkey -algorithm SM2` writes it."""
        lib = _crypto()
        bio = lib.BIO_new(lib.BIO_s_mem())
        try:
            if lib.PEM_write_bio_PKCS8PrivateKey(bio, self._pkey.ptr, None, None, 0, None,
                                                 None) != 1:
                lib.ERR_clear_error()
                raise ValueError("cannot write the SM2 private key")
            return _bio_bytes(lib, bio)
        finally:
            lib.BIO_free(bio)


class _Ctx:
    """An EVP_MD_CTX with an EVP_PKEY_CTX carrying the distinguishing identifier."""

    def __init__(self, lib: Any, pkey: int, distid: bytes) -> None:
        self.lib, self.pkey, self.distid = lib, pkey, distid

    def __enter__(self) -> tuple[int, int]:
        lib = self.lib
        self.mctx = lib.EVP_MD_CTX_new()
        self.pctx = lib.EVP_PKEY_CTX_new_from_pkey(None, self.pkey, None)
        if not self.mctx or not self.pctx:
            self.__exit__()
            raise MemoryError("libcrypto could not allocate a context")
        if lib.EVP_PKEY_CTX_set1_id(self.pctx, self.distid, len(self.distid)) != 1:
            self.__exit__()
            lib.ERR_clear_error()
            raise ValueError("cannot set the SM2 distinguishing identifier")
        lib.EVP_MD_CTX_set_pkey_ctx(self.mctx, self.pctx)
        return self.mctx, self.pctx

    def __exit__(self, *exc: object) -> None:
        if getattr(self, "mctx", None):
            self.lib.EVP_MD_CTX_free(self.mctx)
            self.mctx = None
        if getattr(self, "pctx", None):
            self.lib.EVP_PKEY_CTX_free(self.pctx)
            self.pctx = None


def _i2d_pubkey(lib: Any, ptr: int) -> bytes:
    out = ctypes.c_char_p(None)
    n = lib.i2d_PUBKEY(ptr, ctypes.byref(out))
    if n <= 0:
        lib.ERR_clear_error()
        raise ValueError("cannot encode the SM2 public key")
    try:
        return ctypes.string_at(out, n)
    finally:
        lib.CRYPTO_free(ctypes.cast(out, ctypes.c_void_p), b"sm2.py", 0)


def _spki_point(der: bytes) -> bytes:
    if len(der) != 91 or not der.startswith(_SPKI_HEAD):
        raise ValueError("unexpected SM2 SubjectPublicKeyInfo (only uncompressed points)")
    return der[26:]


def za(public: SM2PublicKey, distid: bytes | str | None = None) -> bytes:
    """Z_A = SM3(ENTL || ID || a || b || xG || yG || xA || yA) (GB/T 32918.2, 5.5)."""
    ident = _distid(public.distid if distid is None else distid)
    h = hashes.Hash(hashes.SM3())
    h.update((len(ident) * 8).to_bytes(2, "big") + ident)
    for v in (A, B, GX, GY, public.x, public.y):
        h.update(v.to_bytes(32, "big"))
    return h.finalize()
