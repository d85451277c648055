"""Resisting guesses (M-19, M-27; RFC 4226 §7.3, docs/qr-format.md "Guessing").

- A terminal or partner sending many invalid codes is throttled: over 30 invalid codes a minute
  from one terminal, or 300 from one partner, its verifications answer 429
  ``too_many_invalid_codes`` with ``Retry-After`` for the rest of the minute, and a warning is
  logged (partner, terminal; never the code). Counters are shared through the store; each app
  process keeps the resulting block in memory, so the normal path pays no extra round trip.
- Wrong passwords against one card slow that card down instead of locking its owner out: after
  10 in 24 hours, the card's codes are evaluated at most once per 20 minutes (others answer
  ``card_throttled``), whoever presents them, starting with the 20 minutes after the one in which
  the 10th came. So a guesser who knows a card's pseudonym gets at most 10 + 72 = 82 evaluations
  a day, each succeeding with probability 10^-8 (8 digits): at most 8.2 x 10^-7 expected
  successes per card per day.

The card's limit counts first, then decides (issue 15 item 6). The password is compared in memory
only to know what to count; its outcome is used (answered, or the code accepted) only when the
count allows. A wrong password is counted against the card's day (``card-failures``) and the
current 20-minute slot (``guess-slot``) in one atomic store step and is *evaluated* (answered
``code_invalid``) only if that day count is within the 10 or it is the slot's first try; else it
is ``card_throttled`` like a right one would be. So 64 simultaneous wrong codes are evaluated 10
times, not once per request that read an old count (a trial saw 50). A right password reads the
day count (one GET) and passes under 10, else only as the slot's first try: a scanner reading the
owner's code 50 times at once is never throttled, and a guesser's lucky right guess is no more
likely than with 10 + 1 wrong ones. On the accepted path that read is part of the code's use, one
Redis script (:func:`right_password_gate`); a right password refused for another reason (expired,
the scene's rules) reads it before answering, as that answer would tell the password was right.
The database keeps the durable count (``cards.failed_attempts``),
which stands in for the store's after a store lost its data.
"""
from __future__ import annotations

import logging
import math
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import case, or_, update

from app.card.models import Card
from app.platform.db import db
from app.platform.errors import AppError
from app.platform.store import hash_tag
from app.runtime import Runtime

log = logging.getLogger(__name__)

WINDOW_SECONDS = 60
TERMINAL_LIMIT = 30
PARTNER_LIMIT = 300
CARD_FREE_FAILURES = 10
CARD_WINDOW = timedelta(hours=24)
CARD_SLOT_SECONDS = 20 * 60
OTP_SPACE = 10**8


def daily_success_bound() -> float:
    """The expected successful guesses per card per day at the allowed rate (must stay < 1e-6)."""
    evaluations = CARD_FREE_FAILURES + CARD_WINDOW.total_seconds() / CARD_SLOT_SECONDS
    return evaluations / OTP_SPACE


def refuse_if_throttled(rt: Runtime, partner_pk: int, terminal_id: str) -> None:
    """429 ``too_many_invalid_codes`` while this terminal or partner is blocked (per-process memory)."""
    now = rt.clock.time()
    for key in (("partner", partner_pk), ("terminal", partner_pk, terminal_id)):
        until = rt.throttle_cache.get(key, 0.0)
        if until > now:
            raise AppError("too_many_invalid_codes", 429, "too many invalid codes from this terminal or partner; wait",
                           headers={"Retry-After": str(max(1, math.ceil(until - now)))})


def note_invalid_code(rt: Runtime, partner_pk: int, terminal_id: str, card_id: int | None) -> None:
    """Count an invalid code against the terminal, the partner and (when it named one) the card."""
    now = rt.clock.time()
    for key, limit in ((("terminal", partner_pk, terminal_id), TERMINAL_LIMIT), (("partner", partner_pk), PARTNER_LIMIT)):
        count = rt.store.incr("invalid:" + ":".join(map(str, key)), WINDOW_SECONDS)
        if count > limit and rt.throttle_cache.get(key, 0.0) <= now:
            rt.throttle_cache[key] = now + WINDOW_SECONDS
            log.warning("guessing throttled: %s %s after %d invalid codes in %d s", key[0], key[1:], count, WINDOW_SECONDS)
    if card_id is not None:
        _count_card_failure(rt, card_id)


def _count_card_failure(rt: Runtime, card_id: int) -> None:
    """One atomic UPDATE: a new 24-hour window starts when the last one is over."""
    now = rt.clock.now()
    fresh = or_(Card.failures_since.is_(None), Card.failures_since <= now - CARD_WINDOW)
    db.session.execute(update(Card).where(Card.id == card_id).values(
        failed_attempts=case((fresh, 1), else_=Card.failed_attempts + 1),
        failures_since=case((fresh, now), else_=Card.failures_since)))


def card_try_counts(rt: Runtime, facts: Any, right: bool, before_counting: Callable[[], None]) -> bool:
    """Whether this try's outcome may be used (else ``card_throttled``), decided on counts taken
    first. A wrong password is counted against the card's day and the current 20-minute slot in
    one atomic step, then passes if it is within the day's 10 or the slot's first try; a right one
    passes while the day's count is under 10, else only as the slot's first try (counted first).
    ``before_counting`` (the request's nonce claim: a replayed request must not spend a count or
    the owner's slot) runs before any count."""
    durable = _durable_failures(rt, facts)
    failures_key = _failures_key(facts.card_id)
    slot_key = f"guess-slot:{_card_tag(facts.card_id)}:{int(rt.clock.time() // CARD_SLOT_SECONDS)}"
    if not right:
        before_counting()
        failures, slot_tries = rt.store.count_together([(failures_key, int(CARD_WINDOW.total_seconds())),
                                                        (slot_key, 2 * CARD_SLOT_SECONDS)])
        return max(failures, durable + 1) <= CARD_FREE_FAILURES or slot_tries == 1
    if max(int(rt.store.get(failures_key) or 0), durable) < CARD_FREE_FAILURES:
        return True
    before_counting()
    return rt.store.incr(slot_key, 2 * CARD_SLOT_SECONDS) == 1


def right_password_gate(rt: Runtime, facts: Any) -> tuple[str, int] | None:
    """The check of :func:`card_try_counts` for a right password, for the code's use step to make
    atomically (app.platform.store.Store.use_once ``gate``: the card's day count must stay under
    10; one Redis script instead of a GET before it). None when the database's count alone is
    already at 10: then :func:`card_try_counts` decides first, as for any card under guessing.
    A use the gate refuses (``gated``) goes to :func:`card_try_counts` too."""
    if _durable_failures(rt, facts) >= CARD_FREE_FAILURES:
        return None
    return _failures_key(facts.card_id), CARD_FREE_FAILURES


def _failures_key(card_id: int) -> str:
    """The card's day count of wrong passwords."""
    return f"card-failures:{_card_tag(card_id)}"


def _card_tag(card_id: int) -> str:
    """The hash tag of the card's day count and its 20-minute slots, so that both counts are one
    atomic step on a Redis Cluster as well."""
    return hash_tag(f"card:{card_id}")


def _durable_failures(rt: Runtime, facts: Any) -> int:
    """The wrong passwords the database holds for the card's current 24-hour window."""
    since = facts.failures_since
    return 0 if since is None or since <= rt.clock.now() - CARD_WINDOW else int(facts.failed_attempts)
