"""Issue 23 in a real browser (Playwright driving /usr/bin/chromium): a supervisor opens the
catalogue page from the navigation, sees the department's items, the consistency findings and
the websites registered for log-in with the card; agents are refused the page. A website's log-in
page shows the QR and, once the citizen confirms in the mini-program API, its script sends the
browser on to the redirect URI with the code. Screenshots go to test-artifacts/
(console-catalogue-<backend>.png, oidc-login-qr-<backend>.png)."""
from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest

from app.oidc.parties import create_rp

from ..helpers import ApiClient, new_staff
from .test_console_browser import ARTIFACTS, CHROMIUM, _log_in, _log_out, _playwright, served  # noqa: F401 (the fixture)

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


def _item(title: str, scene: str, reviewed: str) -> bytes:
    return json.dumps({"department": "东莞市人力资源和社会保障局", "title": title, "scenes": [scene], "channels": ["window", "online"],
                       "conditions": "本市参保人员", "steps": ["申请", "领取"], "time_limit_days": 5, "fee_fen": 0,
                       "locations": [], "status": "open", "last_reviewed": reviewed}).encode()


def test_a_supervisor_sees_the_catalogue_checks_and_relying_parties(served: tuple[ApiClient, str],  # noqa: F811
                                                                    request: pytest.FixtureRequest) -> None:
    sync_playwright = _playwright()
    api, base = served
    dept = api.partner(scenes=("government",), name="人社局", roles=("catalogue",))
    api.partner(scenes=("transit",), name="公交集团")  # granted a scene, in no item
    for code, title, reviewed in (("GD-HRSS-0001", "社会保障卡申领", "2026-11-01"), ("GD-HRSS-0002", "社保卡挂失", "2024-05-01")):
        answer = api.signed_post(dept, _item(title, "government", reviewed), path=f"/api/partner/v1/service-items/{code}", method="PUT")
        assert answer.status_code == 200, answer.json
    with api.app.app_context():
        create_rp(api.rt, "东莞市民服务网", "government", ["openid", "name"], ["https://www.dg.gov.cn/oidc/callback"])
    supervisor, agent = new_staff(api.app, "sup.wang", "supervisor"), new_staff(api.app, "agent.he", "agent")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_context(locale="zh-CN", viewport={"width": 1400, "height": 900}).new_page()
        _log_in(page, base, "sup.wang", supervisor, api.clock)
        page.click("header nav a:text('服务目录与登录网站')")
        page.wait_for_url(f"{base}/console/catalogue")
        items = page.inner_text("table.items")
        assert "社会保障卡申领" in items and "GD-HRSS-0002" in items and "已开放" in items
        findings = page.inner_text("section.findings")
        assert "GD-HRSS-0002" in findings and "GD-HRSS-0001" not in findings  # reviewed over a year ago
        assert "transit" in findings  # enabled, no open item
        parties = page.inner_text("table.parties")
        assert "东莞市民服务网" in parties and "政府部门" in parties and "https://www.dg.gov.cn/oidc/callback" in parties
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"console-catalogue-{request.node.callspec.params['served']}.png"), full_page=True)
        _log_out(page)
        api.clock.advance(30)
        _log_in(page, base, "agent.he", agent, api.clock)
        assert page.locator("header nav a:text('服务目录与登录网站')").count() == 0
        refused = page.goto(f"{base}/console/catalogue")
        assert refused is not None and refused.status == 403
        browser.close()


def test_the_log_in_page_shows_the_qr_and_follows_the_confirmation_in_the_browser(served: tuple[ApiClient, str],  # noqa: F811
                                                                                  request: pytest.FixtureRequest) -> None:
    sync_playwright = _playwright()
    api, base = served
    bearer = api.bearer(api.bound_citizen())
    assert api.client.put("/api/mp/v1/card/password", json={"password": "305172"}, headers=bearer).status_code == 204
    callback = f"{base}/console/login"  # a loopback page that exists: the browser lands there with the code
    with api.app.app_context():
        rp = create_rp(api.rt, "东莞通商城", "commercial", ["openid", "age_band"], [callback])
    query = urlencode({"response_type": "code", "client_id": rp.client_id, "redirect_uri": callback, "scope": "openid age_band",
                       "state": "s-42", "nonce": "n-42", "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
                       "code_challenge_method": "S256"})
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_context(locale="zh-CN", viewport={"width": 900, "height": 800}).new_page()
        page.goto(f"{base}/oidc/authorize?{query}")
        assert "东莞通商城" in page.inner_text("body") and page.locator("#qr svg").count() == 1
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"oidc-login-qr-{request.node.callspec.params['served']}.png"), full_page=True)
        request_id = page.get_attribute("body", "data-login-request")
        confirmed = api.client.post(f"/api/mp/v1/oidc/requests/{request_id}/confirmation", json={"password": "305172"}, headers=bearer)
        assert confirmed.status_code == 204, confirmed.json
        page.wait_for_url(f"{callback}?code=*", timeout=20_000)
        assert "state=s-42" in page.url
        browser.close()
