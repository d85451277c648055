"""Daily figures for the bureaus and the towns (M-10(2), M-10(7); docs/data-hub.md "Figures").

``citizencard hub figures`` computes each day (Asia/Shanghai) once, after it ends, into
:class:`DailyFigure` rows keyed by (day, town, department, metric, key):

- flows of the day, read by index range on their time column: ``cards_issued`` (per town),
  ``scans`` (per town of the holder, department = the verifying partner, key = scene),
  ``disbursements_paid`` / ``disbursements_returned`` (department = the disbursing partner),
  ``complaints_opened``, ``complaints_closed``, ``complaints_closed_in_time`` (department = the
  complaint's department; in time = closed by its resolution deadline);
- stocks at the day's end, the day before's stock plus the day's transitions (never a scan of
  every card): ``ecards_active`` (per town) and ``physical_cards`` (per town, key = state).

So the job reads one day of rows however many cards there are (bench/figures.py). A day is
written by upserts (a re-run or a second runner writes the same values). Nothing is suppressed
in the table; :func:`published_day` adds the totals and suppresses every count under
:data:`SUPPRESS_BELOW` and every count derivable from the shown ones (app/hub/suppression.py)
when a figure is shown (partner API, console, CSV) so that no small group is identifiable.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, literal, literal_column, or_, select

from app.card.models import Card, CarrierEvent
from app.hub.models import DailyFigure
from app.hub.suppression import SUPPRESS_BELOW, Equation, protect
from app.identity.models import Citizen
from app.money.models import DISBURSEMENT_CREDITED, DISBURSEMENT_RETURNED, Disbursement
from app.partners.models import Partner
from app.platform.clock import DISPLAY_ZONE
from app.platform.db import db
from app.platform.sql import upsert_insert
from app.runtime import Runtime
from app.scanning.models import Verification
from app.service_desk.models import Complaint

DONE = "computed"  # the marker row of a computed day
STOCKS = ("ecards_active", "physical_cards")
METRICS = ("cards_issued", "ecards_active", "physical_cards", "scans", "disbursements_paid", "disbursements_returned",
           "complaints_opened", "complaints_closed", "complaints_closed_in_time")
Key = tuple[str, str, str, str]  # town, department, metric, key


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """The UTC instants where ``day`` (Asia/Shanghai) starts and ends."""
    start = datetime.combine(day, time(), DISPLAY_ZONE).astimezone(UTC)
    return start, start + timedelta(days=1)


def _town() -> Any:
    return func.coalesce(Citizen.town, literal_column("''"))  # one rendering in SELECT and GROUP BY


def flows(day: date) -> dict[Key, int]:
    """The day's flow counts (see the module docstring)."""
    start, end = day_bounds(day)
    figures: dict[Key, int] = {}
    queries = [
        select(_town(), literal(""), literal("cards_issued"), literal(""), func.count())
        .select_from(Card).join(Citizen, Citizen.id == Card.citizen_id)
        .where(Card.created_at >= start, Card.created_at < end).group_by(_town()),
        select(_town(), Partner.partner_id, literal("scans"), Verification.scene, func.count())
        .select_from(Verification).join(Partner, Partner.id == Verification.partner_id)
        .outerjoin(Card, Card.id == Verification.card_id).outerjoin(Citizen, Citizen.id == Card.citizen_id)
        .where(Verification.created_at >= start, Verification.created_at < end)
        .group_by(_town(), Partner.partner_id, Verification.scene),
        *(_disbursements(start, end, status, metric) for status, metric in (
            (DISBURSEMENT_CREDITED, "disbursements_paid"), (DISBURSEMENT_RETURNED, "disbursements_returned"))),
        _complaints(Complaint.created_at, start, end, "complaints_opened"),
        _complaints(Complaint.closed_at, start, end, "complaints_closed"),
        _complaints(Complaint.closed_at, start, end, "complaints_closed_in_time", Complaint.closed_at <= Complaint.resolution_due),
    ]
    for query in queries:
        for town, department, metric, key, count in db.session.execute(query):
            figures[(town, department or "", metric, key or "")] = int(count)
    return figures


