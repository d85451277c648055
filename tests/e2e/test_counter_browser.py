"""The counter role in a real browser (issue 18 item 4; docs/family.md "At the counter").

A counter clerk binds a son with his ID document, adds his mother (present with hers) to his
list, then serves the mother: issues a printed code, downloads the A6 PDF (its QR decoded with
zxing-cpp verifies online), revokes it (refused at once) and reports loss (the e-card
suspended). Each action is in the audit trail and the mother's access log. Screenshots go to
test-artifacts/ (counter-*.png)."""
from __future__ import annotations

from typing import Any

import pyotp
import pytest
import zxingcpp
from sqlalchemy import select

from app.identity.models import Citizen
from app.identity.people import id_index
from app.platform.db import db
from app.service_desk.access_log import access_log_page
from app.service_desk.models import AuditRecord

from ..helpers import STAFF_PASSWORD, ApiClient, new_staff
from ..integration.test_family import GRANDMA, GUARDIAN, roster
from ..integration.test_printed_codes import pdf_image
from .test_console_browser import ARTIFACTS, CHROMIUM, _playwright, served  # noqa: F401 (the fixture)

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


def _log_in(page: Any, base: str, username: str, seed: str, api: ApiClient) -> None:
    page.goto(f"{base}/console/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", STAFF_PASSWORD)
    page.fill("input[name=otp]", pyotp.TOTP(seed).at(int(api.clock.time())))
    page.click("button.primary")
    page.wait_for_url(f"{base}/console/counter")


def _bind(page: Any, who: dict[str, str]) -> None:
    page.fill("#bind input[name=name]", who["name"])
    page.fill("#bind input[name=id_number]", who["id_number"])
    page.check("#bind input[name=document_seen]")
    page.click("#bind button")
    page.wait_for_selector("#resident")


def test_a_counter_clerk_binds_adds_a_member_prints_revokes_and_reports_loss(
        served: tuple[ApiClient, str], request: pytest.FixtureRequest) -> None:  # noqa: F811
    sync_playwright = _playwright()
    api, base = served
    roster(api, [GUARDIAN, GRANDMA])
    seed = new_staff(api.app, "counter.wu", "counter")
    metro = api.partner(("transit",), "Metro")
    backend = request.node.callspec.params["served"]
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900}).new_page()
        _log_in(page, base, "counter.wu", seed, api)
        page.fill("#bind input[name=name]", GUARDIAN["name"])
        page.fill("#bind input[name=id_number]", GUARDIAN["id_number"])
        page.click("#bind button")  # the document box not ticked: refused
        assert "请先查验证件" in page.content()
        page.goto(f"{base}/console/counter")
        _bind(page, GUARDIAN)
        assert "陈**" in page.inner_text("#resident h2") and GUARDIAN["id_number"] not in page.content()
        page.fill("#add-member input[name=name]", GRANDMA["name"])
        page.fill("#add-member input[name=id_number]", GRANDMA["id_number"])
        page.select_option("#add-member select[name=relation]", "parent")
        page.check("#add-member input[name=member_present]")
        page.click("#add-member button")
        page.wait_for_selector("#members td:text('active')")
        page.screenshot(path=str(ARTIFACTS / f"counter-family-{backend}.png"), full_page=True)
        page.click("form[action$='/counter/done'] button")

        _bind(page, GRANDMA)
        assert "陈大明" not in page.content() and "陈**" in page.inner_text("#guardians")
        page.uncheck("#issue-printed input[value=public_venue]")
        page.click("#issue-printed button")
        page.wait_for_selector("#printed-pdf")
        page.screenshot(path=str(ARTIFACTS / f"counter-printed-{backend}.png"), full_page=True)
        pdf = page.request.get(f"{base}/console/counter/printed.pdf")
        assert pdf.ok and pdf.headers["content-type"] == "application/pdf"
        image = pdf_image(pdf.body())
        image.save(ARTIFACTS / f"counter-printed-pdf-{backend}.png")
        code = zxingcpp.read_barcodes(image)[0].text
        assert code.startswith("DGP1:")
        assert api.verify(metro, code).json["accepted"] is True
        page.click("#revoke-printed")
        page.wait_for_selector("#issue-printed")
        api.clock.advance(1)
        assert api.verify(metro, code, terminal_id="gate-2").json["reason"] == "card_inactive"
        page.click("#report-loss")
        page.wait_for_selector("#card-status:text('suspended')")
        page.screenshot(path=str(ARTIFACTS / f"counter-loss-{backend}.png"), full_page=True)
        browser.close()

    with api.app.app_context():
        mother = db.session.scalar(select(Citizen.id).where(Citizen.id_number_index == id_index(api.rt, GRANDMA["id_number"])))
        actions = set(db.session.scalars(select(AuditRecord.action).where(AuditRecord.citizen_id == mother)))
        assert {"counter_bind", "family_confirm", "printed_issue", "printed_print", "printed_revoke", "loss_report"} <= actions
        logged = access_log_page(mother, 50).items
        assert {"printed_issue", "loss_report"} <= {item.action for item in logged}
        assert {item.role for item in logged} == {"counter"}
