"""A citizen's own verification history (GET /api/mp/v1/card/verifications).

An offline use (DGC2, settled from a gate's upload) shows when it was scanned at the gate
(``offline_records.scanned_at``), not when the upload settled it; the page order stays the order
in which the uses were recorded (the keyset cursor), so a late upload appears at the top with its
earlier time."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, func, or_, select

from app.card.devices import bound_card
from app.identity.models import MpAccount
from app.partners.models import Partner, Terminal
from app.platform.cursor import decode_cursor, encode_cursor
from app.platform.db import db
from app.scanning.models import OfflineRecord, Verification

MAX_PAGE = 100


@dataclass(frozen=True)
class HistoryItem:
    verification_id: str
    verified_at: datetime
    partner_name: str
    terminal_id: str
    terminal_location: str | None
    scene: str
    accepted: bool
    reason: str | None
    disclosed: list[str]


@dataclass(frozen=True)
class HistoryPage:
    """``items`` newest first; ``next_cursor`` is None on the last page."""

    items: list[HistoryItem]
    next_cursor: str | None


def list_verifications(account: MpAccount, limit: int, cursor: str | None) -> HistoryPage:
    """One page of the account's card's verifications; 422 ``cursor_invalid`` for a bad cursor."""
    card = bound_card(account)
    query = (
        select(Verification, Partner.name, Terminal.location,
               func.coalesce(OfflineRecord.scanned_at, Verification.created_at).label("used_at"))
        .join(Partner, Partner.id == Verification.partner_id)
        .outerjoin(Terminal, (Terminal.partner_id == Verification.partner_id) & (Terminal.terminal_id == Verification.terminal_id))
        .outerjoin(OfflineRecord, OfflineRecord.verification_id == Verification.id)  # ix_offline_records_verification
        .where(Verification.card_id == card.id)
        .order_by(Verification.created_at.desc(), Verification.id.desc())
        .limit(limit + 1)
    )
    if cursor:
        at, last_id = decode_cursor(cursor)
        query = query.where(or_(Verification.created_at < at,
                                and_(Verification.created_at == at, Verification.id < last_id)))
    rows = db.session.execute(query).all()
    items = [_item(row.Verification, row.name, row.location, row.used_at) for row in rows[:limit]]
    more = len(rows) > limit
    return HistoryPage(items, encode_cursor(rows[limit - 1].Verification.created_at, rows[limit - 1].Verification.id) if more else None)


def _item(verification: Verification, partner_name: str, location: str | None, used_at: datetime) -> HistoryItem:
    disclosed = verification.disclosed.split(",") if verification.disclosed else []
    return HistoryItem(verification.id, used_at, partner_name, verification.terminal_id, location,
                       verification.scene, verification.accepted, verification.reason, disclosed)

