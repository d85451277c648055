"""What the holder sees of paying with the card (docs/payments.md "For citizens"): the card's
charges newest first in cursor pages, what is owed (declined charges: the payment deny list),
the notices (a charge above ``CARD_CHARGE_NOTICE_FEN``, every decline) and a monthly summary."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, select

from app.card.devices import bound_card
from app.identity.models import MpAccount
from app.money import ledger
from app.money.models import CHARGE_DEBITED, Charge, PaymentNotice
from app.partners.models import Partner
from app.platform.city_time import in_city_time
from app.platform.cursor import decode_integer_cursor, encode_cursor
from app.platform.db import db
from app.platform.errors import AppError

MAX_PAGE = 100
SUMMARY_MONTHS = 12


@dataclass(frozen=True)
class PaymentItem:
    charge_id: int
    verification_id: str
    merchant: str
    description: str
    scene: str
    amount_fen: int
    refunded_fen: int
    status: str
    decline_reason: str | None
    notices: list[str]
    created_at: datetime
    settled_at: datetime | None


@dataclass(frozen=True)
class PaymentPage:
    items: list[PaymentItem]
    next_cursor: str | None
    debt_fen: int  # what the holder owes: while above 0 the card is refused for charges


def list_payments(account: MpAccount, limit: int, cursor: str | None) -> PaymentPage:
    """One page of the holder's charges, newest first; 422 ``cursor_invalid``; 403 ``not_bound``."""
    card = bound_card(account)
    query = (select(Charge, Partner.name).join(Partner, Partner.id == Charge.merchant_partner_id)
             .where(Charge.citizen_id == card.citizen_id)
             .order_by(Charge.created_at.desc(), Charge.id.desc()).limit(limit + 1))
    if cursor:
        at, last_id = decode_integer_cursor(cursor)
        query = query.where(or_(Charge.created_at < at, and_(Charge.created_at == at, Charge.id < last_id)))
    rows = db.session.execute(query).all()
    shown = rows[:limit]
    notices = _notices([row.Charge.id for row in shown])
    items = [_item(row.Charge, row.name, notices.get(row.Charge.id, [])) for row in shown]
    last = rows[limit - 1].Charge if len(rows) > limit else None
    return PaymentPage(items, encode_cursor(last.created_at, last.id) if last else None, debt_fen(card.citizen_id))


def _item(charge: Charge, merchant: str, notices: list[str]) -> PaymentItem:
    return PaymentItem(charge.id, charge.verification_id, merchant, charge.description, charge.scene, charge.amount_fen,
                       charge.refunded_fen, charge.status, charge.decline_reason, notices, charge.created_at, charge.settled_at)


def _notices(charge_ids: list[int]) -> dict[int, list[str]]:
    found: dict[int, list[str]] = defaultdict(list)
    if charge_ids:
        for charge_id, kind in db.session.execute(select(PaymentNotice.charge_id, PaymentNotice.kind)
                                                  .where(PaymentNotice.charge_id.in_(charge_ids)).order_by(PaymentNotice.id)):
            found[charge_id].append(kind)
    return found


def debt_fen(citizen_id: int) -> int:
    """What the holder owes on declined charges (ledger.owed), in fen."""
    return int(db.session.scalar(select(func.coalesce(func.sum(Charge.amount_fen), 0))
                                 .where(Charge.citizen_id == citizen_id, ledger.owed())) or 0)


@dataclass(frozen=True)
class MonthTotal:
    month: str  # YYYY-MM in the city's zone
    charges: int
    paid_fen: int  # debited, net of refunds
    refunded_fen: int


def monthly_summary(account: MpAccount, now: datetime) -> list[MonthTotal]:
    """The last :data:`SUMMARY_MONTHS` months' debited charges (by the month charged), newest first."""
    card = bound_card(account)
    since = now - timedelta(days=31 * SUMMARY_MONTHS)
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for created_at, amount, refunded in db.session.execute(
            select(Charge.created_at, Charge.amount_fen, Charge.refunded_fen)
            .where(Charge.citizen_id == card.citizen_id, Charge.status == CHARGE_DEBITED, Charge.created_at >= since)):
        month = totals[in_city_time(created_at).strftime("%Y-%m")]
        month[0] += 1
        month[1] += amount - refunded
        month[2] += refunded
    return [MonthTotal(month, *values) for month, values in sorted(totals.items(), reverse=True)]


def charge_verification(citizen_id: int, charge_id: int) -> str:
    """The verification id of the holder's own charge (a dispute links the complaint to it); 404
    ``charge_unknown`` for another holder's charge or none."""
    found = db.session.scalar(select(Charge.verification_id).where(Charge.id == charge_id, Charge.citizen_id == citizen_id))
    if found is None:
        raise AppError("charge_unknown", 404, "no charge of yours with this id")
    return found
