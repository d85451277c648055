"""Paying with the card (issue 22; docs/payments.md): charges on a verification with their
limits and the e-card password, the bank's pull-and-confirm, declines that become debts, voids
and refunds, each exactly once under retries and 32-thread races. Both backends."""
from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from ..helpers import ApiClient
from ..payments_support import Payments

THREADS = 32


@pytest.fixture
def pay(api: ApiClient) -> Payments:
    return Payments(api)


@pytest.fixture
def shop(pay: Payments) -> dict[str, Any]:
    """Two holders with an account at the bank, a canteen (campus merchant) whose members they are."""
    holders = pay.holders(2)
    bank, canteen = pay.bank(), pay.merchant()
    for holder in holders:
        assert pay.open_account(bank, holder).status_code == 200
    pay.members(canteen, *holders)
    return {"holders": holders, "bank": bank, "canteen": canteen}


def race(count: int, work: Callable[[int], Any]) -> list[Any]:
    """Run ``work(i)`` on ``count`` threads released together; their results in order."""
    results: list[Any] = [None] * count
    start = threading.Barrier(count)

    def run(index: int) -> None:
        start.wait()
        results[index] = work(index)

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def _ledger_agrees(pay: Payments) -> None:
    from app.money.ledger import check

    with pay.api.app.app_context():
        assert check() == []


def test_a_canteen_charge_is_pending_until_the_bank_debits_it_once(pay: Payments, shop: dict[str, Any]) -> None:
    holder, bank, canteen = shop["holders"][0], shop["bank"], shop["canteen"]
    answer = pay.charge(canteen, pay.verified(canteen, holder), 1250)
    assert answer.status_code == 200, answer.json
    charge = answer.json
    assert (charge["status"], charge["amount_fen"], charge["replayed"], charge["scene"]) == ("pending", 1250, False, "campus")
    pending = pay.bank_charges(bank)
    assert [(item["charge_id"], item["amount_fen"], item["debt_repayment"]) for item in pending] == [(charge["charge_id"], 1250, False)]
    assert pending[0]["account_number"].endswith(holder.card_number[-8:]) and pending[0]["merchant"] == "Canteen"
    first = pay.confirm_charges(bank, (charge["charge_id"], "debited"))
    assert first.json["results"] == [{"charge_id": charge["charge_id"], "result": "applied", "status": "debited"}]
    again = pay.confirm_charges(bank, (charge["charge_id"], "debited"))
    assert again.json["results"][0]["result"] == "unchanged"
    other = pay.confirm_charges(bank, (charge["charge_id"], "declined", "insufficient_funds"))
    assert other.json["results"][0] == {"charge_id": charge["charge_id"], "result": "conflict", "status": "debited"}
    stranger = pay.bank("Other Bank")
    assert pay.confirm_charges(stranger, (charge["charge_id"], "debited")).json["results"][0]["result"] == "unknown"
    assert pay.bank_charges(bank) == []
    assert pay.call(canteen, f"/api/partner/v1/charges/{charge['charge_id']}", method="GET").json["status"] == "debited"
    _ledger_agrees(pay)


def test_one_charge_per_verification_and_a_retry_answers_the_first(pay: Payments, shop: dict[str, Any]) -> None:
    holder, canteen = shop["holders"][0], shop["canteen"]
    verification = pay.verified(canteen, holder)
    first = pay.charge(canteen, verification, 800, key="order-00001")
    retry = pay.charge(canteen, verification, 800, key="order-00001")
    assert retry.status_code == 200 and retry.json["replayed"] and retry.json["charge_id"] == first.json["charge_id"]
    second = pay.charge(canteen, verification, 800, key="order-00002")
    assert second.status_code == 409 and second.json["error"]["code"] == "verification_already_charged"
    reused = pay.charge(canteen, pay.verified(canteen, holder), 800, key="order-00001")
    assert reused.status_code == 409 and reused.json["error"]["code"] == "idempotency_key_reused"


def test_a_non_merchant_another_merchants_or_a_refused_verification_cannot_be_charged(pay: Payments, shop: dict[str, Any]) -> None:
    holder, canteen = shop["holders"][0], shop["canteen"]
    verification = pay.verified(canteen, holder)
    plain = pay.api.partner(("campus",), name="No role")
    assert pay.charge(plain, verification).json["error"]["code"] == "role_required"
    other = pay.merchant(name="Other canteen")
    unknown = pay.charge(other, verification)
    assert unknown.status_code == 404 and unknown.json["error"]["code"] == "verification_unknown"
    stranger = pay.api.verify(canteen, pay.api.code(pay.holders(1, start=50)[0].token), scene="campus")
    assert stranger.json["accepted"] is False  # not a member
    refused = pay.charge(canteen, stranger.json["verification_id"])
    assert refused.status_code == 409 and refused.json["error"]["code"] == "verification_refused"


