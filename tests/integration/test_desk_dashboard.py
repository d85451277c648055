"""Issue 21 item 2: the supervisor's dashboard (server-rendered SVG charts: volumes per day,
deadline rates, backlog, workload, ratings) and the filtered queue as CSV and as Excel (.xlsx)."""
from __future__ import annotations

import csv
import io
import re
import sys
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import func, select

from app.card.models import Card
from app.platform.db import db
from app.service_desk import dashboard
from app.service_desk.models import Complaint, Staff

from ..helpers import ApiClient, Console, new_staff

sys.path.append(str(Path(__file__).resolve().parents[2] / "bench"))  # bench/ after the standard library
from ticket_seed import seed_tickets  # noqa: E402


def _staff(api: ApiClient, username: str, role: str) -> Console:
    console = Console(api.app, api.clock)
    assert console.login(username, new_staff(api.app, username, role)).status_code == 302
    return console


def _seed(api: ApiClient, count: int) -> None:
    api.bound_citizen()
    with api.app.app_context():
        citizen = db.session.scalar(select(Card.citizen_id))
        seed_tickets([citizen], count, api.clock.now(), list(api.rt.config["CARD_COMPLAINT_CATEGORIES"]),
                     list(api.rt.config["CARD_DEPARTMENTS"]), list(db.session.scalars(select(Staff.id))))


def test_the_dashboard_figures_match_the_tickets(api: ApiClient) -> None:
    boss = _staff(api, "boss", "supervisor")
    _seed(api, 300)
    now = api.clock.now()
    with api.app.app_context():
        board = dashboard.build(now, 90)
        total = db.session.scalar(select(func.count()).select_from(Complaint))
        open_count = db.session.scalar(select(func.count()).select_from(Complaint).where(Complaint.status != "closed"))
        closed = db.session.scalar(select(func.count()).select_from(Complaint).where(Complaint.closed_at.is_not(None)))
        rated = db.session.scalar(select(func.count()).select_from(Complaint).where(Complaint.rating.is_not(None)))
        late_first = db.session.scalar(select(func.count()).select_from(Complaint).where(
            Complaint.first_responded_at > Complaint.first_response_due))
    assert len(board.days) == 90 and sum(o for _, o, _ in board.days) == total  # all filed within 60 days
    assert sum(c for _, _, c in board.days) == closed
    assert sum(board.backlog_by_category.values()) == sum(board.backlog_by_department.values()) == open_count
    assert sum(board.ratings.values()) == rated and 1 <= board.average_rating <= 5
    met, due = board.first_reply
    assert due <= total and due - met >= late_first and 0 <= met <= due
    with api.app.app_context():
        assigned_open = db.session.scalar(select(func.count()).select_from(Complaint).where(
            Complaint.status != "closed", Complaint.assignee_id.is_not(None)))
    assert sum(o for o, _ in board.workload.values()) == assigned_open
    html = boss.get("/console/dashboard?days=90").get_data(as_text=True)
    assert html.count("<svg") >= 6 and 'class="bar-open"' in html and "首次回复按时率" in html and "boss" in html
    assert "<script" not in html.split("</head>")[1] and " style=" not in html  # the CSP allows neither


def test_only_supervisors_see_the_dashboard_and_export(api: ApiClient) -> None:
    agent = _staff(api, "agent1", "agent")
    assert agent.get("/console/dashboard").status_code == 403
    assert agent.get("/console/queue.csv").status_code == 403
    assert agent.get("/console/queue.xlsx").status_code == 403


def test_the_queue_exports_the_filtered_tab_without_complaint_text(api: ApiClient) -> None:
    boss = _staff(api, "boss", "supervisor")
    _seed(api, 120)
    exported = boss.get("/console/queue.csv?view=closed&category=code")
    assert exported.status_code == 200 and exported.mimetype == "text/csv"
    text = exported.get_data(as_text=True)
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    with api.app.app_context():
        expected = db.session.scalar(select(func.count()).select_from(Complaint).where(
            Complaint.status == "closed", Complaint.category == "code"))
        descriptions = list(db.session.scalars(select(Complaint.description)))
    assert len(rows) == expected > 0 and {r["status"] for r in rows} == {"closed"} and {r["category"] for r in rows} == {"code"}
    assert all(re.fullmatch(r"CS\d{8}-Q\d{5}", r["ticket_number"]) for r in rows)
    assert not any(d in text for d in descriptions)  # ticket metadata only


def _sheet_rows(body: bytes) -> list[list[str]]:
    """The workbook's first sheet read back with openpyxl, every cell as text ("" for empty)."""
    sheet = openpyxl.load_workbook(io.BytesIO(body), read_only=True).active
    rows = [["" if value is None else value for value in row] for row in sheet.iter_rows(values_only=True)]
    width = max(len(row) for row in rows)
    return [row + [""] * (width - len(row)) for row in rows]


@pytest.mark.parametrize("query", ["view=closed&category=code", "view=open&overdue=y&sort=due", "view=open&text=扫码"])
def test_the_queue_exports_as_excel_the_same_rows_as_the_csv(api: ApiClient, query: str) -> None:
    boss = _staff(api, "boss", "supervisor")
    _seed(api, 150)
    csv_rows = list(csv.reader(io.StringIO(boss.get(f"/console/queue.csv?{query}").get_data(as_text=True).lstrip("\ufeff"))))
    book = boss.get(f"/console/queue.xlsx?{query}")
    assert book.status_code == 200
    assert book.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert re.fullmatch(r'attachment; filename="queue-\d{8}-\d{4}\.xlsx"', book.headers["Content-Disposition"])
    rows = _sheet_rows(book.data)
    assert rows[0] == ["工单号", "类别", "状态", "部门", "处理人", "提交时间", "首次回复期限", "首次回复时间", "办结期限",
                       "办结时间", "评分"]
    assert csv_rows[0] == list(dashboard.EXPORT_COLUMNS)
    assert rows[1:] == csv_rows[1:] and len(rows) > 1  # the same filter, the same rows, the same order
    with api.app.app_context():
        descriptions = list(db.session.scalars(select(Complaint.description)))
    cells = [cell for row in rows for cell in row]
    assert not any(d in cells for d in descriptions)  # ticket metadata only: no complaint text, no citizen
    assert not any(re.search(r"\d{17}[\dX]", cell) for cell in cells)  # nothing like an ID number


def test_the_dashboard_and_the_queue_offer_the_excel_export(api: ApiClient) -> None:
    boss = _staff(api, "boss", "supervisor")
    agent = _staff(api, "agent1", "agent")
    assert 'href="/console/queue.xlsx?view=open"' in boss.get("/console/dashboard").get_data(as_text=True)
    html = boss.get("/console/?view=closed&category=code&suffix=x&after=y").get_data(as_text=True)
    link = re.search(r'id="export-xlsx" href="([^"]+)"', html).group(1)
    assert link.startswith("/console/queue.xlsx?") and "category=code" in link and "view=closed" in link and "after" not in link
    assert "export-xlsx" not in agent.get("/console/").get_data(as_text=True)
