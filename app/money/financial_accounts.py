"""The card's financial account (M-21): the debit account benefits are paid into, registered with
``PUT /api/partner/v1/financial-accounts`` by the holder's bank (issue 15 item 11):

- the bank of the holder's card application (a physical card applied for at that bank), or
- a bank the holder consented to in the mini-program, confirmed by an SMS code to the card's
  contact phone (:func:`send_consent_code`, :func:`consent`; valid 30 days, used once).

A card has at most one open account. A registration that replaces one closes it (``closed_at``)
and opens a new row, never overwriting: the history stays. Taking over from another bank needs
the holder's consent; the city corrects a wrong registration with ``citizencard
financial-account correct`` (:func:`correct`, audited by the CLI). Each change is a card event and
an SMS notice to the holder. The account number is encrypted at rest (purpose
``financial_account.number``) and shown to the citizen masked.
"""
from __future__ import annotations

import hmac
import json
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from app.card.devices import bound_card, notify_holder, send_to_holder
from app.card.lifecycle import CITIZEN, Transition, record_event, refuse_cancelled
from app.card.models import Card, PhysicalCard
from app.identity import idnumber
from app.identity.models import Citizen, MpAccount
from app.identity.people import FINANCIAL_ACCOUNT_NUMBER as ACCOUNT_NUMBER
from app.identity.people import id_index
from app.integrations.sms import SmsMessage, bank_consent_code, notice
from app.money.models import DISBURSEMENT_PENDING, DISBURSEMENT_RETURNED, Disbursement, FinancialAccount, FinancialAccountConsent
from app.partners.models import Partner
from app.platform.db import db
from app.platform.errors import AppError
from app.runtime import Runtime

ACCOUNT_NUMBER_PATTERN = re.compile(r"[0-9]{12,30}")


@dataclass(frozen=True)
class FinancialAccountView:
    """What the citizen sees: the bank's name and the account number masked (last 4 digits)."""

    bank_name: str
    account_number_masked: str
    opened_at: datetime


def mask_account_number(number: str) -> str:
    """``6222021234567890123`` -> ``**** 0123``: only the last four digits are shown."""
    return "**** " + number[-4:]


def card_for_recipient(rt: Runtime, id_number: str | None, card_number: str | None) -> Card:
    """The card named by exactly one of an ID number or a card number; 422 ``recipient_invalid``
    (none, both, or a malformed ID number) or ``recipient_unknown`` (no such card)."""
    if (id_number is None) == (card_number is None):
        raise AppError("recipient_invalid", 422, "give exactly one of id_number and card_number")
    if card_number is not None:
        card = db.session.scalar(select(Card).where(Card.card_number == card_number))
    else:
        try:
            index = id_index(rt, idnumber.validate(id_number or ""))
        except idnumber.IdNumberError as exc:
            raise AppError("recipient_invalid", 422, f"the ID number is not valid ({exc.reason})") from None
        card = db.session.scalar(select(Card).join(Citizen, Citizen.id == Card.citizen_id).where(Citizen.id_number_index == index))
    if card is None:
        raise AppError("recipient_unknown", 422, "no citizen card for this recipient")
    return card


CONSENT_DAYS = 30
CODE_TTL_SECONDS, RESEND_SECONDS, MAX_CODE_ATTEMPTS = 600, 60, 5
REGISTER_ATTEMPTS = 3


def register_financial_account(rt: Runtime, bank_id: int, card: Card, account_number: str) -> bool:
    """Record ``account_number`` as ``card``'s financial account held by the bank ``bank_id``.

    Repeating the open account changes nothing (returns False); the bank holding the open account
    may change its number. Otherwise the bank must be the holder's: the bank of the card's
    application, or one the holder consented to (the consent is used); taking over another
    bank's account needs the consent. The open account it replaces
    is closed. Returns True when the card had no open account. Errors: 422
    ``account_number_invalid`` (12-30 digits); 409 ``card_cancelled`` (M-22),
    ``account_held_by_another_bank`` or ``account_conflict`` (changed at the same moment; retry);
    403 ``not_holders_bank``. Concurrent registrations leave one open account (a partial unique
    index; the consent is used by one conditional UPDATE).
    """
    if not ACCOUNT_NUMBER_PATTERN.fullmatch(account_number):
        raise AppError("account_number_invalid", 422, "the account number must be 12-30 digits")
    refuse_cancelled(card)
    for _attempt in range(REGISTER_ATTEMPTS):
        try:
            return _register(rt, bank_id, card, account_number)
        except IntegrityError:
            db.session.rollback()
    raise AppError("account_conflict", 409, "the card's financial account changed at the same moment; try again")


