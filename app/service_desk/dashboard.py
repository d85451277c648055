"""The supervisor's dashboard (issue 21 item 2, M-14): volumes, deadline (SLA) rates, backlog,
workload and ratings over a window of recent days, and the queue as CSV and as an Excel workbook.

Figures are computed from ``complaints`` alone at request time: tickets filed in the window for
volumes, rates and ratings; every open ticket for backlog and workload. Days are local dates
(Asia/Shanghai). No personal data: counts, categories, departments, staff usernames.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Select, case, func, select

from app.platform import xlsxfile
from app.platform.clock import DISPLAY_ZONE
from app.platform.csvfile import csv_chunks
from app.platform.db import db
from app.service_desk.models import Complaint, Staff

EXPORT_LIMIT = 100_000
EXPORT_COLUMNS = ("ticket_number", "category", "status", "department", "assignee", "created_at", "first_response_due",
                  "first_responded_at", "resolution_due", "closed_at", "rating")
EXPORT_HEADERS = {"ticket_number": "工单号", "category": "类别", "status": "状态", "department": "部门", "assignee": "处理人",
                  "created_at": "提交时间", "first_response_due": "首次回复期限", "first_responded_at": "首次回复时间",
                  "resolution_due": "办结期限", "closed_at": "办结时间", "rating": "评分"}


@dataclass(frozen=True)
class Dashboard:
    """``days``: (local date, opened, closed) for each day of the window, oldest first;
    ``first_reply`` / ``resolution``: (met, due so far) among tickets filed in the window;
    ``backlog_by_category`` / ``backlog_by_department``: open tickets; ``workload``: username ->
    (open now, closed in the window); ``ratings``: score 1-5 -> count in the window."""

    days: list[tuple[date, int, int]]
    first_reply: tuple[int, int]
    resolution: tuple[int, int]
    backlog_by_category: dict[str, int]
    backlog_by_department: dict[str, int]
    workload: dict[str, tuple[int, int]]
    ratings: dict[int, int]

    @property
    def average_rating(self) -> float | None:
        """The mean score, or None without ratings."""
        total = sum(self.ratings.values())
        return sum(score * n for score, n in self.ratings.items()) / total if total else None


def build(now: datetime, window_days: int = 30) -> Dashboard:
    """The dashboard for the ``window_days`` local days up to today."""
    today = now.astimezone(DISPLAY_ZONE).date()
    first_day = today - timedelta(days=window_days - 1)
    start = datetime.combine(first_day, time.min, DISPLAY_ZONE)
    return Dashboard(_days(start, first_day, window_days), _rate(start, now, "first"), _rate(start, now, "resolution"),
                     _backlog(Complaint.category), _backlog(Complaint.department), _workload(start), _ratings(start))


def _days(start: datetime, first_day: date, window_days: int) -> list[tuple[date, int, int]]:
    opened = Counter(_local_day(at) for at in db.session.scalars(select(Complaint.created_at).where(Complaint.created_at >= start)))
    closed = Counter(_local_day(at) for at in db.session.scalars(select(Complaint.closed_at).where(Complaint.closed_at >= start)))
    days = [first_day + timedelta(days=n) for n in range(window_days)]
    return [(day, opened[day], closed[day]) for day in days]


def _local_day(moment: datetime) -> date:
    return moment.astimezone(DISPLAY_ZONE).date()


def _rate(start: datetime, now: datetime, which: str) -> tuple[int, int]:
    """(met, due): a ticket counts once its deadline has passed or it was done; met = done by the deadline."""
    done, due = ((Complaint.first_responded_at, Complaint.first_response_due) if which == "first"
                 else (Complaint.closed_at, Complaint.resolution_due))
    counted = done.is_not(None) | (due < now)
    met = done.is_not(None) & (done <= due)
    row = db.session.execute(select(func.coalesce(func.sum(case((counted, 1), else_=0)), 0),
                                    func.coalesce(func.sum(case((met, 1), else_=0)), 0))
                             .where(Complaint.created_at >= start)).one()
    return int(row[1]), int(row[0])


def _backlog(column: Any) -> dict[str, int]:
    rows = db.session.execute(select(column, func.count()).where(Complaint.status != "closed").group_by(column)
                              .order_by(func.count().desc()))
    return {(key or "—"): n for key, n in rows}


def _workload(start: datetime) -> dict[str, tuple[int, int]]:
    open_now = case((Complaint.status != "closed", 1), else_=0)
    closed_recently = case((Complaint.closed_at >= start, 1), else_=0)
    rows = db.session.execute(select(Staff.username, func.sum(open_now), func.sum(closed_recently))
                              .join(Staff, Staff.id == Complaint.assignee_id).group_by(Staff.username)
                              .order_by(func.sum(open_now).desc(), Staff.username))
    return {username: (int(o or 0), int(c or 0)) for username, o, c in rows}


def _ratings(start: datetime) -> dict[int, int]:
    rows = dict(db.session.execute(select(Complaint.rating, func.count()).where(
        Complaint.rating.is_not(None), Complaint.created_at >= start).group_by(Complaint.rating)).all())
    return {score: int(rows.get(score, 0)) for score in range(1, 6)}


def export_rows(query: Select[Any]) -> Iterator[list[str]]:
    """The tickets of ``query`` (a filtered queue, app.service_desk.queue) as rows of text in
    :data:`EXPORT_COLUMNS` order, newest first, times local, at most :data:`EXPORT_LIMIT` rows. No
    complaint text and no citizen: ticket metadata only. The CSV and the Excel export are these rows."""
    names = dict(db.session.execute(select(Staff.id, Staff.username)).all())
    rows = db.session.execute(query.order_by(Complaint.created_at.desc(), Complaint.id.desc()).limit(EXPORT_LIMIT)
                              .execution_options(yield_per=1000)).scalars()
    for ticket in rows:
        yield [_cell(ticket, column, names) for column in EXPORT_COLUMNS]


def export_csv(query: Select[Any]) -> Iterator[str]:
    """:func:`export_rows` as CSV for Excel (UTF-8 with a byte-order mark), header first, in chunks."""
    return csv_chunks(EXPORT_COLUMNS, export_rows(query))


def export_xlsx(query: Select[Any]) -> bytes:
    """:func:`export_rows` as an Excel workbook under the Chinese header :data:`EXPORT_HEADERS`."""
    return xlsxfile.workbook("工单", [EXPORT_HEADERS[c] for c in EXPORT_COLUMNS], export_rows(query))


def _cell(ticket: Complaint, column: str, names: dict[int, str]) -> str:
    value = names.get(ticket.assignee_id, "") if column == "assignee" and ticket.assignee_id else getattr(ticket, column, None)
    if isinstance(value, datetime):
        return value.astimezone(DISPLAY_ZONE).strftime("%Y-%m-%d %H:%M")
    return "" if value is None or column == "assignee" and not ticket.assignee_id else str(value)
