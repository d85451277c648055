"""Issue 21 in a real browser (Debian's Chromium through Playwright, like test_console_browser.py):
a supervisor's queue with 1,000 tickets, paged, filtered, sorted and searched in Chinese; the
dashboard's SVG charts; the filtered queue downloaded as an Excel workbook; an article written in the help centre and found by search; the
ticket page's reply counter, inline error and the confirmation before closing; the queue and the
ticket at phone size. Screenshots in test-artifacts/desk-*.png."""
from __future__ import annotations

import io
import re
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from sqlalchemy import func, select

from app.card.models import Card
from app.platform.clock import FrozenClock
from app.platform.db import db
from app.service_desk.models import Complaint, Staff
from standins.wechat import WeChatStandIn

from ..conftest import BACKENDS, make_app
from ..helpers import ApiClient, dispose, new_staff
from .test_console_browser import ARTIFACTS, CHROMIUM, _log_in, _playwright

sys.path.append(str(Path(__file__).resolve().parents[2] / "bench"))  # bench/ after the standard library
from ticket_seed import seed_tickets  # noqa: E402

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


@pytest.fixture(params=BACKENDS)
def served(request: pytest.FixtureRequest, tmp_path: Any, clock: FrozenClock, wechat: WeChatStandIn) -> Iterator[tuple[ApiClient, str]]:
    from werkzeug.serving import make_server

    app = make_app(request.param, request, tmp_path, clock, wechat, CARD_CONSOLE_SECURE_COOKIE=False)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield ApiClient(app, wechat, clock), f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)
    dispose(app)


def _count(api: ApiClient, *where: Any) -> int:
    with api.app.app_context():
        return db.session.scalar(select(func.count()).select_from(Complaint).where(*where))


def _badge(page: Any, tab: str) -> int:
    return int(page.inner_text(f".tabs [data-tab={tab}]"))


