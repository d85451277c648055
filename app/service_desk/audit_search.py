"""The auditor's view of the audit trail (issue 21 item 8, M-25): filtered, paged, exported.

Filters: the actor (a staff username, an operator's name or a partner id, exact), the action, the
local dates from / until (Asia/Shanghai, inclusive), the citizen (their internal id, as recorded).
Pages of :data:`PAGE_SIZE`, newest first, with the true total. The export is the same filter as
CSV (UTF-8 with a byte-order mark, so Excel opens the Chinese; at most :data:`EXPORT_LIMIT`
rows; a cell starting with ``= + - @`` gets a leading ``'`` so a spreadsheet never runs it), and
the same rows as an Excel workbook with Chinese headers.
Records hold ids and field names, never personal values, so neither the page nor the export
shows personal data.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Select, func, select

from app.platform import xlsxfile
from app.platform.clock import DISPLAY_ZONE
from app.platform.csvfile import csv_chunks
from app.platform.db import db
from app.service_desk.models import AuditRecord

PAGE_SIZE = 50
EXPORT_LIMIT = 100_000
COLUMNS = ("seq", "at", "actor_kind", "actor_id", "actor_role", "department", "action", "citizen_id",
           "ticket_number", "reference", "fields", "reason", "hash")
HEADERS = {"seq": "序号", "at": "时间", "actor_kind": "操作者类型", "actor_id": "操作者", "actor_role": "角色",
           "department": "部门", "action": "操作", "citizen_id": "市民编号", "ticket_number": "工单号",
           "reference": "关联编号", "fields": "字段", "reason": "原因", "hash": "哈希"}


@dataclass(frozen=True)
class AuditFilter:
    """What the auditor asked for; ``None`` means any."""

    actor: str | None = None
    action: str | None = None
    since: date | None = None
    until: date | None = None
    citizen_id: int | None = None
    page: int = 1


@dataclass(frozen=True)
class AuditPage:
    """One page, newest first, and the number of matching records."""

    records: list[AuditRecord]
    total: int
    page: int
    pages: int


def _filtered(wanted: AuditFilter) -> Select[Any]:
    query = select(AuditRecord)
    if wanted.actor:
        query = query.where(AuditRecord.actor_id == wanted.actor)
    if wanted.action:
        query = query.where(AuditRecord.action == wanted.action)
    if wanted.citizen_id is not None:
        query = query.where(AuditRecord.citizen_id == wanted.citizen_id)
    if wanted.since:
        query = query.where(AuditRecord.at >= datetime.combine(wanted.since, time.min, DISPLAY_ZONE))
    if wanted.until:
        query = query.where(AuditRecord.at < datetime.combine(wanted.until + timedelta(days=1), time.min, DISPLAY_ZONE))
    return query


def search(wanted: AuditFilter) -> AuditPage:
    """One page of matching records and their total."""
    query = _filtered(wanted)
    total = db.session.scalar(query.with_only_columns(func.count(AuditRecord.id)).order_by(None)) or 0
    pages = max(1, -(-total // PAGE_SIZE))
    page = max(1, wanted.page)
    ordered = query.order_by(AuditRecord.at.desc(), AuditRecord.id.desc())
    return AuditPage(list(db.session.scalars(ordered.offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE))), total, page, pages)


def actions() -> list[str]:
    """The actions present in the trail, for the filter's list."""
    return list(db.session.scalars(select(AuditRecord.action).distinct().order_by(AuditRecord.action)))


def export_rows(wanted: AuditFilter) -> Iterator[list[str]]:
    """The matching records as rows of text in :data:`COLUMNS` order, newest first, at most
    :data:`EXPORT_LIMIT` (formulas neutralised): the CSV and the Excel export are these rows."""
    query = _filtered(wanted).order_by(AuditRecord.at.desc(), AuditRecord.id.desc()).limit(EXPORT_LIMIT)
    for record in db.session.execute(query.execution_options(yield_per=1000)).scalars():
        yield [_cell(getattr(record, column)) for column in COLUMNS]


def export_csv(wanted: AuditFilter) -> Iterator[str]:
    """:func:`export_rows` as CSV text, header first, streamed in chunks."""
    return csv_chunks(COLUMNS, export_rows(wanted))


def export_xlsx(wanted: AuditFilter) -> bytes:
    """:func:`export_rows` as an Excel workbook under the Chinese header :data:`HEADERS`."""
    return xlsxfile.workbook("审计记录", [HEADERS[c] for c in COLUMNS], export_rows(wanted))


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(DISPLAY_ZONE).strftime("%Y-%m-%d %H:%M:%S")
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text
