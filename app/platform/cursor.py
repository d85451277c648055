"""Opaque keyset cursors for newest-first pages: the (time, id) of the last row shown; and the
one check for instants a client sends (cursor times, ``as_of``): :func:`checked_instant`.

The next page asks for rows strictly older than that pair, so rows added meanwhile (always
newer) neither shift nor repeat the pages still to come.

A cursor is opaque but not trusted: a forged one (a year 1 or 9999 time, a +-14:00 offset that
carries it past the calendar, a 40-digit id) once reached PostgreSQL and came back as a 500
(issue 15, item 15). Decoding refuses anything :func:`encode_cursor` could not have written.
"""
from __future__ import annotations

import base64
import re
from datetime import UTC, datetime, timedelta

from app.platform.errors import AppError

# The instants a client may send: every time we store lies in this range.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 12, 31, 23, 59, 59, tzinfo=UTC)
_KEY = re.compile(r"[A-Za-z0-9_-]{1,32}\Z")  # a row id: an integer or a short opaque id
MAX_OFFSET = timedelta(hours=14)  # the widest UTC offset in use (Kiribati: +14:00; -12:00 the other way)
MAX_INTEGER_ID = 2**63 - 1  # PostgreSQL bigint


def checked_instant(moment: datetime) -> datetime | None:
    """``moment`` in UTC when it has an offset of at most +-14:00 and lies from :data:`EARLIEST`
    to :data:`LATEST`; None otherwise (also when the offset carries it past Python's calendar)."""
    offset = moment.utcoffset()
    if offset is None or abs(offset) > MAX_OFFSET:
        return None
    try:
        utc = moment.astimezone(UTC)
    except OverflowError:
        return None
    return utc if EARLIEST <= utc <= LATEST else None


def encode_cursor(at: datetime, key: str | int) -> str:
    """URL-safe base64 of ``<ISO time>|<id>``."""
    return base64.urlsafe_b64encode(f"{at.isoformat()}|{key}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The (time in UTC, id) of :func:`encode_cursor`; 422 ``cursor_invalid`` for anything else:
    not our encoding, a time outside :func:`checked_instant`'s range, an id over 32 characters or
    of other characters than A-Za-z0-9_-."""
    try:
        at, _, key = base64.urlsafe_b64decode(cursor.encode()).decode().partition("|")
        moment = checked_instant(datetime.fromisoformat(at))
    except (ValueError, UnicodeError):
        raise cursor_invalid() from None
    if moment is None or not _KEY.match(key):
        raise cursor_invalid()
    return moment, key


def decode_integer_cursor(cursor: str) -> tuple[datetime, int]:
    """:func:`decode_cursor` for rows with an integer id (at most a PostgreSQL bigint)."""
    at, key = decode_cursor(cursor)
    if not key.isdigit() or int(key) > MAX_INTEGER_ID:
        raise cursor_invalid()
    return at, int(key)


def cursor_invalid() -> AppError:
    return AppError("cursor_invalid", 422, "the cursor is not one this API returned")
