"""Time is injected: services ask a clock, tests move it.

All stored times are UTC; displays convert to Asia/Shanghai.
"""
from __future__ import annotations

import time
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

DISPLAY_ZONE = ZoneInfo("Asia/Shanghai")


class Clock:
    """The real clock: ``time()`` is Unix seconds (float), ``now()`` an aware UTC datetime."""

    def time(self) -> float:
        return time.time()

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.time(), UTC)


class FrozenClock(Clock):
    """A clock that stands still until moved: ``FrozenClock(1_700_000_000).advance(30)``."""

    def __init__(self, at: float) -> None:
        self.at = float(at)

    def time(self) -> float:
        return self.at

    def advance(self, seconds: float) -> None:
        self.at += seconds
