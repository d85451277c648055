"""The DGC2 code: binary layout, text, strict parsing and the signing inputs (issue 16).

Text: ``DGC2:`` + base45 (RFC 9285) of the bytes below; integers big-endian::

    off len  field
      0   1  ver_alg    0x21 Ed25519, 0x22 SM2 with SM3 (GB/T 32918, ID "1234567812345678")
      1   2  kid        issuing key id
      3   8  serial     random per certificate; the deny list's key
     11   4  nbf        certificate valid from (Unix seconds)
     15   4  exp        certificate valid until; exp - nbf <= 72 h
     19   1  scenes     bit0 transit, bit1 culture, bit2 public_venue; bits 3-7 must be 0
     20   1  fare_class 0 standard, 1 elder, 2 senior, 3 disabled-concession; 4-255 invalid
     21   1  flags      bit0 anti-passback; bits 1-7 must be 0
     22  32  dpk        device public key (SM2: 33 bytes, every later offset +1)
     54  64  isig       issuer signature over b"DGC2/cert\\x00" + bytes[0:54]
    118   4  t          code generation time
    122   2  ctr        per-certificate counter
    124  64  dsig       device signature over b"DGC2/code\\x00" + bytes[0:124]

188 bytes (SM2 189); bytes 0-118 are the device certificate. The certificate is issued by the
platform (:func:`issue_certificate`), the code made by the phone (:func:`make_code`).
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

from . import base45
from .keys import ED25519, PUBLIC_KEY_LENGTH, SIGNATURE_LENGTH, SM2, SigningKey, VerifyingKey

PREFIX = "DGC2:"
VER_ALG = {0x21: ED25519, 0x22: SM2}
VER_ALG_OF = {alg: ver for ver, alg in VER_ALG.items()}
SCENE_BITS = {"transit": 0x01, "culture": 0x02, "public_venue": 0x04}
SCENE_MASK = 0x07
FARE_CLASSES = {0: "standard", 1: "elder", 2: "senior", 3: "disabled_concession"}
FLAG_ANTI_PASSBACK = 0x01
FLAG_MASK = 0x01
MAX_LIFETIME = 72 * 3600
SERIAL_LENGTH = 8
CODE_TAIL_LENGTH = 4 + 2 + SIGNATURE_LENGTH  # t, ctr, dsig
MAX_TEXT_LENGTH = 5 + 289  # the SM2 code's text; anything longer is refused before decoding

CERT_CONTEXT = b"DGC2/cert\x00"
CODE_CONTEXT = b"DGC2/code\x00"
POP_CONTEXT = b"DGC2/pop\x00"
TRUST_CONTEXT = b"DGC2/trust\x00"
DENY_CONTEXT = b"DGC2/deny\x00"

_HEAD = struct.Struct(">BH8sIIBBB")  # ver_alg .. flags: 22 bytes
_TAIL = struct.Struct(">IH")  # t, ctr


class FormatError(ValueError):
    """Not a well-formed DGC2 code or certificate (gate step 1, ``code_invalid``)."""


class LifetimeError(FormatError):
    """A well-formed certificate valid for more than 72 hours (gate step 3, ``code_invalid``)."""


def certificate_length(alg: str) -> int:
    """118 for Ed25519, 119 for SM2."""
    return _HEAD.size + PUBLIC_KEY_LENGTH[alg] + SIGNATURE_LENGTH


def code_length(alg: str) -> int:
    """188 for Ed25519, 189 for SM2."""
    return certificate_length(alg) + CODE_TAIL_LENGTH


def cert_signing_input(tbs: bytes) -> bytes:
    """What the issuing key signs: ``b"DGC2/cert\\0"`` + certificate bytes 0-54 (SM2 0-55)."""
    return CERT_CONTEXT + tbs


def code_signing_input(unsigned_code: bytes) -> bytes:
    """What the device key signs: ``b"DGC2/code\\0"`` + code bytes 0-124 (SM2 0-125)."""
    return CODE_CONTEXT + unsigned_code


def pop_signing_input(nonce: bytes, device_public_key: bytes) -> bytes:
    """The proof of possession's message: ``b"DGC2/pop\\0"`` + 16-byte nonce + raw device public key."""
    return POP_CONTEXT + nonce + device_public_key


