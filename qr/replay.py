"""The replay guard: a code verifies at most once, ever (RFC 6238 §5.2).

Per device pseudonym the ledger keeps the highest moving factor accepted so far and accepts
only a strictly higher one, in one atomic step (the django-otp rule). A code therefore also
dies once any later code of the same device has been accepted. The mark only needs to outlive
the acceptance window: older codes are refused by their time step anyway.
"""
from __future__ import annotations

from typing import Protocol

from .totp import STEP_SECONDS, WINDOW_AHEAD, WINDOW_BACK, moving_factor

MARK_TTL_SECONDS = (WINDOW_BACK + WINDOW_AHEAD + 3) * STEP_SECONDS


class Ledger(Protocol):
    """Atomic monotonic marks (Redis Lua script, or SQL ``INSERT ... ON CONFLICT``)."""

    def advance(self, key: str, counter: int, ttl: int) -> bool: ...


def ledger_key(pseudonym: str) -> str:
    return f"replay:{pseudonym}"


def first_use(ledger: Ledger, pseudonym: str, step: int, sequence: int) -> bool:
    """Mark (step, sequence) used for ``pseudonym``; True only for the first and newest use."""
    return ledger.advance(ledger_key(pseudonym), moving_factor(step, sequence), MARK_TTL_SECONDS)
