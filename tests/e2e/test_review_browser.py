"""The reviewer's console pages in a real browser (issue 17 item 1): Playwright drives Debian's
Chromium against a real HTTP server, as tests/e2e/test_console_browser.py does.

A reviewer logs in, sees the applications list (one of them overdue), opens a passport
application (the document masked), asks for more; the applicant answers through the API; the
reviewer approves with the original seen at a counter; a second application is refused with a
reason. The list, the detail page and the approved list are saved in test-artifacts/."""
from __future__ import annotations

from typing import Any

import pyotp
import pytest

from app.platform.clock import FrozenClock

from ..helpers import STAFF_PASSWORD, ApiClient, new_staff
from ..integration.test_applications import PATH, apply
from .test_console_browser import ARTIFACTS, CHROMIUM, _playwright, served

pytestmark = [pytest.mark.e2e, pytest.mark.browser]
__all__ = ["served"]


def _log_in(page: Any, base: str, username: str, seed: str, clock: FrozenClock) -> None:
    page.goto(f"{base}/console/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", STAFF_PASSWORD)
    page.fill("input[name=otp]", pyotp.TOTP(seed).at(int(clock.time())))
    page.click("button.primary")
    page.wait_for_url(f"{base}/console/applications")


def test_a_reviewer_asks_approves_and_refuses_in_the_browser(served: tuple[ApiClient, str], request: pytest.FixtureRequest) -> None:
    sync_playwright = _playwright()
    api, base = served
    late = apply(api, api.login("late-applicant"), "travel_permit_tw").json["reference"]
    api.clock.advance(8 * 86400)  # past the 5 working days: overdue
    token = api.login()
    reference = apply(api, token, "passport_with_permit").json["reference"]
    seed = new_staff(api.app, "reviewer.wu", "reviewer")
    backend = request.node.callspec.params["served"]
    ARTIFACTS.mkdir(exist_ok=True)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 860}).new_page()
        _log_in(page, base, "reviewer.wu", seed, api.clock)
        listed = page.inner_text("table.tickets")
        assert reference in listed and late in listed and "已超时" in listed
        page.screenshot(path=str(ARTIFACTS / f"console-applications-{backend}.png"), full_page=True)
        page.click("a:text('已超时')")
        assert late in page.inner_text("table.tickets") and reference not in page.inner_text("table.tickets")

        page.goto(f"{base}/console/applications/{reference}")
        facts = page.inner_text("dl.facts")
        assert "John Smith" in facts and "****4567" in facts and "E1234567" not in page.content()
        page.screenshot(path=str(ARTIFACTS / f"console-application-{backend}.png"), full_page=True)
        page.fill("textarea[name=question]", "请补充工作许可证的有效期")
        page.click("form[action$='/ask'] button")
        page.wait_for_url(f"{base}/console/applications")

        answered = api.client.post(f"{PATH}/{reference}/answers", json={"answer": "有效期至 2027-06-30"}, headers=api.bearer(token))
        assert answered.status_code == 200
        page.goto(f"{base}/console/applications/{reference}")
        assert "有效期至 2027-06-30" in page.inner_text("main")
        page.check("input[name=counter]")
        page.click("form[action$='/approve'] button")
        page.wait_for_url(f"{base}/console/applications")
        assert "电子卡已发放" in page.inner_text(".flash")

        page.goto(f"{base}/console/applications/{late}")
        page.fill("textarea[name=reason]", "通行证号码与证件不符")
        page.click("form[action$='/refuse'] button")
        page.wait_for_url(f"{base}/console/applications")
        page.click("a:text('已通过')")
        assert reference in page.inner_text("table.tickets")
        page.screenshot(path=str(ARTIFACTS / f"console-applications-approved-{backend}.png"), full_page=True)
        browser.close()

    approved = api.client.get(f"{PATH}/{reference}", headers=api.bearer(token)).json
    assert approved["status"] == "approved" and approved["assurance"] == "counter" and approved["card_number"]
    assert api.code(token)
    refused = api.client.get(f"{PATH}/{late}", headers=api.bearer(api.login("late-applicant"))).json  # a fresh token: 8 days on
    assert (refused["status"], refused["refusal_reason"]) == ("refused", "通行证号码与证件不符")
