"""Sending SMS: an interface, and the console implementation used in development.

A production sender (an SMS gateway's client) implements :class:`SmsSender` and is chosen in
``app.runtime.build_runtime``. The console sender logs the message with the number masked and
keeps the last messages in memory (tests read them); it is for development only, since the
message may hold a verification code.
"""
from __future__ import annotations

import logging
from collections import deque
from typing import Protocol

log = logging.getLogger(__name__)


class SmsSender(Protocol):
    def send(self, phone: str, text: str) -> None:
        """Send ``text`` to the 11-digit mainland mobile ``phone``."""


class ConsoleSmsSender:
    """Logs each message (number masked as 138****8000) and keeps the last 100 in ``sent``.
    With ``show_text=False`` (production, until a gateway is configured) the text, which may
    hold a code, is not logged."""

    def __init__(self, show_text: bool = True) -> None:
        self.sent: deque[tuple[str, str]] = deque(maxlen=100)
        self.show_text = show_text

    def send(self, phone: str, text: str) -> None:
        self.sent.append((phone, text))
        log.info("SMS to %s: %s", mask_phone(phone), text if self.show_text else "(text withheld: console sender in production)")


def mask_phone(phone: str) -> str:
    """``13800138000`` -> ``138****8000``."""
    return phone[:3] + "****" + phone[-4:]
