"""Working days on the official calendar (issue 21 item 5): complaint deadlines (M-14) count the
working days the State Council publishes each year, not just Monday to Friday.

A day is a working day when it is a make-up working day (``workday``: a Saturday or Sunday worked
in exchange, 调休上班) or a Monday-Friday that is no public holiday (``holiday``: 放假). The
operator imports each year's notice as a small CSV (``date,kind,name``) with
``citizencard calendar import 2027`` (a shipped file, app/service_desk/calendars/cn-<year>.csv)
or ``citizencard calendar import FILE``. A year with no imported rows counts Monday-Friday only
(``citizencard calendar show`` says which years are imported).
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from sqlalchemy import delete, extract, func, insert, select

from app.platform.clock import DISPLAY_ZONE
from app.platform.db import db
from app.service_desk.models import OfficialDay

SHIPPED = Path(__file__).resolve().parent / "calendars"
KINDS = ("holiday", "workday")


@dataclass(frozen=True)
class WorkingCalendar:
    """The official exceptions to Monday-Friday: ``holidays`` (weekdays off) and ``workdays``
    (weekend days worked)."""

    holidays: frozenset[date] = frozenset()
    workdays: frozenset[date] = frozenset()

    def is_working(self, day: date) -> bool:
        """Whether ``day`` (a local date) is a working day."""
        if day in self.workdays:
            return True
        return day.weekday() < 5 and day not in self.holidays


WEEKDAYS_ONLY = WorkingCalendar()


def add_working_days(start: datetime, days: int, calendar: WorkingCalendar = WEEKDAYS_ONLY) -> datetime:
    """``start`` plus ``days`` working days (Asia/Shanghai), same time of day, in ``start``'s
    zone. A start on a day off counts from the next working day's 00:00."""
    local = start.astimezone(DISPLAY_ZONE)
    while not calendar.is_working(local.date()):
        local = (local + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    while days:
        local += timedelta(days=1)
        days -= calendar.is_working(local.date())
    return local.astimezone(start.tzinfo)


def calendar_from(start: datetime, days: int) -> WorkingCalendar:
    """The imported exceptions from ``start``'s local date through a window wide enough for
    ``days`` working days (three calendar days per working day, plus a month for the longest
    holiday), from one query."""
    first = start.astimezone(DISPLAY_ZONE).date()
    last = first + timedelta(days=3 * days + 31)
    rows = db.session.execute(select(OfficialDay.day, OfficialDay.kind).where(OfficialDay.day.between(first, last)))
    kinds: dict[str, set[date]] = {"holiday": set(), "workday": set()}
    for row in rows:
        kinds[row.kind].add(row.day)
    return WorkingCalendar(frozenset(kinds["holiday"]), frozenset(kinds["workday"]))


def deadline(start: datetime, days: int) -> datetime:
    """:func:`add_working_days` on the imported calendar."""
    return add_working_days(start, days, calendar_from(start, days))


class CalendarFileError(ValueError):
    """A calendar file that cannot be imported; the message names the line."""


def parse(text: str) -> tuple[int, list[tuple[date, str, str]]]:
    """The year and rows of a calendar CSV: a header ``date,kind,name``, then one row per day
    (ISO date, ``holiday`` or ``workday``, the holiday's name); ``#`` lines are comments. Every
    day in one year; a ``workday`` must fall on a Saturday or Sunday and a ``holiday`` on a day
    not listed twice. Raises :class:`CalendarFileError`."""
    lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    reader = csv.reader(io.StringIO("\n".join(lines)))
    if next(reader, None) != ["date", "kind", "name"]:
        raise CalendarFileError("the first line must be the header date,kind,name")
    rows: list[tuple[date, str, str]] = []
    for number, fields in enumerate(reader, start=2):
        rows.append(_row(number, fields))
    if not rows:
        raise CalendarFileError("no days in the file")
    years = {day.year for day, _, _ in rows}
    if len(years) != 1:
        raise CalendarFileError(f"one year per file, found {sorted(years)}")
    if len({day for day, _, _ in rows}) != len(rows):
        raise CalendarFileError("a day is listed twice")
    return years.pop(), rows


def _row(number: int, fields: list[str]) -> tuple[date, str, str]:
    if len(fields) != 3:
        raise CalendarFileError(f"line {number}: three columns expected")
    try:
        day = date.fromisoformat(fields[0].strip())
    except ValueError:
        raise CalendarFileError(f"line {number}: not a date (YYYY-MM-DD)") from None
    kind, name = fields[1].strip(), fields[2].strip()
    if kind not in KINDS:
        raise CalendarFileError(f"line {number}: kind must be holiday or workday")
    if kind == "workday" and day.weekday() < 5:
        raise CalendarFileError(f"line {number}: a make-up working day falls on a Saturday or Sunday")
    if not name or len(name) > 32:
        raise CalendarFileError(f"line {number}: a name of 1-32 characters")
    return day, kind, name


def shipped_file(year: int) -> Path:
    """The calendar file shipped for ``year``; :class:`CalendarFileError` if there is none."""
    path = SHIPPED / f"cn-{year}.csv"
    if not path.is_file():
        raise CalendarFileError(f"no shipped calendar for {year}: import the State Council's notice as a file")
    return path


def import_year(text: str) -> tuple[int, int, int]:
    """Replace the year's imported days with the file's, in one transaction (a re-import after
    a correction leaves no stale day). Returns (year, holidays, workdays)."""
    year, rows = parse(text)
    in_year = extract("year", OfficialDay.day) == year
    db.session.execute(delete(OfficialDay).where(in_year))
    db.session.execute(insert(OfficialDay), [{"day": day, "kind": kind, "name": name} for day, kind, name in rows])
    db.session.commit()
    holidays = sum(kind == "holiday" for _, kind, _ in rows)
    return year, holidays, len(rows) - holidays


def imported_years() -> dict[int, tuple[int, int]]:
    """Year -> (holidays, make-up working days) imported."""
    year = extract("year", OfficialDay.day)
    rows = db.session.execute(select(year.label("year"), OfficialDay.kind, func.count()).group_by(year, OfficialDay.kind))
    found: dict[int, list[int]] = {}
    for row in rows:
        found.setdefault(int(row[0]), [0, 0])[KINDS.index(row[1])] = row[2]
    return {y: (h, w) for y, (h, w) in sorted(found.items())}
