"""SM2 signatures with SM3 (GB/T 32918.2, GM/T 0003.2) for the DGC2 SM2 profile (ver_alg 0x22).

Signing and verification go through GmSSL 3 (the ``gmssl-pyx`` package, the ``gm`` extra):
``cryptography`` has SM3 but no SM2. The signer ID is GB/T 32918's default ``1234567812345678``,
so ``e = SM3(Z_A || M)`` with ``Z_A = SM3(ENTL || ID || a || b || x_G || y_G || x_A || y_A)``.
Public keys are 33-byte compressed points (``02``/``03`` || x), signatures 64 bytes ``r || s``.

The small amount of curve arithmetic here is pure Python and used only where no library call
exists: decompressing a point, deriving a public key from a private one, and :func:`sign_with_k`
(a signature with a given nonce, for GM/T 0003.5's known-answer test and reproducible test
vectors; never for real keys).
"""
from __future__ import annotations

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

SIGNER_ID = b"1234567812345678"
P = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF
A = P - 3
B = 0x28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93
N = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123
G = (0x32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7,
     0xBC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0)
PUBLIC_KEY_LENGTH = 33
SIGNATURE_LENGTH = 64


class SM2Unavailable(RuntimeError):
    """The SM2 profile needs the ``gm`` extra (``pip install 'dgc2-terminal[gm]'`` / ``citizencard[gm]``)."""


def _gmssl():
    try:
        import gmssl_pyx
    except ImportError as exc:  # the optional extra is not installed
        raise SM2Unavailable("SM2 needs the gm extra (gmssl-pyx)") from exc
    return gmssl_pyx


def available() -> bool:
    """True when the SM2 library (gmssl-pyx) is installed."""
    try:
        _gmssl()
    except SM2Unavailable:
        return False
    return True


def _add(p1, p2):
    if p1 is None:
        return p2
    if p2 is None:
        return p1
    (x1, y1), (x2, y2) = p1, p2
    if x1 == x2:
        if (y1 + y2) % P == 0:
            return None
        slope = (3 * x1 * x1 + A) * pow(2 * y1, -1, P) % P
    else:
        slope = (y2 - y1) * pow(x2 - x1, -1, P) % P
    x3 = (slope * slope - x1 - x2) % P
    return x3, (slope * (x1 - x3) - y1) % P


def multiply(k: int, point: tuple[int, int] = G) -> tuple[int, int] | None:
    """``k * point`` on the SM2 curve (affine double-and-add; not constant time)."""
    result, addend = None, point
    while k:
        if k & 1:
            result = _add(result, addend)
        addend = _add(addend, addend)
        k >>= 1
    return result


def compress(point: tuple[int, int]) -> bytes:
    """The 33-byte compressed form ``02|03 || x`` (SEC 1 §2.3.3)."""
    x, y = point
    return bytes([2 + (y & 1)]) + x.to_bytes(32, "big")


def decompress(public_key: bytes) -> tuple[int, int]:
    """(x, y) of a 33-byte compressed point; ValueError when it is not a point of the curve."""
    if len(public_key) != PUBLIC_KEY_LENGTH or public_key[0] not in (2, 3):
        raise ValueError("not a compressed SM2 point")
    x = int.from_bytes(public_key[1:], "big")
    if x >= P:
        raise ValueError("SM2 x coordinate out of range")
    y_squared = (x * x * x + A * x + B) % P
    y = pow(y_squared, (P + 1) // 4, P)  # P = 3 mod 4
    if y * y % P != y_squared:
        raise ValueError("not a point of the SM2 curve")
    if (y & 1) != public_key[0] - 2:
        y = P - y
    return x, y


def _private_scalar(private_key: bytes) -> int:
    d = int.from_bytes(private_key, "big")
    if len(private_key) != 32 or not 1 <= d <= N - 2:  # GB/T 32918.1 §6.1: d in [1, n-2]
        raise ValueError("SM2 private key must be 32 bytes in [1, n-2]")
    return d


def public_key(private_key: bytes) -> bytes:
    """The 33-byte compressed public key of a 32-byte private key."""
    return compress(multiply(_private_scalar(private_key)))


def _sm3(data: bytes) -> bytes:
    digest = hashes.Hash(hashes.SM3())
    digest.update(data)
    return digest.finalize()


def message_digest(public: bytes, message: bytes, signer_id: bytes = SIGNER_ID) -> bytes:
    """``e = SM3(Z_A || M)`` (GB/T 32918.2 §6.1) for the 33-byte public key ``public``."""
    x, y = decompress(public)
    entl = (len(signer_id) * 8).to_bytes(2, "big")
    z = _sm3(b"".join([entl, signer_id] + [v.to_bytes(32, "big") for v in (A, B, G[0], G[1], x, y)]))
    return _sm3(z + message)


def _uncompressed(public: bytes) -> bytes:
    x, y = decompress(public)
    return x.to_bytes(32, "big") + y.to_bytes(32, "big")


def sign(private_key: bytes, public: bytes, message: bytes) -> bytes:
    """64-byte ``r || s`` SM2 signature of ``message`` with a fresh random nonce (GmSSL)."""
    der = _gmssl().sm2_sign(private_key, _uncompressed(public), message, signer_id=SIGNER_ID)
    r, s = decode_dss_signature(der)
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def sign_with_k(private_key: bytes, message: bytes, k: int) -> bytes:
    """GB/T 32918.2 §6.1 with the nonce ``k`` given: only for known-answer tests and test vectors."""
    d = _private_scalar(private_key)
    e = int.from_bytes(message_digest(public_key(private_key), message), "big")
    x1, _ = multiply(k)
    r = (e + x1) % N
    s = pow(1 + d, -1, N) * (k - r * d) % N
    if r == 0 or r + k == N or s == 0:
        raise ValueError("choose another k")
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def prepare(public: bytes) -> bytes:
    """The 64-byte x || y form GmSSL verifies with (decompress once, reuse for many checks)."""
    return _uncompressed(public)


def verify(prepared_public: bytes, message: bytes, signature: bytes) -> bool:
    """True when ``signature`` (64 bytes r || s) is ``prepared_public``'s over ``message``."""
    gmssl = _gmssl()
    if len(signature) != SIGNATURE_LENGTH:
        return False
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    if not (1 <= r < N and 1 <= s < N):
        return False
    try:
        return bool(gmssl.sm2_verify(prepared_public, message, encode_dss_signature(r, s), signer_id=SIGNER_ID))
    except gmssl.GmsslInnerError:
        return False
