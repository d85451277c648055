"""The staff queue at city scale (issue 21 item 1, M-14): one page of tickets, true counts per
tab, filters, sorting and a search over the ticket's text.

Tabs (``view``): ``open`` (not closed), ``new`` (unclaimed), ``mine`` (claimed by the actor, not
closed), ``closed``. A liaison sees only their department's tickets: open = waiting for the
department (``transferred``), or ``closed``. Filters narrow every tab alike, so the counts shown
beside the tabs are the true numbers of tickets each tab would page through.

Search (``text``): the ticket number (exact, upper-cased) or a substring of the complaint's text.
On PostgreSQL the substring match is ``ILIKE`` served by the ``pg_trgm`` GIN index
``ix_complaints_description_trgm`` (Chinese text is indexed by character trigrams; a query of one
or two characters still answers, from a scan of the index); on SQLite the same ``LIKE`` scans.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Select, and_, case, func, or_, select

from app.platform.clock import DISPLAY_ZONE
from app.platform.db import db
from app.service_desk.audit import StaffActor
from app.service_desk.models import COMPLAINT_STATUSES, Complaint, Staff

PAGE_SIZE = 50
VIEWS = ("open", "new", "mine", "closed")
SORTS = ("fair", "created", "-created", "due", "-due")
MAX_TEXT = 40
FRONT_LINE = ("agent", "supervisor")
TICKET_NUMBER = re.compile(r"CS\d{8}-[0-9A-Z]{6}")


@dataclass(frozen=True)
class QueueFilter:
    """What the queue shows. ``since``/``until``: local dates (Asia/Shanghai) of filing,
    inclusive. ``overdue``: open and past a deadline (first reply or resolution). ``sort``: one
    of :data:`SORTS` (``fair``: each citizen's oldest open ticket first, then everyone's second;
    for ``closed`` it means newest closed first). ``page`` from 1."""

    view: str = "open"
    kind: str | None = None
    category: str | None = None
    status: str | None = None
    department: str | None = None
    assignee_id: int | None = None
    since: date | None = None
    until: date | None = None
    overdue: bool = False
    text: str | None = None
    sort: str = "fair"
    page: int = 1


@dataclass(frozen=True)
class QueuePage:
    """One page: ``tickets`` (at most :data:`PAGE_SIZE`), ``total`` (tickets in the filtered
    tab), ``pages`` (at least 1), ``counts`` (tab -> filtered total, every tab the role has)."""

    tickets: list[Complaint]
    total: int
    page: int
    pages: int
    counts: dict[str, int]


def load(actor: StaffActor, wanted: QueueFilter, now: datetime) -> QueuePage:
    """The page the actor asked for, with the counts of every tab (one COUNT query)."""
    base = _filtered(actor, wanted, now)
    counts = tab_counts(actor, base)
    view = wanted.view if wanted.view in counts else "open"
    total = counts[view]
    pages = max(1, -(-total // PAGE_SIZE))
    page = max(1, wanted.page)  # past the last page: an empty page
    ids = list(db.session.scalars(_ordered_ids(base.where(_tab(actor, view)), view, wanted.sort)
                                  .offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)))
    found = {c.id: c for c in db.session.scalars(select(Complaint).where(Complaint.id.in_(ids)))} if ids else {}
    return QueuePage([found[i] for i in ids if i in found], total, page, pages, counts)


def tab_query(actor: StaffActor, wanted: QueueFilter, now: datetime) -> Select[Any]:
    """The tickets of the wanted tab with the filters applied (unordered): the CSV export's rows."""
    view = wanted.view if wanted.view in VIEWS else "open"
    return _filtered(actor, wanted, now).where(_tab(actor, view))


def tab_counts(actor: StaffActor, base: Select[Any]) -> dict[str, int]:
    """Tab -> number of filtered tickets in it, from one ``SELECT count(*) FILTER``-style query
    (``sum(CASE ...)``, which both databases run)."""
    views = ("open", "closed") if actor.role == "liaison" else VIEWS
    columns = [func.coalesce(func.sum(case((_tab(actor, view), 1), else_=0)), 0).label(view) for view in views]
    row = db.session.execute(base.with_only_columns(*columns).order_by(None)).one()
    return {view: int(row._mapping[view]) for view in views}


