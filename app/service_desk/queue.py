"""The staff queue at city scale (issue 21 item 1, M-14): one page of tickets, true counts per
tab, filters, sorting and a search over the ticket's text.

Tabs (``view``): ``open`` (not closed), ``new`` (unclaimed), ``mine`` (claimed by the actor, not
closed), ``closed``. A liaison sees only their department's tickets: open = waiting for the
department (``transferred``), or ``closed``. Filters narrow every tab alike, so the counts shown
beside the tabs are the true numbers of tickets each tab would page through.

Search (``text``): the ticket number (exact, upper-cased) or a substring of the complaint's text.
On PostgreSQL the substring match is ``ILIKE`` served by the ``pg_trgm`` GIN index
``ix_complaints_description_trgm`` (Chinese text is indexed by character trigrams) from three
characters on; a two-character term (common in Chinese: 扫码, 医保) is answered by the GIN index
``ix_complaints_description_bigrams`` over each text's lower-cased character bigrams (the rows
ILIKE finds: PostgreSQL's ILIKE on UTF-8 compares lower-cased text); one character scans. On
SQLite the same ``LIKE`` scans.

Paging: ``page`` skips rows (OFFSET); the next-page link carries a cursor (``after``: the last
row's sort key) and seeks past it instead, so a deep page costs what page 1 costs.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Select, Text, and_, case, func, literal, or_, select, tuple_, type_coerce
from sqlalchemy.dialects.postgresql import ARRAY, array

from app.platform.clock import DISPLAY_ZONE
from app.platform.db import db
from app.platform.models import UTCDateTime
from app.service_desk.audit import StaffActor
from app.service_desk.models import COMPLAINT_STATUSES, Complaint, Staff

PAGE_SIZE = 50
VIEWS = ("open", "new", "mine", "closed")
SORTS = ("fair", "created", "-created", "due", "-due")
MAX_TEXT = 40
BIGRAM = 2  # a search this long uses the bigram index (PostgreSQL): pg_trgm needs 3 characters
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
    after: str | None = None


@dataclass(frozen=True)
class QueuePage:
    """One page: ``tickets`` (at most :data:`PAGE_SIZE`), ``total`` (tickets in the filtered
    tab), ``pages`` (at least 1), ``counts`` (tab -> filtered total, every tab the role has),
    ``next_cursor`` (the ``after`` of the next page, None on the last)."""

    tickets: list[Complaint]
    total: int
    page: int
    pages: int
    counts: dict[str, int]
    next_cursor: str | None = None


def load(actor: StaffActor, wanted: QueueFilter, now: datetime) -> QueuePage:
    """The page the actor asked for, with the counts of every tab (one COUNT query).

    ``wanted.after`` (a :attr:`QueuePage.next_cursor`) seeks past the previous page's last
    ticket instead of skipping ``(page - 1) * 50`` rows: the same rows as ``page`` alone gives,
    found as fast on page 600 as on page 1; ``page`` is then only the number shown. A cursor
    that does not fit the tab's order is ignored (``page`` decides)."""
    base = _filtered(actor, wanted, now)
    counts = tab_counts(actor, base)
    view = wanted.view if wanted.view in counts else "open"
    total = counts[view]
    pages = max(1, -(-total // PAGE_SIZE))
    page = max(1, wanted.page)  # past the last page: an empty page
    order = _order(base.where(_tab(actor, view)), view, wanted.sort)
    after = order.decode(wanted.after)
    query = order.query.where(order.seek(after)) if after else order.query.offset((page - 1) * PAGE_SIZE)
    rows = db.session.execute(query.limit(PAGE_SIZE)).all()
    ids = [row[0] for row in rows]
    found = {c.id: c for c in db.session.scalars(select(Complaint).where(Complaint.id.in_(ids)))} if ids else {}
    following = order.encode(rows[-1][1:]) if len(rows) == PAGE_SIZE and page < pages else None
    return QueuePage([found[i] for i in ids if i in found], total, page, pages, counts, following)


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
    inside = Complaint.description.ilike(f"%{escaped}%", escape="\\")
    if len(text) == len(text.lower()) == BIGRAM and db.engine.dialect.name == "postgresql":
        # ILIKE on UTF-8 compares lower(text) with lower(pattern), so "lower(description) holds
        # the bigram lower(text)" is the same match, answered by the GIN index alone
        bigrams = type_coerce(func.desk_bigrams(Complaint.description), ARRAY(Text))
        inside = bigrams.contains(array([func.lower(literal(text, Text))]))
    return or_(Complaint.ticket_number == text.upper(), inside)


def _local_midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, DISPLAY_ZONE)


@dataclass(frozen=True)
class _Order:
    """A tab's order: ``query`` selects the id, then the sort key's columns (``keys``, each with
    ``descending``), ordered by them; ``name`` is the order a cursor belongs to. Every key
    column is NOT NULL for the tab's rows, and the last one is the id (unique): the key orders
    totally, so "after this key" is exact."""

    name: str
    query: Select[Any]
    keys: tuple[Any, ...]
    descending: tuple[bool, ...]

    def encode(self, values: Any) -> str:
        """The cursor of a row's key values: ``name.v1.v2...`` (times as UTC microseconds)."""
        return ".".join([self.name, *(str(_micros(v) if isinstance(v, datetime) else int(v)) for v in values)])

    def decode(self, cursor: str | None) -> tuple[Any, ...] | None:
        """The key values of a cursor of this order, or None (absent, malformed or another order's)."""
        parts = (cursor or "").split(".")
        if parts[0] != self.name or len(parts) != len(self.keys) + 1 or not all(_integer(p) for p in parts[1:]):
            return None
        values = [int(p) for p in parts[1:]]
        if any(abs(v) >= 2**31 for v, key in zip(values, self.keys, strict=True) if not _is_time(key)):
            return None  # ids and turns are 32-bit columns
        try:
            return tuple(_EPOCH + timedelta(microseconds=v) if _is_time(key) else v for v, key in zip(values, self.keys, strict=True))
        except OverflowError:  # a time past year 9999
            return None

    def seek(self, values: tuple[Any, ...]) -> Any:
        """The rows after ``values`` in this order: a row comparison when every key runs the same
        way (an index can seek it), else the expanded form."""
        if len(set(self.descending)) == 1:
            row, at = tuple_(*self.keys), tuple_(*(literal(v, key.type) for key, v in zip(self.keys, values, strict=True)))
            return row < at if self.descending[0] else row > at
        terms = []
        for n, (key, down) in enumerate(zip(self.keys, self.descending, strict=True)):
            ties = [k == v for k, v in zip(self.keys[:n], values[:n], strict=True)]
            terms.append(and_(*ties, key < values[n] if down else key > values[n]))
        return or_(*terms)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _micros(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1)


def _integer(text: str) -> bool:
    """An integer of at most 18 digits (fits a 64-bit column on either database)."""
    digits = text.removeprefix("-")
    return digits.isascii() and digits.isdigit() and len(digits) <= 18


def _is_time(key: Any) -> bool:
    return isinstance(key.type, UTCDateTime)


def _order(query: Select[Any], view: str, sort: str) -> _Order:
    """The tab's order (only ids and keys: the page's 50 rows are read afterwards, so the
    database never joins the whole tab back to the table)."""
    c = Complaint
    if sort in ("created", "-created"):
        down = sort == "-created"
        return _plain(sort, query, (c.created_at, c.id), (down, down))
    if sort in ("due", "-due"):
        return _plain(sort, query, (c.resolution_due, c.id), (sort == "-due", False))
    if view == "closed":
        return _plain("closed", query, (c.closed_at, c.id), (True, True))
    # fair turns; the partial index ix_complaints_open_turn gives the window its order unsorted
    turn = func.row_number().over(partition_by=c.citizen_id, order_by=(c.created_at, c.id))
    ranked = query.with_only_columns(c.id, c.created_at, turn.label("turn")).subquery()
    keys = (ranked.c.turn, ranked.c.created_at, ranked.c.id)
    return _Order("fair", select(ranked.c.id, *keys).order_by(*keys), keys, (False, False, False))


def _plain(name: str, query: Select[Any], keys: tuple[Any, ...], descending: tuple[bool, ...]) -> _Order:
    ordered = query.with_only_columns(Complaint.id, *keys).order_by(
        *(key.desc() if down else key for key, down in zip(keys, descending, strict=True)))
    return _Order(name, ordered, keys, descending)


def front_line_staff() -> list[tuple[int, str, str]]:
    """Active agents and supervisors as (id, username, display name), by username: the
    reassign list and the assignee filter."""
    rows = db.session.execute(select(Staff.id, Staff.username, Staff.display_name).where(
        Staff.role.in_(FRONT_LINE), Staff.disabled_at.is_(None)).order_by(Staff.username))
    return [(row.id, row.username, row.display_name) for row in rows]


STATUSES = COMPLAINT_STATUSES
