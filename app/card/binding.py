"""Real-name binding (M-17): a logged-in account proves a roster identity and gets its card.

``bind`` checks name, ID number and phone against the roster, then creates the citizen's card
(a random, non-identifying card number) and its first e-card device, and binds the account.
Failed attempts are counted per account and per ID number: guessing identities is an attack.
"""
from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from typing import NoReturn

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError

from app.card.devices import new_device
from app.card.models import Card
from app.identity import idnumber
from app.identity.models import Citizen, MpAccount
from app.identity.people import CONTACT_PHONE, PHONE, checked_phone, citizen_by_id_number, citizen_name, id_index, normalize_name
from app.platform.db import db
from app.platform.errors import AppError
from app.runtime import Runtime

MAX_FAILED_PER_ACCOUNT = 5
MAX_FAILED_PER_ID_NUMBER = 20
FAILURE_WINDOW_SECONDS = 3600
CARD_NUMBER_DIGITS = 16


@dataclass(frozen=True)
class BindResult:
    """``card_number``: the citizen's card; ``insured``: entitled to the physical card (M-5)."""

    card_number: str
    insured: bool


def bind(rt: Runtime, account: MpAccount, name: str, id_number: str, phone: str) -> BindResult:
    """Bind ``account`` to the roster identity with this name, ID number and phone (M-17).

    All three must match the roster: a name and an ID number alone are too often known to
    others. Errors: 429 ``too_many_attempts`` (5 failures per account, or 20 per ID number, per
    hour); 422 ``validation_error`` (malformed ID number or phone); 403 ``not_eligible`` (not on
    the roster); 422 ``identity_mismatch`` (no match, without saying which field); 409
    ``account_already_bound`` / ``already_bound``. Every refusal but the first two counts as a
    failed attempt.
    """
    _refuse_when_throttled(rt, _account_key(account.id))
    id_number, phone = _validated(id_number, phone)
    id_key = _id_key(rt, id_number)
    _refuse_when_throttled(rt, id_key)
    failed = (_account_key(account.id), id_key)
    citizen = citizen_by_id_number(rt, id_number)
    if citizen is None:
        _fail(rt, failed, AppError("not_eligible", 403, "this ID number is not on the resident roster"))
    if not _matches(rt, citizen, name, phone):
        _fail(rt, failed, AppError("identity_mismatch", 422, "the name, ID number and phone do not match our records"))
    return _bind_citizen(rt, account, citizen, phone, failed)


def _matches(rt: Runtime, citizen: Citizen, name: str, phone: str) -> bool:
    same_name = hmac.compare_digest(citizen_name(rt, citizen).encode(), normalize_name(name).encode())
    same_phone = hmac.compare_digest(rt.keyring.decrypt(citizen.phone_enc, PHONE).encode(), phone.encode())
    return same_name and same_phone


def _validated(id_number: str, phone: str) -> tuple[str, str]:
    try:
        id_number = idnumber.validate(id_number)
    except idnumber.IdNumberError as exc:
        raise AppError("validation_error", 422, "id_number is not a valid resident ID number",
                       {"fields": {"json": {"id_number": [exc.reason]}}}) from None
    return id_number, checked_phone(phone)


def _account_key(account_id: int) -> str:
    return f"bindfail:account:{account_id}"


def _id_key(rt: Runtime, id_number: str) -> str:
    return f"bindfail:id:{id_index(rt, id_number)}"


def _refuse_when_throttled(rt: Runtime, key: str) -> None:
    limit = MAX_FAILED_PER_ACCOUNT if key.startswith("bindfail:account:") else MAX_FAILED_PER_ID_NUMBER
    if int(rt.store.get(key) or 0) >= limit:
        raise AppError("too_many_attempts", 429, "too many failed binding attempts; try again later",
                       headers={"Retry-After": str(FAILURE_WINDOW_SECONDS)})


def _fail(rt: Runtime, keys: tuple[str, str], error: AppError) -> NoReturn:
    account_failures = rt.store.incr(keys[0], FAILURE_WINDOW_SECONDS)
    rt.store.incr(keys[1], FAILURE_WINDOW_SECONDS)
    error.details["attempts_left"] = max(MAX_FAILED_PER_ACCOUNT - account_failures, 0)
    raise error


def _bind_citizen(rt: Runtime, account: MpAccount, citizen: Citizen, phone: str, failed: tuple[str, str]) -> BindResult:
    if account.citizen_id not in (None, citizen.id):
        raise AppError("account_already_bound", 409, "this account is already bound to another identity")
    other = db.session.scalar(select(MpAccount.id).where(MpAccount.citizen_id == citizen.id, MpAccount.id != account.id))
    if other is not None:
        _fail(rt, failed, AppError("already_bound", 409, "this identity is already bound to another account"))
    try:
        card = db.session.scalar(select(Card).where(Card.citizen_id == citizen.id)) or _new_card(rt, citizen, phone)
        _claim_account(account.id, citizen.id)
        db.session.commit()
    except IntegrityError:  # another account created this identity's card at the same moment
        db.session.rollback()
        raise AppError("already_bound", 409, "this identity was bound to another account at the same time") from None
    return BindResult(card.card_number, citizen.insured)


def _claim_account(account_id: int, citizen_id: int) -> None:
    """Bind the account unless it got bound to someone else meanwhile (one conditional UPDATE:
    two identities bound to one account at the same moment cannot both succeed)."""
    claimed = db.session.execute(
        update(MpAccount).where(MpAccount.id == account_id, or_(MpAccount.citizen_id.is_(None), MpAccount.citizen_id == citizen_id))
        .values(citizen_id=citizen_id).execution_options(synchronize_session=False))
    if claimed.rowcount != 1:
        db.session.rollback()
        raise AppError("account_already_bound", 409, "this account was bound to another identity at the same time")


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
