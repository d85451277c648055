"""DGP1, the printed code (issue 18 item 3, M-15; docs/family.md "Printed codes").

A static credential for a resident without a phone: signed once by a platform issuing key (the
same trust list as DGC2), valid up to 180 days, for the scenes chosen among transit, culture and
public_venue. Text: ``DGP1:`` + base45 (RFC 9285) of, big-endian::

    off len  field
      0   1  ver_alg    0x31 Ed25519, 0x32 SM2 with SM3
      1   2  kid        issuing key id (trust list)
      3   8  serial     random; the deny list's key (shared with DGC2 certificates)
     11   4  nbf        valid from (Unix seconds)
     15   4  exp        valid until; exp - nbf <= 180 days
     19   1  scenes     bit0 transit, bit1 culture, bit2 public_venue; bits 3-7 must be 0
     20   1  fare_class as DGC2 (0 standard, 1 elder, 2 senior, 3 disabled concession)
     21  64  sig        issuer signature over b"DGP1/printed\\x00" + bytes[0:21]

85 bytes. It carries nothing personal. It has no time or counter of its own: a photocopy
verifies like the original (the gate's anti-passback and the platform's one-per-second rule are
the only brakes); revocation reaches gates through the deny list.

Gate steps (:func:`check`), the first failing gives the refusal::

     1  prefix, base45, length, ver_alg, reserved bits, fare class, nbf <= exp   code_invalid
     2  kid in the trust list, alg matches                                       code_invalid
     3  [nbf, exp] within the key's [not_before, not_after], exp - nbf <= 180 d   code_invalid
     4  issuer signature                                                         code_invalid
     5  nbf <= now + 20 s                                                        code_invalid
     6  now <= exp                                                               code_expired
     7  the terminal's scene bit is set                                          scene_not_permitted
     8  the deny list is at most 15 minutes old                                  scene_unavailable
     9  the serial is not on the deny list                                       card_inactive
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

from . import base45
from .denylist import DenyList
from .format import FARE_CLASSES, SCENE_BITS, SCENE_MASK, SERIAL_LENGTH, FormatError, scene_names
from .keys import ED25519, SIGNATURE_LENGTH, SM2, KeyFormatError, SigningKey, supported
from .trust import TrustList

PREFIX = "DGP1:"
VER_ALG = {0x31: ED25519, 0x32: SM2}
VER_ALG_OF = {alg: ver for ver, alg in VER_ALG.items()}
MAX_LIFETIME = 180 * 86400
CONTEXT = b"DGP1/printed\x00"
FUTURE_GRACE = 20
DENY_LIST_MAX_AGE = 15 * 60
_BODY = struct.Struct(">BH8sIIBB")  # 21 bytes
LENGTH = _BODY.size + SIGNATURE_LENGTH
__all__ = ["PREFIX", "Printed", "check", "issue", "parse", "scene_names", "SCENE_BITS"]


@dataclass(frozen=True)
class Printed:
    """A parsed printed code; ``sig`` the issuer's 64-byte signature."""

    ver_alg: int
    kid: int
    serial: bytes
    nbf: int
    exp: int
    scenes: int
    fare_class: int
    sig: bytes

    @property
    def alg(self) -> str:
        return VER_ALG[self.ver_alg]

    def body(self) -> bytes:
        return _BODY.pack(self.ver_alg, self.kid, self.serial, self.nbf, self.exp, self.scenes, self.fare_class)

    @property
    def text(self) -> str:
        return PREFIX + base45.encode(self.body() + self.sig)


def _check_fields(printed: Printed) -> None:
    if printed.ver_alg not in VER_ALG or len(printed.serial) != SERIAL_LENGTH:
        raise FormatError("unknown ver_alg or bad serial")
    if printed.nbf > printed.exp or printed.scenes & ~SCENE_MASK or not printed.scenes:
        raise FormatError("nbf after exp, or bad scenes")
    if printed.fare_class not in FARE_CLASSES:
        raise FormatError("unknown fare class")


def issue(issuer: SigningKey, *, kid: int, serial: bytes, nbf: int, exp: int, scenes: int, fare_class: int) -> Printed:
    """Sign a printed code; FormatError for bad fields or a lifetime over 180 days."""
    unsigned = Printed(VER_ALG_OF[issuer.alg], kid, serial, nbf, exp, scenes, fare_class, b"")
    _check_fields(unsigned)
    if exp - nbf > MAX_LIFETIME:
        raise FormatError("a printed code is valid for at most 180 days")
    return Printed(*_BODY.unpack(unsigned.body()), issuer.sign(CONTEXT + unsigned.body()))


def parse(text: str) -> Printed:
    """Step 1 (FormatError); no signature check."""
    if not isinstance(text, str) or not text.startswith(PREFIX) or len(text) > len(PREFIX) + 2 * LENGTH:
        raise FormatError("not a DGP1 code")
    try:
        data = base45.decode(text[len(PREFIX):])
    except base45.Base45Error as exc:
        raise FormatError(str(exc)) from exc
    if len(data) != LENGTH or data[0] not in VER_ALG:
        raise FormatError("printed code of the wrong length or ver_alg")
    printed = Printed(*_BODY.unpack_from(data), data[_BODY.size:])
    _check_fields(printed)
    return printed


@dataclass(frozen=True)
class PrintedDecision:
    """``accepted``; ``reason`` (None when accepted); ``step`` (1-9 refused, 10 accepted)."""

    accepted: bool
    reason: str | None
    step: int
    printed: Printed | None = None


def verify_signature(text: str, trust: TrustList, now: int) -> PrintedDecision:
    """Steps 1-6: what the platform checks online too (with its own trust list)."""
    try:
        printed = parse(text)
    except FormatError:
        return PrintedDecision(False, "code_invalid", 1)
    key = trust.keys.get(printed.kid)
    if key is None or key.alg != printed.alg or not supported(key.alg):
        return PrintedDecision(False, "code_invalid", 2, printed)
    if printed.nbf < key.not_before or printed.exp > key.not_after or printed.exp - printed.nbf > MAX_LIFETIME:
        return PrintedDecision(False, "code_invalid", 3, printed)
    try:
        genuine = key.key.verify(CONTEXT + printed.body(), printed.sig)
    except KeyFormatError:
        genuine = False
    if not genuine:
        return PrintedDecision(False, "code_invalid", 4, printed)
    if printed.nbf > now + FUTURE_GRACE:
        return PrintedDecision(False, "code_invalid", 5, printed)
    if now > printed.exp:
        return PrintedDecision(False, "code_expired", 6, printed)
    return PrintedDecision(True, None, 7, printed)


def check(text: str, trust: TrustList, deny: DenyList | None, scene: str, now: int) -> PrintedDecision:
    """Steps 1-9 at a gate with no network: the trust list, the deny list, the terminal's scene."""
    decision = verify_signature(text, trust, now)
    printed = decision.printed
    if not decision.accepted or printed is None:
        return decision
    if not printed.scenes & SCENE_BITS.get(scene, 0):
        return PrintedDecision(False, "scene_not_permitted", 7, printed)
    if deny is None or now - deny.issued_at > DENY_LIST_MAX_AGE:
        return PrintedDecision(False, "scene_unavailable", 8, printed)
    if printed.serial in deny:
        return PrintedDecision(False, "card_inactive", 9, printed)
    return PrintedDecision(True, None, 10, printed)
