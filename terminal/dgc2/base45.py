"""Base45 (RFC 9285): bytes as text in the QR alphanumeric set.

Two bytes ``[a, b]`` make ``n = a * 256 + b`` written as three characters ``c d e`` with
``n = c + d * 45 + e * 45**2``; a last single byte makes two characters (RFC 9285 §4). The decoder
is strict (§6): an unknown character, a length of 3k + 1, a triple above 65535 or a pair above 255
raise :class:`Base45Error`.
"""
from __future__ import annotations

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
_VALUE = {char: index for index, char in enumerate(ALPHABET)}


class Base45Error(ValueError):
    """The text is not valid base45 (RFC 9285 §6)."""


def encode(data: bytes) -> str:
    """Base45 text of ``data`` (RFC 9285 §4): 3 characters per 2 bytes, 2 for a last odd byte."""
    out = []
    for start in range(0, len(data) - 1, 2):
        n = data[start] * 256 + data[start + 1]
        n, c = divmod(n, 45)
        e, d = divmod(n, 45)
        out.append(ALPHABET[c] + ALPHABET[d] + ALPHABET[e])
    if len(data) % 2:
        d, c = divmod(data[-1], 45)
        out.append(ALPHABET[c] + ALPHABET[d])
    return "".join(out)


def decode(text: str) -> bytes:
    """The bytes of base45 ``text``; raises :class:`Base45Error` for anything RFC 9285 §6 rejects."""
    if len(text) % 3 == 1:
        raise Base45Error("base45 length leaves a single character")
    try:
        values = [_VALUE[char] for char in text]
    except KeyError as exc:
        raise Base45Error("character outside the base45 alphabet") from exc
    out = bytearray()
    for start in range(0, len(values), 3):
        chunk = values[start:start + 3]
        if len(chunk) == 3:
            n = chunk[0] + chunk[1] * 45 + chunk[2] * 2025
            if n > 0xFFFF:
                raise Base45Error("base45 triple above 65535")
            out += n.to_bytes(2, "big")
        else:
            n = chunk[0] + chunk[1] * 45
            if n > 0xFF:
                raise Base45Error("base45 pair above 255")
            out.append(n)
    return bytes(out)