def _disbursements(start: datetime, end: datetime, status: str, metric: str) -> Any:
    return (select(_town(), Partner.partner_id, literal(metric), literal(""), func.count())
            .select_from(Disbursement).join(Citizen, Citizen.id == Disbursement.citizen_id)
            .join(Partner, Partner.id == Disbursement.department_id)
            .where(Disbursement.settled_at >= start, Disbursement.settled_at < end, Disbursement.status == status)
            .group_by(_town(), Partner.partner_id))


def _complaints(column: Any, start: datetime, end: datetime, metric: str, *extra: Any) -> Any:
    department = func.coalesce(Complaint.department, literal_column("''"))
    return (select(_town(), department, literal(metric), literal(""), func.count())
            .select_from(Complaint).join(Citizen, Citizen.id == Complaint.citizen_id)
            .where(column >= start, column < end, *extra).group_by(_town(), department))


def stock_changes(day: date) -> dict[Key, int]:
    """How the stocks moved during ``day``: new cards (+1 active e-card), and each carrier
    transition (-1 from its state, +1 to its state)."""
    start, end = day_bounds(day)
    changes: dict[Key, int] = defaultdict(int)
    for key, count in _new_cards(start, end):
        changes[key] += count
    rows = db.session.execute(
        select(_town(), CarrierEvent.carrier, CarrierEvent.from_state, CarrierEvent.to_state, func.count())
        .select_from(CarrierEvent).join(Card, Card.id == CarrierEvent.card_id).join(Citizen, Citizen.id == Card.citizen_id)
        .where(CarrierEvent.created_at >= start, CarrierEvent.created_at < end, CarrierEvent.carrier.in_(("ecard", "physical")),
               or_(CarrierEvent.from_state.is_(None), CarrierEvent.from_state != CarrierEvent.to_state))
        .group_by(_town(), CarrierEvent.carrier, CarrierEvent.from_state, CarrierEvent.to_state))
    for town, carrier, from_state, to_state, count in rows:
        metric = "ecards_active" if carrier == "ecard" else "physical_cards"
        for state, sign in ((from_state, -1), (to_state, 1)):
            if state is not None and (carrier == "physical" or state == "active"):
                changes[(town, "", metric, "" if carrier == "ecard" else state)] += sign * int(count)
    return changes


def _new_cards(start: datetime, end: datetime) -> Iterable[tuple[Key, int]]:
    rows = db.session.execute(select(_town(), func.count()).select_from(Card).join(Citizen, Citizen.id == Card.citizen_id)
                              .where(Card.created_at >= start, Card.created_at < end).group_by(_town()))
    return [((town, "", "ecards_active", ""), int(count)) for town, count in rows]


def stocks_before(day: date) -> dict[Key, int]:
    """The stocks at the end of the day before ``day`` (empty before the first computed day)."""
    rows = db.session.execute(select(DailyFigure.town, DailyFigure.department, DailyFigure.metric, DailyFigure.key,
                                     DailyFigure.value)
                              .where(DailyFigure.day == day - timedelta(days=1), DailyFigure.metric.in_(STOCKS)))
    return {(town, department, metric, key): int(value) for town, department, metric, key, value in rows}


def compute_day(rt: Runtime, day: date) -> int:
    """Compute and store ``day``'s figures (the day before must be computed, or be the first);
    returns how many rows were written. Commits."""
    figures = flows(day)
    stocks = stocks_before(day)
    for key, change in stock_changes(day).items():
        stocks[key] = stocks.get(key, 0) + change
    figures.update(stocks)
    figures[("", "", DONE, "")] = 1
    _store(day, figures)
    db.session.commit()
    return len(figures)


def _store(day: date, figures: dict[Key, int]) -> None:
    table = DailyFigure.__table__
    for (town, department, metric, key), value in figures.items():
        statement = upsert_insert(db.engine.dialect.name, table).values(
            day=day, town=town[:32], department=department[:64], metric=metric, key=key[:32], value=value)
        db.session.execute(statement.on_conflict_do_update(
            index_elements=[table.c.day, table.c.town, table.c.department, table.c.metric, table.c.key],
            set_={"value": statement.excluded.value}))


