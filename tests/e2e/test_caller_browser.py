"""Issue 21 item 3 in a real browser (Chromium through Playwright, like test_desk_browser.py): an
agent opens a ticket for a phone caller from the ID number they give, verifies them with the SMS
code sent to the card's phone, and reports the cards lost under that ticket; a supervisor sees
the unbinding request. Screenshots in test-artifacts/desk-caller-*.png."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from app.card.models import Card, PhysicalCard
from app.platform.db import db

from ..helpers import PERSON, ApiClient, new_staff
from ..integration.test_desk_callers import CODE, _activated_physical
from .test_console_browser import ARTIFACTS, CHROMIUM, _log_in, _playwright
from .test_desk_browser import served  # noqa: F401 (the fixture: the app on a threaded server)

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


def test_an_agent_reports_a_phone_callers_cards_lost(served: tuple[ApiClient, str], request: pytest.FixtureRequest) -> None:  # noqa: F811
    sync_playwright = _playwright()
    api, base = served
    token = api.bound_citizen()
    _activated_physical(api, token)
    agent_seed = new_staff(api.app, "agent.chen", "agent")
    boss_seed = new_staff(api.app, "boss.wang", "supervisor")
    backend = request.node.callspec.params["served"]
    ARTIFACTS.mkdir(exist_ok=True)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        context = browser.new_context(locale="zh-CN", viewport={"width": 1366, "height": 900})
        page = context.new_page()
        dialogs: list[str] = []
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.accept()))
        _log_in(page, base, "agent.chen", agent_seed, api.clock)
        page.click("text=来电/来访建单")
        page.wait_for_url(f"{base}/console/callers/new")
        page.check("input[name=channel][value=phone]")
        page.fill("input[name=id_number]", "441900199001011234")
        page.fill("textarea[name=description]", "来电人手机丢失，无法打开小程序，要求紧急挂失")
        page.fill("input[name=reason]", "来电人要求挂失，按身份证号查找")
        page.click("button.wide")
        assert "没有与该身份证号对应的市民卡" in page.inner_text("main")  # inline, the form kept
        page.fill("input[name=id_number]", PERSON["id_number"])
        page.click("button.wide")
        page.wait_for_url(re.compile(r".*/console/callers/CS\d{8}-\w{6}$"))
        assert "未核验" in page.inner_text("main")
        page.click("button:has-text('发送短信验证码')")
        page.wait_for_selector(".flash.ok")
        assert "138****8000" in page.inner_text(".flash.ok")
        code = CODE.search(api.rt.sms.sent[-1][1]).group(1)  # type: ignore[union-attr]
        page.fill("input[name=code]", code)
        page.screenshot(path=str(ARTIFACTS / f"desk-caller-verify-{backend}.png"), full_page=True)
        page.click("form[action$='/verify'] button")
        page.wait_for_selector("#caller-verified")
        page.select_option("select[name=action]", "emergency_loss")
        page.fill("#card-action input[name=reason]", "来电人手机与实体卡一起丢失")
        page.click("#card-action button")
        page.wait_for_selector(".flash.ok")
        assert dialogs == ["确认对来电人的卡片执行此操作？"]
        events = page.inner_text("table.tickets")
        assert events.count("staff:agent.chen") == 2
        page.screenshot(path=str(ARTIFACTS / f"desk-caller-loss-report-{backend}.png"), full_page=True)
        page.fill("form[action$='/unbinding'] input[name=reason]", "手机丢失，解除原设备上的绑定")
        page.click("form[action$='/unbinding'] button")
        page.wait_for_selector(".flash.ok")
        context.close()

        boss = browser.new_context(locale="zh-CN", viewport={"width": 390, "height": 844}).new_page()
        _log_in(boss, base, "boss.wang", boss_seed, api.clock)
        boss.goto(f"{base}/console/unbindings")
        assert "手机丢失，解除原设备上的绑定" in boss.inner_text("main") and "待审批" in boss.inner_text("main")
        boss.screenshot(path=str(ARTIFACTS / f"desk-caller-unbinding-phone-{backend}.png"), full_page=True)
        boss.click("button:has-text('批准')")
        boss.wait_for_selector(".flash.ok")
        assert "已批准" in boss.inner_text("main")
        browser.close()

    with api.app.app_context():
        assert db.session.scalars(select(Card.status)).one() == "suspended"
        assert db.session.scalars(select(PhysicalCard.state)).one() == "suspended"
    assert api.client.get("/api/mp/v1/card/carriers", headers=api.bearer(token)).status_code in (401, 403)
