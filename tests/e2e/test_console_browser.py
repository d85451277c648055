"""The staff console in a real browser: Playwright drives Debian's Chromium (/usr/bin/chromium,
never a downloaded browser) against a real HTTP server on loopback.

The story: an agent logs in with the second factor, finds the ticket by its number, replies,
transfers it to a department; the department's liaison answers; the agent closes it. On the way
the agent opens the ticket's citizen (masked) and shows the phone number with a reason. The queue,
the citizen and the ticket pages are saved as screenshots in test-artifacts/. Outside CI the test is skipped when Chromium or
Playwright is missing; under CI=true it fails instead (.ci/run installs Chromium).
"""
from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyotp
import pytest
from werkzeug.serving import make_server

from app.platform.clock import FrozenClock
from standins.wechat import WeChatStandIn

from ..backends import IN_CI
from ..conftest import BACKENDS, make_app
from ..helpers import STAFF_PASSWORD, ApiClient, dispose, new_staff

pytestmark = [pytest.mark.e2e, pytest.mark.browser]
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def _playwright() -> Any:
    missing = None if os.path.exists(CHROMIUM) else f"{CHROMIUM} is not installed (apt-get install chromium)"
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing = "the playwright package is not installed (pip install -e '.[test]')"
    if missing:
        if IN_CI:
            pytest.fail(f"{missing} (CI=true: the browser test must run)", pytrace=False)
        pytest.skip(missing)
    return sync_playwright


@pytest.fixture(params=BACKENDS)
def served(request: pytest.FixtureRequest, tmp_path: Any, clock: FrozenClock, wechat: WeChatStandIn) -> Iterator[tuple[ApiClient, str]]:
    """The app on a real HTTP server in a thread; plain HTTP on loopback, so the cookie is not Secure here."""
    app = make_app(request.param, request, tmp_path, clock, wechat, CARD_CONSOLE_SECURE_COOKIE=False)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield ApiClient(app, wechat, clock), f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)
    dispose(app)


def _log_in(page: Any, base: str, username: str, seed: str, clock: FrozenClock) -> None:
    page.goto(f"{base}/console/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", STAFF_PASSWORD)
    page.fill("input[name=otp]", pyotp.TOTP(seed).at(int(clock.time())))
    page.click("button.primary")
    page.wait_for_url(f"{base}/console/")


def _log_out(page: Any) -> None:
    page.click("header button.link")
    page.wait_for_url("**/console/login")


def test_an_agent_and_a_liaison_handle_a_complaint_in_the_browser(served: tuple[ApiClient, str], request: pytest.FixtureRequest) -> None:
    sync_playwright = _playwright()
    api, base = served
    token = api.bound_citizen()
    filed = api.client.post("/api/mp/v1/complaints", headers=api.bearer(token), json={
        "category": "verification", "description": "今天早上在东城地铁站刷电子码进站，闸机提示“码已使用”，但我没有刷过。"})
    number = filed.json["ticket_number"]
    for category, text in (("card", "实体卡丢失，想先冻结电子卡。"), ("privacy", "想知道有哪些机构查询过我的信息。")):
        api.clock.advance(600)
        api.client.post("/api/mp/v1/complaints", headers=api.bearer(token), json={"category": category, "description": text})
    agent_seed, liaison_seed = new_staff(api.app, "agent.chen", "agent"), new_staff(api.app, "hr.li", "liaison", "transport")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 860}).new_page()
        _log_in(page, base, "agent.chen", agent_seed, api.clock)
        assert number in page.inner_text("table.tickets")
        ARTIFACTS.mkdir(exist_ok=True)
        backend = request.node.callspec.params["served"]
        page.screenshot(path=str(ARTIFACTS / f"console-queue-{backend}.png"), full_page=True)

        page.fill("header input[name=q]", number)
        page.click("header form.search button")
        page.wait_for_url(f"**/console/tickets/{number}")
        page.click("a:text('市民信息')")
        assert "陈**" in page.inner_text("table.kv") and "13800138000" not in page.content()
        page.click("details:has(input[value=phone]) summary")
        page.fill("details:has(input[value=phone]) input[name=reason]", "市民来电，核对联系电话")
        page.click("details:has(input[value=phone]) button")
        assert page.inner_text("strong.revealed") == "13800138000"
        page.screenshot(path=str(ARTIFACTS / f"console-citizen-{backend}.png"), full_page=True)
        page.click("a:text('返回工单')")
        page.fill("textarea[name=body]", "您好，我们正在核查该次进站记录，请稍候。")
        page.click("form.reply button")
        page.wait_for_selector("li.m-agent")
        page.select_option("select[name=department]", "transport")
        page.fill("input[name=note]", "请地铁运营方核对东城站闸机记录")
        page.click("form[action$='/transfer'] button")
        page.wait_for_selector(".badge.s-transferred")
        _log_out(page)

        _log_in(page, base, "hr.li", liaison_seed, api.clock)
        page.click(f"a:text('{number}')")
        page.fill("textarea[name=body]", "经核查，东城站 3 号闸机重复读码，已修复；该次进站已更正。")
        page.click("form.reply button")
        page.wait_for_url(f"{base}/console/")
        _log_out(page)

        api.clock.advance(30)  # a new TOTP step: each code is accepted once
        _log_in(page, base, "agent.chen", agent_seed, api.clock)
        page.goto(f"{base}/console/tickets/{number}")
        assert page.inner_text(".badge") == "部门已答复"
        page.screenshot(path=str(ARTIFACTS / f"console-ticket-{backend}.png"), full_page=True)
        page.fill("textarea[name=note]", "已由地铁运营方更正记录，感谢反馈。")
        page.once("dialog", lambda dialog: dialog.accept())  # closing asks for confirmation (issue 21)
        page.click("form[action$='/close'] button")
        page.wait_for_selector(".badge.s-closed")
        browser.close()

    seen = next(item for item in api.client.get("/api/mp/v1/complaints", headers=api.bearer(token)).json["items"]
                if item["ticket_number"] == number)
    assert seen["status"] == "closed"
    assert [m["author"] for m in seen["messages"]] == ["agent", "system", "department", "agent"]