def run_figures(rt: Runtime, through: date | None = None) -> list[date]:
    """Compute every day not yet computed, from the day after the last computed one (or the first
    card's day) through ``through`` (default: yesterday, Asia/Shanghai). Returns the days done."""
    through = through or (rt.clock.now().astimezone(DISPLAY_ZONE).date() - timedelta(days=1))
    last = db.session.scalar(select(func.max(DailyFigure.day)).where(DailyFigure.metric == DONE))
    first = last + timedelta(days=1) if last else _first_day()
    if first is None:
        return []
    days = []
    while first <= through:
        compute_day(rt, first)
        days.append(first)
        first += timedelta(days=1)
    return days


def _first_day() -> date | None:
    first = db.session.scalar(select(func.min(Card.created_at)))
    return first.astimezone(DISPLAY_ZONE).date() if first else None


# --- showing ------------------------------------------------------------------------------------

TOTAL = "*"  # the town or department of a published total
BY_DEPARTMENT = ("scans", "disbursements_paid", "disbursements_returned", "complaints_opened", "complaints_closed",
                 "complaints_closed_in_time")


def shown(value: int) -> int | None:
    """A count as it may be shown on its own: None (suppressed) under :data:`SUPPRESS_BELOW`."""
    return value if value >= SUPPRESS_BELOW else None


def with_totals(cells: Mapping[Key, int]) -> tuple[dict[Key, int], list[Equation[Key]]]:
    """One day's cells and the totals published with them, and the equations that tie them: per
    metric and key, each town's total over departments (``(town, "*")``) and each department's
    over towns (``("*", department)``) for the metrics kept per department, and the grand total
    (``("*", "*")``, or ``("*", "")`` for the metrics without departments)."""
    values = dict(cells)
    groups: dict[tuple[str, str], list[Key]] = defaultdict(list)
    for cell in cells:
        groups[(cell[2], cell[3])].append(cell)
    equations: list[Equation[Key]] = []
    for (metric, key), members in groups.items():
        if metric in BY_DEPARTMENT:
            rows = _margin(values, equations, members, 0)
            columns = _margin(values, equations, members, 1)
            grand = (TOTAL, TOTAL, metric, key)
            values[grand] = sum(cells[cell] for cell in members)
            equations += [(grand, rows), (grand, columns)]
        else:
            grand = (TOTAL, "", metric, key)
            values[grand] = sum(cells[cell] for cell in members)
            equations.append((grand, sorted(members)))
    return values, equations


def _margin(values: dict[Key, int], equations: list[Equation[Key]], members: list[Key], axis: int) -> list[Key]:
    """Add the totals of ``members`` by their town (axis 0) or department (axis 1); their keys."""
    lines: dict[Key, list[Key]] = defaultdict(list)
    for town, department, metric, key in members:
        lines[(town, TOTAL, metric, key) if axis == 0 else (TOTAL, department, metric, key)].append((town, department, metric, key))
    for total, parts in lines.items():
        values[total] = sum(values[part] for part in parts)
        equations.append((total, sorted(parts)))
    return sorted(lines)


def published_day(cells: Mapping[Key, int]) -> dict[Key, int | None]:
    """The one function behind every published figure (partner API, console, CSV): one day's
    cells with their totals, each None where suppressed (under 10, or derivable by subtraction:
    app/hub/suppression.py). Each day is protected on its own and whole, before any filter, so
    that no two questions see different suppressions of the same day."""
    values, equations = with_totals(cells)
    hidden = protect(values, equations)
    return {cell: None if cell in hidden else value for cell, value in values.items()}


def _stored_days(day_from: date, day_to: date, metrics: tuple[str, ...] | None = None) -> dict[date, dict[Key, int]]:
    query = select(DailyFigure).where(DailyFigure.day >= day_from, DailyFigure.day <= day_to, DailyFigure.metric != DONE)
    if metrics is not None:
        query = query.where(DailyFigure.metric.in_(metrics))
    days: dict[date, dict[Key, int]] = defaultdict(dict)
    for row in db.session.scalars(query):
        days[row.day][(row.town, row.department, row.metric, row.key)] = row.value
    return days


