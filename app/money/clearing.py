"""The daily clearing run (docs/payments.md "Clearing"): ``citizencard payments clear --day
YYYY-MM-DD`` (default: yesterday, in the city's zone) makes, for each merchant and for each bank
with ledger entries that move money, one statement of every such entry written before the end of
the day and not yet cleared for that party.

Entries up to :data:`LOOKBACK` (7 days) before the day are looked for. An entry is claimed by a party's
clearing with ``INSERT INTO clearing_items ... SELECT ... ON CONFLICT DO NOTHING`` (unique per
party and entry), so a second run, or two runs at once, never clear an entry twice; an entry
committed after a run (a void racing it) goes into the next day's.
The statement's sums are computed from its items: ``gross`` (debits and debts paid), ``reversed``
(voids after a debit, refunds), ``fee`` (``CARD_CHARGE_FEE_BP`` basis points of the merchant's
gross, rounded down; banks pay no fee here) and ``net = gross - reversed - fee``. A charge whose
debit is in a merchant's statement is cleared (:func:`cleared`): no void any more, only refunds.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import case, exists, func, literal, select, update
from sqlalchemy.orm import aliased

from app.money.models import Clearing, ClearingItem, LedgerEntry
from app.partners.models import Partner
from app.platform.city_time import city_isoformat
from app.platform.clock import DISPLAY_ZONE
from app.platform.db import db
from app.platform.sql import upsert_insert
from app.runtime import Runtime

PARTIES = ("merchant", "bank")
# Entries are looked for this far back (a run a day clears each day's; after a longer outage run
# ``payments clear --lookback-days N``): each run re-reads this window, not all history.
LOOKBACK = timedelta(days=7)
COLUMNS = ("entry_id", "kind", "charge_id", "merchant", "bank", "amount_fen", "net_fen", "created_at")


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """The UTC instants [start, end) of ``day`` in the city's zone."""
    start = datetime.combine(day, time(0), DISPLAY_ZONE).astimezone(UTC)
    return start, start + timedelta(days=1)


def _party_column(party: str) -> Any:
    return LedgerEntry.merchant_partner_id if party == "merchant" else LedgerEntry.bank_partner_id


def run_clearing(rt: Runtime, day: date, lookback: timedelta = LOOKBACK) -> list[Clearing]:
    """Clear ``day`` for every merchant and bank with entries not yet cleared, written from
    ``lookback`` before the day to its end; returns the statements made or topped up now."""
    start, end = day_bounds(day)
    done = []
    for party in PARTIES:
        column = _party_column(party)
        partners = db.session.scalars(select(column).distinct().where(_unclaimed(party), LedgerEntry.merchant_fen != 0,
                                                                       LedgerEntry.created_at < end,
                                                                       LedgerEntry.created_at >= start - lookback)).all()
        done += [clear_one(rt, party, partner_id, day, lookback) for partner_id in sorted(partners)]
    return done


def _unclaimed(party: str) -> Any:
    return ~exists().where(ClearingItem.party == party, ClearingItem.ledger_entry_id == LedgerEntry.id)


def clear_one(rt: Runtime, party: str, partner_id: int, day: date, lookback: timedelta = LOOKBACK) -> Clearing:
    """Claim the party's uncleared entries written before the end of ``day`` (from ``lookback``
    before it) and (re)compute the statement's sums; commits.

    The claim has no anti-join against ``clearing_items``: entries already claimed are skipped by
    the unique key (``ON CONFLICT DO NOTHING``). An anti-join against the table the statement
    inserts into was planned, with the statistics of a nearly empty table, as a scan per entry that
    grew with every row inserted: a million entries ran for over ten minutes (bench/charges.py)."""
    start, end = day_bounds(day)
    now = rt.clock.now()
    table = Clearing.__table__
    db.session.execute(upsert_insert(db.engine.dialect.name, table).values(
        party=party, partner_id=partner_id, day=day, entries=0, gross_fen=0, reversed_fen=0, fee_fen=0, net_fen=0, created_at=now,
    ).on_conflict_do_nothing(index_elements=[table.c.party, table.c.partner_id, table.c.day]))
    clearing_id = db.session.scalar(select(Clearing.id).where(Clearing.party == party, Clearing.partner_id == partner_id,
                                                              Clearing.day == day))
    claim = select(literal(party), LedgerEntry.id, literal(clearing_id)).where(
        _party_column(party) == partner_id, LedgerEntry.merchant_fen != 0, LedgerEntry.created_at < end,
        LedgerEntry.created_at >= start - lookback)
    items = ClearingItem.__table__
    db.session.execute(upsert_insert(db.engine.dialect.name, items).from_select(
        ["party", "ledger_entry_id", "clearing_id"], claim).on_conflict_do_nothing(index_elements=[items.c.party, items.c.ledger_entry_id]))
    _sum(rt, party, clearing_id)
    db.session.commit()
    return db.session.get(Clearing, clearing_id)


