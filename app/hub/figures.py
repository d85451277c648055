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
in the table; :func:`shown` suppresses every count under :data:`SUPPRESS_BELOW` when a figure is
shown (partner API, console, CSV) so that no small group is identifiable.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, literal, literal_column, or_, select

from app.card.models import Card, CarrierEvent
from app.hub.models import DailyFigure
from app.identity.models import Citizen
from app.money.models import DISBURSEMENT_CREDITED, DISBURSEMENT_RETURNED, Disbursement
from app.partners.models import Partner
from app.platform.clock import DISPLAY_ZONE
from app.platform.db import db
from app.platform.sql import upsert_insert
from app.runtime import Runtime
from app.scanning.models import Verification
from app.service_desk.models import Complaint

SUPPRESS_BELOW = 10
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


def shown(value: int) -> int | None:
    """A count as it may be shown: None (suppressed) under :data:`SUPPRESS_BELOW`."""
    return value if value >= SUPPRESS_BELOW else None


def figures_of(day_from: date, day_to: date, town: str | None = None, department: str | None = None) -> list[dict[str, Any]]:
    """The stored figures in [``day_from``, ``day_to``], suppressed: ``{"day", "town",
    "department", "metric", "key", "value"}`` (``value`` None = under 10), plus each day's and
    group's ``sla_rate`` (percent of complaints closed in time, when both counts are shown)."""
    query = select(DailyFigure).where(DailyFigure.day >= day_from, DailyFigure.day <= day_to, DailyFigure.metric != DONE)
    if town is not None:
        query = query.where(DailyFigure.town == town)
    if department is not None:
        query = query.where(DailyFigure.department == department)
    rows = db.session.scalars(query.order_by(DailyFigure.day, DailyFigure.town, DailyFigure.department,
                                             DailyFigure.metric, DailyFigure.key)).all()
    items = [{"day": row.day.isoformat(), "town": row.town, "department": row.department, "metric": row.metric,
              "key": row.key, "value": shown(row.value)} for row in rows]
    return items + _sla_rates(rows)


def _sla_rates(rows: Iterable[DailyFigure]) -> list[dict[str, Any]]:
    closed: dict[tuple[date, str, str], dict[str, int]] = defaultdict(dict)
    for row in rows:
        if row.metric in ("complaints_closed", "complaints_closed_in_time"):
            closed[(row.day, row.town, row.department)][row.metric] = row.value
    rates = []
    for (day, town, department), counts in closed.items():
        total, in_time = counts.get("complaints_closed", 0), counts.get("complaints_closed_in_time", 0)
        rate = round(100 * in_time / total) if shown(total) is not None and shown(in_time) is not None else None
        rates.append({"day": day.isoformat(), "town": town, "department": department, "metric": "sla_rate_percent",
                      "key": "", "value": rate})
    return rates


def computed_through() -> date | None:
    """The last computed day."""
    return db.session.scalar(select(func.max(DailyFigure.day)).where(DailyFigure.metric == DONE))



def chart_series(day_from: date, day_to: date) -> dict[str, list[tuple[str, int | None]]]:
    """What the console charts: per town, the e-cards active at the range's last computed day and
    the cards issued over the range; per scene, the scans over the range. Each total is summed
    from the raw counts and then suppressed (None under 10), largest first."""
    rows = db.session.scalars(select(DailyFigure).where(DailyFigure.day >= day_from, DailyFigure.day <= day_to,
                                                        DailyFigure.metric.in_(("cards_issued", "ecards_active", "scans"))))
    issued: dict[str, int] = defaultdict(int)
    scans: dict[str, int] = defaultdict(int)
    active: dict[str, tuple[date, int]] = {}
    for row in rows:
        if row.metric == "cards_issued":
            issued[row.town] += row.value
        elif row.metric == "scans":
            scans[row.key] += row.value
        elif row.town not in active or active[row.town][0] < row.day:
            active[row.town] = (row.day, row.value)

    def ranked(totals: dict[str, int]) -> list[tuple[str, int | None]]:
        return [(name, shown(value)) for name, value in sorted(totals.items(), key=lambda item: (-item[1], item[0]))]

    return {"issued_by_town": ranked(issued), "active_by_town": ranked({town: value for town, (_, value) in active.items()}),
            "scans_by_scene": ranked(scans)}