def test_a_supervisor_works_a_queue_of_1000_tickets(served: tuple[ApiClient, str], request: pytest.FixtureRequest) -> None:
    sync_playwright = _playwright()
    api, base = served
    api.bound_citizen()
    boss_seed = new_staff(api.app, "boss.wang", "supervisor")
    new_staff(api.app, "agent.chen", "agent")
    with api.app.app_context():
        citizen = db.session.scalar(select(Card.citizen_id))
        staff_ids = list(db.session.scalars(select(Staff.id)))
        seed_tickets([citizen], 1000, api.clock.now(), list(api.rt.config["CARD_COMPLAINT_CATEGORIES"]),
                     list(api.rt.config["CARD_DEPARTMENTS"]), staff_ids)
    open_count = _count(api, Complaint.status != "closed")
    backend = request.node.callspec.params["served"]
    ARTIFACTS.mkdir(exist_ok=True)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_context(locale="zh-CN", viewport={"width": 1366, "height": 900}).new_page()
        _log_in(page, base, "boss.wang", boss_seed, api.clock)
        assert _badge(page, "open") == open_count > 200  # the true number, no cap
        assert f"第 1 / {-(-open_count // 50)} 页" in page.inner_text("nav.pages")
        page.screenshot(path=str(ARTIFACTS / f"desk-queue-1000-{backend}.png"), full_page=True)
        page.click("nav.pages a[rel=next]")
        page.wait_for_url(re.compile(r".*page=2.*"))
        assert len(page.locator("table.tickets tbody tr").all()) == 50

        page.select_option("form.filters select[name=category]", "code")
        page.select_option("form.filters select[name=status]", "new")
        page.click("form.filters button.primary")
        page.wait_for_url(re.compile(r".*category=code.*"))
        expected = _count(api, Complaint.status == "new", Complaint.category == "code")
        assert _badge(page, "open") == _badge(page, "new") == expected
        assert set(page.locator("table.tickets tbody .badge").all_inner_texts()) <= {"待领取"}
        page.screenshot(path=str(ARTIFACTS / f"desk-queue-filtered-{backend}.png"), full_page=True)
        with page.expect_download() as download:  # the filtered tab as an Excel workbook
            page.click("a#export-xlsx")
        assert re.fullmatch(r"queue-\d{8}-\d{4}\.xlsx", download.value.suggested_filename)
        sheet = openpyxl.load_workbook(io.BytesIO(Path(download.value.path()).read_bytes()), read_only=True).active
        rows = list(sheet.iter_rows(values_only=True))
        assert rows[0][:3] == ("工单号", "类别", "状态") and len(rows) == expected + 1
        assert {(row[1], row[2]) for row in rows[1:]} == {("code", "new")}

        page.click("header nav a:text('数据看板')")
        page.wait_for_url("**/console/dashboard")
        page.click("a:text('最近 90 天')")
        page.wait_for_url("**/console/dashboard?days=90")
        assert page.locator("svg.chart rect.bar-open").count() > 60 and "办结按时率" in page.inner_text("main")
        page.screenshot(path=str(ARTIFACTS / f"desk-dashboard-{backend}.png"), full_page=True)

        page.click("header nav a:text('帮助中心')")
        page.click("a:text('新建文章')")
        page.fill("input[name=title]", "实体卡丢了怎么办")
        page.fill("textarea[name=body]", "在小程序“卡片”页点“挂失”；手机也丢了时，拨打客服电话由客服代为挂失。")
        page.select_option("select[name=category]", "card")
        page.check("input[name=published]")
        page.click("form.article-form button.primary")
        page.wait_for_selector(".flash.ok")
        page.goto(f"{base}/console/help")
        page.fill("form.inline input[name=q]", "挂失")
        page.click("form.inline button")
        assert page.locator("ol.articles > li.panel").count() == 1
        page.screenshot(path=str(ARTIFACTS / f"desk-help-search-{backend}.png"), full_page=True)
        found = api.client.get("/api/mp/v1/help/articles?q=挂失&category=card").json["items"]
        assert [item["title"] for item in found] == ["实体卡丢了怎么办"]

        page.goto(f"{base}/console/?view=closed")
        page.fill("form.filters input[name=text]", "医保结算")
        page.select_option("form.filters select[name=sort]", "-created")
        page.click("form.filters button.primary")
        page.wait_for_url(re.compile(r".*text=.*"))
        assert _badge(page, "closed") == _count(api, Complaint.status == "closed", Complaint.description.contains("医保结算")) > 0
        summaries = page.locator("table.tickets td.summary").all()
        assert summaries and all("医保结算" in (cell.get_attribute("title") or "") for cell in summaries)
        page.screenshot(path=str(ARTIFACTS / f"desk-queue-search-{backend}.png"), full_page=True)

        page.goto(f"{base}/console/?view=new&sort=created")
        page.click("table.tickets tbody tr:first-child a")
        page.wait_for_url("**/console/tickets/**")
        number = page.url.rsplit("/", 1)[-1]
        page.fill("form.reply textarea[name=body] >> nth=0", "您好，已收到")
        assert page.inner_text("form.reply .counter >> nth=0").startswith("6 / 2000")
        page.select_option("select[name=username]", "agent.chen")
        page.click("form[action$='/reassign'] button")
        page.wait_for_selector(".flash.ok")
        page.fill("form[action$='/close'] textarea[name=note]", "已处理完毕")
        page.once("dialog", lambda dialog: dialog.dismiss())  # 取消: nothing is sent
        page.click("form[action$='/close'] button")
        assert page.inner_text(".ticket-head .badge") != "已办结"
        page.set_viewport_size({"width": 390, "height": 844})
        page.screenshot(path=str(ARTIFACTS / f"desk-ticket-phone-{backend}.png"), full_page=True)
        page.once("dialog", lambda dialog: dialog.accept())
        page.click("form[action$='/close'] button")
        page.wait_for_selector(".badge.s-closed")
        page.goto(f"{base}/console/")
        assert page.locator("form.filters").bounding_box()["width"] <= 390  # no sideways scrolling at phone size
        page.screenshot(path=str(ARTIFACTS / f"desk-queue-phone-{backend}.png"), full_page=True)
        browser.close()
    with api.app.app_context():
        closed = db.session.scalar(select(Complaint).where(Complaint.ticket_number == number))
        assignee = db.session.scalar(select(Staff.username).where(Staff.id == closed.assignee_id))
    assert closed.status == "closed" and assignee == "agent.chen"
