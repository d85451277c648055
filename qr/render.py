"""QR images of a code (segno), in alphanumeric mode with error correction level M."""
from __future__ import annotations

import io

import segno

BORDER_MODULES = 4  # the quiet zone ISO/IEC 18004 requires


def make(code: str) -> segno.QRCode:
    """The QR symbol for ``code``."""
    return segno.make_qr(code, error="m", mode="alphanumeric", boost_error=False)


def png(code: str, scale: int = 8) -> bytes:
    """PNG bytes; ``scale`` pixels per module."""
    out = io.BytesIO()
    make(code).save(out, kind="png", scale=scale, border=BORDER_MODULES)
    return out.getvalue()


def svg(code: str, scale: int = 8) -> bytes:
    """SVG bytes (UTF-8)."""
    out = io.BytesIO()
    make(code).save(out, kind="svg", scale=scale, border=BORDER_MODULES, xmldecl=False)
    return out.getvalue()
