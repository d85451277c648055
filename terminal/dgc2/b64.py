"""Base64url without padding (RFC 4648 §5), the encoding of keys and signatures in JSON."""
from __future__ import annotations

import base64
import binascii
import re

_ALPHABET = re.compile(r"[A-Za-z0-9_-]*")


def encode(data: bytes) -> str:
    """``data`` as base64url without ``=`` padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def decode(text: str) -> bytes:
    """Strict inverse of :func:`encode`: ValueError on padding, other characters or a bad length."""
    if not isinstance(text, str) or not _ALPHABET.fullmatch(text) or len(text) % 4 == 1:
        raise ValueError("not base64url without padding")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except binascii.Error as exc:
        raise ValueError("not base64url without padding") from exc
    if encode(data) != text:
        raise ValueError("non-canonical base64url")
    return data
