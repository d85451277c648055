"""Issue 21 item 8: the auditor's page in Chinese: filters (actor, action, dates, citizen), paging
with the true total, CSV and Excel export of the same filter; only auditors."""
from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import openpyxl
from sqlalchemy import func, select

from app.platform.db import db
from app.service_desk.audit import StaffActor, record_staff_access
from app.service_desk.models import AuditRecord

from ..helpers import ApiClient, Console, new_staff


def _staff(api: ApiClient, username: str, role: str) -> Console:
    console = Console(api.app, api.clock)
    assert console.login(username, new_staff(api.app, username, role)).status_code == 302
    return console


def _records(api: ApiClient, count: int, username: str, action: str, citizen_id: int) -> None:
    with api.app.app_context():
        for n in range(count):
            record_staff_access(api.rt, StaffActor(1, username, "agent", None), action, citizen_id, f"CS20261201-T{n:05d}",
                                ["phone"], "来电核对" if action == "unmask" else None)


def test_the_auditor_filters_pages_and_exports(api: ApiClient) -> None:
    _records(api, 70, "agent.chen", "view", 7)
    _records(api, 5, "agent.chen", "unmask", 8)
    api.clock.advance(3 * 86400)
    _records(api, 3, "agent.li", "view", 7)
    auditor = _staff(api, "audit1", "auditor")
    html = auditor.get("/console/audit").get_data(as_text=True)
    assert "共 78" in html and "第 1 / 2 页" in html and "查看" in html and "显示完整" in html
    assert len(re.findall(r"CS20261201-T\d{5}", html)) == 50
    page2 = auditor.get("/console/audit?page=2").get_data(as_text=True)
    assert len(re.findall(r"CS20261201-T\d{5}", page2)) == 28
    assert "共 5 " in auditor.get("/console/audit?action=unmask").get_data(as_text=True)
    assert "共 3 " in auditor.get("/console/audit?actor=agent.li").get_data(as_text=True)
    assert "共 73 " in auditor.get("/console/audit?citizen=7").get_data(as_text=True)
    today = api.clock.now().date()
    since = (today - timedelta(days=1)).isoformat()
    assert "共 3 " in auditor.get(f"/console/audit?since={since}").get_data(as_text=True)
    assert "共 75 " in auditor.get(f"/console/audit?until={(today - timedelta(days=2)).isoformat()}").get_data(as_text=True)
    assert auditor.get("/console/audit?citizen=x&since=2026-99-01&page=-1").status_code == 200  # ignored, not a 500
    exported = auditor.get("/console/audit.csv?action=unmask")
    assert exported.status_code == 200 and exported.mimetype == "text/csv"
    assert "attachment" in exported.headers["Content-Disposition"]
    text = exported.get_data(as_text=True)
    assert text.startswith("\ufeffseq,at,actor_kind")
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    assert len(rows) == 5 and {r["action"] for r in rows} == {"unmask"} and {r["reason"] for r in rows} == {"来电核对"}
    with api.app.app_context():
        assert db.session.scalar(select(func.count()).select_from(AuditRecord)) == 78


def test_a_formula_in_a_reason_is_neutralised_in_the_export(api: ApiClient) -> None:
    auditor = _staff(api, "audit1", "auditor")
    with api.app.app_context():
        record_staff_access(api.rt, StaffActor(1, "agent.chen", "agent", None), "unmask", 9, "CS20261201-AAAAAA",
                            ["phone"], "=HYPERLINK(\"http://x\")")
    rows = list(csv.DictReader(io.StringIO(auditor.get("/console/audit.csv").get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0]["reason"].startswith("'=")


def test_only_auditors_see_the_trail(api: ApiClient) -> None:
    agent = _staff(api, "agent1", "agent")
    assert agent.get("/console/audit").status_code == 403
    assert agent.get("/console/audit.csv").status_code == 403
    assert agent.get("/console/audit.xlsx").status_code == 403


def test_the_auditor_exports_as_excel_the_same_rows_as_the_csv(api: ApiClient) -> None:
    _records(api, 4, "agent.chen", "unmask", 8)
    _records(api, 3, "agent.li", "view", 7)
    with api.app.app_context():
        record_staff_access(api.rt, StaffActor(1, "agent.chen", "agent", None), "unmask", 9, "CS20261201-AAAAAA",
                            ["phone"], "=HYPERLINK(\"http://x\")")
    auditor = _staff(api, "audit1", "auditor")
    assert 'id="export-xlsx" href="/console/audit.xlsx?action=unmask"' in auditor.get("/console/audit?action=unmask").get_data(as_text=True)
    csv_rows = list(csv.reader(io.StringIO(auditor.get("/console/audit.csv?action=unmask").get_data(as_text=True).lstrip("\ufeff"))))
    book = auditor.get("/console/audit.xlsx?action=unmask")
    assert book.status_code == 200 and book.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert re.fullmatch(r'attachment; filename="audit-\d{8}-\d{4}\.xlsx"', book.headers["Content-Disposition"])
    sheet = openpyxl.load_workbook(io.BytesIO(book.data)).active
    rows = [["" if cell.value is None else cell.value for cell in row] for row in sheet.iter_rows()]
    assert rows[0] == ["序号", "时间", "操作者类型", "操作者", "角色", "部门", "操作", "市民编号", "工单号", "关联编号", "字段",
                       "原因", "哈希"]
    assert rows[1:] == csv_rows[1:] and len(rows) == 6  # the same 5 records, newest first
    assert rows[1][11].startswith("'=")
    assert all(cell.data_type == "s" for row in sheet.iter_rows() for cell in row if cell.value)  # text, never a formula
    with api.app.app_context():
        assert db.session.scalar(select(func.count()).select_from(AuditRecord)) == 8  # as the CSV: exporting adds no record
