"""A citizen's own verification history (GET /api/mp/v1/card/verifications).

An offline use (DGC2, settled from a gate's upload) shows when it was scanned at the gate
(``offline_records.scanned_at``), not when the upload settled it; the page order stays the order
in which the uses were recorded (the keyset cursor), so a late upload appears at the top with its
earlier time."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, literal, or_, select

from app.card.devices import bound_card
from app.card.models import Device, FamilyMember, OfflineCertificate
from app.identity.models import MpAccount
from app.partners.models import Partner, Terminal
from app.platform.cursor import cursor_invalid, decode_cursor, encode_cursor
from app.platform.db import db
from app.runtime import runtime
from app.scanning import partitions
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
    app: str | None = None  # the app whose device showed the code (wechat, alipay); None: refused or a card read
    shown_by: str | None = None  # "relative (<relation>)": a guardian's phone showed it (issue 18)


@dataclass(frozen=True)
class HistoryPage:
    """``items`` newest first; ``next_cursor`` is None on the last page."""

    items: list[HistoryItem]
    next_cursor: str | None


def list_verifications(account: MpAccount, limit: int, cursor: str | None) -> HistoryPage:
    """One page of the account's card's verifications; 422 ``cursor_invalid`` for a bad cursor.

    On a partitioned PostgreSQL table each statement reads one month's partition (the month of the
    records' code step, app.scanning.partitions), newest month first, until the page is full or
    the oldest partition is read: a page is newest first by month of the code's step, then by time
    (a DGC2 code whose certificate began in the previous month is listed with that month)."""
    card = bound_card(account)
    after = _decode(cursor) if cursor else None
    query = (
        select(Verification, Partner.name, Terminal.location,
               func.coalesce(OfflineRecord.scanned_at, Verification.created_at).label("used_at"))
        .join(Partner, Partner.id == Verification.partner_id)
        .outerjoin(Terminal, (Terminal.partner_id == Verification.partner_id) & (Terminal.terminal_id == Verification.terminal_id))
        .outerjoin(OfflineRecord, OfflineRecord.verification_id == Verification.id)  # ix_offline_records_verification
        .where(Verification.card_id == card.id)
        .order_by(Verification.created_at.desc(), Verification.id.desc())
    )
    oldest = partitions.oldest_month(db.session.connection())  # None: SQLite (a plain table)
    rows = db.session.execute(_after(query, after).limit(limit + 1)).all() if oldest is None \
        else _walk(query, after, oldest, limit + 1)
    apps = apps_of_card(card.id)
    items = [_item(row.Verification, row.name, row.location, row.used_at, apps) for row in rows[:limit]]
    return HistoryPage(items, _encode(rows[limit - 1].Verification) if len(rows) > limit else None)


def _walk(query: Any, after: tuple[datetime, str, int] | None, oldest: partitions.Month, wanted: int) -> list[Any]:
    """Month by month (one partition per statement), from the cursor's month or this one, then
    whatever the default partition holds from before the oldest month."""
    start = partitions.Month.of_step(after[2] if after else partitions.step_of(runtime().clock.now()) + 1)
    month, rows = start, []
    while len(rows) < wanted and month >= oldest:
        low, high = month.steps
        in_month = query.where(Verification.code_step >= low, Verification.code_step < high)
        rows += db.session.execute(_after(in_month, after if month == start else None).limit(wanted - len(rows))).all()
        month = month.previous()
    if len(rows) < wanted:
        older = query.where(Verification.code_step < min(oldest, start).first_step)
        rows += db.session.execute(_after(older, after if start < oldest else None).limit(wanted - len(rows))).all()
    return rows


def _after(query: Any, after: tuple[datetime, str, int] | None) -> Any:
    if after is None:
        return query
    at, last_id, _step = after
    return query.where(or_(Verification.created_at < at, and_(Verification.created_at == at, Verification.id < last_id)))


def _encode(verification: Verification) -> str:
    """The keyset cursor: the row's time, and its code step and id as ``<step hex>-<id without vf_>``."""
    return encode_cursor(verification.created_at, f"{verification.code_step:x}-{verification.id.removeprefix('vf_')}")


def _decode(cursor: str) -> tuple[datetime, str, int]:
    at, key = decode_cursor(cursor)
    step, dash, rest = key.partition("-")
    if not dash or not rest or not re.fullmatch(r"[0-9a-f]{1,9}", step):
        raise cursor_invalid()
    return at, "vf_" + rest, int(step, 16)


def apps_of_card(card_id: int) -> dict[str, str]:
    """Which app each of the card's devices (ever) served, by the first part of an accepted
    record's ``use_key``: a DGC1 pseudonym, or ``dgc2:<serial hex>`` of an offline certificate
    (issue 17 item 3: each app has its own device and pseudonym, so the record names the app).
    A family member's proxy device (issue 18) maps to ``relative:<relation>``."""
    carrier = func.coalesce(literal("relative:") + FamilyMember.relation, Device.platform).label("platform")
    devices = db.session.execute(select(Device.pseudonym, carrier).outerjoin(FamilyMember, FamilyMember.device_id == Device.id)
                                 .where(Device.card_id == card_id)).all()
    certificates = db.session.execute(select(OfflineCertificate.serial, carrier)
                                      .join(Device, Device.id == OfflineCertificate.device_id)
                                      .outerjoin(FamilyMember, FamilyMember.device_id == Device.id)
                                      .where(OfflineCertificate.card_id == card_id)).all()
    return {row.pseudonym: row.platform for row in devices} | {f"dgc2:{row.serial}": row.platform for row in certificates}


def app_of_use(use_key: str | None, apps: dict[str, str]) -> str | None:
    """The app of an accepted record's ``use_key`` (``pseudonym:factor`` or ``dgc2:serial:ctr``)."""
    return apps.get(use_key.rpartition(":")[0]) if use_key else None


def _item(verification: Verification, partner_name: str, location: str | None, used_at: datetime,
          apps: dict[str, str]) -> HistoryItem:
    disclosed = verification.disclosed.split(",") if verification.disclosed else []
    app = app_of_use(verification.use_key, apps)
    relative = app.removeprefix("relative:") if app and app.startswith("relative:") else None
    return HistoryItem(verification.id, used_at, partner_name, verification.terminal_id, location,
                       verification.scene, verification.accepted, verification.reason, disclosed,
                       None if relative else app, f"relative ({relative})" if relative else None)

