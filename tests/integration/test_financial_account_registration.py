"""Issue 15 item 11: only the holder's bank may register the holder's benefit account (M-21).

The bank of the holder's card application, or a bank the holder consented to in the mini-program
(confirmed by an SMS code), may ``PUT /financial-accounts``; a replaced account is closed, never
overwritten; the city corrects a wrong registration with an audited CLI command; the holder is
told (a card event and an SMS) whenever the account changes."""
from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from app.money.models import FinancialAccount, FinancialAccountConsent
from app.platform.db import db
from app.service_desk.models import AuditRecord

from ..benefits_support import ACCOUNTS, Benefits, Holder, line
from ..helpers import ApiClient
from .test_partner_admin import cli

CONSENT = "/api/mp/v1/card/financial-account/consents"


@pytest.fixture
def benefits(api: ApiClient) -> Benefits:
    return Benefits(api)


def _put(benefits: Benefits, bank: dict, holder: Holder, number: str) -> Any:
    return benefits.call(bank, ACCOUNTS, {"card_number": holder.card_number, "account_number": number}, method="PUT")


def _events(benefits: Benefits, holder: Holder) -> list[str]:
    answer = benefits.api.client.get("/api/mp/v1/card/events", headers=benefits.api.bearer(holder.token))
    return [item["event"] for item in answer.json["items"]]


def _rows(benefits: Benefits) -> list[tuple[int, bool]]:
    with benefits.api.app.app_context():
        return [(row.bank_partner_id, row.closed_at is not None)
                for row in db.session.scalars(select(FinancialAccount).order_by(FinancialAccount.id))]


def _apply_at(benefits: Benefits, holder: Holder, bank: dict) -> None:
    headers = benefits.api.bearer(holder.token)
    fee = benefits.api.client.get("/api/mp/v1/card/physical/fee", headers=headers).json["fee_fen"]
    applied = benefits.api.client.post("/api/mp/v1/card/physical", json={"bank_partner_id": bank["partner_id"], "accepted_fee_fen": fee},
                                       headers=headers)
    assert applied.status_code == 201, applied.json


def _consent(benefits: Benefits, holder: Holder, bank: dict, code: str | None = None) -> Any:
    headers = benefits.api.bearer(holder.token)
    sent = benefits.api.client.post(CONSENT + "/code", json={"bank_partner_id": bank["partner_id"]}, headers=headers)
    assert sent.status_code == 200, sent.json
    text = benefits.api.rt.sms.sent[-1][1]
    real = text.split("验证码 ")[1][:6]
    return benefits.api.client.post(CONSENT, json={"bank_partner_id": bank["partner_id"], "sms_code": code or real}, headers=headers)


def test_a_bank_that_is_not_the_holders_cannot_take_the_benefit_account(benefits: Benefits) -> None:
    holder = benefits.holders(1)[0]
    rogue = benefits.bank("Rogue Bank")
    taken = _put(benefits, rogue, holder, "6228480000000001")
    assert (taken.status_code, taken.json["error"]["code"]) == (403, "not_holders_bank")
    by_id = benefits.call(rogue, ACCOUNTS, {"id_number": holder.id_number, "account_number": "6228480000000001"}, method="PUT")
    assert by_id.status_code == 403
    assert _rows(benefits) == []


def test_the_bank_of_the_holders_card_application_registers_and_the_holder_is_told(benefits: Benefits) -> None:
    holder = benefits.holders(1)[0]
    bank = benefits.bank()
    _apply_at(benefits, holder, bank)
    sent = len(benefits.api.rt.sms.sent)
    answer = _put(benefits, bank, holder, "6222020012345678")
    assert answer.status_code == 200 and answer.json["created"] is True
    assert _events(benefits, holder)[0] == "financial_account_registered"
    phone, text = benefits.api.rt.sms.sent[-1]
    assert len(benefits.api.rt.sms.sent) == sent + 1 and "5678" in text and "6222020012345678" not in text
    assert benefits.api.rt.sms.messages[-1][1].kind == "benefit_account_notice" and benefits.api.rt.sms.messages[-1][1].params[1] == "5678"
    assert _put(benefits, bank, holder, "6222020012345678").json["created"] is False  # idempotent: nothing new
    assert len(benefits.api.rt.sms.sent) == sent + 1


def test_a_consented_bank_takes_over_and_the_old_account_is_closed_not_overwritten(benefits: Benefits) -> None:
    holder = benefits.holders(1)[0]
    first, second = benefits.bank(), benefits.bank("Second Bank")
    _apply_at(benefits, holder, first)
    assert _put(benefits, first, holder, "6222020012345678").status_code == 200
    refused = _put(benefits, second, holder, "6228480000000001")
    assert (refused.status_code, refused.json["error"]["code"]) == (409, "account_held_by_another_bank")
    assert _consent(benefits, holder, second).status_code == 201
    assert _put(benefits, second, holder, "6228480000000001").status_code == 200
    rows = _rows(benefits)
    assert [closed for _, closed in rows] == [True, False]
    accounts = benefits.api.client.get("/api/mp/v1/accounts", headers=benefits.api.bearer(holder.token)).json
    assert accounts["financial_account"]["bank_name"] == "Second Bank"
    assert _events(benefits, holder)[0] == "financial_account_changed"
    back = _put(benefits, first, holder, "6222020012345679")  # the application bank cannot take it back without consent
    assert (back.status_code, back.json["error"]["code"]) == (409, "account_held_by_another_bank")
    with benefits.api.app.app_context():
        assert db.session.scalar(select(FinancialAccountConsent.used_at)) is not None  # used once


