"""What a citizen sees of staff access to their data (M-25; ``GET /api/mp/v1/me/access-log``).

Every staff record of the audit trail on the citizen, newest first, paged with an opaque keyset
cursor (app.platform.cursor), so page views cannot push anything out of reach (issue 15 item 5).
Consecutive ``view`` records by one staff member on one ticket are one item with a ``count``
and the time of the first and the last; an ``unmask`` or a ``lookup`` is always an item of its
own. A reviewer's reads of and decisions on the citizen's e-card application (issue 17 item 1;
purpose: the application's reference) are included once it is approved. Family-list actions
(issue 18: a relative adding you, printing a code for you, reading your history; your own
confirmations and consent switches) are items with role ``relative`` or ``self``, the relation as
the department and ``family:<entry id>`` as the purpose. The staff member is never named: only their role and department.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import or_, select, tuple_

from app.platform.cursor import cursor_invalid, decode_cursor, encode_cursor
from app.platform.db import db
from app.service_desk.models import AuditRecord, CardApplication

SCAN_BATCH = 500
MAX_RECORD_ID = 2**63 - 1
FOLDED = "view"
# relying parties: each release at a log-in (app/oidc); family: a relative's or your own family-list actions (issue 18)
SHOWN_ACTORS = ("staff", "relying_party", "family")


@dataclass
class AccessLogEntry:
    """One item: ``count`` records from ``first_accessed_at`` to ``accessed_at`` (the newest)."""

    accessed_at: datetime
    first_accessed_at: datetime
    count: int
    role: str
    department: str | None
    action: str
    purpose: str | None
    fields: list[str]
    _who: str = field(repr=False, default="")

    def folds(self, record: AuditRecord) -> bool:
        """True if ``record`` (older) continues this item: views by the same person on the same ticket."""
        return (self.action == record.action == FOLDED and self._who == record.actor_id
                and self.purpose == record.ticket_number)


@dataclass(frozen=True)
class AccessLogPage:
    items: list[AccessLogEntry]
    next_cursor: str | None


def access_log_page(citizen_id: int, limit: int, cursor: str | None = None) -> AccessLogPage:
    """Up to ``limit`` items, newest first, after ``cursor``; ``next_cursor`` is None on the last
    page. An item is never split across pages. 422 ``cursor_invalid``."""
    after = _decode(cursor) if cursor else None
    items: list[AccessLogEntry] = []
    last: AuditRecord | None = None
    while True:
        batch = _records(citizen_id, after)
        for record in batch:
            if items and items[-1].folds(record):
                items[-1].count += 1
                items[-1].first_accessed_at = record.at
            elif len(items) == limit:
                assert last is not None
                return AccessLogPage(items, encode_cursor(last.at, last.id))
            else:
                items.append(_entry(record))
            last = record
        if len(batch) < SCAN_BATCH:
            return AccessLogPage(items, None)
        after = (batch[-1].at, batch[-1].id)


def _records(citizen_id: int, after: tuple[datetime, int] | None) -> list[AuditRecord]:
    applications = select(CardApplication.reference).where(CardApplication.citizen_id == citizen_id)
    query = select(AuditRecord).where(or_(AuditRecord.citizen_id == citizen_id, AuditRecord.ticket_number.in_(applications)),
                                      AuditRecord.actor_kind.in_(SHOWN_ACTORS))  # a reviewer's reads before approval too
    if after is not None:
        query = query.where(tuple_(AuditRecord.at, AuditRecord.id) < tuple_(*after))
    return list(db.session.scalars(query.order_by(AuditRecord.at.desc(), AuditRecord.id.desc()).limit(SCAN_BATCH)))


def _entry(record: AuditRecord) -> AccessLogEntry:
    return AccessLogEntry(record.at, record.at, 1, record.actor_role, record.department, record.action,
                          record.ticket_number, record.fields.split(",") if record.fields else [], record.actor_id)


def _decode(cursor: str) -> tuple[datetime, int]:
    """The cursor's (time, record id): an id that fits the column, a time that is a UTC instant."""
    at, key = decode_cursor(cursor)
    if not (key.isascii() and key.isdigit()) or int(key[:19]) > MAX_RECORD_ID or len(key) > 19:
        raise cursor_invalid()
    try:
        return at.astimezone(UTC), int(key)
    except (OverflowError, ValueError):
        raise cursor_invalid() from None
