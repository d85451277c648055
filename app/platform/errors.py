"""The one error type and the one JSON error envelope of the platform.

Every failure a client can see is an :class:`AppError` turned into::

    {"error": {"code": "code_expired", "message": "...", "details": {...}}}

``code`` is stable and machine-readable; ``message`` is for humans and may change.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class AppError(Exception):
    """A failure with a stable machine ``code``, an HTTP status and a human ``message``.

    ``headers`` are added to the HTTP response (e.g. ``Retry-After`` on 429).
    ``details`` must never carry secrets or personal data.
    """

    code: str
    http_status: int
    message: str
    details: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.code} ({self.http_status}): {self.message}"

    def envelope(self) -> dict[str, Any]:
        """The JSON body: ``{"error": {"code", "message", "details"}}``."""
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}
