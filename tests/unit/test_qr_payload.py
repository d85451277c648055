"""The DGC1 code format (docs/qr-format.md)."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qr import payload, render

QR_ALPHANUMERIC = set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")
SAMPLE = payload.CodePayload("MFRGGZDFMZTWQ2LK", 59_312_345, 7, "48213790")


def test_encode_gives_the_documented_text() -> None:
    assert payload.encode(SAMPLE) == "DGC1:MFRGGZDFMZTWQ2LK.059312345.07.48213790"


def test_parse_inverts_encode() -> None:
    assert payload.parse(payload.encode(SAMPLE)) == SAMPLE


@given(
    pseudonym=st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", min_size=16, max_size=16),
    step=st.integers(0, 999_999_999),
    sequence=st.integers(0, 99),
    otp=st.text(alphabet="0123456789", min_size=8, max_size=8),
)
def test_every_code_is_qr_alphanumeric_and_short(pseudonym: str, step: int, sequence: int, otp: str) -> None:
    text = payload.encode(payload.CodePayload(pseudonym, step, sequence, otp))
    assert set(text) <= QR_ALPHANUMERIC
    assert len(text) <= payload.MAX_LENGTH
    assert payload.parse(text) == payload.CodePayload(pseudonym, step, sequence, otp)


@pytest.mark.parametrize("text", [
    "",
    "DGC1:",
    "DGC2:MFRGGZDFMZTWQ2LK.059312345.07.48213790",  # unknown version
    "dgc1:MFRGGZDFMZTWQ2LK.059312345.07.48213790",  # lower case
    "DGC1:MFRGGZDFMZTWQ2L1.059312345.07.48213790",  # 1 is not base32
    "DGC1:MFRGGZDFMZTWQ2LK.59312345.07.48213790",  # short step
    "DGC1:MFRGGZDFMZTWQ2LK.059312345.7.48213790",  # short sequence
    "DGC1:MFRGGZDFMZTWQ2LK.059312345.07.4821379",  # 7-digit otp
    "DGC1:MFRGGZDFMZTWQ2LK.059312345.07.48213790 ",  # trailing space
    "DGC1:MFRGGZDFMZTWQ2LK.059312345.07.48213790\n",
    "DGC1:MFRGGZDFMZTWQ2LK.０59312345.07.48213790",  # full-width digit
    "X" * 5000,
])
def test_parse_refuses_anything_else(text: str) -> None:
    with pytest.raises(payload.CodeFormatError):
        payload.parse(text)


@given(st.text(max_size=100))
def test_parse_never_raises_anything_but_format_error(text: str) -> None:
    try:
        parsed = payload.parse(text)
    except payload.CodeFormatError:
        return
    assert payload.encode(parsed) == text


def test_encode_refuses_out_of_range_fields() -> None:
    with pytest.raises(ValueError):
        payload.encode(payload.CodePayload("MFRGGZDFMZTWQ2LK", 10**9, 0, "12345678"))
    with pytest.raises(ValueError):
        payload.encode(payload.CodePayload("short", 1, 0, "12345678"))


def test_qr_symbol_uses_alphanumeric_mode_and_a_small_version() -> None:
    symbol = render.make(payload.encode(SAMPLE))
    assert symbol.mode == "alphanumeric"
    assert symbol.version <= 3  # 29x29 modules: easy for gate scanners


def test_png_and_svg_render() -> None:
    text = payload.encode(SAMPLE)
    assert render.png(text).startswith(b"\x89PNG\r\n\x1a\n")
    assert b"<svg" in render.svg(text)