def trust_signing_input(payload: bytes) -> bytes:
    """What the root key signs: ``b"DGC2/trust\\0"`` + the trust list's payload bytes."""
    return TRUST_CONTEXT + payload


def deny_signing_input(body: bytes) -> bytes:
    """What the deny-list key signs: ``b"DGC2/deny\\0"`` + every byte of the list before the signature."""
    return DENY_CONTEXT + body


def scene_mask(scenes) -> int:
    """The scenes byte for names such as ``["transit", "culture"]``; KeyError for a scene with no bit."""
    mask = 0
    for name in scenes:
        mask |= SCENE_BITS[name]
    return mask


def scene_names(mask: int) -> list[str]:
    """The scene names of a scenes byte, in bit order."""
    return [name for name, bit in SCENE_BITS.items() if mask & bit]


@dataclass(frozen=True)
class Certificate:
    """The device certificate (code bytes 0-118). ``serial`` 8 bytes, times Unix seconds,
    ``scenes``/``flags`` bit fields, ``dpk`` the raw device public key, ``isig`` 64 bytes."""

    ver_alg: int
    kid: int
    serial: bytes
    nbf: int
    exp: int
    scenes: int
    fare_class: int
    flags: int
    dpk: bytes
    isig: bytes

    @property
    def alg(self) -> str:
        return VER_ALG[self.ver_alg]

    @property
    def anti_passback(self) -> bool:
        return bool(self.flags & FLAG_ANTI_PASSBACK)

    def tbs(self) -> bytes:
        """The signed part: bytes 0-54 (SM2 0-55)."""
        return _HEAD.pack(self.ver_alg, self.kid, self.serial, self.nbf, self.exp, self.scenes,
                          self.fare_class, self.flags) + self.dpk

    def to_bytes(self) -> bytes:
        return self.tbs() + self.isig

    def device_key(self) -> VerifyingKey:
        """The device public key; KeyFormatError when ``dpk`` is not a valid key."""
        return VerifyingKey(self.alg, self.dpk)

    @property
    def lifetime(self) -> int:
        return self.exp - self.nbf


@dataclass(frozen=True)
class Code:
    """A code: the certificate, ``t`` (Unix seconds), ``ctr`` (0-65535) and the 64-byte ``dsig``."""

    certificate: Certificate
    t: int
    ctr: int
    dsig: bytes

    def unsigned(self) -> bytes:
        return self.certificate.to_bytes() + _TAIL.pack(self.t, self.ctr)

    def to_bytes(self) -> bytes:
        return self.unsigned() + self.dsig

    @property
    def text(self) -> str:
        """``DGC2:`` + base45 of the bytes (287 characters for Ed25519)."""
        return PREFIX + base45.encode(self.to_bytes())


def _check_fields(ver_alg: int, kid: int, serial: bytes, nbf: int, exp: int, scenes: int, fare_class: int,
                  flags: int, dpk: bytes) -> None:
    if ver_alg not in VER_ALG:
        raise FormatError("unknown ver_alg")
    if not 0 <= kid <= 0xFFFF or len(serial) != SERIAL_LENGTH:
        raise FormatError("kid or serial out of range")
    if not (0 <= nbf <= 0xFFFFFFFF and 0 <= exp <= 0xFFFFFFFF) or nbf > exp:
        raise FormatError("nbf after exp")
    if scenes & ~SCENE_MASK or flags & ~FLAG_MASK or fare_class not in FARE_CLASSES:
        raise FormatError("reserved scene bit, flag bit or fare class")
    if len(dpk) != PUBLIC_KEY_LENGTH[VER_ALG[ver_alg]]:
        raise FormatError("device public key of the wrong length")


def certificate_from_bytes(data: bytes) -> Certificate:
    """Parse certificate bytes strictly (length, ver_alg, reserved bits, fare class, nbf <= exp).

    Raises :class:`FormatError`. The 72-hour limit is :func:`check_lifetime`'s (gate step 3).
    """
    if not data or data[0] not in VER_ALG:
        raise FormatError("unknown ver_alg")
    alg = VER_ALG[data[0]]
    if len(data) != certificate_length(alg):
        raise FormatError("certificate of the wrong length")
    head = _HEAD.unpack_from(data)
    dpk = data[_HEAD.size:_HEAD.size + PUBLIC_KEY_LENGTH[alg]]
    _check_fields(*head, dpk)
    return Certificate(*head, dpk, data[_HEAD.size + PUBLIC_KEY_LENGTH[alg]:])


