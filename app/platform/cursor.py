"""Opaque keyset cursors for newest-first pages: the (time, id) of the last row shown.

The next page asks for rows strictly older than that pair, so rows added meanwhile (always
newer) neither shift nor repeat the pages still to come.
"""
from __future__ import annotations

import base64
from datetime import datetime

from app.platform.errors import AppError


def encode_cursor(at: datetime, key: str | int) -> str:
    """URL-safe base64 of ``<ISO time>|<id>``."""
    return base64.urlsafe_b64encode(f"{at.isoformat()}|{key}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The (time, id) of :func:`encode_cursor`; 422 ``cursor_invalid`` for anything else."""
    try:
        at, _, key = base64.urlsafe_b64decode(cursor.encode()).decode().partition("|")
        moment = datetime.fromisoformat(at)
        if moment.tzinfo is None or not key:
            raise ValueError("incomplete cursor")
        return moment, key
    except (ValueError, UnicodeError):
        raise cursor_invalid() from None


def cursor_invalid() -> AppError:
    return AppError("cursor_invalid", 422, "the cursor is not one this API returned")
