"""What a citizen received (M-4 self-service query, M-21, M-23.7): benefit lines newest first,
totals per type per year, and the card's two accounts.

Pages are keyset pages over (posted_at, id) (app.platform.cursor): postings that arrive while a
citizen pages through never cause a skipped or repeated line.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select

from app.card.devices import bound_card
from app.identity.models import MpAccount
from app.money.financial_accounts import FinancialAccountView, financial_account_view
from app.money.models import DISBURSEMENT_CREDITED, DISBURSEMENT_PENDING, DISBURSEMENT_RETURNED, Disbursement, MedicalInsuranceAccount
from app.partners.models import Partner
from app.platform.clock import DISPLAY_ZONE
from app.platform.cursor import decode_integer_cursor, encode_cursor
from app.platform.db import db
from app.platform.errors import AppError
from app.runtime import Runtime

MAX_PAGE = 100


@dataclass(frozen=True)
class BenefitItem:
    disbursement_id: int
    benefit_type: str
    amount_fen: int
    period: str
    status: str
    return_reason: str | None
    department: str
    posted_at: datetime
    settled_at: datetime | None


@dataclass(frozen=True)
class BenefitPage:
    items: list[BenefitItem]
    next_cursor: str | None


@dataclass(frozen=True)
class BenefitFilter:
    """``start``/``end``: Asia/Shanghai dates, inclusive, on the posting date; ``benefit_type`` optional."""

    start: date | None = None
    end: date | None = None
    benefit_type: str | None = None


def checked_filter(rt: Runtime, start: date | None, end: date | None, benefit_type: str | None) -> BenefitFilter:
    """422 ``date_range_invalid`` when from is after to; 422 ``benefit_type_unknown``."""
    if start and end and start > end:
        raise AppError("date_range_invalid", 422, "from must not be after to", {"from": start.isoformat(), "to": end.isoformat()})
    if benefit_type is not None and benefit_type not in rt.config["CARD_BENEFIT_TYPES"]:
        raise AppError("benefit_type_unknown", 422, "unknown benefit type", {"known": list(rt.config["CARD_BENEFIT_TYPES"])})
    return BenefitFilter(start, end, benefit_type)


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time(), DISPLAY_ZONE)


def list_benefits(account: MpAccount, limit: int, cursor: str | None, where: BenefitFilter) -> BenefitPage:
    """One page of the citizen's benefit lines, newest first; 422 ``cursor_invalid``; 403 ``not_bound``."""
    card = bound_card(account)
    query = (select(Disbursement, Partner.name).join(Partner, Partner.id == Disbursement.department_id)
             .where(Disbursement.citizen_id == card.citizen_id)
             .order_by(Disbursement.posted_at.desc(), Disbursement.id.desc()).limit(limit + 1))
    if where.start:
        query = query.where(Disbursement.posted_at >= _day_start(where.start))
    if where.end:
        query = query.where(Disbursement.posted_at < _day_start(where.end + timedelta(days=1)))
    if where.benefit_type:
        query = query.where(Disbursement.benefit_type == where.benefit_type)
    if cursor:
        at, last_id = decode_integer_cursor(cursor)
        query = query.where(or_(Disbursement.posted_at < at, and_(Disbursement.posted_at == at, Disbursement.id < last_id)))
    rows = db.session.execute(query).all()
    items = [_item(row.Disbursement, row.name) for row in rows[:limit]]
    last = rows[limit - 1].Disbursement if len(rows) > limit else None
    return BenefitPage(items, encode_cursor(last.posted_at, last.id) if last else None)


def _item(line: Disbursement, department: str) -> BenefitItem:
    return BenefitItem(line.id, line.benefit_type, line.amount_fen, line.period, line.status, line.return_reason,
                       department, line.posted_at, line.settled_at)


@dataclass(frozen=True)
class YearTotal:
    """One benefit type in one year (of the period covered), in fen per status."""

    year: int
    benefit_type: str
    lines: int
    credited_fen: int
    pending_fen: int
    returned_fen: int


def benefit_summary(account: MpAccount) -> list[YearTotal]:
    """Totals per year and type, newest year first, then by type; 403 ``not_bound``."""
    card = bound_card(account)
    year = func.substr(Disbursement.period, 1, 4)
    rows = db.session.execute(
        select(year, Disbursement.benefit_type, Disbursement.status, func.count(), func.sum(Disbursement.amount_fen))
        .where(Disbursement.citizen_id == card.citizen_id).group_by(year, Disbursement.benefit_type, Disbursement.status)
    ).all()
    totals: dict[tuple[int, str], dict[str, int]] = {}
    for row_year, benefit_type, status, count, amount in rows:
        entry = totals.setdefault((int(row_year), benefit_type), {"lines": 0})
        entry["lines"] += int(count)
        entry[status] = int(amount)
    return [YearTotal(year_, benefit_type, entry["lines"], entry.get(DISBURSEMENT_CREDITED, 0),
                      entry.get(DISBURSEMENT_PENDING, 0), entry.get(DISBURSEMENT_RETURNED, 0))
            for (year_, benefit_type), entry in sorted(totals.items(), key=lambda pair: (-pair[0][0], pair[0][1]))]


@dataclass(frozen=True)
class MedicalInsuranceView:
    """As last reported by the medical-insurance bureau, at ``as_of``."""

    balance_fen: int
    as_of: datetime
    statement: list[dict[str, Any]]


@dataclass(frozen=True)
class AccountsView:
    financial_account: FinancialAccountView | None
    medical_insurance: MedicalInsuranceView | None


def card_accounts(rt: Runtime, account: MpAccount) -> AccountsView:
    """The card's financial account (masked) and medical-insurance personal account (M-21); 403 ``not_bound``."""
    card = bound_card(account)
    medical = db.session.scalar(select(MedicalInsuranceAccount).where(MedicalInsuranceAccount.citizen_id == card.citizen_id))
    medical_view = None if medical is None else MedicalInsuranceView(medical.balance_fen, medical.as_of, json.loads(medical.statement))
    return AccountsView(financial_account_view(rt, card.id), medical_view)