def _register(rt: Runtime, bank_id: int, card: Card, number: str) -> bool:
    current = open_account(card.id)
    if current is not None and current.bank_partner_id == bank_id and account_number(rt, current) == number:
        return False
    holds = current is not None and current.bank_partner_id == bank_id  # may change its own account's number
    consent_id = None if holds else _usable_consent(rt, card.id, bank_id)
    if current is not None and not holds and consent_id is None:
        raise AppError("account_held_by_another_bank", 409, "another bank holds this card's financial account; the holder "
                       "may consent to this bank in the mini-program, or the city corrects a wrong registration")
    if not holds and consent_id is None and not _bank_of_application(card.id, bank_id):
        raise AppError("not_holders_bank", 403, "only the bank of the holder's card application, or a bank the holder "
                       "consented to in the mini-program, may register the holder's financial account")
    if consent_id is not None and not _use_consent(rt, consent_id):
        raise IntegrityError("consent used at the same moment", None, Exception())  # retried on the new state
    _replace(rt, card, current, bank_id, number, "replaced by a new registration", f"bank:{_public_id(bank_id)}")
    db.session.commit()
    notify_holder(rt, card, _changed_notice(rt, bank_id, number))
    return current is None


def open_account(card_id: int) -> FinancialAccount | None:
    """The card's open financial account, or None."""
    return db.session.scalar(select(FinancialAccount).where(FinancialAccount.card_id == card_id, FinancialAccount.closed_at.is_(None)))


def _replace(rt: Runtime, card: Card, current: FinancialAccount | None, bank_id: int | None, number: str | None,
             reason: str, actor: str) -> None:
    """Close ``current`` (one conditional UPDATE) and open the new account, if any; record the
    event. Not committed. Raises IntegrityError when another change won (the caller retries)."""
    now = rt.clock.now()
    if current is not None:
        closed = db.session.execute(update(FinancialAccount).where(FinancialAccount.id == current.id, FinancialAccount.closed_at.is_(None))
                                    .values(closed_at=now, closed_reason=reason[:200]).execution_options(synchronize_session=False))
        if closed.rowcount != 1:
            raise IntegrityError("account closed at the same moment", None, Exception())
    if bank_id is not None and number is not None:
        db.session.add(FinancialAccount(card_id=card.id, bank_partner_id=bank_id, opened_at=now, updated_at=now,
                                        account_number_enc=rt.keyring.encrypt(number, ACCOUNT_NUMBER)))
    event = "financial_account_closed" if number is None else (
        "financial_account_registered" if current is None else "financial_account_changed")
    record_event(rt, card.id, Transition("card", event, card.status, card.status), actor, reason)
    db.session.flush()


def _bank_of_application(card_id: int, bank_id: int) -> bool:
    return db.session.scalar(select(PhysicalCard.id).where(PhysicalCard.card_id == card_id, PhysicalCard.bank_partner_id == bank_id)
                             .limit(1)) is not None


def _usable_consent(rt: Runtime, card_id: int, bank_id: int) -> int | None:
    return db.session.scalar(select(FinancialAccountConsent.id).where(
        FinancialAccountConsent.card_id == card_id, FinancialAccountConsent.bank_partner_id == bank_id,
        FinancialAccountConsent.used_at.is_(None), FinancialAccountConsent.expires_at > rt.clock.now(),
    ).order_by(FinancialAccountConsent.id.desc()).limit(1))


def _use_consent(rt: Runtime, consent_id: int) -> bool:
    used = db.session.execute(update(FinancialAccountConsent)
                              .where(FinancialAccountConsent.id == consent_id, FinancialAccountConsent.used_at.is_(None))
                              .values(used_at=rt.clock.now()).execution_options(synchronize_session=False))
    return used.rowcount == 1


def _public_id(bank_id: int) -> str:
    return db.session.scalar(select(Partner.partner_id).where(Partner.id == bank_id)) or str(bank_id)


def _changed_notice(rt: Runtime, bank_id: int, number: str) -> SmsMessage:
    name = db.session.scalar(select(Partner.name).where(Partner.id == bank_id)) or ""
    return notice("benefit_account_notice", name, number[-4:])


CLOSED_NOTICE = notice("benefit_account_closed_notice")


def correct(rt: Runtime, card_number: str, reason: str, bank_partner_id: str | None = None,
            number: str | None = None) -> tuple[int, FinancialAccount | None]:
    """The city's correction (``citizencard financial-account correct``): close the card's open
    account, and register ``number`` at ``bank_partner_id`` instead if given. Returns the card's
    citizen id (for the audit record the CLI writes) and the account closed, if any. 404
    ``card_not_found``; 422 ``bank_unknown`` / ``account_number_invalid``; 409 ``card_cancelled``."""
    card = db.session.scalar(select(Card).where(Card.card_number == card_number))
    if card is None:
        raise AppError("card_not_found", 404, "no card with this number")
    bank = _bank(bank_partner_id) if bank_partner_id else None
    if number is not None and not ACCOUNT_NUMBER_PATTERN.fullmatch(number):
        raise AppError("account_number_invalid", 422, "the account number must be 12-30 digits")
    if bank is not None:
        refuse_cancelled(card)
    current = open_account(card.id)
    _replace(rt, card, current, bank.id if bank else None, number if bank else None, f"corrected by the city: {reason}", "operator")
    if current is not None:
        _return_pending(rt, current.id)
    db.session.commit()
    notify_holder(rt, card, _changed_notice(rt, bank.id, number) if bank and number else CLOSED_NOTICE)
    return card.citizen_id, current


