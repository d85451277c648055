"""The card's financial account (M-21): the debit account benefits are paid into, registered by
the bank that holds it (partner role ``bank``) with ``PUT /api/partner/v1/financial-accounts``.

The account number is encrypted at rest (purpose ``financial_account.number``) and shown to the
citizen masked. A card has one financial account; only the bank holding it may change it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from app.card.lifecycle import refuse_cancelled
from app.card.models import Card
from app.identity import idnumber
from app.identity.models import Citizen
from app.identity.people import FINANCIAL_ACCOUNT_NUMBER as ACCOUNT_NUMBER
from app.identity.people import id_index
from app.money.models import FinancialAccount
from app.partners.models import Partner
from app.platform.db import db
from app.platform.errors import AppError
from app.platform.sql import upsert_insert
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


def register_financial_account(rt: Runtime, bank_id: int, card: Card, account_number: str) -> bool:
    """Record ``account_number`` as ``card``'s financial account held by the bank ``bank_id``.

    Idempotent (repeating it changes nothing); the holding bank may change the number. Returns
    True when the account was new. Errors: 422 ``account_number_invalid`` (12-30 digits); 409
    ``card_cancelled`` (a cancelled card is paid nothing, M-22) or ``account_held_by_another_bank``.
    One conditional statement, so two banks racing cannot both win.
    """
    if not ACCOUNT_NUMBER_PATTERN.fullmatch(account_number):
        raise AppError("account_number_invalid", 422, "the account number must be 12-30 digits")
    refuse_cancelled(card)
    existed = db.session.scalar(select(FinancialAccount.id).where(FinancialAccount.card_id == card.id)) is not None
    now = rt.clock.now()
    table = FinancialAccount.__table__
    statement = upsert_insert(db.engine.dialect.name, table).values(
        card_id=card.id, bank_partner_id=bank_id, account_number_enc=rt.keyring.encrypt(account_number, ACCOUNT_NUMBER),
        opened_at=now, updated_at=now,
    )
    statement = statement.on_conflict_do_update(
        index_elements=[table.c.card_id],
        set_={"account_number_enc": statement.excluded.account_number_enc, "updated_at": statement.excluded.updated_at},
        where=table.c.bank_partner_id == statement.excluded.bank_partner_id,
    ).returning(table.c.id)
    if db.session.execute(statement).first() is None:
        db.session.rollback()
        raise AppError("account_held_by_another_bank", 409, "another bank holds this card's financial account")
    db.session.commit()
    return not existed


def account_number(rt: Runtime, account: FinancialAccount) -> str:
    """The decrypted account number (for the bank that holds it)."""
    return rt.keyring.decrypt(account.account_number_enc, ACCOUNT_NUMBER)


def financial_account_view(rt: Runtime, card_id: int) -> FinancialAccountView | None:
    """The card's financial account as the citizen sees it, or None before the bank registered one."""
    row = db.session.execute(
        select(FinancialAccount, Partner.name).join(Partner, Partner.id == FinancialAccount.bank_partner_id)
        .where(FinancialAccount.card_id == card_id)
    ).first()
    if row is None:
        return None
    return FinancialAccountView(row.name, mask_account_number(account_number(rt, row.FinancialAccount)), row.FinancialAccount.opened_at)
