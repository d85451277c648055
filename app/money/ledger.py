"""The append-only money ledger of charges (docs/payments.md, "The ledger"): every change of a
charge's money state writes one entry in the same transaction as the conditional statement that
made the change. Entries are never updated or deleted; ``event_key`` is unique, so one event is
written at most once even if a caller repeats itself.

Each kind moves two balances (integer fen): ``merchant_fen``, what the holder's bank owes the
merchant (cleared daily), and ``debt_fen``, what the holder owes after a declined charge.

    charge     0          0         the merchant's charge, sent to the bank (status pending)
    debit      +amount    0         the bank debited the holder (debited)
    decline    0          +amount   the bank declined: a debt, the card on the payment deny list (declined)
    present    0          0         the holder pays the debt off: sent to the bank again (pending)
    debt_paid  +amount    -amount   the bank debited the presented debt (debited)
    void       -debited   -owed     voided before clearing (voided): reverses what the charge had moved
    refund     -refund    0         a (partial) refund of a debited charge

:func:`replay` reads every entry in order and recomputes each charge's status and refunds, each
card's debt and each merchant's and bank's balance; :func:`check` compares them with the stored
state (the property test and ``citizencard payments replay`` use it).
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import event, func, select, update
from sqlalchemy.orm import Session

from app.card.models import Card
from app.money.models import (
    CHARGE_DEBITED,
    CHARGE_DECLINED,
    CHARGE_PENDING,
    CHARGE_VOIDED,
    Charge,
    LedgerEntry,
)
from app.platform.db import db
from app.platform.sql import upsert_insert

KINDS = ("charge", "debit", "decline", "present", "debt_paid", "void", "refund")
STATUS_AFTER = {"charge": CHARGE_PENDING, "debit": CHARGE_DEBITED, "decline": CHARGE_DECLINED, "present": CHARGE_PENDING,
                "debt_paid": CHARGE_DEBITED, "void": CHARGE_VOIDED}


def append(charge: Any, kind: str, event_key: str, now: datetime, amount_fen: int,
           merchant_fen: int = 0, debt_fen: int = 0) -> None:
    """Write one entry for ``charge`` (a Charge or a row with its columns) in the caller's
    transaction; a repeated ``event_key`` writes nothing."""
    if kind not in KINDS:
        raise ValueError(f"unknown ledger kind {kind}")
    table = LedgerEntry.__table__
    written = db.session.execute(upsert_insert(db.engine.dialect.name, table).values(
        event_key=event_key, kind=kind, charge_id=charge.id, merchant_partner_id=charge.merchant_partner_id,
        bank_partner_id=charge.bank_partner_id, card_id=charge.card_id, amount_fen=amount_fen,
        merchant_fen=merchant_fen, debt_fen=debt_fen, created_at=now,
    ).on_conflict_do_nothing(index_elements=[table.c.event_key]).returning(table.c.id)).scalar()
    if written is not None and debt_fen:  # the payment deny list: the card's debt moves with its entries
        pending = db.session.info.setdefault(_CARD_DEBTS, defaultdict(int))
        pending[charge.card_id] += debt_fen


_CARD_DEBTS = "money.card_debts"


@event.listens_for(Session, "before_commit")
def _move_card_debts(session: Session) -> None:
    """The cards' ``payment_debt_fen`` (the payment deny list), moved by the transaction's ledger
    entries just before it commits, in card order: each an increment (concurrent transactions
    commute), taken last and in one order so two transactions never wait on each other's cards."""
    for card_id, fen in sorted(session.info.pop(_CARD_DEBTS, {}).items()):
        if fen:
            session.execute(update(Card).where(Card.id == card_id).values(payment_debt_fen=Card.payment_debt_fen + fen))


@event.listens_for(Session, "after_rollback")
def _forget_card_debts(session: Session) -> None:
    session.info.pop(_CARD_DEBTS, None)


@dataclass
class Replayed:
    """What the ledger says, recomputed from nothing but its entries."""

    status: dict[int, str] = field(default_factory=dict)
    refunded: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    debt_by_card: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    merchant_balance: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    bank_balance: dict[int, int] = field(default_factory=lambda: defaultdict(int))


def replay() -> Replayed:
    """Every entry in id order, folded into the balances (streamed, so any size fits)."""
    state = Replayed()
    rows = db.session.execute(select(LedgerEntry.kind, LedgerEntry.charge_id, LedgerEntry.card_id, LedgerEntry.merchant_partner_id,
                                     LedgerEntry.bank_partner_id, LedgerEntry.amount_fen, LedgerEntry.merchant_fen,
                                     LedgerEntry.debt_fen).order_by(LedgerEntry.id).execution_options(yield_per=5000))
    for kind, charge_id, card_id, merchant_id, bank_id, amount, merchant_fen, debt_fen in rows:
        if kind in STATUS_AFTER:
            state.status[charge_id] = STATUS_AFTER[kind]
        if kind == "refund":
            state.refunded[charge_id] += amount
        state.debt_by_card[card_id] += debt_fen
        state.merchant_balance[merchant_id] += merchant_fen
        state.bank_balance[bank_id] += merchant_fen
    return state


def owed() -> Any:
    """The charges the holder owes as a debt: declined, or presented again and not yet debited."""
    return (Charge.status == CHARGE_DECLINED) | ((Charge.status == CHARGE_PENDING) & (Charge.declines > 0))


def check() -> list[str]:
    """Differences between the stored charges and the replayed ledger (empty: they agree): each
    charge's status and refunds, and each card's debt (the sum of its :func:`owed` charges, and
    the card's ``payment_debt_fen``, the payment deny list)."""
    state, problems = replay(), []
    stored = db.session.execute(select(Charge.id, Charge.status, Charge.refunded_fen)).all()
    for charge_id, status, refunded in stored:
        if state.status.get(charge_id) != status or state.refunded.get(charge_id, 0) != refunded:
            problems.append(f"charge {charge_id}: stored {status}/{refunded}, ledger {state.status.get(charge_id)}/"
                            f"{state.refunded.get(charge_id, 0)}")
    debts = dict(db.session.execute(select(Charge.card_id, func.sum(Charge.amount_fen))
                                    .where(owed()).group_by(Charge.card_id)).all())
    flagged = dict(db.session.execute(select(Card.id, Card.payment_debt_fen).where(Card.payment_debt_fen != 0)).all())
    for card_id in set(debts) | set(flagged) | {card for card, fen in state.debt_by_card.items() if fen}:
        if not int(debts.get(card_id, 0)) == flagged.get(card_id, 0) == state.debt_by_card.get(card_id, 0):
            problems.append(f"card {card_id}: stored debt {debts.get(card_id, 0)}, on the card {flagged.get(card_id, 0)}, "
                            f"ledger {state.debt_by_card.get(card_id, 0)}")
    return problems
