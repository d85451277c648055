"""Daily figures (M-10(2), M-10(7), docs/data-hub.md "Figures"): the daily job's figures equal
independent SQL over a seeded database, stocks carry over from day to day, every count under 10
is suppressed in the partner API and the console's CSV, and so is every count the shown totals
would give away by subtraction. Both backends."""
from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import text

from app.hub.figures import SUPPRESS_BELOW, day_bounds, run_figures
from app.hub.models import DailyFigure
from app.platform.clock import DISPLAY_ZONE
from app.platform.db import db

from ..helpers import ApiClient
from ..hub_seed import seed_two_days

INDEPENDENT = {
    "cards_issued": "SELECT COALESCE(z.town, ''), '', '', COUNT(*) FROM cards c JOIN citizens z ON z.id = c.citizen_id "
                    "WHERE c.created_at >= :start AND c.created_at < :end GROUP BY 1",
    "ecards_active": "SELECT COALESCE(z.town, ''), '', '', COUNT(*) FROM cards c JOIN citizens z ON z.id = c.citizen_id "
                     "WHERE c.status = 'active' AND c.created_at < :end GROUP BY 1",
    "physical_cards": "SELECT COALESCE(z.town, ''), '', p.state, COUNT(*) FROM physical_cards p JOIN cards c ON c.id = p.card_id "
                      "JOIN citizens z ON z.id = c.citizen_id WHERE p.created_at < :end GROUP BY 1, 3",
    "scans": "SELECT COALESCE(z.town, ''), p.partner_id, v.scene, COUNT(*) FROM verifications v JOIN partners p ON p.id = v.partner_id "
             "LEFT JOIN cards c ON c.id = v.card_id LEFT JOIN citizens z ON z.id = c.citizen_id "
             "WHERE v.created_at >= :start AND v.created_at < :end GROUP BY 1, 2, 3",
    "disbursements_paid": "SELECT COALESCE(z.town, ''), p.partner_id, '', COUNT(*) FROM disbursements d "
                          "JOIN citizens z ON z.id = d.citizen_id JOIN partners p ON p.id = d.department_id "
                          "WHERE d.status = 'credited' AND d.settled_at >= :start AND d.settled_at < :end GROUP BY 1, 2",
    "disbursements_returned": "SELECT COALESCE(z.town, ''), p.partner_id, '', COUNT(*) FROM disbursements d "
                              "JOIN citizens z ON z.id = d.citizen_id JOIN partners p ON p.id = d.department_id "
                              "WHERE d.status = 'returned' AND d.settled_at >= :start AND d.settled_at < :end GROUP BY 1, 2",
    "complaints_opened": "SELECT COALESCE(z.town, ''), COALESCE(m.department, ''), '', COUNT(*) FROM complaints m "
                         "JOIN citizens z ON z.id = m.citizen_id WHERE m.created_at >= :start AND m.created_at < :end GROUP BY 1, 2",
    "complaints_closed": "SELECT COALESCE(z.town, ''), COALESCE(m.department, ''), '', COUNT(*) FROM complaints m "
                         "JOIN citizens z ON z.id = m.citizen_id WHERE m.closed_at >= :start AND m.closed_at < :end GROUP BY 1, 2",
    "complaints_closed_in_time": "SELECT COALESCE(z.town, ''), COALESCE(m.department, ''), '', COUNT(*) FROM complaints m "
                                 "JOIN citizens z ON z.id = m.citizen_id WHERE m.closed_at >= :start AND m.closed_at < :end "
                                 "AND m.closed_at <= m.resolution_due GROUP BY 1, 2",
}


@pytest.fixture
def seeded(api: ApiClient) -> dict[str, Any]:
    today = api.rt.clock.now().astimezone(DISPLAY_ZONE).date()
    day2 = day_bounds(today)[0] + timedelta(hours=1)
    with api.app.app_context():
        partners = seed_two_days(day2 - timedelta(days=1), day2)
        return {"today": today, "department": partners["hrss"].partner_id, "metro": partners["metro"].partner_id}


def independent(day: Any, stocks: bool = True) -> dict[tuple[str, str, str, str], int]:
    """The day's figures by plain SQL; the stocks (``ecards_active``, ``physical_cards``) from the
    current states, so only for the last day seeded."""
    start, end = day_bounds(day)
    figures = {}
    for metric, sql in INDEPENDENT.items():
        if not stocks and metric in ("ecards_active", "physical_cards"):
            continue
        for town, department, key, count in db.session.execute(text(sql), {"start": start, "end": end}):
            if count:
                figures[(town, department, metric, key)] = int(count)
    return figures


def stored(day: Any) -> dict[tuple[str, str, str, str], int]:
    rows = db.session.query(DailyFigure).filter(DailyFigure.day == day, DailyFigure.metric != "computed").all()
    return {(row.town, row.department, row.metric, row.key): row.value for row in rows if row.value}


