"""The bank's side of a disbursement (M-20, M-22): the lines it must credit, its confirmations,
and each batch's reconciliation.

A line moves ``pending -> credited`` or ``pending -> returned`` once, by one conditional
``UPDATE ... WHERE status = 'pending' AND bank_partner_id = :bank``; only the bank holding the
recipient's financial account may confirm it. A repeated confirmation with the same outcome is
``unchanged``; the other outcome after settlement is a ``conflict``. Crediting enqueues the
citizen's WeChat notice in the same transaction (app.money.notifications). The API refuses
a request naming a line twice (scenes/benefits.py); here a repeat is answered as what it is after
the earlier entry (``unchanged`` or ``conflict``), never as a second ``applied``.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import exists, func, select, update

from app.money.financial_accounts import account_number
from app.money.models import (
    DISBURSEMENT_CREDITED,
    DISBURSEMENT_PENDING,
    DISBURSEMENT_RETURNED,
    Disbursement,
    DisbursementBatch,
    FinancialAccount,
)
from app.money.notifications import enqueue_credit_notices
from app.partners.models import Partner
from app.platform.db import db
from app.runtime import Runtime

OUTCOMES = (DISBURSEMENT_CREDITED, DISBURSEMENT_RETURNED)
STATUSES = (DISBURSEMENT_PENDING, DISBURSEMENT_CREDITED, DISBURSEMENT_RETURNED)
MAX_CONFIRMATIONS = 1000


@dataclass(frozen=True)
class Confirmation:
    """The bank's report on one line: ``outcome`` credited or returned (``reason`` required then)."""

    disbursement_id: int
    outcome: str
    reason: str | None = None


@dataclass(frozen=True)
class ConfirmationResult:
    """``result``: applied, unchanged (already so), conflict (settled the other way), unknown
    (no such line for this bank). ``status`` is the line's status now (None when unknown)."""

    disbursement_id: int
    result: str
    status: str | None


def confirm(rt: Runtime, bank_id: int, confirmations: Sequence[Confirmation]) -> list[ConfirmationResult]:
    """Apply the bank's confirmations in one transaction; each line applies at most once, and
    only the entry that moved it is ``applied``."""
    now, applied, credited = rt.clock.now(), set(), []
    for position, item in enumerate(confirmations):
        row = db.session.execute(
            update(Disbursement)
            .where(Disbursement.id == item.disbursement_id, Disbursement.bank_partner_id == bank_id,
                   Disbursement.status == DISBURSEMENT_PENDING)
            .values(status=item.outcome, settled_at=now,
                    return_reason=item.reason if item.outcome == DISBURSEMENT_RETURNED else None)
            .returning(Disbursement.id, Disbursement.citizen_id)
        ).first()
        if row is not None:
            applied.add(position)
            if item.outcome == DISBURSEMENT_CREDITED:
                credited.append((row.id, row.citizen_id))
    enqueue_credit_notices(rt, credited)
    results = _results(bank_id, confirmations, applied)
    db.session.commit()
    return results


def _results(bank_id: int, confirmations: Sequence[Confirmation], applied: set[int]) -> list[ConfirmationResult]:
    """Per entry: ``applied`` for the positions that moved their line, else from the status now."""
    others = [item.disbursement_id for position, item in enumerate(confirmations) if position not in applied]
    current = dict(db.session.execute(select(Disbursement.id, Disbursement.status).where(
        Disbursement.id.in_(others), Disbursement.bank_partner_id == bank_id)).all()) if others else {}
    results = []
    for position, item in enumerate(confirmations):
        if position in applied:
            results.append(ConfirmationResult(item.disbursement_id, "applied", item.outcome))
            continue
        status = current.get(item.disbursement_id)
        result = "unknown" if status is None else ("unchanged" if status == item.outcome else "conflict")
        results.append(ConfirmationResult(item.disbursement_id, result, status))
    return results


@dataclass(frozen=True)
class PendingLine:
    """A line the bank must credit: to ``account_number`` (its own customer's account)."""

    disbursement_id: int
    account_number: str
    amount_fen: int
    benefit_type: str
    period: str
    department: str
    posted_at: datetime


def pending_for_bank(rt: Runtime, bank_id: int, after: int, limit: int) -> list[PendingLine]:
    """Pending lines on accounts the bank holds, in id order after ``after`` (keyset pagination)."""
    rows = db.session.execute(
        select(Disbursement, FinancialAccount, Partner.name)
        .join(FinancialAccount, FinancialAccount.id == Disbursement.financial_account_id)
        .join(Partner, Partner.id == Disbursement.department_id)
        .where(Disbursement.bank_partner_id == bank_id, Disbursement.status == DISBURSEMENT_PENDING, Disbursement.id > after)
        .order_by(Disbursement.id).limit(limit)
    ).all()
    return [PendingLine(row.Disbursement.id, account_number(rt, row.FinancialAccount), row.Disbursement.amount_fen,
                        row.Disbursement.benefit_type, row.Disbursement.period, row.name, row.Disbursement.posted_at)
            for row in rows]


@dataclass(frozen=True)
class Tally:
    count: int
    amount_fen: int


@dataclass(frozen=True)
class Reconciliation:
    """``total`` = ``credited`` + ``returned`` + ``pending``, in lines and in fen."""

    total: Tally
    credited: Tally
    returned: Tally
    pending: Tally

    @property
    def balanced(self) -> bool:
        parts = (self.credited, self.returned, self.pending)
        return (self.total.count == sum(part.count for part in parts)
                and self.total.amount_fen == sum(part.amount_fen for part in parts))


def reconcile(department_id: int, batch_id: int | None = None) -> Reconciliation:
    """Totals per status for one batch, or for all of a department's batches."""
    scope = Disbursement.department_id == department_id
    if batch_id is not None:
        scope = scope & (Disbursement.batch_id == batch_id)
    amount = func.coalesce(func.sum(Disbursement.amount_fen), 0)
    by_status = {status: Tally(int(count), int(fen)) for status, count, fen in
                 db.session.execute(select(Disbursement.status, func.count(), amount).where(scope).group_by(Disbursement.status))}
    parts = {status: by_status.get(status, Tally(0, 0)) for status in STATUSES}
    # The total is counted on its own, not summed from the parts, so `balanced` means something.
    count, fen = db.session.execute(select(func.count(), amount).where(scope)).one()
    return Reconciliation(Tally(int(count), int(fen)), parts[DISBURSEMENT_CREDITED], parts[DISBURSEMENT_RETURNED],
                          parts[DISBURSEMENT_PENDING])


def find_batch(department_id: int, batch_reference: str) -> DisbursementBatch | None:
    """The department's batch with this reference, if it holds a line."""
    return db.session.scalar(select(DisbursementBatch).where(
        DisbursementBatch.department_id == department_id, DisbursementBatch.batch_reference == batch_reference, _holds_a_line()))


def batches_named(batch_reference: str) -> list[DisbursementBatch]:
    """Every department's batch with this reference that holds a line (for the operator's report)."""
    return list(db.session.scalars(select(DisbursementBatch).where(DisbursementBatch.batch_reference == batch_reference,
                                                                     _holds_a_line())))


def _holds_a_line() -> Any:
    """A batch is reported once a line of it is on record: a submission of only rejected lines
    records no batch, and one of only duplicates (lines of other batches) records an empty one."""
    return exists().where(Disbursement.batch_id == DisbursementBatch.id)
