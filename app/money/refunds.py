"""Voids and refunds (docs/payments.md "Voids and refunds"), each exactly once.

A **void** (the gate did not open, the till cancelled) undoes a charge before it is cleared: one
conditional ``UPDATE ... SET status = 'voided' WHERE status = :before AND NOT <cleared>``,
tried for each status the charge may hold (pending, debited, declined) so the ledger entry
reverses exactly what the charge had moved (a debit: the bank credits its customer back at
clearing; a decline: the debt is forgiven). A void of a voided charge answers ``voided`` again.
The amount goes back to the card's day total.

A **refund** (whole or partial) of a debited charge, cleared or not: the refund row is claimed by
``INSERT ... ON CONFLICT DO NOTHING`` on (charge, idempotency key), then one conditional
``UPDATE charges SET refunded_fen = refunded_fen + :amount WHERE status = 'debited' AND
refunded_fen + :amount <= amount_fen``; racing refunds can never pass the charge's amount.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, update

from app.money import ledger
from app.money.charges import city_day, uncount_day
from app.money.clearing import cleared
from app.money.models import (
    CHARGE_DEBITED,
    CHARGE_DECLINED,
    CHARGE_PENDING,
    CHARGE_VOIDED,
    Charge,
    ChargeRefund,
)
from app.platform.db import db
from app.platform.errors import AppError
from app.platform.sql import upsert_insert
from app.runtime import Runtime


def _merchant_charge(merchant_id: int, charge_id: int) -> Charge:
    charge = db.session.scalar(select(Charge).where(Charge.id == charge_id, Charge.merchant_partner_id == merchant_id))
    if charge is None:
        raise AppError("charge_unknown", 404, "no charge of yours with this id")
    return charge


def void_charge(rt: Runtime, merchant_id: int, charge_id: int) -> tuple[Charge, bool]:
    """Void the merchant's charge before clearing; returns (charge, applied now). 404
    ``charge_unknown``; 409 ``charge_cleared`` (refund it instead)."""
    charge = _merchant_charge(merchant_id, charge_id)
    now = rt.clock.now()
    for before in (CHARGE_PENDING, CHARGE_DEBITED, CHARGE_DECLINED):
        row = db.session.execute(
            update(Charge).where(Charge.id == charge_id, Charge.status == before, ~cleared(Charge.id))
            .values(status=CHARGE_VOIDED, settled_at=now)
            .returning(Charge.id, Charge.merchant_partner_id, Charge.bank_partner_id, Charge.card_id, Charge.amount_fen,
                       Charge.refunded_fen, Charge.declines, Charge.created_at)
            .execution_options(synchronize_session=False)
        ).first()
        if row is not None:
            ledger.append(row, "void", f"void:{charge_id}", now, row.amount_fen, **_reversal(before, row))
            uncount_day(row.card_id, city_day(row.created_at), row.amount_fen)
            db.session.commit()
            db.session.refresh(charge)
            return charge, True
    db.session.refresh(charge)
    if charge.status == CHARGE_VOIDED:
        return charge, False
    raise AppError("charge_cleared", 409, "the charge is cleared: refund it instead", {"status": charge.status})


def _reversal(before: str, row: object) -> dict[str, int]:
    """What a void moves back: the debited amount net of refunds, or the debt (a first decline's)."""
    if before == CHARGE_DEBITED:
        return {"merchant_fen": -(row.amount_fen - row.refunded_fen)}  # type: ignore[attr-defined]
    if before == CHARGE_DECLINED:
        return {"debt_fen": -row.amount_fen}  # type: ignore[attr-defined]
    if row.declines > 0:  # type: ignore[attr-defined]  # presented again after a decline: still owed
        return {"debt_fen": -row.amount_fen}  # type: ignore[attr-defined]
    return {}


@dataclass(frozen=True)
class RefundResult:
    refund_id: int
    charge_id: int
    amount_fen: int
    refunded_fen: int  # the charge's refunds in all, now
    replayed: bool


def refund_charge(rt: Runtime, merchant_id: int, charge_id: int, amount: int, key: str, reason: str | None) -> RefundResult:
    """Refund ``amount`` of the merchant's debited charge, once per ``key``. 404 ``charge_unknown``;
    409 ``charge_not_refundable`` (not debited), ``refund_exceeds_charge`` (details:
    ``refundable_fen``), ``idempotency_key_reused`` (the key was used for another amount)."""
    _merchant_charge(merchant_id, charge_id)
    now = rt.clock.now()
    table = ChargeRefund.__table__
    refund_id = db.session.execute(upsert_insert(db.engine.dialect.name, table).values(
        charge_id=charge_id, idempotency_key=key, amount_fen=amount, reason=reason, created_at=now,
    ).on_conflict_do_nothing(index_elements=[table.c.charge_id, table.c.idempotency_key]).returning(table.c.id)).scalar()
    if refund_id is None:
        db.session.rollback()
        return _earlier_refund(charge_id, key, amount)
    row = db.session.execute(
        update(Charge).where(Charge.id == charge_id, Charge.status == CHARGE_DEBITED,
                             Charge.refunded_fen + amount <= Charge.amount_fen)
        .values(refunded_fen=Charge.refunded_fen + amount)
        .returning(Charge.id, Charge.merchant_partner_id, Charge.bank_partner_id, Charge.card_id, Charge.refunded_fen)
        .execution_options(synchronize_session=False)
    ).first()
    if row is None:
        db.session.rollback()
        raise _refusal(charge_id)
    ledger.append(row, "refund", f"refund:{refund_id}", now, amount, merchant_fen=-amount)
    db.session.commit()
    return RefundResult(refund_id, charge_id, amount, row.refunded_fen, False)


def _earlier_refund(charge_id: int, key: str, amount: int) -> RefundResult:
    earlier = db.session.scalar(select(ChargeRefund).where(ChargeRefund.charge_id == charge_id, ChargeRefund.idempotency_key == key))
    if earlier.amount_fen != amount:
        raise AppError("idempotency_key_reused", 409, "this idempotency_key was used for another refund amount",
                       {"refund_id": earlier.id})
    refunded = db.session.scalar(select(Charge.refunded_fen).where(Charge.id == charge_id))
    return RefundResult(earlier.id, charge_id, earlier.amount_fen, refunded, True)


def _refusal(charge_id: int) -> AppError:
    charge = db.session.get(Charge, charge_id)
    db.session.refresh(charge)
    if charge.status != CHARGE_DEBITED:
        return AppError("charge_not_refundable", 409, "only a debited charge can be refunded", {"status": charge.status})
    return AppError("refund_exceeds_charge", 409, "the refunds would pass the charge's amount",
                    {"refundable_fen": charge.amount_fen - charge.refunded_fen})
