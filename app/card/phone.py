"""Changing the card's contact phone number, proven by a code sent to the new number by SMS.

``send_phone_code`` sends a 6-digit code (valid 10 minutes; at most one a minute per card);
``change_phone`` checks it: every attempt is counted first, atomically, and only the first 5
attempts on a code are evaluated; after them the code is void, even the right one (issue 15 item 6) and stores the new number encrypted. The
change is recorded as a card event without the number itself (M-19).
"""
from __future__ import annotations

import hmac
import json
import secrets

from app.card.devices import bound_card
from app.card.lifecycle import CITIZEN, Transition, record_event
from app.identity.models import MpAccount
from app.identity.people import CONTACT_PHONE, checked_phone
from app.integrations.sms import send_code, verification_code
from app.platform.db import db
from app.platform.errors import AppError
from app.runtime import Runtime

CODE_TTL_SECONDS, RESEND_SECONDS, MAX_WRONG = 600, 60, 5


def _digest(rt: Runtime, card_id: int, phone: str, code: str) -> str:
    """Keyed (HMAC with the app's secret key): a 6-digit code under a plain hash would fall to
    10^6 tries by anyone who can read the store."""
    return hmac.new(rt.config["SECRET_KEY"].encode(), f"{card_id}\n{phone}\n{code}".encode(), "sha256").hexdigest()


def send_phone_code(rt: Runtime, account: MpAccount, phone: str) -> int:
    """Send a code to ``phone``; returns its validity in seconds. 429 ``too_many_codes`` within a
    minute; 503 ``sms_unavailable`` when the gateway did not take it (no code was sent; the minute
    still counts)."""
    card = bound_card(account)
    phone = checked_phone(phone)
    if not rt.store.claim(f"phone-resend:{card.id}", RESEND_SECONDS):
        raise AppError("too_many_codes", 429, "a code was sent less than a minute ago", headers={"Retry-After": str(RESEND_SECONDS)})
    code = f"{secrets.randbelow(10**6):06d}"
    rt.store.put(f"phone-code:{card.id}", json.dumps({"digest": _digest(rt, card.id, phone, code), "nonce": secrets.token_hex(8)}),
                 CODE_TTL_SECONDS)
    send_code(rt.sms, phone, verification_code(code))
    return CODE_TTL_SECONDS


def change_phone(rt: Runtime, account: MpAccount, phone: str, sms_code: str) -> None:
    """Make ``phone`` the card's contact number if ``sms_code`` is the code sent to it.
    422 ``sms_code_invalid`` (wrong, expired, or for another number; ``details.attempts_left``;
    from the 6th attempt on a code it is void: ``details.code_void``, whatever the code)."""
    card = bound_card(account)
    phone = checked_phone(phone)
    kept = json.loads(rt.store.get(f"phone-code:{card.id}") or "{}")
    if not kept:
        raise AppError("sms_code_invalid", 422, "the code is wrong or expired; ask for a new one", {"code_void": True})
    attempts = rt.store.incr(f"phone-attempts:{card.id}:{kept['nonce']}", CODE_TTL_SECONDS)  # count first, then decide
    if attempts > MAX_WRONG:
        raise AppError("sms_code_invalid", 422, "too many attempts: the code is void; ask for a new one", {"code_void": True})
    if not hmac.compare_digest(kept["digest"], _digest(rt, card.id, phone, sms_code)):
        raise AppError("sms_code_invalid", 422, "the code is wrong or expired; ask for a new one",
                       {"attempts_left": MAX_WRONG - attempts})
    if not rt.store.claim(f"phone-used:{card.id}:{kept['nonce']}", CODE_TTL_SECONDS):
        raise AppError("sms_code_invalid", 422, "the code was already used; ask for a new one", {"code_void": True})
    card.contact_phone_enc = rt.keyring.encrypt(phone, CONTACT_PHONE)
    record_event(rt, card.id, Transition("card", "phone_changed", card.status, card.status), CITIZEN,
                 "contact phone changed (SMS-verified)")
    db.session.commit()