def _return_pending(rt: Runtime, account_id: int) -> None:
    """Lines still pending on a wrongly registered account are returned (the department re-issues
    them to the right account), so that the bank that should not hold it cannot credit them."""
    db.session.execute(update(Disbursement).where(Disbursement.financial_account_id == account_id,
                                                  Disbursement.status == DISBURSEMENT_PENDING)
                       .values(status=DISBURSEMENT_RETURNED, settled_at=rt.clock.now(),
                               return_reason="account closed by the city (wrong registration)")
                       .execution_options(synchronize_session=False))


def _bank(partner_id: str) -> Partner:
    bank = db.session.scalar(select(Partner).where(Partner.partner_id == partner_id, Partner.disabled_at.is_(None)))
    if bank is None or "bank" not in bank.role_set:
        raise AppError("bank_unknown", 422, "not a partner bank", {"fields": {"json": {"bank_partner_id": ["unknown bank"]}}})
    return bank


def send_consent_code(rt: Runtime, account: MpAccount, bank_partner_id: str) -> int:
    """Send the holder a code (to the card's contact phone) confirming consent for the bank
    ``bank_partner_id``; returns its validity in seconds. 429 ``too_many_codes`` within a minute;
    503 ``sms_unavailable`` when the gateway did not take it (no code was sent)."""
    card = bound_card(account)
    bank = _bank(bank_partner_id)
    if not rt.store.claim(f"fa-consent-resend:{card.id}", RESEND_SECONDS):
        raise AppError("too_many_codes", 429, "a code was sent less than a minute ago", headers={"Retry-After": str(RESEND_SECONDS)})
    code = f"{secrets.randbelow(10**6):06d}"
    rt.store.put(f"fa-consent:{card.id}", json.dumps({"digest": _code_digest(rt, card.id, bank.id, code), "nonce": secrets.token_hex(8)}),
                 CODE_TTL_SECONDS)
    send_to_holder(rt, card, bank_consent_code(bank.name, code))
    return CODE_TTL_SECONDS


def consent(rt: Runtime, account: MpAccount, bank_partner_id: str, sms_code: str) -> datetime:
    """Record the holder's consent for the bank if ``sms_code`` is the code sent for it; returns
    until when it may be used. 422 ``sms_code_invalid`` (every try counted first; 5 per code)."""
    card = bound_card(account)
    bank = _bank(bank_partner_id)
    kept = json.loads(rt.store.get(f"fa-consent:{card.id}") or "{}")
    attempts = rt.store.incr(f"fa-consent-attempts:{card.id}:{kept.get('nonce')}", CODE_TTL_SECONDS) if kept else MAX_CODE_ATTEMPTS + 1
    right = bool(kept) and hmac.compare_digest(kept["digest"], _code_digest(rt, card.id, bank.id, sms_code))
    if attempts > MAX_CODE_ATTEMPTS or not right or not rt.store.claim(f"fa-consent-used:{card.id}:{kept['nonce']}", CODE_TTL_SECONDS):
        raise AppError("sms_code_invalid", 422, "the code is wrong, expired or void; ask for a new one")
    now = rt.clock.now()
    expires = now + timedelta(days=CONSENT_DAYS)
    db.session.add(FinancialAccountConsent(card_id=card.id, bank_partner_id=bank.id, created_at=now, expires_at=expires))
    record_event(rt, card.id, Transition("card", "bank_consented", card.status, card.status), CITIZEN,
                 f"the holder allowed {bank.name} to register the benefit account (SMS-confirmed)")
    db.session.commit()
    return expires


def _code_digest(rt: Runtime, card_id: int, bank_id: int, code: str) -> str:
    return hmac.new(rt.config["SECRET_KEY"].encode(), f"fa-consent\n{card_id}\n{bank_id}\n{code}".encode(), "sha256").hexdigest()


def account_number(rt: Runtime, account: FinancialAccount) -> str:
    """The decrypted account number (for the bank that holds it)."""
    return rt.keyring.decrypt(account.account_number_enc, ACCOUNT_NUMBER)


def financial_account_view(rt: Runtime, card_id: int) -> FinancialAccountView | None:
    """The card's financial account as the citizen sees it, or None before the bank registered one."""
    row = db.session.execute(
        select(FinancialAccount, Partner.name).join(Partner, Partner.id == FinancialAccount.bank_partner_id)
        .where(FinancialAccount.card_id == card_id, FinancialAccount.closed_at.is_(None))
    ).first()
    if row is None:
        return None
    return FinancialAccountView(row.name, mask_account_number(account_number(rt, row.FinancialAccount)), row.FinancialAccount.opened_at)