@pytest.mark.parametrize("amount", [12.5, 12.0, "100", True, 0, -1, 10**12])
def test_amounts_are_whole_positive_fen_only(pay: Payments, shop: dict[str, Any], amount: Any) -> None:
    answer = pay.charge(shop["canteen"], pay.verified(shop["canteen"], shop["holders"][0]), amount)
    assert answer.status_code == 422 and answer.json["error"]["code"] == "validation_error"
    assert "amount_fen" in str(answer.json["error"]["details"])


def test_the_scene_limit_and_the_password_above_the_password_free_amount(pay: Payments, shop: dict[str, Any]) -> None:
    holder, canteen = shop["holders"][0], shop["canteen"]
    over = pay.charge(canteen, pay.verified(canteen, holder), 20001)
    assert over.status_code == 422 and over.json["error"]["code"] == "amount_over_scene_limit"
    assert over.json["error"]["details"] == {"scene": "campus", "limit_fen": 20000}
    pay.api.app.config["CARD_CHARGE_PASSWORD_FREE_FEN"] = 5000
    verification = pay.verified(canteen, holder)
    not_set = pay.charge(canteen, verification, 6000)
    assert not_set.status_code == 403 and not_set.json["error"]["code"] == "password_not_set"
    pay.set_password(holder, "739146")
    missing = pay.charge(canteen, verification, 6000)
    assert missing.status_code == 403 and missing.json["error"]["code"] == "password_required"
    wrong = pay.charge(canteen, verification, 6000, password="111222")
    assert wrong.status_code == 422 and wrong.json["error"]["code"] == "password_wrong"
    right = pay.charge(canteen, verification, 6000, password="739146")
    assert right.status_code == 200 and right.json["status"] == "pending"
    small = pay.charge(canteen, pay.verified(canteen, holder), 5000)  # at the threshold: password-free
    assert small.status_code == 200


def test_the_daily_limit_holds_under_32_racing_charges(pay: Payments, shop: dict[str, Any]) -> None:
    holder, canteen = shop["holders"][0], shop["canteen"]
    pay.api.app.config["CARD_CHARGE_DAILY_LIMIT_FEN"] = 10_000
    verifications = [pay.verified(canteen, holder, terminal_id=f"gate-{n}") for n in range(THREADS)]

    def charge(index: int) -> Any:
        return Payments(ApiClient(pay.api.app, pay.api.wechat, pay.api.clock)).charge(canteen, verifications[index], 1000)

    answers = race(THREADS, charge)
    accepted = [answer for answer in answers if answer.status_code == 200]
    assert len(accepted) == 10, [answer.json for answer in answers if answer.status_code != 200][:3]
    assert {answer.json["error"]["code"] for answer in answers if answer.status_code != 200} == {"daily_limit_reached"}
    assert len(pay.bank_charges(shop["bank"])) == 10
    # a void gives its amount back to the day
    assert pay.void(canteen, accepted[0].json["charge_id"]).status_code == 200
    assert pay.charge(canteen, pay.verified(canteen, holder), 1000).status_code == 200


def test_32_racing_charges_of_one_verification_make_one_charge(pay: Payments, shop: dict[str, Any]) -> None:
    holder, canteen = shop["holders"][0], shop["canteen"]
    verification = pay.verified(canteen, holder)

    def charge(index: int) -> Any:
        return Payments(ApiClient(pay.api.app, pay.api.wechat, pay.api.clock)).charge(canteen, verification, 700, key=f"key-{index:05d}")

    answers = race(THREADS, charge)
    assert [answer.status_code for answer in answers].count(200) == 1
    assert {answer.json["error"]["code"] for answer in answers if answer.status_code != 200} == {"verification_already_charged"}
    assert len(pay.bank_charges(shop["bank"])) == 1
    _ledger_agrees(pay)


