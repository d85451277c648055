"""Issue 21 item 5: complaint deadlines count the State Council's working days: public holidays
are days off, make-up working days (weekends worked) count; a year is imported from its notice
by ``citizencard calendar import``. The 2026 notice (2025-11-04) ships as data."""
from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from app.platform.clock import DISPLAY_ZONE
from app.platform.db import db
from app.service_desk.working_days import SHIPPED, CalendarFileError, WorkingCalendar, add_working_days, calendar_from, parse

from ..helpers import ApiClient
from .test_partner_admin import cli


def _local(*args: int) -> datetime:
    return datetime(*args, tzinfo=DISPLAY_ZONE)


def _calendar_2026() -> WorkingCalendar:
    _, rows = parse((SHIPPED / "cn-2026.csv").read_text(encoding="utf-8"))
    return WorkingCalendar(frozenset(d for d, k, _ in rows if k == "holiday"), frozenset(d for d, k, _ in rows if k == "workday"))


def test_the_2026_file_is_the_notice() -> None:
    year, rows = parse((SHIPPED / "cn-2026.csv").read_text(encoding="utf-8"))
    by_kind = {k: sorted(d for d, kind, _ in rows if kind == k) for k in ("holiday", "workday")}
    assert year == 2026 and len(by_kind["holiday"]) == 3 + 9 + 3 + 5 + 3 + 3 + 7  # 元旦 春节 清明 劳动 端午 中秋 国庆
    assert by_kind["workday"] == [date(2026, 1, 4), date(2026, 2, 14), date(2026, 2, 28), date(2026, 5, 9),
                                  date(2026, 9, 20), date(2026, 10, 10)]


def test_2026_spring_festival_national_day_and_make_up_days() -> None:
    calendar = _calendar_2026()
    # Friday 13 Feb 2026 10:00: Sat 14 Feb is worked (1), then 15-23 Feb off, Tue 24 Feb (2)
    assert add_working_days(_local(2026, 2, 13, 10), 1, calendar) == _local(2026, 2, 14, 10)
    assert add_working_days(_local(2026, 2, 13, 10), 2, calendar) == _local(2026, 2, 24, 10)
    assert add_working_days(_local(2026, 2, 13, 10), 2) == _local(2026, 2, 17, 10)  # Monday-Friday only: wrong
    # filed on a holiday (Mon 16 Feb): counts from Tue 24 Feb 00:00
    assert add_working_days(_local(2026, 2, 16, 15), 1, calendar) == _local(2026, 2, 25, 0)
    # Wed 30 Sep 2026: 1-7 Oct off, Thu 8, Fri 9, Sat 10 (worked)
    assert add_working_days(_local(2026, 9, 30, 9), 3, calendar) == _local(2026, 10, 10, 9)
    # New Year: Wed 31 Dec 2025 -> Sun 4 Jan 2026 is worked
    assert add_working_days(_local(2025, 12, 31, 9), 1, calendar) == _local(2026, 1, 4, 9)
    # 5 working days from Thu 30 Apr: 1-5 May off, Wed 6, Thu 7, Fri 8, Sat 9 (worked), Mon 11
    assert add_working_days(_local(2026, 4, 30, 12), 5, calendar) == _local(2026, 5, 11, 12)


def test_2027_before_its_notice_is_imported_counts_weekdays_and_a_2027_file_is_applied(api: ApiClient, tmp_path: Path) -> None:
    """The 2027 notice is imported the same way once published; until then Monday-Friday. The
    file here is a test file (not the official 2027 notice, which this branch does not ship)."""
    with api.app.app_context():
        assert add_working_days(_local(2027, 2, 5, 10), 1, calendar_from(_local(2027, 2, 5, 10), 1)) == _local(2027, 2, 8, 10)
    path = tmp_path / "2027.csv"
    path.write_text("date,kind,name\n2027-02-06,workday,测试\n2027-02-08,holiday,测试\n2027-02-09,holiday,测试\n", encoding="utf-8")
    result = cli(api, "calendar", "import", str(path))
    assert result.exit_code == 0 and "2027: 2 holidays, 1 make-up working days" in result.output
    with api.app.app_context():
        start = _local(2027, 2, 5, 10)  # a Friday
        assert add_working_days(start, 1, calendar_from(start, 1)) == _local(2027, 2, 6, 10)  # Saturday worked
        assert add_working_days(start, 2, calendar_from(start, 2)) == _local(2027, 2, 10, 10)
    path.write_text("date,kind,name\n2027-02-08,holiday,测试\n", encoding="utf-8")  # a corrected file replaces the year
    assert cli(api, "calendar", "import", str(path)).exit_code == 0
    with api.app.app_context():
        assert add_working_days(start, 1, calendar_from(start, 1)) == _local(2027, 2, 9, 10)


def test_the_shipped_year_imports_and_filing_uses_it(api: ApiClient) -> None:
    result = cli(api, "calendar", "import", "2026")
    assert result.exit_code == 0 and "2026: 33 holidays, 6 make-up working days" in result.output
    assert "2026: 33 holidays, 6 make-up working days" in cli(api, "calendar", "show").output
    assert cli(api, "calendar", "import", "2026").exit_code == 0  # idempotent: the year is replaced
    assert "2026: 33 holidays" in cli(api, "calendar", "show").output
    api.clock.at = _local(2026, 9, 30, 9).timestamp()
    token = api.bound_citizen()
    filed = api.client.post("/api/mp/v1/complaints", json={"category": "code", "description": "国庆前扫码失败"},
                            headers=api.bearer(token))
    assert filed.status_code == 201, filed.json
    assert datetime.fromisoformat(filed.json["first_response_due"]) == _local(2026, 10, 8, 9).astimezone(UTC)
    with api.app.app_context():
        db.session.remove()


@pytest.mark.parametrize("text, message", [
    ("day,kind,name\n2026-01-01,holiday,x\n", "header"),
    ("date,kind,name\n2026-02-30,holiday,x\n", "line 2: not a date"),
    ("date,kind,name\n2026-01-05,workday,x\n", "Saturday or Sunday"),
    ("date,kind,name\n2026-01-01,off,x\n", "holiday or workday"),
    ("date,kind,name\n2026-01-01,holiday,x\n2027-01-01,holiday,x\n", "one year per file"),
    ("date,kind,name\n2026-01-01,holiday,x\n2026-01-01,holiday,y\n", "listed twice"),
    ("date,kind,name\n", "no days"),
])
def test_a_bad_calendar_file_is_refused_with_its_line(text: str, message: str) -> None:
    with pytest.raises(CalendarFileError, match=message):
        parse(text)
