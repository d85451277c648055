"""The text inside the QR code, version 1 (docs/qr-format.md).

``DGC1:<pseudonym>.<time step>.<sequence>.<otp>``, e.g.
``DGC1:MFRGGZDFMZTWQ2LK.059312345.00.48213790`` (43 characters). Every character is in the QR
alphanumeric set (0-9, A-Z, space, $ % * + - . / :) so the code encodes compactly. It carries
no personal data: the pseudonym is random per device and changes when the seed does.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

PREFIX = "DGC1:"
PSEUDONYM_LENGTH = 16
STEP_DIGITS = 9
SEQUENCE_DIGITS = 2
OTP_DIGITS = 8
MAX_LENGTH = 64

_PATTERN = re.compile(
    rf"{re.escape(PREFIX)}([A-Z2-7]{{{PSEUDONYM_LENGTH}}})\.([0-9]{{{STEP_DIGITS}}})"
    rf"\.([0-9]{{{SEQUENCE_DIGITS}}})\.([0-9]{{{OTP_DIGITS}}})"
)


class CodeFormatError(ValueError):
    """The text is not a version-1 code (mistyped, truncated, or not ours)."""


@dataclass(frozen=True)
class CodePayload:
    """``pseudonym``: 16 base32 characters; ``step``: TOTP time step (Unix time // 30);
    ``sequence``: 0-99, the code's number within its step; ``otp``: 8 digits."""

    pseudonym: str
    step: int
    sequence: int
    otp: str


def encode(payload: CodePayload) -> str:
    """The code text for ``payload``; raises ValueError on out-of-range fields."""
    text = (
        f"{PREFIX}{payload.pseudonym}.{payload.step:0{STEP_DIGITS}d}"
        f".{payload.sequence:0{SEQUENCE_DIGITS}d}.{payload.otp}"
    )
    if not _PATTERN.fullmatch(text):
        raise ValueError("payload fields out of range for format version 1")
    return text


def parse(text: str) -> CodePayload:
    """Parse a scanned code; raises :class:`CodeFormatError` for anything but a well-formed v1 code."""
    match = _PATTERN.fullmatch(text) if isinstance(text, str) and len(text) <= MAX_LENGTH else None
    if match is None:
        raise CodeFormatError("not a DGC1 code")
    pseudonym, step, sequence, otp = match.groups()
    return CodePayload(pseudonym, int(step), int(sequence), otp)
