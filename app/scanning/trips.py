"""Rides for ride-now-pay-later (M-23.2; docs/payments.md "Transit"): an exit and the entry it
ends, with the terminals' coordinates and the scan times, and the entries whose exit never came.

A scan's time is the gate's: an offline record's ``scanned_at``, else the verification's
``created_at``. An exit's entry is the one it was linked to online; an exit without a link (an
offline record uploaded later, whose entry was in the same upload or came after it) takes the
card's latest accepted entry at the same operator within :data:`ENTRY_VALID_FOR` before it.
The money domain computes the fare (app.money.fares); this module only reads scanning's records.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.orm import aliased

from app.card.models import Card
from app.identity.models import Citizen
from app.partners.models import Terminal
from app.platform.db import db
from app.runtime import Runtime
from app.scanning.models import OfflineRecord, Verification
from app.scanning.transit import ENTRY_VALID_FOR
from app.scanning.verification import CardFacts, Holder


@dataclass(frozen=True)
class LinkedRide:
    """An entry and, unless the ride is unfinished, its exit: ids, gate scan times, terminals'
    WGS 84 coordinates (None when the terminal has none)."""

    card_id: int
    entry_verification_id: str
    entry_at: datetime
    entry_point: tuple[float, float] | None
    exit_at: datetime | None
    exit_point: tuple[float, float] | None


def _scan_time() -> tuple[Any, Any, Any]:
    """(an offline-record alias, its join condition, the gate's scan time of a verification row)."""
    record = aliased(OfflineRecord)
    joined = and_(record.verification_id == Verification.id, record.partner_id == Verification.partner_id)
    return record, joined, func.coalesce(record.scanned_at, Verification.created_at)


def _point(partner_id: int, terminal_id: str) -> tuple[float, float] | None:
    row = db.session.execute(select(Terminal.latitude, Terminal.longitude).where(
        Terminal.partner_id == partner_id, Terminal.terminal_id == terminal_id)).first()
    return (row.latitude, row.longitude) if row is not None and row.latitude is not None else None


def _scanned_at(verification: Verification) -> datetime:
    record_time = db.session.scalar(select(OfflineRecord.scanned_at).where(OfflineRecord.verification_id == verification.id,
                                                                           OfflineRecord.partner_id == verification.partner_id))
    return record_time or verification.created_at


def ride_ending_at(exit_: Verification) -> LinkedRide | None:
    """The ride an accepted transit exit ends, or None (not an exit, or no entry found)."""
    if exit_.scene != "transit" or exit_.direction != "exit" or not exit_.accepted or exit_.card_id is None:
        return None
    exit_at = _scanned_at(exit_)
    entry = _linked_entry(exit_) or _latest_entry(exit_, exit_at)
    if entry is None:
        return None
    return LinkedRide(exit_.card_id, entry.id, _scanned_at(entry), _point(entry.partner_id, entry.terminal_id),
                      exit_at, _point(exit_.partner_id, exit_.terminal_id))


def _linked_entry(exit_: Verification) -> Verification | None:
    if exit_.linked_verification_id is None:
        return None
    return db.session.scalars(select(Verification).where(Verification.id == exit_.linked_verification_id)).first()


def _latest_entry(exit_: Verification, exit_at: datetime) -> Verification | None:
    other_exit = aliased(Verification)
    linked = select(other_exit.id).where(other_exit.linked_verification_id == Verification.id).exists()
    record, joined, scanned = _scan_time()
    return db.session.scalars(
        select(Verification).outerjoin(record, joined)
        .where(Verification.partner_id == exit_.partner_id, Verification.card_id == exit_.card_id, Verification.scene == "transit",
               Verification.direction == "entry", Verification.accepted.is_(True), ~linked,
               scanned <= exit_at, scanned >= exit_at - ENTRY_VALID_FOR)
        .order_by(scanned.desc()).limit(1)).first()


def unfinished_entries(partner_ids: Iterable[int], now: datetime, since: datetime) -> list[tuple[Verification, LinkedRide]]:
    """Accepted transit entries at these operators scanned between ``since`` and
    ``now - ENTRY_VALID_FOR`` that no exit links to: rides whose exit never came (an exit found
    later by time is kept out by the charge's one-charge-per-ride key, app.money.charges)."""
    exit_ = aliased(Verification)
    linked = select(exit_.id).where(exit_.linked_verification_id == Verification.id).exists()
    record, joined, scanned = _scan_time()
    rows = db.session.execute(
        select(Verification, scanned).outerjoin(record, joined)
        .where(Verification.partner_id.in_(list(partner_ids)), Verification.scene == "transit", Verification.direction == "entry",
               Verification.accepted.is_(True), Verification.card_id.is_not(None), ~linked,
               scanned < now - ENTRY_VALID_FOR, scanned >= since)
        .order_by(Verification.created_at)).all()
    return [(entry, LinkedRide(entry.card_id, entry.id, at, _point(entry.partner_id, entry.terminal_id), None, None))
            for entry, at in rows]


def holder_of(rt: Runtime, card_id: int) -> Holder:
    """The card's holder as a scene policy sees them (to tell the fare class)."""
    row = db.session.execute(select(Card.id, Card.card_number, Card.status, Citizen.insured, Citizen.disability, Citizen.name_enc,
                                    Citizen.id_number_enc, Citizen.id_number_index)
                             .join(Citizen, Citizen.id == Card.citizen_id).where(Card.id == card_id)).one()
    return Holder(rt, CardFacts(*row))