def _tab(actor: StaffActor, view: str) -> Any:
    closed = Complaint.status == "closed"
    if view == "closed":
        return closed
    if actor.role == "liaison":
        return Complaint.status == "transferred"
    if view == "mine":
        return and_(~closed, Complaint.assignee_id == actor.staff_id)
    if view == "new":
        return Complaint.status == "new"
    return ~closed


def _filtered(actor: StaffActor, wanted: QueueFilter, now: datetime) -> Select[Any]:
    query = select(Complaint)
    if actor.role == "liaison":
        query = query.where(Complaint.department == actor.department)
    for column, value in ((Complaint.kind, wanted.kind), (Complaint.category, wanted.category), (Complaint.status, wanted.status),
                          (Complaint.department, wanted.department), (Complaint.assignee_id, wanted.assignee_id)):
        if value is not None:
            query = query.where(column == value)
    if wanted.since is not None:
        query = query.where(Complaint.created_at >= _local_midnight(wanted.since))
    if wanted.until is not None:
        query = query.where(Complaint.created_at < _local_midnight(wanted.until + timedelta(days=1)))
    if wanted.overdue:
        query = query.where(overdue_clause(now))
    if wanted.text:
        query = query.where(search_clause(wanted.text))
    return query


def overdue_clause(now: datetime) -> Any:
    """Open and past a deadline: no first reply by ``first_response_due`` or not closed by
    ``resolution_due``."""
    late_reply = Complaint.first_responded_at.is_(None) & (Complaint.first_response_due < now)
    return (Complaint.status != "closed") & or_(late_reply, Complaint.resolution_due < now)


def search_clause(text: str) -> Any:
    """A whole ticket number finds that ticket (through its unique index); any other ``text`` is
    looked for inside the complaint (``%``, ``_`` and ``\\`` in ``text`` are matched literally)."""
    text = text.strip()[:MAX_TEXT]
    if TICKET_NUMBER.fullmatch(text.upper()):
        return Complaint.ticket_number == text.upper()
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return or_(Complaint.ticket_number == text.upper(), Complaint.description.ilike(f"%{escaped}%", escape="\\"))


def _local_midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, DISPLAY_ZONE)


def _ordered_ids(query: Select[Any], view: str, sort: str) -> Select[Any]:
    """The ids of the tab's tickets in the wanted order (only ids: the page's 50 rows are read
    afterwards, so the database never joins the whole tab back to the table)."""
    ids = query.with_only_columns(Complaint.id)
    if sort == "created":
        return ids.order_by(Complaint.created_at, Complaint.id)
    if sort == "-created":
        return ids.order_by(Complaint.created_at.desc(), Complaint.id.desc())
    if sort in ("due", "-due"):
        due = Complaint.resolution_due if sort == "due" else Complaint.resolution_due.desc()
        return ids.order_by(due, Complaint.id)
    if view == "closed":
        return ids.order_by(Complaint.closed_at.desc(), Complaint.id.desc())
    # fair turns; the partial index ix_complaints_open_turn gives the window its order unsorted
    turn = func.row_number().over(partition_by=Complaint.citizen_id, order_by=(Complaint.created_at, Complaint.id))
    ranked = query.with_only_columns(Complaint.id, Complaint.created_at, turn.label("turn")).subquery()
    return select(ranked.c.id).order_by(ranked.c.turn, ranked.c.created_at, ranked.c.id)


def front_line_staff() -> list[tuple[int, str, str]]:
    """Active agents and supervisors as (id, username, display name), by username: the
    reassign list and the assignee filter."""
    rows = db.session.execute(select(Staff.id, Staff.username, Staff.display_name).where(
        Staff.role.in_(FRONT_LINE), Staff.disabled_at.is_(None)).order_by(Staff.username))
    return [(row.id, row.username, row.display_name) for row in rows]


STATUSES = COMPLAINT_STATUSES
