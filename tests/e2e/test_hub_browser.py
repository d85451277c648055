"""The data hub's console pages in a real browser (Playwright, Debian's /usr/bin/chromium): a
supervisor reads the figures (SVG charts, suppressed cells, the CSV link); an investigator takes
an e-card lending flag from case to decision, appeal and withdrawal. Screenshots of the figures
and case pages go to test-artifacts/. Skipped outside CI without Chromium or Playwright."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

import pyotp
import pytest

from app.hub.figures import day_bounds, run_figures
from app.platform.clock import DISPLAY_ZONE, FrozenClock
from app.platform.db import db

from ..helpers import STAFF_PASSWORD, ApiClient, new_staff
from ..hub_seed import seed_two_days
from ..integration.test_hub_cases import flagged
from .test_console_browser import ARTIFACTS, CHROMIUM, _playwright, served  # noqa: F401 (the fixture)

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


def _log_in(page: Any, base: str, username: str, seed: str, clock: FrozenClock) -> None:
    page.goto(f"{base}/console/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", STAFF_PASSWORD)
    page.fill("input[name=otp]", pyotp.TOTP(seed).at(int(clock.time())))
    page.click("button.primary")
    page.wait_for_selector("header .who")


def test_a_supervisor_reads_the_figures_in_the_browser(served: tuple[ApiClient, str], request: pytest.FixtureRequest) -> None:  # noqa: F811
    sync_playwright = _playwright()
    api, base = served
    today = api.rt.clock.now().astimezone(DISPLAY_ZONE).date()
    with api.app.app_context():
        day2 = day_bounds(today)[0] + timedelta(hours=1)
        seed_two_days(day2 - timedelta(days=1), day2)
        run_figures(api.rt, today)
        db.session.remove()
    seed = new_staff(api.app, "sup.wang", "supervisor")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900}).new_page()
        _log_in(page, base, "sup.wang", seed, api.clock)
        page.click("nav a:text('数据统计')")
        page.wait_for_selector("#chart-active_by_town svg")
        # 莞城街道: 4 (under 10); 南城街道: 12, hidden too, else the shown total would give the 4 away
        assert page.locator("#chart-active_by_town rect.bar-suppressed").count() == 2
        assert "南城街道" in page.inner_text("#chart-active_by_town")
        assert "<10" in page.inner_text("#figures-table")
        href = page.get_attribute("#csv", "href")
        assert href is not None and href.startswith("/console/figures.csv?from=")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"console-figures-{request.node.callspec.params['served']}.png"), full_page=True)
        browser.close()


def test_an_investigator_takes_a_case_from_flag_to_withdrawal(served: tuple[ApiClient, str], request: pytest.FixtureRequest) -> None:  # noqa: F811
    sync_playwright = _playwright()
    api, base = served
    flagged(api)
    seed = new_staff(api.app, "inv.zhao", "investigator")
    backend = request.node.callspec.params["served"]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900}).new_page()
        _log_in(page, base, "inv.zhao", seed, api.clock)
        page.wait_for_url("**/console/cases")
        page.click("#flags button.primary")
        page.wait_for_url("**/console/cases/MC*")
        page.click("#action-notify button")
        page.wait_for_selector("#action-statement")
        page.fill("#action-statement textarea[name=statement]", "当时手机借给了家人")
        page.click("#action-statement button")
        page.wait_for_selector("#action-decide")
        page.select_option("#action-decide select[name=violation]", "1")
        page.fill("#action-decide textarea[name=reason]", "同一电子卡一分钟内在相距约50公里的两地使用，且持卡人承认出借")
        page.click("#action-decide button")
        page.wait_for_selector("#action-appeal")
        assert page.inner_text("#case-status") == "已决定（申诉期内）"
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"console-case-decided-{backend}.png"), full_page=True)
        page.fill("#action-appeal textarea[name=grounds]", "家人系代本人办理业务")
        page.click("#action-appeal button")
        page.wait_for_selector("#action-appeal_decision")
        page.select_option("#action-appeal_decision select[name=upheld]", "1")
        page.fill("#action-appeal_decision textarea[name=outcome]", "申诉成立，撤销决定")
        page.click("#action-appeal_decision button")
        page.wait_for_function("document.querySelector('#case-status').innerText === '已撤销'")
        page.screenshot(path=str(ARTIFACTS / f"console-case-overturned-{backend}.png"), full_page=True)
        browser.close()