def test_32_racing_bank_confirmations_apply_once(pay: Payments, shop: dict[str, Any]) -> None:
    holder, canteen, bank = shop["holders"][0], shop["canteen"], shop["bank"]
    charge_id = pay.charge(canteen, pay.verified(canteen, holder), 900).json["charge_id"]

    def confirm(index: int) -> Any:
        client = Payments(ApiClient(pay.api.app, pay.api.wechat, pay.api.clock))
        return client.confirm_charges(bank, (charge_id, "debited") if index % 2 else (charge_id, "declined", "insufficient_funds"))

    results = [answer.json["results"][0] for answer in race(THREADS, confirm)]
    applied = [result for result in results if result["result"] == "applied"]
    assert len(applied) == 1
    final = applied[0]["status"]
    assert all(result["status"] == final for result in results)
    assert {result["result"] for result in results} - {"applied"} <= {"unchanged", "conflict"}
    _ledger_agrees(pay)


def test_a_decline_becomes_a_debt_that_blocks_charging_until_the_holder_pays_it_off(pay: Payments, shop: dict[str, Any]) -> None:
    holder, canteen, bank = shop["holders"][0], shop["canteen"], shop["bank"]
    charge_id = pay.charge(canteen, pay.verified(canteen, holder), 1500).json["charge_id"]
    verified_before = pay.verified(canteen, holder)
    assert pay.confirm_charges(bank, (charge_id, "declined", "insufficient_funds")).json["results"][0]["result"] == "applied"
    refused = pay.charge(canteen, verified_before, 100)  # verified before the decline: refused at the charge
    assert refused.status_code == 409 and refused.json["error"]["code"] == "payment_debt"
    # verified after it: refused at the gate already (tests/integration/test_payment_deny_list.py)
    mine = pay.payments(holder).json
    assert mine["debt_fen"] == 1500 and mine["items"][0]["status"] == "declined"
    assert mine["items"][0]["decline_reason"] == "insufficient_funds" and "declined" in mine["items"][0]["notices"]
    paid = pay.api.client.post(f"/api/mp/v1/payments/{charge_id}/pay-off", headers=pay.api.bearer(holder.token))
    assert paid.status_code == 200 and paid.json["status"] == "pending"
    again = pay.api.client.post(f"/api/mp/v1/payments/{charge_id}/pay-off", headers=pay.api.bearer(holder.token))
    assert again.status_code == 200 and again.json["status"] == "pending"  # already presented: nothing more
    assert [item["debt_repayment"] for item in pay.bank_charges(bank)] == [True]
    assert pay.confirm_charges(bank, (charge_id, "debited")).json["results"][0]["status"] == "debited"
    assert pay.payments(holder).json["debt_fen"] == 0
    assert pay.charge(canteen, pay.verified(canteen, holder), 100).status_code == 200
    other = shop["holders"][1]
    stranger = pay.api.client.post(f"/api/mp/v1/payments/{charge_id}/pay-off", headers=pay.api.bearer(other.token))
    assert stranger.status_code == 404 and stranger.json["error"]["code"] == "charge_unknown"
    _ledger_agrees(pay)


def test_voids_before_clearing_exactly_once(pay: Payments, shop: dict[str, Any]) -> None:
    holder, canteen, bank = shop["holders"][0], shop["canteen"], shop["bank"]
    pending = pay.charge(canteen, pay.verified(canteen, holder), 400).json["charge_id"]
    voided = pay.void(canteen, pending)
    assert voided.status_code == 200 and voided.json["status"] == "voided" and not voided.json["replayed"]
    assert pay.void(canteen, pending).json["replayed"] is True
    late = pay.confirm_charges(bank, (pending, "debited")).json["results"][0]
    assert late == {"charge_id": pending, "result": "conflict", "status": "voided"}  # the bank must not debit it
    debited = pay.charge(canteen, pay.verified(canteen, holder), 600).json["charge_id"]
    pay.confirm_charges(bank, (debited, "debited"))
    answers = race(THREADS, lambda _: Payments(ApiClient(pay.api.app, pay.api.wechat, pay.api.clock)).void(canteen, debited))
    assert [answer.json["replayed"] for answer in answers].count(False) == 1
    assert pay.void(pay.merchant(name="Else"), debited).json["error"]["code"] == "charge_unknown"
    _ledger_agrees(pay)


