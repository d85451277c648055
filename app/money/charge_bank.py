"""The bank's side of a charge (docs/payments.md "For banks"): the pull-and-confirm pattern of
disbursements (app.money.settlement). The bank holding the card's financial account reads its
pending charges (``GET /api/partner/v1/bank/charges``), debits its customer's account, and
reports each one ``debited`` or ``declined`` with a reason.

A charge moves ``pending -> debited`` or ``pending -> declined`` once, by one conditional
``UPDATE ... WHERE status = 'pending' AND bank_partner_id = :bank RETURNING``, with its ledger
entry in the same transaction: a retry or a racing confirmation is ``unchanged`` (same outcome)
or ``conflict`` (the other outcome, or voided meanwhile: then the bank must not debit). The first
decline makes a debt (the card goes on the payment deny list) and a notice to the holder; the
holder pays it off by presenting the charge again (:func:`present_again`), and its debit is then
``debt_paid``.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update

from app.money import ledger
from app.money.charges import add_notice
from app.money.financial_accounts import account_number, open_account
from app.money.models import CHARGE_DEBITED, CHARGE_DECLINED, CHARGE_PENDING, Charge, FinancialAccount
from app.partners.models import Partner
from app.platform.db import db
from app.platform.errors import AppError
from app.runtime import Runtime

OUTCOMES = (CHARGE_DEBITED, CHARGE_DECLINED)
MAX_CONFIRMATIONS = 1000


@dataclass(frozen=True)
class ChargeConfirmation:
    """The bank's report on one charge: ``outcome`` debited or declined (``reason`` then required)."""

    charge_id: int
    outcome: str
    reason: str | None = None


@dataclass(frozen=True)
class ChargeConfirmationResult:
    """``result``: applied, unchanged, conflict or unknown (not a charge on this bank's accounts)."""

    charge_id: int
    result: str
    status: str | None


def confirm_charges(rt: Runtime, bank_id: int, items: Sequence[ChargeConfirmation]) -> list[ChargeConfirmationResult]:
    """Apply the bank's confirmations in one transaction; each charge moves at most once."""
    now, results = rt.clock.now(), []
    for item in items:
        row = db.session.execute(
            update(Charge)
            .where(Charge.id == item.charge_id, Charge.bank_partner_id == bank_id, Charge.status == CHARGE_PENDING)
            .values(status=item.outcome, settled_at=now,
                    decline_reason=item.reason if item.outcome == CHARGE_DECLINED else None,
                    declines=Charge.declines + (1 if item.outcome == CHARGE_DECLINED else 0))
            .returning(Charge.id, Charge.merchant_partner_id, Charge.bank_partner_id, Charge.card_id, Charge.citizen_id,
                       Charge.amount_fen, Charge.declines)
            .execution_options(synchronize_session=False)
        ).first()
        if row is None:
            results.append(_not_applied(bank_id, item))
            continue
        _post(rt, row, item.outcome, now)
        results.append(ChargeConfirmationResult(item.charge_id, "applied", item.outcome))
    db.session.commit()
    return results


def _post(rt: Runtime, row: object, outcome: str, now: datetime) -> None:
    """The ledger entry (and the holder's notice) of a confirmation that moved the charge."""
    charge_id, amount, declines = row.id, row.amount_fen, row.declines  # type: ignore[attr-defined]
    if outcome == CHARGE_DEBITED and declines == 0:
        ledger.append(row, "debit", f"debit:{charge_id}", now, amount, merchant_fen=amount)
    elif outcome == CHARGE_DEBITED:
        ledger.append(row, "debt_paid", f"debt_paid:{charge_id}", now, amount, merchant_fen=amount, debt_fen=-amount)
    else:
        first = declines == 1
        ledger.append(row, "decline", f"decline:{charge_id}:{declines}", now, amount, debt_fen=amount if first else 0)
        add_notice(rt, charge_id, row.citizen_id, "declined")  # type: ignore[attr-defined]


def _not_applied(bank_id: int, item: ChargeConfirmation) -> ChargeConfirmationResult:
    status = db.session.scalar(select(Charge.status).where(Charge.id == item.charge_id, Charge.bank_partner_id == bank_id))
    if status is None:
        return ChargeConfirmationResult(item.charge_id, "unknown", None)
    return ChargeConfirmationResult(item.charge_id, "unchanged" if status == item.outcome else "conflict", status)


@dataclass(frozen=True)
class PendingCharge:
    """A charge the bank must debit from ``account_number`` (its own customer's account)."""

    charge_id: int
    account_number: str
    amount_fen: int
    merchant: str
    description: str
    debt_repayment: bool  # true: the holder pays off a charge declined before
    created_at: datetime


def pending_charges(rt: Runtime, bank_id: int, after: int, limit: int) -> list[PendingCharge]:
    """Pending charges on accounts the bank holds, in id order after ``after`` (keyset pages)."""
    rows = db.session.execute(
        select(Charge, FinancialAccount, Partner.name)
        .join(FinancialAccount, FinancialAccount.id == Charge.financial_account_id)
        .join(Partner, Partner.id == Charge.merchant_partner_id)
        .where(Charge.bank_partner_id == bank_id, Charge.status == CHARGE_PENDING, Charge.id > after)
        .order_by(Charge.id).limit(limit)
    ).all()
    return [PendingCharge(row.Charge.id, account_number(rt, row.FinancialAccount), row.Charge.amount_fen, row.name,
                          row.Charge.description, row.Charge.declines > 0, row.Charge.created_at) for row in rows]


def present_again(rt: Runtime, citizen_id: int, charge_id: int) -> str:
    """The holder pays off a declined charge: it goes to the bank of the card's open account again
    (``declined -> pending``, one conditional update, ledger ``present``). Returns the status now;
    404 ``charge_unknown``, 409 ``charge_not_owed`` (nothing owed on it), ``no_financial_account``."""
    charge = db.session.scalar(select(Charge).where(Charge.id == charge_id, Charge.citizen_id == citizen_id)) \
        if 0 < charge_id < 2**62 else None
    if charge is None:
        raise AppError("charge_unknown", 404, "no charge of yours with this id")
    account = open_account(charge.card_id)
    if account is None:
        raise AppError("no_financial_account", 409, "the card has no financial account to pay from")
    now = rt.clock.now()
    row = db.session.execute(
        update(Charge).where(Charge.id == charge_id, Charge.status == CHARGE_DECLINED)
        .values(status=CHARGE_PENDING, financial_account_id=account.id, bank_partner_id=account.bank_partner_id)
        .returning(Charge.id, Charge.merchant_partner_id, Charge.bank_partner_id, Charge.card_id, Charge.amount_fen, Charge.declines)
        .execution_options(synchronize_session=False)
    ).first()
    if row is None:
        db.session.rollback()
        if charge.status == CHARGE_PENDING and charge.declines > 0:
            return CHARGE_PENDING  # already presented again: waiting for the bank
        raise AppError("charge_not_owed", 409, "nothing is owed on this charge", {"status": charge.status})
    ledger.append(row, "present", f"present:{charge_id}:{row.declines}", now, row.amount_fen)
    db.session.commit()
    return CHARGE_PENDING
