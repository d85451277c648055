"""The deny list: serials of revoked, unexpired certificates, signed by the deny-list key (issue 16).

Full list (``GET /api/partner/v1/offline/deny-list``)::

    b"DGCD" | u32 version | u32 issued_at | u32 next_update | u8 entry_len (8) | u32 count
           | count sorted 8-byte serials | signature (64 bytes)

Delta (``?since=V``)::

    b"DGCd" | u32 from | u32 to | u32 issued_at | u32 n_add | adds | u32 n_remove | removes | signature

Integers big-endian, serials strictly ascending (so no duplicates), the signature by the trust
list's ``deny_list_key`` over ``b"DGC2/deny\\0"`` + every byte before it.
"""
from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass

from .format import SERIAL_LENGTH, deny_signing_input
from .keys import SIGNATURE_LENGTH, SigningKey, VerifyingKey

FULL_MAGIC = b"DGCD"
DELTA_MAGIC = b"DGCd"
_FULL_HEAD = struct.Struct(">4sIIIBI")  # 21 bytes
_DELTA_HEAD = struct.Struct(">4sIIII")  # 20 bytes, then adds
_COUNT = struct.Struct(">I")


class DenyListError(ValueError):
    """A deny list or delta that is malformed, unsorted, badly signed, or does not apply."""


def _sorted_serials(serials: Iterable[bytes]) -> bytes:
    unique = sorted(set(serials))
    if any(len(serial) != SERIAL_LENGTH for serial in unique):
        raise DenyListError("serials are 8 bytes")
    return b"".join(unique)


def _check_ascending(block: bytes) -> None:
    previous = b""
    for start in range(0, len(block), SERIAL_LENGTH):
        serial = block[start:start + SERIAL_LENGTH]
        if serial <= previous:
            raise DenyListError("serials are not strictly ascending")
        previous = serial


def _contains(block: bytes, serial: bytes) -> bool:
    low, high = 0, len(block) // SERIAL_LENGTH
    while low < high:
        middle = (low + high) // 2
        found = block[middle * SERIAL_LENGTH:(middle + 1) * SERIAL_LENGTH]
        if found == serial:
            return True
        if found < serial:
            low = middle + 1
        else:
            high = middle
    return False


def _split(serials: bytes) -> list[bytes]:
    return [serials[i:i + SERIAL_LENGTH] for i in range(0, len(serials), SERIAL_LENGTH)]


def _verify(data: bytes, key: VerifyingKey) -> bytes:
    body, signature = data[:-SIGNATURE_LENGTH], data[-SIGNATURE_LENGTH:]
    if len(data) < SIGNATURE_LENGTH or not key.verify(deny_signing_input(body), signature):
        raise DenyListError("deny list signature does not verify")
    return body


@dataclass(frozen=True)
class DenyDelta:
    """A verified delta from version ``from_version`` to ``to_version``: ``adds``/``removes`` are
    concatenated ascending 8-byte serials."""

    from_version: int
    to_version: int
    issued_at: int
    adds: bytes
    removes: bytes


@dataclass(frozen=True)
class DenyList:
    """A verified deny list; ``serials`` is the concatenation of the ascending 8-byte serials.
    ``serial in deny_list`` is a binary search (no copy of the 200,000 entries)."""

    version: int
    issued_at: int
    next_update: int
    serials: bytes

    def __contains__(self, serial: bytes) -> bool:
        return _contains(self.serials, serial)

    def __len__(self) -> int:
        return len(self.serials) // SERIAL_LENGTH

    def age(self, now: int) -> int:
        """Seconds since the list (or the last delta applied) was issued."""
        return now - self.issued_at

    def apply(self, delta: DenyDelta) -> DenyList:
        """The list at ``delta.to_version``. DenyListError when the delta starts at another version,
        adds a listed serial or removes an unlisted one (then fetch the full list)."""
        if delta.from_version != self.version:
            raise DenyListError("delta starts at another version")
        current = set(_split(self.serials))
        adds, removes = set(_split(delta.adds)), set(_split(delta.removes))
        if adds & current or not removes <= current:
            raise DenyListError("delta does not apply to this list")
        cadence = self.next_update - self.issued_at
        return DenyList(delta.to_version, delta.issued_at, delta.issued_at + cadence,
                        _sorted_serials((current - removes) | adds))


def read_deny_list(data: bytes, key: VerifyingKey) -> DenyList:
    """Verify and read a full deny list; DenyListError for a bad signature, magic, length or order."""
    body = _verify(data, key)
    if len(body) < _FULL_HEAD.size:
        raise DenyListError("deny list too short")
    magic, version, issued_at, next_update, entry_len, count = _FULL_HEAD.unpack_from(body)
    if magic != FULL_MAGIC or entry_len != SERIAL_LENGTH or len(body) != _FULL_HEAD.size + count * SERIAL_LENGTH:
        raise DenyListError("not a full deny list of 8-byte serials")
    serials = body[_FULL_HEAD.size:]
    _check_ascending(serials)
    return DenyList(version, issued_at, next_update, serials)


def read_deny_delta(data: bytes, key: VerifyingKey) -> DenyDelta:
    """Verify and read a delta; DenyListError for a bad signature, magic, length or order."""
    body = _verify(data, key)
    if len(body) < _DELTA_HEAD.size + _COUNT.size:
        raise DenyListError("delta too short")
    magic, from_version, to_version, issued_at, n_add = _DELTA_HEAD.unpack_from(body)
    removes_at = _DELTA_HEAD.size + n_add * SERIAL_LENGTH
    if magic != DELTA_MAGIC or len(body) < removes_at + _COUNT.size or to_version <= from_version:
        raise DenyListError("not a deny-list delta")
    (n_remove,) = _COUNT.unpack_from(body, removes_at)
    if len(body) != removes_at + _COUNT.size + n_remove * SERIAL_LENGTH:
        raise DenyListError("delta of the wrong length")
    adds, removes = body[_DELTA_HEAD.size:removes_at], body[removes_at + _COUNT.size:]
    _check_ascending(adds)
    _check_ascending(removes)
    if set(_split(adds)) & set(_split(removes)):
        raise DenyListError("a serial both added and removed")
    return DenyDelta(from_version, to_version, issued_at, adds, removes)


def write_deny_list(signer: SigningKey, *, version: int, issued_at: int, next_update: int,
                    serials: Iterable[bytes]) -> bytes:
    """The signed full list (serials sorted and de-duplicated here)."""
    block = _sorted_serials(serials)
    body = _FULL_HEAD.pack(FULL_MAGIC, version, issued_at, next_update, SERIAL_LENGTH, len(block) // SERIAL_LENGTH) + block
    return body + signer.sign(deny_signing_input(body))


def write_deny_delta(signer: SigningKey, *, from_version: int, to_version: int, issued_at: int,
                     adds: Iterable[bytes], removes: Iterable[bytes]) -> bytes:
    """The signed delta (adds and removes sorted and de-duplicated here; ValueError when they overlap)."""
    add_block, remove_block = _sorted_serials(adds), _sorted_serials(removes)
    if set(_split(add_block)) & set(_split(remove_block)) or to_version <= from_version:
        raise DenyListError("a serial both added and removed, or to_version not after from_version")
    body = (_DELTA_HEAD.pack(DELTA_MAGIC, from_version, to_version, issued_at, len(add_block) // SERIAL_LENGTH)
            + add_block + _COUNT.pack(len(remove_block) // SERIAL_LENGTH) + remove_block)
    return body + signer.sign(deny_signing_input(body))
