"""Signing and verifying keys of the two DGC2 profiles: Ed25519 (RFC 8032) and SM2 with SM3.

``alg`` is ``"ed25519"`` or ``"sm2"``. Raw encodings (the issue's "Encodings"): Ed25519 public
keys 32 bytes and private keys the 32-byte seed; SM2 public keys 33-byte compressed points and
private keys the 32-byte scalar; every signature is 64 bytes (Ed25519, or SM2 ``r || s``).
Ed25519 signatures are made with ``cryptography`` (OpenSSL) and checked with libsodium through
PyNaCl (``crypto_sign_open``): twice as fast as OpenSSL's check here (60 µs against 117 µs on the
2-core development machine; the server checks one per uploaded record, issue 16), and stricter
(it also refuses small-order and non-canonical public keys and ``R`` points, which no honest signer
makes: a phone's code signed by a standard RFC 8032 implementation passes both). SM2 needs the
``gm`` extra (:mod:`dgc2.sm2`).
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from nacl.bindings import crypto_sign_open
from nacl.exceptions import BadSignatureError

from . import sm2

ED25519 = "ed25519"
SM2 = "sm2"
PUBLIC_KEY_LENGTH = {ED25519: 32, SM2: sm2.PUBLIC_KEY_LENGTH}
SIGNATURE_LENGTH = 64


class KeyFormatError(ValueError):
    """A key of an unknown algorithm, of the wrong length, or not a point of the curve."""


def _check_alg(alg: str) -> None:
    if alg not in PUBLIC_KEY_LENGTH:
        raise KeyFormatError(f"unknown algorithm {alg!r} (ed25519 or sm2)")


@dataclass(frozen=True)
class VerifyingKey:
    """A public key: ``alg`` and the raw bytes (32 for Ed25519, 33 for SM2)."""

    alg: str
    raw: bytes
    _backend: object = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        _check_alg(self.alg)
        if len(self.raw) != PUBLIC_KEY_LENGTH[self.alg]:
            raise KeyFormatError(f"{self.alg} public key must be {PUBLIC_KEY_LENGTH[self.alg]} bytes")
        if self.alg == SM2:
            try:
                object.__setattr__(self, "_backend", sm2.prepare(self.raw))
            except ValueError as exc:
                raise KeyFormatError(f"invalid {self.alg} public key") from exc

    def verify(self, message: bytes, signature: bytes) -> bool:
        """True when ``signature`` (64 bytes) is this key's over ``message``.

        Raises :class:`dgc2.sm2.SM2Unavailable` for an SM2 key without the ``gm`` extra.
        """
        if self.alg == SM2:
            return sm2.verify(self._backend, message, signature)
        if len(signature) != SIGNATURE_LENGTH:
            return False
        try:
            crypto_sign_open(signature + message, self.raw)  # RFC 8032 §5.1.7, libsodium's checks
        except BadSignatureError:
            return False
        return True


@dataclass(frozen=True)
class SigningKey:
    """A private key: ``alg`` and the raw 32 bytes (Ed25519 seed or SM2 scalar). Never log it."""

    alg: str
    raw: bytes = field(repr=False)
    public_key: bytes = field(init=False)

    def __post_init__(self) -> None:
        _check_alg(self.alg)
        if len(self.raw) != 32:
            raise KeyFormatError("private keys are 32 bytes")
        if self.alg == ED25519:
            public = Ed25519PrivateKey.from_private_bytes(self.raw).public_key().public_bytes_raw()
        else:
            try:
                public = sm2.public_key(self.raw)
            except ValueError as exc:
                raise KeyFormatError(str(exc)) from exc
        object.__setattr__(self, "public_key", public)

    def sign(self, message: bytes) -> bytes:
        """64-byte signature of ``message`` (Ed25519 per RFC 8032; SM2 per GB/T 32918.2 with a random nonce)."""
        if self.alg == ED25519:
            return Ed25519PrivateKey.from_private_bytes(self.raw).sign(message)
        return sm2.sign(self.raw, self.public_key, message)

    def verifying_key(self) -> VerifyingKey:
        return VerifyingKey(self.alg, self.public_key)


def generate(alg: str) -> SigningKey:
    """A fresh key from the OS CSPRNG (for SM2 a uniform scalar in [1, n-2])."""
    _check_alg(alg)
    if alg == ED25519:
        return SigningKey(alg, secrets.token_bytes(32))
    scalar = 1 + secrets.randbelow(sm2.N - 2)
    return SigningKey(alg, scalar.to_bytes(32, "big"))


def supported(alg: str) -> bool:
    """True when this installation can verify ``alg`` (SM2 needs the gm extra)."""
    return alg == ED25519 or (alg == SM2 and sm2.available())
