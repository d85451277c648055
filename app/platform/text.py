"""The one check for text a client sends: no control characters (issue 15, item 15).

A NUL character reached PostgreSQL (which refuses it in text) and came back as a 500; other
control characters end up in logs, CSV exports and the console. So every string a client sends
is checked here, once, before any service sees it:

* JSON fields and query parameters of the API: declare them as :class:`Text` (``Text()`` for one
  line, ``Text(multiline=True)`` where line breaks and tabs belong, e.g. a complaint). A refused
  value is a 422 ``validation_error`` in the one envelope, naming the field; the OpenAPI document
  states the rule as a ``pattern``.
* Path parameters, query strings and form fields of every request (the console's forms too):
  :func:`refuse_control_characters` (``before_request``), also a 422 ``validation_error``.
  Path parameters are documented with :data:`SINGLE_LINE_PATTERN` (:func:`path_parameter_schema`).

Control characters are C0 (U+0000-U+001F), DEL and C1 (U+007F-U+009F); multi-line text may keep
line feed, carriage return and tab. Invisible format characters (Unicode category Cf of the Basic
Multilingual Plane: U+202E reverses the text shown after it, U+200B hides inside a name) are
refused the same way: a name with one is not a different name, and a complaint with one would
show reversed in the console. Instants (dates and times) have their own check:
:class:`Instant` (``app.platform.cursor.checked_instant``).
"""
from __future__ import annotations

import re
import unicodedata
from datetime import datetime
from typing import Any

import marshmallow as ma
from flask import request
from flask_smorest.spec.plugins import unicodeconverter2paramschema

from app.platform.cursor import EARLIEST, LATEST, checked_instant
from app.platform.errors import AppError


def _format_ranges() -> list[tuple[int, int]]:
    """The Basic Multilingual Plane's format characters (Unicode category Cf: U+00AD, U+200B-U+200F,
    U+202A-U+202E, U+2060-U+206F, U+FEFF ...), as ranges of code points."""
    ranges: list[tuple[int, int]] = []
    for point in range(0x10000):
        if unicodedata.category(chr(point)) == "Cf":
            if ranges and ranges[-1][1] == point - 1:
                ranges[-1] = (ranges[-1][0], point)
            else:
                ranges.append((point, point))
    return ranges


def _ranges(ranges: list[tuple[int, int]]) -> str:
    """Ranges as the inside of a character class, ``\\uXXXX`` escapes: both Python's re and ECMA 262 read them."""
    return "".join(f"\\u{low:04x}" if low == high else f"\\u{low:04x}-\\u{high:04x}" for low, high in ranges)


_CONTROL = [(0x00, 0x1F), (0x7F, 0x9F)]
_CONTROL_BUT_LINES = [(0x00, 0x08), (0x0B, 0x0C), (0x0E, 0x1F), (0x7F, 0x9F)]
_SINGLE_LINE_CLASS = _ranges(_CONTROL + _format_ranges())
_MULTI_LINE_CLASS = _ranges(_CONTROL_BUT_LINES + _format_ranges())
_SINGLE_LINE = re.compile(f"[{_SINGLE_LINE_CLASS}]")
_MULTI_LINE = re.compile(f"[{_MULTI_LINE_CLASS}]")
# The same rules for the document (ECMA 262, as JSON Schema reads a pattern).
SINGLE_LINE_PATTERN = f"^[^{_SINGLE_LINE_CLASS}]*$"
MULTI_LINE_PATTERN = f"^[^{_MULTI_LINE_CLASS}]*$"
SINGLE_LINE_MESSAGE = "control and invisible format characters (e.g. U+202E, U+200B) are not allowed"
MULTI_LINE_MESSAGE = "control and invisible format characters are not allowed (line breaks and tabs are)"
FORM_FIELDS = ("application/x-www-form-urlencoded", "multipart/form-data")


def has_control_characters(value: str, multiline: bool = False) -> bool:
    """True when ``value`` holds a character :class:`Text` refuses."""
    return (_MULTI_LINE if multiline else _SINGLE_LINE).search(value) is not None


class Text(ma.fields.String):
    """A string without control characters; ``multiline=True`` keeps ``\\n``, ``\\r`` and ``\\t``.
    Use it for every string field a client sends (other validators, e.g. ``Length``, as usual)."""

    def __init__(self, *, multiline: bool = False, **kwargs: Any) -> None:
        pattern = MULTI_LINE_PATTERN if multiline else SINGLE_LINE_PATTERN
        kwargs["metadata"] = {"pattern": pattern, **(kwargs.get("metadata") or {})}
        super().__init__(**kwargs)
        self.multiline = multiline

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if has_control_characters(text, self.multiline):
            raise ma.ValidationError(MULTI_LINE_MESSAGE if self.multiline else SINGLE_LINE_MESSAGE)
        return text


class Instant(ma.fields.AwareDateTime):
    """A date and time with a UTC offset, from 1970 to 9000 (UTC); returned in UTC. A year 1 or
    9999, or an offset that carries it past either end, is a 422 ``validation_error``."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs["metadata"] = {"x-minimum": EARLIEST.isoformat(), "x-maximum": LATEST.isoformat(),
                              **(kwargs.get("metadata") or {})}
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        moment = checked_instant(super()._deserialize(value, attr, data, **kwargs))
        if moment is None:
            raise ma.ValidationError(f"must be from {EARLIEST.isoformat()} to {LATEST.isoformat()}")
        return moment


def refuse_control_characters() -> None:
    """``before_request``: 422 ``validation_error`` for a control character in a path parameter
    or query parameter (single line), or a form field (multi-line: a textarea's line breaks)."""
    fields: dict[str, dict[str, list[str]]] = {}
    if request.mimetype in FORM_FIELDS:
        # Keep the body's bytes before the form parser consumes the stream (it then parses this
        # copy): a partner's signature is checked over them, so a signed request sent as a form
        # must still hear its 415, not 401 signature_invalid over an empty body.
        request.get_data(cache=True)
    for location, values, multiline in (("path", (request.view_args or {}).items(), False),
                                        ("query", request.args.items(multi=True), False),
                                        ("form", request.form.items(multi=True) if request.mimetype in FORM_FIELDS else (), True)):
        for name, value in values:
            if isinstance(value, str) and (has_control_characters(value, multiline) or has_control_characters(name)):
                fields.setdefault(location, {})[_shown(name)] = [MULTI_LINE_MESSAGE if multiline else SINGLE_LINE_MESSAGE]
    if fields:
        raise AppError("validation_error", 422, "request validation failed", {"fields": fields})


def _shown(name: str) -> str:
    """A field name as it may be echoed: its control characters replaced."""
    return _SINGLE_LINE.sub("\ufffd", name)


def path_parameter_schema(converter: Any) -> dict[str, Any]:
    """The OpenAPI schema of a ``<name>`` path parameter (flask-smorest's converter hook): its
    length bounds, and the rule of :func:`refuse_control_characters`."""
    return {**unicodeconverter2paramschema(converter), "pattern": SINGLE_LINE_PATTERN}


class StrictBoolean(ma.fields.Boolean):
    """A request's boolean: JSON ``true`` or ``false`` only (marshmallow's Boolean also takes
    ``0``/``1``, ``"yes"``, ``"on"``..., and ``0 in {False}`` is true in Python); anything else is
    a validation error. Money flags and statuses must not be guessed from a number."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value
