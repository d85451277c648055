"""The e-card password (M-26; issue 17 item 5): six digits of the citizen's choice, separate from
the physical card's PIN, asked before sensitive actions (moving the e-card, changing the phone,
unbinding). Stored only as a scrypt hash (app/card/pins.py), never logged.

Guessing is throttled per card: every attempt is counted first, atomically (the store's
``incr``), and only the first :data:`MAX_ATTEMPTS` in a day are checked; a right one is taken
back (``uncount``, one conditional statement), and so is one refused over the limit without a
check, so only wrong passwords use the day up: a burst of right ones (32 at once) never locks
the card, while 5 wrong ones still do. The counter is keyed by the stored hash (freshly salted),
so a new password (changed with the old one, or reset after a real-person check) starts a fresh count.
"""
from __future__ import annotations

import hashlib

from sqlalchemy import update

from app.card.devices import bound_card
from app.card.lifecycle import CITIZEN, Transition, current_physical, record_event
from app.card.models import Card
from app.card.pins import hash_pin, pin_matches, refuse_weak_digits
from app.identity.models import Citizen, MpAccount
from app.identity.real_person import confirm_holder
from app.platform.db import db
from app.platform.errors import AppError
from app.runtime import Runtime

MAX_ATTEMPTS, WINDOW_SECONDS = 5, 86400


def checked_password(password: str) -> str:
    """``password`` if acceptable; else 422 ``password_weak`` with the weakness (the PIN's rules)."""
    return refuse_weak_digits(password, "password_weak")


def set_password(rt: Runtime, card: Card, password: str, current: str | None, reason: str = "set by the citizen") -> None:
    """Set the card's e-card password to ``password``. The first one needs nothing more; a change
    needs ``current`` (:func:`require_password`). 422 ``password_weak``, ``password_same_as_pin``
    (the physical card's PIN may not double as it). Recorded as the card event ``password_set``."""
    checked_password(password)
    if card.password_hash is not None:
        require_password(rt, card, current)
    store_password(rt, card, password, reason)


def reset_password(rt: Runtime, account: MpAccount, password: str, real_person_token: str) -> None:
    """A new password without the old one, after a real-person check of the card's holder
    (:func:`app.identity.real_person.confirm_holder`); a fresh count of wrong attempts begins."""
    card = bound_card(account)
    checked_password(password)
    confirm_holder(rt, account, db.session.get(Citizen, card.citizen_id), real_person_token)
    store_password(rt, card, password, "reset after a real-person check")


def store_password(rt: Runtime, card: Card, password: str, reason: str) -> None:
    """Hash and store ``password`` (no check of an old one: callers prove the holder first) and commit."""
    physical = current_physical(card.id)
    if physical is not None and physical.pin_hash and pin_matches(password, physical.pin_hash):
        raise AppError("password_same_as_pin", 422, "choose a password other than your physical card's PIN")
    db.session.execute(update(Card).where(Card.id == card.id)
                       .values(password_hash=hash_pin(password), password_set_at=rt.clock.now())
                       .execution_options(synchronize_session="fetch"))
    record_event(rt, card.id, Transition("card", "password_set", card.status, card.status), CITIZEN, reason)
    db.session.commit()


def require_password(rt: Runtime, card: Card, password: str | None) -> None:
    """Return when ``password`` is the card's e-card password, or the card has none yet.

    403 ``password_required`` (none sent); 429 ``password_locked`` (5 attempts a day, counted
    before the check, ``Retry-After``); 422 ``password_wrong`` (``details.attempts_left``)."""
    if card.password_hash is None:
        return
    if password is None:
        raise AppError("password_required", 403, "enter your e-card password (send it as password)")
    key = _counter(card)
    attempts = rt.store.incr(key, WINDOW_SECONDS)
    if attempts > MAX_ATTEMPTS:
        rt.store.uncount(key)  # refused unchecked, so not a guess: only wrong passwords keep their count
        raise AppError("password_locked", 429, "too many wrong e-card passwords: try tomorrow, or reset it with a "
                       "real-person check", headers={"Retry-After": str(WINDOW_SECONDS)})
    if not pin_matches(password, card.password_hash):
        raise AppError("password_wrong", 422, "the e-card password is wrong", {"attempts_left": MAX_ATTEMPTS - attempts})
    rt.store.uncount(key)


def _counter(card: Card) -> str:
    """Per stored password (its hash has a fresh salt each time), so a new one counts afresh."""
    return f"ecard-pw:{card.id}:{hashlib.sha256((card.password_hash or '').encode()).hexdigest()[:16]}"
