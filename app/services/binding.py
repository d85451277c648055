"""Real-name binding (M-17): a logged-in account proves a roster identity and gets its card.

``bind`` checks the (name, ID number) pair against the roster, then creates the citizen's card
(a random, non-identifying card number) and its first e-card device, and binds the account.
Failed attempts are counted per account: guessing ID numbers is an attack.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from .. import idnumber
from ..errors import AppError
from ..extensions import db
from ..models import Card, Citizen, MpAccount
from ..runtime import Runtime
from .devices import new_device
from .people import CONTACT_PHONE, MOBILE_PATTERN, citizen_by_id_number, citizen_name, normalize_name

MAX_FAILED_ATTEMPTS = 5
FAILURE_WINDOW_SECONDS = 3600
CARD_NUMBER_DIGITS = 16


@dataclass(frozen=True)
class BindResult:
    """``card_number``: the citizen's card; ``insured``: entitled to the physical card (M-5)."""

    card_number: str
    insured: bool


def bind(rt: Runtime, account: MpAccount, name: str, id_number: str, phone: str) -> BindResult:
    """Bind ``account`` to the roster identity (name, id_number); ``phone`` becomes the contact.

    Errors: 429 ``too_many_attempts``; 422 ``validation_error`` (malformed ID number or phone);
    403 ``not_eligible`` (not on the roster); 422 ``identity_mismatch`` (the pair does not match,
    without saying which field); 409 ``account_already_bound`` / ``already_bound``.
    """
    _refuse_when_throttled(rt, account.id)
    id_number, phone = _validated(id_number, phone)
    citizen = citizen_by_id_number(rt, id_number)
    if citizen is None:
        _fail(rt, account.id, AppError("not_eligible", 403, "this ID number is not on the resident roster"))
    if citizen_name(rt, citizen) != normalize_name(name):
        _fail(rt, account.id, AppError("identity_mismatch", 422, "the name and ID number do not match our records"))
    return _bind_citizen(rt, account, citizen, phone)


def _validated(id_number: str, phone: str) -> tuple[str, str]:
    try:
        id_number = idnumber.validate(id_number)
    except idnumber.IdNumberError as exc:
        raise AppError("validation_error", 422, "id_number is not a valid resident ID number",
                       {"fields": {"json": {"id_number": [exc.reason]}}}) from None
    if not MOBILE_PATTERN.fullmatch(phone):
        raise AppError("validation_error", 422, "phone must be an 11-digit mainland mobile number",
                       {"fields": {"json": {"phone": ["bad_phone"]}}})
    return id_number, phone


def _throttle_key(account_id: int) -> str:
    return f"bindfail:{account_id}"


def _refuse_when_throttled(rt: Runtime, account_id: int) -> None:
    if int(rt.store.get(_throttle_key(account_id)) or 0) >= MAX_FAILED_ATTEMPTS:
        raise AppError("too_many_attempts", 429, "too many failed binding attempts; try again later",
                       headers={"Retry-After": str(FAILURE_WINDOW_SECONDS)})


def _fail(rt: Runtime, account_id: int, error: AppError) -> None:
    failures = rt.store.incr(_throttle_key(account_id), FAILURE_WINDOW_SECONDS)
    error.details["attempts_left"] = max(MAX_FAILED_ATTEMPTS - failures, 0)
    raise error


def _bind_citizen(rt: Runtime, account: MpAccount, citizen: Citizen, phone: str) -> BindResult:
    if account.citizen_id not in (None, citizen.id):
        raise AppError("account_already_bound", 409, "this account is already bound to another identity")
    other = db.session.scalar(select(MpAccount.id).where(MpAccount.citizen_id == citizen.id, MpAccount.id != account.id))
    if other is not None:
        raise AppError("already_bound", 409, "this identity is already bound to another account")
    card = db.session.scalar(select(Card).where(Card.citizen_id == citizen.id)) or _new_card(rt, citizen, phone)
    account.citizen_id = citizen.id
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise AppError("already_bound", 409, "this identity was bound to another account at the same time") from None
    return BindResult(card.card_number, citizen.insured)


def _new_card(rt: Runtime, citizen: Citizen, phone: str) -> Card:
    card = Card(card_number=new_card_number(), citizen_id=citizen.id, status="active",
                contact_phone_enc=rt.keyring.encrypt(phone, CONTACT_PHONE), created_at=rt.clock.now())
    db.session.add(card)
    db.session.flush()
    db.session.add(new_device(rt, card.id, installation_id=None))
    return card


def new_card_number() -> str:
    """16 digits: 15 random digits (leading 8) and a Luhn check digit; carries nothing personal."""
    body = "8" + "".join(secrets.choice("0123456789") for _ in range(CARD_NUMBER_DIGITS - 2))
    return body + luhn_check_digit(body)


def luhn_check_digit(body: str) -> str:
    """The Luhn (ISO/IEC 7812-1) check digit for ``body``."""
    total = 0
    for position, char in enumerate(reversed(body)):
        digit = int(char) * (2 if position % 2 == 0 else 1)
        total += digit - 9 if digit > 9 else digit
    return str((10 - total % 10) % 10)
