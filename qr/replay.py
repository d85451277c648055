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
    """Atomic use of a code (a Redis Lua script, or SQL ``INSERT ... ON CONFLICT``): see app.platform.store."""

    def use_once(self, mark_key: str, counter: int, mark_ttl: int, answer_key: str, answer: str,
                 answer_ttl: int, claim: tuple[str, int] | None = None) -> tuple[str, str | None]: ...


def ledger_key(pseudonym: str) -> str:
    """``replay:{<pseudonym>}``: the device's pseudonym is the key's hash tag, which the kept answers
    of its codes share (one Redis Cluster slot for the use-once script, app.platform.store)."""
    return "replay:{" + pseudonym + "}"


def use_once(ledger: Ledger, pseudonym: str, step: int, sequence: int, answer_key: str, answer: str,
             answer_ttl: int, claim: tuple[str, int] | None = None) -> tuple[str, str | None]:
    """Use (step, sequence) of ``pseudonym`` once, keeping ``answer`` for re-reads.

    Returns ``("first", None)`` for the first and newest use, ``("used", None)`` when this or a
    later code was used, or ``("earlier", kept)`` when ``answer_key`` already holds an answer
    (a scanner reading the same code again). ``claim`` (key, ttl) is claimed in the same atomic
    step, first; ``("claim_taken", None)`` when it was taken (then nothing else was done).
    """
    return ledger.use_once(ledger_key(pseudonym), moving_factor(step, sequence), MARK_TTL_SECONDS,
                           answer_key, answer, answer_ttl, claim)
