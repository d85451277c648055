"""Telling the bank of voids and refunds (issue 22 item 3; docs/payments.md "For banks"), by the
pull-and-confirm pattern of its charges (app.money.charge_bank), not only through clearing.

A reversal is a ledger entry that gives the holder money back: a ``void`` of a charge the bank had
debited (its ``merchant_fen`` is below 0) or a ``refund``. The ledger is append-only, so the
bank's confirmation is a row of its own (:class:`~app.money.models.ReversalCredit`, keyed by the
ledger entry). The bank lists the reversals on its accounts it has not confirmed
(``GET /api/partner/v1/bank/reversals``, keyset pages by ``reversal_id``, the ledger entry's id),
credits its customer, and confirms each one (``POST /api/partner/v1/bank/reversal-confirmations``):
one ``INSERT ... ON CONFLICT DO NOTHING RETURNING`` per item, so a retry or a racing confirmation
is ``unchanged`` and the reversal is confirmed exactly once; ``unknown`` for an id that is not a
reversal on this bank's accounts. A void of a charge not yet debited (pending or declined) moved
no money at the bank and is not listed: the bank just no longer sees the charge.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select

from app.money.financial_accounts import account_number
from app.money.models import Charge, FinancialAccount, LedgerEntry, ReversalCredit
from app.partners.models import Partner
from app.platform.db import db
from app.platform.sql import upsert_insert
from app.runtime import Runtime

REVERSAL_KINDS = ("void", "refund")


def _reversals(bank_id: int) -> Select[Any]:
    """The reversals on the bank's accounts: voids and refunds that take money back from the merchant."""
    return select(LedgerEntry).where(LedgerEntry.bank_partner_id == bank_id, LedgerEntry.kind.in_(REVERSAL_KINDS),
                                     LedgerEntry.merchant_fen < 0)


@dataclass(frozen=True)
class PendingReversal:
    """Money to credit back to ``account_number`` (the bank's own customer's account, the one the
    charge was debited from): ``amount_fen`` is what the void or refund gives back."""

    reversal_id: int
    charge_id: int
    kind: str
    account_number: str
    amount_fen: int
    merchant: str
    created_at: datetime


def pending_reversals(rt: Runtime, bank_id: int, after: int, limit: int) -> list[PendingReversal]:
    """Unconfirmed reversals on accounts the bank holds, in ``reversal_id`` order after ``after``."""
    rows = db.session.execute(
        _reversals(bank_id).add_columns(FinancialAccount, Partner.name)
        .join(Charge, Charge.id == LedgerEntry.charge_id)
        .join(FinancialAccount, FinancialAccount.id == Charge.financial_account_id)
        .join(Partner, Partner.id == LedgerEntry.merchant_partner_id)
        .outerjoin(ReversalCredit, ReversalCredit.ledger_entry_id == LedgerEntry.id)
        .where(ReversalCredit.ledger_entry_id.is_(None), LedgerEntry.id > after)
        .order_by(LedgerEntry.id).limit(limit)
    ).all()
    return [PendingReversal(row.LedgerEntry.id, row.LedgerEntry.charge_id, row.LedgerEntry.kind,
                            account_number(rt, row.FinancialAccount), -row.LedgerEntry.merchant_fen, row.name,
                            row.LedgerEntry.created_at) for row in rows]


@dataclass(frozen=True)
class ReversalResult:
    """``result``: applied (confirmed now), unchanged (confirmed before) or unknown."""

    reversal_id: int
    result: str


def confirm_reversals(rt: Runtime, bank_id: int, reversal_ids: Sequence[int]) -> list[ReversalResult]:
    """Record that the bank credited each reversal back, in one transaction; each at most once."""
    now, results = rt.clock.now(), []
    table = ReversalCredit.__table__
    for reversal_id in reversal_ids:
        known = db.session.scalar(_reversals(bank_id).with_only_columns(LedgerEntry.id)
                                  .where(LedgerEntry.id == reversal_id))
        if known is None:
            results.append(ReversalResult(reversal_id, "unknown"))
            continue
        inserted = db.session.execute(upsert_insert(db.engine.dialect.name, table).values(
            ledger_entry_id=reversal_id, bank_partner_id=bank_id, credited_at=now,
        ).on_conflict_do_nothing(index_elements=[table.c.ledger_entry_id]).returning(table.c.ledger_entry_id)).first()
        results.append(ReversalResult(reversal_id, "applied" if inserted is not None else "unchanged"))
    db.session.commit()
    return results