def cleared(charge_id: Any) -> Any:
    """SQL: the charge ``charge_id`` (a column or a value) is cleared: its debit (or its debt paid)
    is in a merchant's statement. Nothing is written on the charge: a million-charge run spent
    minutes updating each charge row and its seven indexes (bench/charges.py)."""
    return exists().where(LedgerEntry.charge_id == charge_id, LedgerEntry.kind.in_(("debit", "debt_paid")),
                          ClearingItem.ledger_entry_id == LedgerEntry.id, ClearingItem.party == "merchant")


def is_cleared(charge_id: int) -> bool:
    """Whether the charge is cleared (:func:`cleared`)."""
    return bool(db.session.scalar(select(cleared(charge_id))))


def _sum(rt: Runtime, party: str, clearing_id: int) -> None:
    amount = LedgerEntry.merchant_fen
    count, gross, reversed_ = db.session.execute(
        select(func.count(), func.coalesce(func.sum(case((amount > 0, amount), else_=0)), 0),
               func.coalesce(func.sum(case((amount < 0, -amount), else_=0)), 0))
        .select_from(ClearingItem).join(LedgerEntry, LedgerEntry.id == ClearingItem.ledger_entry_id)
        .where(ClearingItem.clearing_id == clearing_id)).one()
    fee = int(gross) * rt.config["CARD_CHARGE_FEE_BP"] // 10000 if party == "merchant" else 0
    db.session.execute(update(Clearing).where(Clearing.id == clearing_id).values(
        entries=int(count), gross_fen=int(gross), reversed_fen=int(reversed_), fee_fen=fee,
        net_fen=int(gross) - int(reversed_) - fee).execution_options(synchronize_session=False))


@dataclass(frozen=True)
class ClearingStatement:
    """A party's statement for a day: the clearing's sums (None when nothing was cleared) and its entries."""

    party: str
    day: date
    clearing: Clearing | None
    rows: list[dict[str, Any]]

    def totals(self) -> dict[str, int]:
        found = self.clearing
        return {"entries": found.entries if found else 0, "gross_fen": found.gross_fen if found else 0,
                "reversed_fen": found.reversed_fen if found else 0, "fee_fen": found.fee_fen if found else 0,
                "net_fen": found.net_fen if found else 0}

    def csv(self) -> bytes:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(COLUMNS)
        for row in self.rows:
            writer.writerow([row[column] for column in COLUMNS])
        totals = self.totals()
        writer.writerow(["#totals", *(f"{name}={value}" for name, value in totals.items())])
        return out.getvalue().encode()


def statement(party: str, partner_id: int, day: date) -> ClearingStatement:
    """The party's clearing statement of ``day``: its entries in id order."""
    clearing = db.session.scalar(select(Clearing).where(Clearing.party == party, Clearing.partner_id == partner_id, Clearing.day == day))
    rows: list[dict[str, Any]] = []
    if clearing is not None:
        merchant, bank = aliased(Partner), aliased(Partner)
        found = db.session.execute(select(LedgerEntry, merchant.partner_id, bank.partner_id)
                                   .join(ClearingItem, ClearingItem.ledger_entry_id == LedgerEntry.id)
                                   .join(merchant, merchant.id == LedgerEntry.merchant_partner_id)
                                   .join(bank, bank.id == LedgerEntry.bank_partner_id)
                                   .where(ClearingItem.clearing_id == clearing.id).order_by(LedgerEntry.id))
        rows = [{"entry_id": entry.id, "kind": entry.kind, "charge_id": entry.charge_id, "merchant": merchant_id,
                 "bank": bank_id, "amount_fen": entry.amount_fen, "net_fen": entry.merchant_fen,
                 "created_at": city_isoformat(entry.created_at)} for entry, merchant_id, bank_id in found]
    return ClearingStatement(party, day, clearing, rows)
