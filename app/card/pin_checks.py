"""The partner bank checks a physical card's PIN (M-26; issue 17 item 5): at its counter or
ATM-like terminal the bank sends the serial number and the PIN typed, and learns only whether it
matches. The PIN is never stored, logged or echoed.

Throttled per card: every check is counted first, atomically (the store's ``incr``), and only
the first :data:`MAX_ATTEMPTS` in a day are evaluated; a matching one is taken back
(``uncount``), so only wrong PINs use them up.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from app.card.models import PhysicalCard
from app.card.pins import pin_matches
from app.partners.partners import PartnerView
from app.platform.db import db
from app.platform.errors import AppError
from app.runtime import Runtime

MAX_ATTEMPTS, WINDOW_SECONDS = 3, 86400


@dataclass(frozen=True)
class PinCheck:
    """``match``: the PIN is the card's; ``attempts_left``: wrong PINs still allowed today."""

    match: bool
    attempts_left: int


def check_pin(rt: Runtime, bank: PartnerView, serial_number: str, pin: str) -> PinCheck:
    """Whether ``pin`` is the PIN of the card ``serial_number`` issued by ``bank``.

    404 ``card_not_found`` (no card with that serial from this bank); 409 ``pin_not_set`` (not
    activated yet, so no PIN) or ``card_not_usable`` (``details.state``: lost, replaced,
    cancelled); 429 ``too_many_attempts`` after 3 wrong PINs a day (``Retry-After``)."""
    physical = db.session.scalar(select(PhysicalCard).where(
        PhysicalCard.serial_number == serial_number, PhysicalCard.bank_partner_id == bank.id))
    if physical is None:
        raise AppError("card_not_found", 404, "no card with this serial number issued by this bank")
    if physical.state != "activated":
        raise AppError("card_not_usable", 409, "the card is not in use", {"state": physical.state})
    if physical.pin_hash is None:
        raise AppError("pin_not_set", 409, "the card has no PIN yet")
    key = f"pin-check:{physical.id}"
    attempts = rt.store.incr(key, WINDOW_SECONDS)
    if attempts > MAX_ATTEMPTS:
        raise AppError("too_many_attempts", 429, "too many wrong PINs today for this card",
                       headers={"Retry-After": str(WINDOW_SECONDS)})
    if pin_matches(pin, physical.pin_hash):
        rt.store.uncount(key)
        return PinCheck(True, MAX_ATTEMPTS - attempts + 1)
    return PinCheck(False, MAX_ATTEMPTS - attempts)
