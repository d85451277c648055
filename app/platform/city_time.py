"""Times in answers carry the city's offset, ``+08:00`` (issue 20 item 4): partners in Dongguan
read ``2026-05-21T09:30:00+08:00``, the same instant as the stored UTC ``01:30:00Z``. Stored times
stay UTC (app.platform.clock); only the answer's rendering changes."""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import marshmallow as ma

from app.platform.clock import DISPLAY_ZONE


def in_city_time(instant: datetime) -> datetime:
    """``instant`` (aware, or naive UTC as SQLite returns it) in Asia/Shanghai (UTC+08:00, no DST)."""
    aware = instant if instant.tzinfo is not None else instant.replace(tzinfo=UTC)
    return aware.astimezone(DISPLAY_ZONE)


def city_isoformat(instant: datetime) -> str:
    """ISO 8601 with the ``+08:00`` offset, whole seconds: ``2026-05-21T09:30:00+08:00``."""
    return in_city_time(instant).replace(microsecond=0).isoformat()


class CityDateTime(ma.fields.DateTime):
    """An answer's date-time, written with the city's ``+08:00`` offset (dump only: requests take
    any offset through app.platform.text.Instant)."""

    def __init__(self, **kwargs: Any) -> None:
        metadata = {"description": "ISO 8601 with the city's offset (+08:00)", **kwargs.pop("metadata", {})}
        super().__init__(metadata={"examples": ["2026-05-21T09:30:00+08:00"], **metadata}, **kwargs)

    def _serialize(self, value: Any, attr: Any, obj: Any, **kwargs: Any) -> str | None:
        return None if value is None else city_isoformat(value)
