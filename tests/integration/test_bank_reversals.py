"""Telling the bank of voids and refunds (issue 22 item 3), the way it pulls charges: a void of a
debited charge and each refund are listed in GET /bank/reversals with the account to credit back,
until the bank confirms them; each is confirmed exactly once (retries, 32 racing confirmations);
a void of a charge never debited is not listed; another bank sees none of them. Both backends."""
from __future__ import annotations

from typing import Any

import pytest

from ..helpers import ApiClient
from ..payments_support import Payments
from .test_payments import THREADS, _ledger_agrees, race


@pytest.fixture
def pay(api: ApiClient) -> Payments:
    return Payments(api)


@pytest.fixture
def shop(pay: Payments) -> dict[str, Any]:
    """Two holders with an account at the bank, a canteen whose members they are."""
    holders = pay.holders(2)
    bank, canteen = pay.bank(), pay.merchant()
    for holder in holders:
        assert pay.open_account(bank, holder).status_code == 200
    pay.members(canteen, *holders)
    return {"holders": holders, "bank": bank, "canteen": canteen}


def _debited(pay: Payments, shop: dict[str, Any], amount: int) -> int:
    holder, canteen, bank = shop["holders"][0], shop["canteen"], shop["bank"]
    charge_id = pay.charge(canteen, pay.verified(canteen, holder), amount).json["charge_id"]
    assert pay.confirm_charges(bank, (charge_id, "debited")).json["results"][0]["result"] == "applied"
    return charge_id


def test_a_void_and_refunds_are_pulled_and_confirmed_once(pay: Payments, shop: dict[str, Any]) -> None:
    canteen, bank = shop["canteen"], shop["bank"]
    assert pay.bank_reversals(bank) == []
    refunded = _debited(pay, shop, 1000)
    voided = _debited(pay, shop, 700)
    never_debited = pay.charge(canteen, pay.verified(canteen, shop["holders"][1]), 500).json["charge_id"]
    assert pay.refund(canteen, refunded, 300).status_code == 200
    assert pay.refund(canteen, refunded, 200).status_code == 200
    assert pay.void(canteen, voided).status_code == 200
    assert pay.void(canteen, never_debited).status_code == 200  # moved no money at the bank: not listed
    items = pay.bank_reversals(bank)
    assert [(item["charge_id"], item["kind"], item["amount_fen"]) for item in items] == [
        (refunded, "refund", 300), (refunded, "refund", 200), (voided, "void", 700)]
    assert {item["account_number"] for item in items} == {"62220200" + shop["holders"][0].card_number[-8:]}  # the account debited
    assert pay.bank_reversals(bank, after=items[0]["reversal_id"])[0]["reversal_id"] == items[1]["reversal_id"]  # keyset pages
    first = pay.confirm_reversals(bank, items[0]["reversal_id"], items[2]["reversal_id"], 2**61)
    assert [result["result"] for result in first.json["results"]] == ["applied", "applied", "unknown"]
    assert pay.confirm_reversals(bank, items[0]["reversal_id"]).json["results"][0]["result"] == "unchanged"  # a retry
    assert [item["reversal_id"] for item in pay.bank_reversals(bank)] == [items[1]["reversal_id"]]
    other_bank = pay.bank(name="Another Bank")
    assert pay.bank_reversals(other_bank) == []
    assert pay.confirm_reversals(other_bank, items[1]["reversal_id"]).json["results"][0]["result"] == "unknown"
    assert pay.confirm_reversals(bank, items[1]["reversal_id"], items[1]["reversal_id"]).status_code == 422  # named twice
    assert pay.call(canteen, "/api/partner/v1/bank/reversals", method="GET").json["error"]["code"] == "role_required"
    _ledger_agrees(pay)


def test_32_racing_confirmations_of_a_reversal_apply_once(pay: Payments, shop: dict[str, Any]) -> None:
    bank = shop["bank"]
    charge_id = _debited(pay, shop, 900)
    assert pay.refund(shop["canteen"], charge_id, 900).status_code == 200
    [reversal] = pay.bank_reversals(bank)

    def confirm(_: int) -> Any:
        return Payments(ApiClient(pay.api.app, pay.api.wechat, pay.api.clock)).confirm_reversals(bank, reversal["reversal_id"])

    results = [answer.json["results"][0]["result"] for answer in race(THREADS, confirm)]
    assert results.count("applied") == 1 and set(results) == {"applied", "unchanged"}
    assert pay.bank_reversals(bank) == []