def code_from_bytes(data: bytes) -> Code:
    """Parse code bytes strictly (as :func:`certificate_from_bytes`, and the exact length)."""
    if not data or data[0] not in VER_ALG:
        raise FormatError("unknown ver_alg")
    alg = VER_ALG[data[0]]
    if len(data) != code_length(alg):
        raise FormatError("code of the wrong length")
    cert_end = certificate_length(alg)
    t, ctr = _TAIL.unpack_from(data, cert_end)
    return Code(certificate_from_bytes(data[:cert_end]), t, ctr, data[cert_end + _TAIL.size:])


def parse(text: str) -> Code:
    """Gate step 1: prefix, base45, length, ver_alg, reserved bits, fare class, nbf <= exp.

    Raises :class:`FormatError` (``code_invalid``). Signatures are not checked here.
    """
    if not isinstance(text, str) or not text.startswith(PREFIX):
        raise FormatError("not a DGC2 code")
    if len(text) > MAX_TEXT_LENGTH:
        raise FormatError("code too long")
    try:
        data = base45.decode(text[len(PREFIX):])
    except base45.Base45Error as exc:
        raise FormatError(str(exc)) from exc
    return code_from_bytes(data)


def check_lifetime(certificate: Certificate) -> None:
    """Raise :class:`LifetimeError` when ``exp - nbf`` exceeds 72 hours."""
    if certificate.lifetime > MAX_LIFETIME:
        raise LifetimeError("certificate valid for more than 72 hours")


def decode(text: str) -> Code:
    """Strict decoding for the platform: :func:`parse` and :func:`check_lifetime` (FormatError)."""
    code = parse(text)
    check_lifetime(code.certificate)
    return code


def issue_certificate(issuer: SigningKey, *, kid: int, serial: bytes, nbf: int, exp: int, scenes: int,
                      fare_class: int, flags: int, device_public_key: bytes) -> Certificate:
    """Sign a device certificate with ``issuer`` (its ``alg`` sets ver_alg; the device key has the same alg).

    Raises :class:`FormatError` for out-of-range fields or a lifetime over 72 hours.
    """
    ver_alg = VER_ALG_OF[issuer.alg]
    _check_fields(ver_alg, kid, serial, nbf, exp, scenes, fare_class, flags, device_public_key)
    unsigned = Certificate(ver_alg, kid, serial, nbf, exp, scenes, fare_class, flags, device_public_key, b"")
    check_lifetime(unsigned)
    return Certificate(ver_alg, kid, serial, nbf, exp, scenes, fare_class, flags, device_public_key,
                       issuer.sign(cert_signing_input(unsigned.tbs())))


def make_code(certificate: Certificate, device: SigningKey, *, t: int, ctr: int) -> Code:
    """The phone's code: ``t`` (its clock corrected by the server offset) and ``ctr`` (+1 per code shown)."""
    if device.alg != certificate.alg or device.public_key != certificate.dpk:
        raise ValueError("device key does not match the certificate")
    if not (0 <= t <= 0xFFFFFFFF and 0 <= ctr <= 0xFFFF):
        raise ValueError("t or ctr out of range")
    unsigned = Code(certificate, t, ctr, b"")
    return Code(certificate, t, ctr, device.sign(code_signing_input(unsigned.unsigned())))


def proof_of_possession(device: SigningKey, nonce: bytes) -> bytes:
    """The device's signature over ``b"DGC2/pop\\0" + nonce + dpk`` (certificate request)."""
    return device.sign(pop_signing_input(nonce, device.public_key))


def verify_proof_of_possession(device_key: VerifyingKey, nonce: bytes, proof: bytes) -> bool:
    """True when ``proof`` is ``device_key``'s signature over ``b"DGC2/pop\\0" + nonce + dpk``."""
    return device_key.verify(pop_signing_input(nonce, device_key.raw), proof)
