"""Bare chip reads (M-19, issue 15 item 2; docs/card-lifecycle.md "What a chip read may disclose").

A chip reader sends only the card's 16-digit number: it is printed on the card, readable by any
reader near it, and known to every partner that ever read it, and this version checks no card
cryptogram. So a bare read proves nothing about the holder's presence. Scenes whose answer
identifies the holder (a policy with ``identifies = True``: government, medical, campus) answer
it at most as often as a holder could be present:

- per card: :data:`CARD_LIMIT` identifying answers an hour, across all partners and terminals;
- per terminal: :data:`TERMINAL_LIMIT` an hour (a desk serves about one holder a minute).

Both counts are taken first, in one atomic store step (on a Redis Cluster one per count, as the
card's and the terminal's keys live in different slots: each count is still atomic and unique to
its read, and each limit is decided on its own count, so neither limit can be overrun), then
decided on; a read over either is
refused ``chip_read_limited`` (no subject) and recorded like every verification, so the holder
sees it. Windows are clock hours (a burst at the turn of the hour can get two windows' worth).
Scenes that disclose no identity (tokens, concession, masked name) are not limited.
"""
from __future__ import annotations

import logging

from app.runtime import Runtime

log = logging.getLogger(__name__)

CARD_LIMIT = 6
TERMINAL_LIMIT = 60
WINDOW_SECONDS = 3600


def chip_read_allowed(rt: Runtime, partner_pk: int, terminal_id: str, card_id: int) -> bool:
    """Count this identifying bare read against the card and the terminal, then decide."""
    window = int(rt.clock.time() // WINDOW_SECONDS)
    card, terminal = rt.store.count_together([
        (f"chip-id:card:{card_id}:{window}", 2 * WINDOW_SECONDS),
        (f"chip-id:terminal:{partner_pk}:{terminal_id}:{window}", 2 * WINDOW_SECONDS),
    ])
    if card <= CARD_LIMIT and terminal <= TERMINAL_LIMIT:
        return True
    if card == CARD_LIMIT + 1 or terminal == TERMINAL_LIMIT + 1:  # once per window and limit, not per read
        log.warning("chip reads limited: partner %s terminal %s (%s)", partner_pk, terminal_id,
                    "card over its limit" if card > CARD_LIMIT else "terminal over its limit")
    return False