def test_refunds_whole_and_partial_never_pass_the_charge(pay: Payments, shop: dict[str, Any]) -> None:
    holder, canteen, bank = shop["holders"][0], shop["canteen"], shop["bank"]
    charge_id = pay.charge(canteen, pay.verified(canteen, holder), 1000).json["charge_id"]
    early = pay.refund(canteen, charge_id, 100)
    assert early.status_code == 409 and early.json["error"]["code"] == "charge_not_refundable"
    pay.confirm_charges(bank, (charge_id, "debited"))
    first = pay.refund(canteen, charge_id, 300, key="refund-0001")
    assert first.status_code == 200 and first.json["refunded_fen"] == 300
    retry = pay.refund(canteen, charge_id, 300, key="refund-0001")
    assert retry.json["replayed"] and retry.json["refund_id"] == first.json["refund_id"] and retry.json["refunded_fen"] == 300
    assert pay.refund(canteen, charge_id, 301, key="refund-0001").json["error"]["code"] == "idempotency_key_reused"
    answers = race(THREADS, lambda i: Payments(ApiClient(pay.api.app, pay.api.wechat, pay.api.clock)).refund(
        canteen, charge_id, 100, key=f"refund-r{i:04d}"))
    assert [answer.status_code for answer in answers].count(200) == 7
    refused = [answer.json for answer in answers if answer.status_code != 200]
    assert {body["error"]["code"] for body in refused} == {"refund_exceeds_charge"}
    assert pay.call(canteen, f"/api/partner/v1/charges/{charge_id}", method="GET").json["refunded_fen"] == 1000
    _ledger_agrees(pay)


def test_the_holder_pages_through_charges_sees_notices_and_a_monthly_summary_and_disputes_one(
        pay: Payments, shop: dict[str, Any]) -> None:
    holder, canteen, bank = shop["holders"][0], shop["canteen"], shop["bank"]
    pay.api.app.config["CARD_CHARGE_NOTICE_FEN"] = 1000
    ids = [pay.charge(canteen, pay.verified(canteen, holder), amount).json["charge_id"] for amount in (500, 1500, 700)]
    pay.confirm_charges(bank, *((charge_id, "debited") for charge_id in ids))
    pay.refund(canteen, ids[2], 200)
    first = pay.payments(holder, "?limit=2").json
    assert [item["charge_id"] for item in first["items"]] == [ids[2], ids[1]] and first["next_cursor"]
    assert first["items"][1]["notices"] == ["large_charge"] and first["items"][0]["notices"] == []
    rest = pay.payments(holder, f"?limit=2&cursor={first['next_cursor']}").json
    assert [item["charge_id"] for item in rest["items"]] == [ids[0]] and rest["next_cursor"] is None
    assert pay.payments(holder, "?cursor=nonsense").json["error"]["code"] == "cursor_invalid"
    summary = pay.api.client.get("/api/mp/v1/payments/summary", headers=pay.api.bearer(holder.token)).json
    assert summary["months"][0]["charges"] == 3 and summary["months"][0]["paid_fen"] == 500 + 1500 + 500
    assert summary["months"][0]["refunded_fen"] == 200
    assert pay.payments(shop["holders"][1]).json["items"] == []  # another holder sees none of them
    dispute = pay.api.client.post("/api/mp/v1/complaints", headers=pay.api.bearer(holder.token),
                                  json={"category": "other", "description": "扣了两次", "charge_id": ids[1]})
    assert dispute.status_code == 201, dispute.json
    assert dispute.json["verification_id"] == first["items"][1]["verification_id"]
    foreign = pay.api.client.post("/api/mp/v1/complaints", headers=pay.api.bearer(shop["holders"][1].token),
                                  json={"category": "other", "description": "not mine", "charge_id": ids[1]})
    assert foreign.status_code == 404 and foreign.json["error"]["code"] == "charge_unknown"


def test_32_racing_pay_offs_present_a_declined_charge_once(pay: Payments, shop: dict[str, Any]) -> None:
    holder, canteen, bank = shop["holders"][0], shop["canteen"], shop["bank"]
    charge_id = pay.charge(canteen, pay.verified(canteen, holder), 1500).json["charge_id"]
    pay.confirm_charges(bank, (charge_id, "declined", "insufficient_funds"))

    def pay_off(_: int) -> Any:
        client = ApiClient(pay.api.app, pay.api.wechat, pay.api.clock)
        return client.client.post(f"/api/mp/v1/payments/{charge_id}/pay-off", headers=client.bearer(holder.token))

    answers = race(THREADS, pay_off)
    assert {answer.status_code for answer in answers} == {200} and {answer.json["status"] for answer in answers} == {"pending"}
    with pay.api.app.app_context():
        from sqlalchemy import func, select

        from app.money.models import LedgerEntry
        from app.platform.db import db

        presented = db.session.scalar(select(func.count()).select_from(LedgerEntry).where(LedgerEntry.kind == "present"))
    assert presented == 1
    assert len(pay.bank_charges(bank)) == 1
    _ledger_agrees(pay)
