"""What a partner reads back (issue 20 item 3): one of its verifications by id, and its daily
statement (对账单) of verifications, for reconciliation (docs/partner-api.md "Reading back").

A day is a calendar day in the city's zone (Asia/Shanghai, +08:00), over the record's
``created_at`` (for a settled offline record: the settlement time; its ``scanned_at`` and
``record_id`` are columns of the row). The statement is a CSV file (UTF-8, ``\\n`` line ends,
RFC 4180 quoting) whose last line is its signature:

    #signature,HMAC-SHA256,<base64 of HMAC-SHA256(key = the partner's current secret, message = every byte before this line)>

The JSON form carries the same rows, totals and signature (the signature always signs the CSV
bytes). The subject's values are never kept (M-19): a row lists the fields disclosed, not their values.
"""
from __future__ import annotations

import base64
import csv
import hashlib
import hmac
import io
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import and_, select

from app.partners.partners import PartnerView
from app.platform.city_time import city_isoformat
from app.platform.clock import DISPLAY_ZONE
from app.platform.db import db
from app.runtime import Runtime
from app.scanning.models import OfflineRecord, Verification

COLUMNS = ("verification_id", "verified_at", "terminal_id", "scene", "carrier", "direction", "accepted", "reason",
           "disclosed", "entry_verification_id", "record_id", "scanned_at")
SIGNATURE_PREFIX = "#signature,HMAC-SHA256,"
EARLIEST_DAY = date(2020, 1, 1)


@dataclass(frozen=True)
class Statement:
    """``rows``: dicts keyed by :data:`COLUMNS` (strings, booleans, None); ``csv``: the signed file."""

    day: date
    final: bool
    rows: list[dict[str, Any]]
    totals: dict[str, Any]
    signature: str
    csv: bytes


def _row(verification: Verification, record: OfflineRecord | None) -> dict[str, Any]:
    return {"verification_id": verification.id, "verified_at": city_isoformat(verification.created_at),
            "terminal_id": verification.terminal_id, "scene": verification.scene, "carrier": verification.carrier,
            "direction": verification.direction, "accepted": verification.accepted, "reason": verification.reason,
            "disclosed": verification.disclosed.split(",") if verification.disclosed else [],
            "entry_verification_id": verification.linked_verification_id,
            "record_id": record.record_id if record else None,
            "scanned_at": city_isoformat(record.scanned_at) if record else None}


def _rows_query(partner_id: int) -> Any:
    return (select(Verification, OfflineRecord)
            .outerjoin(OfflineRecord, and_(OfflineRecord.verification_id == Verification.id,
                                           OfflineRecord.partner_id == partner_id))
            .where(Verification.partner_id == partner_id))


def partner_verification(partner_id: int, verification_id: str) -> dict[str, Any] | None:
    """The partner's own verification ``verification_id`` as a statement row, or None (also when it
    is another partner's: the answer does not tell the two apart)."""
    found = db.session.execute(_rows_query(partner_id).where(Verification.id == verification_id)).first()
    return _row(*found) if found else None


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """The UTC instants [start, end) of ``day`` in the city's zone."""
    start = datetime.combine(day, time(0), DISPLAY_ZONE).astimezone(UTC)
    return start, start + timedelta(days=1)


def daily_statement(rt: Runtime, partner: PartnerView, day: date) -> Statement:
    """``partner``'s verifications on ``day`` (+08:00), oldest first, with totals and the signature.
    ``final`` is false while the day is not over (the statement may still grow)."""
    start, end = day_bounds(day)
    query = (_rows_query(partner.id).where(Verification.created_at >= start, Verification.created_at < end)
             .order_by(Verification.created_at, Verification.id))
    rows = [_row(*found) for found in db.session.execute(query)]
    body = _csv(rows)
    signature = sign(partner.secrets[0], body)
    return Statement(day=day, final=rt.clock.now() >= end, rows=rows, totals=_totals(rows), signature=signature,
                     csv=body + f"{SIGNATURE_PREFIX}{signature}\n".encode())


def sign(secret: str, body: bytes) -> str:
    """base64(HMAC-SHA256(secret as UTF-8, body))."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def _totals(rows: list[dict[str, Any]]) -> dict[str, Any]:
    by_scene: dict[str, dict[str, int]] = {}
    for row in rows:
        tally = by_scene.setdefault(row["scene"], {"accepted": 0, "refused": 0})
        tally["accepted" if row["accepted"] else "refused"] += 1
    accepted = sum(tally["accepted"] for tally in by_scene.values())
    return {"count": len(rows), "accepted": accepted, "refused": len(rows) - accepted,
            "offline_settled": sum(1 for row in rows if row["record_id"] is not None),
            "by_scene": [{"scene": scene, **by_scene[scene]} for scene in sorted(by_scene)]}


def _csv(rows: list[dict[str, Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow([_cell(row[column]) for column in COLUMNS])
    return out.getvalue().encode()


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ";".join(value)
    return "" if value is None else str(value)