def published(day_from: date, day_to: date) -> dict[date, dict[Key, int | None]]:
    """:func:`published_day` of every computed day in [``day_from``, ``day_to``]."""
    return {day: published_day(cells) for day, cells in sorted(_stored_days(day_from, day_to).items())}


def figures_of(day_from: date, day_to: date, town: str | None = None, department: str | None = None) -> list[dict[str, Any]]:
    """The published figures in [``day_from``, ``day_to``]: ``{"day", "town", "department",
    "metric", "key", "value"}`` (``value`` None = suppressed; town or department ``*`` = a total),
    ordered by day, town, department, metric, key, then each day's and group's ``sla_rate_percent``
    (percent of complaints closed in time, when both counts are shown). ``town`` and
    ``department`` filter what is returned, never what is suppressed."""
    items = []
    for day, cells in published(day_from, day_to).items():
        for (cell_town, cell_department, metric, key), value in sorted(cells.items()):
            if (town is None or cell_town == town) and (department is None or cell_department == department):
                items.append({"day": day.isoformat(), "town": cell_town, "department": cell_department, "metric": metric,
                              "key": key, "value": value})
    return items + _sla_rates(items)


def _sla_rates(items: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    closed: dict[tuple[str, str, str], dict[str, int | None]] = defaultdict(dict)
    for item in items:
        if item["metric"] in ("complaints_closed", "complaints_closed_in_time"):
            closed[(item["day"], item["town"], item["department"])][item["metric"]] = item["value"]
    rates = []
    for (day, town, department), counts in closed.items():
        total, in_time = counts.get("complaints_closed"), counts.get("complaints_closed_in_time", 0)
        rate = round(100 * in_time / total) if total is not None and in_time is not None and total else None
        rates.append({"day": day, "town": town, "department": department, "metric": "sla_rate_percent", "key": "",
                      "value": rate})
    return rates


def computed_through() -> date | None:
    """The last computed day."""
    return db.session.scalar(select(func.max(DailyFigure.day)).where(DailyFigure.metric == DONE))



def chart_series(day_from: date, day_to: date) -> dict[str, list[tuple[str, int | None]]]:
    """What the console charts: per town, the e-cards active at the range's last computed day (a
    published cell) and the cards issued over the range; per scene, the scans over the range (the
    days' grand totals summed). A sum over days is shown only when every day it sums is shown and
    it is at least 10: else two ranges differing by one day would give that day away. Largest first."""
    days = published(day_from, day_to)
    issued: dict[str, list[int | None]] = defaultdict(list)
    scans: dict[str, list[int | None]] = defaultdict(list)
    active: dict[str, int | None] = {}
    for cells in days.values():  # oldest first: the last day's stock wins
        for (town, department, metric, key), value in cells.items():
            if metric == "cards_issued" and town != TOTAL:
                issued[town].append(value)
            elif metric == "scans" and (town, department) == (TOTAL, TOTAL):
                scans[key].append(value)
            elif metric == "ecards_active" and town != TOTAL:
                active[town] = value
    raw = {town: value or 0 for town, value in active.items()}

    def ranked(totals: dict[str, int | None], order: dict[str, int]) -> list[tuple[str, int | None]]:
        return [(name, totals[name]) for name in sorted(totals, key=lambda name: (-order[name], name))]

    issued_sums = {town: _range_sum(values) for town, values in issued.items()}
    scan_sums = {scene: _range_sum(values) for scene, values in scans.items()}
    return {"issued_by_town": ranked(issued_sums, {town: value or 0 for town, value in issued_sums.items()}),
            "active_by_town": ranked(active, raw),
            "scans_by_scene": ranked(scan_sums, {scene: value or 0 for scene, value in scan_sums.items()})}


def _range_sum(values: list[int | None]) -> int | None:
    """A sum over days: None when a day is suppressed or the sum is under 10."""
    return None if any(value is None for value in values) else shown(sum(values))  # type: ignore[arg-type]