def test_the_daily_job_matches_independent_sql_on_each_day(api: ApiClient, seeded: dict[str, Any]) -> None:
    today = seeded["today"]
    with api.app.app_context():
        assert run_figures(api.rt, today) == [today - timedelta(days=1), today]
        assert run_figures(api.rt, today) == []  # incremental: nothing left to do
        assert stored(today) == independent(today)
        yesterday = stored(today - timedelta(days=1))
        assert {key: value for key, value in yesterday.items() if key[2] not in ("ecards_active", "physical_cards")} == \
            independent(today - timedelta(days=1), stocks=False)
        figures = stored(today)
    # the stocks at yesterday's end, before today's suspensions and production
    assert yesterday[("南城街道", "", "ecards_active", "")] == 15
    assert yesterday[("南城街道", "", "physical_cards", "applied")] == 11
    assert figures[("南城街道", "", "ecards_active", "")] == 12
    assert figures[("南城街道", "", "physical_cards", "produced")] == 11
    assert figures[("南城街道", seeded["metro"], "scans", "transit")] == 12
    assert figures[("南城街道", "hrss", "complaints_closed_in_time", "")] == 8


def with_independent_totals(cells: dict[tuple[str, str, str, str], int]) -> tuple[dict, list]:
    """The day's totals summed here, not by app.hub.figures: per metric and key, each town's and
    each department's total (metrics kept per department) and the grand total; with the lines
    (total, parts) they close."""
    values, lines = dict(cells), []
    per_department = {"scans", "disbursements_paid", "disbursements_returned", "complaints_opened", "complaints_closed",
                      "complaints_closed_in_time"}
    for metric, key in {(cell[2], cell[3]) for cell in cells}:
        members = [cell for cell in cells if cell[2:] == (metric, key)]
        groups = {("*", "*" if metric in per_department else "", metric, key): members}
        if metric in per_department:
            for town in {cell[0] for cell in members}:
                groups[(town, "*", metric, key)] = [cell for cell in members if cell[0] == town]
            for department in {cell[1] for cell in members}:
                groups[("*", department, metric, key)] = [cell for cell in members if cell[1] == department]
        for total, parts in groups.items():
            values[total] = sum(cells[part] for part in parts)
            lines.append((total, parts))
    return values, lines


def test_the_statistics_api_suppresses_small_and_derivable_counts(api: ApiClient, seeded: dict[str, Any]) -> None:
    today = seeded["today"]
    with api.app.app_context():
        run_figures(api.rt, today)
        truth, lines = with_independent_totals(independent(today))
    department = api.partner((), name="Civil affairs", kind="government", roles=("disburse",))
    path = f"/api/partner/v1/statistics?from={today}&to={today}"
    answer = api.signed_post(department, b"", path=path, method="GET")
    assert answer.status_code == 200, answer.json
    assert answer.json["computed_through"] == today.isoformat()
    items = {(i["town"], i["department"], i["metric"], i["key"]): i["value"] for i in answer.json["items"]}
    for key, value in truth.items():
        assert items[key] in (value, None), key  # a shown value is the true one
        if value < SUPPRESS_BELOW:
            assert items[key] is None, key
    for total, parts in lines:  # no hidden count is the only hidden member of a line: none can be subtracted out
        assert len([member for member in (total, *parts) if items[member] is None]) != 1, total
    assert items[("莞城街道", "", "ecards_active", "")] is None  # 4 cards
    assert items[("南城街道", "", "ecards_active", "")] is None  # 12, but the shown total minus it would give the 4 away
    assert items[("*", "", "ecards_active", "")] == truth[("*", "", "ecards_active", "")]
    assert items[("南城街道", "hrss", "sla_rate_percent", "")] is None  # 8 of 10 in time: 8 is under 10
    assert all(value is None or value >= SUPPRESS_BELOW for key, value in items.items() if key[2] != "sla_rate_percent")
    town_only = api.signed_post(department, b"", path=f"{path}&town={quote('南城街道')}", method="GET")
    assert town_only.status_code == 200, town_only.json
    assert town_only.json["items"] and all(item["value"] == items[(item["town"], item["department"], item["metric"], item["key"])]
               for item in town_only.json["items"] if item["metric"] != "sla_rate_percent")  # a filter never changes what is hidden
    metro = api.partner(("transit",), name="Bus company")
    refused = api.signed_post(metro, b"", path=path, method="GET")
    assert refused.status_code == 403 and refused.json["error"]["code"] == "statistics_not_allowed"
    too_long = api.signed_post(department, b"", path=f"/api/partner/v1/statistics?from={today - timedelta(days=100)}&to={today}",
                               method="GET")
    assert too_long.status_code == 422


def test_the_console_charts_and_csv_suppress_small_counts(api: ApiClient, seeded: dict[str, Any]) -> None:
    from ..helpers import Console, new_staff

    today = seeded["today"]
    with api.app.app_context():
        run_figures(api.rt, today)
    console = Console(api.app, api.clock)
    assert console.login("sup1", new_staff(api.app, "sup1", "supervisor")).status_code == 302
    page = console.get(f"/console/figures?from={today}&to={today}").get_data(as_text=True)
    assert 'id="chart-active_by_town"' in page and "<svg" in page and 'class="bar-suppressed"' in page
    csv_answer = console.get(f"/console/figures.csv?from={today}&to={today}")
    assert csv_answer.status_code == 200 and csv_answer.mimetype == "text/csv"
    lines = csv_answer.get_data(as_text=True).lstrip("\ufeff").splitlines()
    assert lines[0] == "day,town,department,metric,key,value"
    assert f"{today},南城街道,,ecards_active,," in lines  # 12: hidden with the 4 (the total is shown)
    assert f"{today},莞城街道,,ecards_active,," in lines  # 4: suppressed
    assert any(line.startswith(f"{today},*,,ecards_active,,") and not line.endswith(",") for line in lines)
    assert console.get("/console/figures?from=2026-01-01&to=2026-12-31").status_code == 422