def test_consent_needs_the_code_sent_to_the_holders_phone(benefits: Benefits) -> None:
    holder = benefits.holders(1)[0]
    bank = benefits.bank()
    headers = benefits.api.bearer(holder.token)
    assert benefits.api.client.post(CONSENT + "/code", json={"bank_partner_id": bank["partner_id"]}, headers=headers).status_code == 200
    phone, text = benefits.api.rt.sms.sent[-1]
    assert phone == "13900000000" and "Dongguan Bank" in text
    code = text.split("验证码 ")[1][:6]
    assert benefits.api.rt.sms.messages[-1][1].params == ("Dongguan Bank", code)  # bank_consent_code
    guess = "000000" if code != "000000" else "111111"
    wrong = benefits.api.client.post(CONSENT, json={"bank_partner_id": bank["partner_id"], "sms_code": guess}, headers=headers)
    assert wrong.status_code == 422 and wrong.json["error"]["code"] == "sms_code_invalid"
    assert _put(benefits, bank, holder, "6222020012345678").status_code == 403
    right = benefits.api.client.post(CONSENT, json={"bank_partner_id": bank["partner_id"], "sms_code": code}, headers=headers)
    assert right.status_code == 201
    assert _put(benefits, bank, holder, "6222020012345678").status_code == 200


def test_the_city_corrects_a_wrong_registration_with_an_audited_command(benefits: Benefits) -> None:
    holder = benefits.holders(1)[0]
    rogue, real = benefits.bank("Rogue Bank"), benefits.bank("Real Bank")
    _consent(benefits, holder, rogue)  # say the holder was tricked into consenting
    assert _put(benefits, rogue, holder, "6228480000000001").status_code == 200
    _apply_at(benefits, holder, real)
    assert _put(benefits, real, holder, "6222020012345678").status_code == 409
    department = benefits.department()
    assert benefits.submit(department, "B1", [line("L1", holder)]).json["accepted"] == 1
    assert len(benefits.pending(rogue)) == 1  # routed to the rogue's account
    sent = len(benefits.api.rt.sms.sent)
    corrected = cli(benefits.api, "financial-account", "correct", holder.card_number, "--close",
                    "--reason", "registered by a bank the holder does not use (ticket 20261205-0001)", "--operator", "ops-li")
    assert corrected.exit_code == 0, corrected.output
    assert len(benefits.api.rt.sms.sent) == sent + 1
    assert _events(benefits, holder)[0] == "financial_account_closed"
    with benefits.api.app.app_context():
        record = db.session.scalar(select(AuditRecord).where(AuditRecord.action == "account_correct"))
        assert record is not None and record.actor_id == "ops-li" and "6228480000000001" not in json.dumps(record.reason)
    assert benefits.pending(rogue) == []  # the rogue cannot credit the pending line any more: it was returned
    assert benefits.reconciliation(department, "B1").json["returned"]["count"] == 1
    assert _put(benefits, real, holder, "6222020012345678").status_code == 200
    assert [closed for _, closed in _rows(benefits)] == [True, False]


def test_the_city_can_register_the_right_account_itself(benefits: Benefits) -> None:
    holder = benefits.holders(1)[0]
    real = benefits.bank("Real Bank")
    corrected = cli(benefits.api, "financial-account", "correct", holder.card_number, "--bank", real["partner_id"],
                    "--account-number", "6222020012345678", "--reason", "counter paperwork", "--operator", "ops-li")
    assert corrected.exit_code == 0, corrected.output
    assert "6222020012345678" not in corrected.output
    accounts = benefits.api.client.get("/api/mp/v1/accounts", headers=benefits.api.bearer(holder.token)).json
    assert accounts["financial_account"]["account_number_masked"] == "**** 5678"
    benefits.api.clock.advance(timedelta(days=1).total_seconds())


def test_32_concurrent_registrations_leave_one_open_account(benefits: Benefits) -> None:
    holder = benefits.holders(1)[0]
    bank = benefits.bank()
    _apply_at(benefits, holder, bank)
    numbers = [f"62220200{n:08d}" for n in range(32)]
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda number: _put(benefits, bank, holder, number), numbers))
    assert {answer.status_code for answer in answers} <= {200, 409}
    assert 200 in {answer.status_code for answer in answers}
    with benefits.api.app.app_context():
        open_count = db.session.scalar(select(func.count()).select_from(FinancialAccount).where(FinancialAccount.closed_at.is_(None)))
        total = db.session.scalar(select(func.count()).select_from(FinancialAccount))
    assert open_count == 1 and total == sum(answer.status_code == 200 for answer in answers)
