"""Issue 23, item 4, in a real browser (Playwright driving /usr/bin/chromium): a department's
catalogue editor lands on the department's items, edits one and creates one (each a new version
with ``changed_by`` ``staff:<username>`` and a sealed audit record), is shown the conflict when
the department's API saved first, and cannot open another department's item. Screenshot:
test-artifacts/console-catalogue-editor-<backend>.png. Also: who may be made an editor."""
from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pyotp
import pytest
from sqlalchemy import select

from app.catalogue import editors
from app.catalogue.items import history
from app.partners.partners import partner_view
from app.platform.db import db
from app.service_desk.models import AuditRecord
from scenes.registry import SCENE_NAMES

from ..helpers import STAFF_PASSWORD, ApiClient, new_staff
from .test_catalogue_console_browser import _item
from .test_console_browser import ARTIFACTS, _playwright, served  # noqa: F401 (the fixture)

pytestmark = [pytest.mark.e2e, pytest.mark.browser]
CHROMIUM = "/usr/bin/chromium"
BURST = 32


def _put(api: ApiClient, partner: dict[str, str], code: str, title: str) -> None:
    answer = api.signed_post(partner, _item(title, "government", "2026-11-01"), path=f"/api/partner/v1/service-items/{code}", method="PUT")
    assert answer.status_code == 200, answer.json


def _log_in(page: Any, base: str, username: str, seed: str, api: ApiClient) -> None:
    page.goto(f"{base}/console/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", STAFF_PASSWORD)
    page.fill("input[name=otp]", pyotp.TOTP(seed).at(int(api.clock.time())))
    page.click("button.primary")
    page.wait_for_url(f"{base}/console/catalogue/items")


def test_an_editor_keeps_only_their_departments_items(served: tuple[ApiClient, str],  # noqa: F811
                                                     request: pytest.FixtureRequest) -> None:
    sync_playwright = _playwright()
    api, base = served
    hrss = api.partner(scenes=("government",), name="东莞市人社局", roles=("catalogue",))
    health = api.partner(scenes=("government",), name="东莞市医保局", roles=("catalogue",))
    _put(api, hrss, "GD-HRSS-0001", "社会保障卡申领")
    _put(api, health, "GD-HSA-0001", "医保关系转移")
    seed = new_staff(api.app, "edit.li", "catalogue_editor", hrss["partner_id"])

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_context(locale="zh-CN", viewport={"width": 1300, "height": 1100}).new_page()
        _log_in(page, base, "edit.li", seed, api)
        listed = page.inner_text("table.items")
        assert "GD-HRSS-0001" in listed and "GD-HSA-0001" not in listed
        page.click("table.items a:text('GD-HRSS-0001')")
        page.fill("input[name=title]", "社会保障卡申领（补换）")
        page.fill("textarea[name=steps]", "网上申请\n窗口领取")
        page.click("form.item-form button.primary")
        page.wait_for_selector("text=版本 2")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"console-catalogue-editor-{request.node.callspec.params['served']}.png"), full_page=True)

        _put(api, hrss, "GD-HRSS-0001", "部门接口先保存")  # version 3, while the page still holds version 2
        page.fill("input[name=title]", "迟到的修改")
        page.click("form.item-form button.primary")
        assert "该事项已被他人修改" in page.inner_text("form.item-form")

        page.fill("form.new-item input[name=code]", "GD-HRSS-0003")
        page.click("form.new-item button")
        page.fill("input[name=title]", "社保卡密码重置")
        page.fill("input[name=last_reviewed]", "2026-12-01")
        page.click("form.item-form button.primary")
        page.wait_for_selector("text=版本 1")
        assert "GD-HRSS-0003" in page.inner_text("table.items")

        refused = page.goto(f"{base}/console/catalogue/items?code=GD-HSA-0001")
        assert refused is not None and refused.status == 403
        browser.close()

    with api.app.app_context():
        versions = history("GD-HRSS-0001")
        assert [(v.version, v.changed_by) for v in versions] == [(1, hrss["partner_id"]), (2, "staff:edit.li"), (3, hrss["partner_id"])]
        assert json.loads(json.loads(versions[1].data)["steps"]) == ["网上申请", "窗口领取"]  # as the API stores it
        assert [v.changed_by for v in history("GD-HRSS-0003")] == ["staff:edit.li"]
        assert [v.version for v in history("GD-HSA-0001")] == [1]
        sealed = db.session.scalars(select(AuditRecord).where(AuditRecord.action == "item_edit").order_by(AuditRecord.id)).all()
        assert [(r.actor_id, r.actor_role, r.department, r.reason) for r in sealed] == [
            ("edit.li", "catalogue_editor", hrss["partner_id"], "service item GD-HRSS-0001 version 2"),
            ("edit.li", "catalogue_editor", hrss["partner_id"], "service item GD-HRSS-0003 version 1")]


def test_only_a_catalogue_account_can_have_editors_and_32_saves_of_one_version_make_one(
        served: tuple[ApiClient, str]) -> None:  # noqa: F811
    api, _base = served
    hrss = api.partner(scenes=("government",), name="东莞市人社局", roles=("catalogue",))
    plain = api.partner(scenes=("government",), name="无目录权限")
    for department in (None, plain["partner_id"], "no-such-partner"):
        with pytest.raises(ValueError, match="catalogue"):
            new_staff(api.app, "edit.wrong", "catalogue_editor", department)
    _put(api, hrss, "GD-HRSS-0009", "原标题")

    def save(n: int) -> str:
        with api.app.app_context():
            owner = partner_view(api.rt, hrss["partner_id"])
            assert owner is not None
            fields = {"department": "东莞市人社局", "title": f"标题{n}", "scenes": ["government"], "channels": ["window"],
                      "conditions": "", "steps": [], "time_limit_days": None, "fee_fen": 0, "status": "open",
                      "last_reviewed": api.clock.now().date()}
            try:
                return str(editors.save(api.rt, owner, f"edit.{n}", "GD-HRSS-0009", fields, 1, tuple(SCENE_NAMES)).version)
            except Exception as exc:  # noqa: BLE001 (the refusal's code is the result)
                return getattr(exc, "code", type(exc).__name__)

    with ThreadPoolExecutor(BURST) as pool:
        results = list(pool.map(save, range(BURST)))
    assert results.count("2") == 1 and set(results) == {"2", "version_conflict"}, results
    with api.app.app_context():
        assert [v.version for v in history("GD-HRSS-0009")] == [1, 2]
