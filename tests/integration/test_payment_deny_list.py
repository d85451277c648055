"""The payment deny list (issue 22 item 3; docs/payments.md "The payment deny list"): a card
owing a declined charge is refused when verified for a charge (a merchant in a charging scene),
not elsewhere, and its live offline certificates are on the DGC2 deny list until the debt is
paid off. Both backends."""
from __future__ import annotations

from typing import Any

import pytest

from app.card.offline_lists import DENY_MIN_INTERVAL

from ..helpers import ApiClient
from ..payments_support import Payments
from .test_offline_certificates import Phone
from .test_offline_lists import GateOperator
from .test_payments import THREADS, _ledger_agrees, race


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


def _decline(pay: Payments, shop: dict[str, Any], amount: int = 1500) -> int:
    holder, canteen, bank = shop["holders"][0], shop["canteen"], shop["bank"]
    charge_id = pay.charge(canteen, pay.verified(canteen, holder), amount).json["charge_id"]
    assert pay.confirm_charges(bank, (charge_id, "declined", "insufficient_funds")).json["results"][0]["result"] == "applied"
    return charge_id


def _pay_off(pay: Payments, shop: dict[str, Any], charge_id: int) -> None:
    holder, bank = shop["holders"][0], shop["bank"]
    assert pay.api.client.post(f"/api/mp/v1/payments/{charge_id}/pay-off", headers=pay.api.bearer(holder.token)).status_code == 200
    assert pay.confirm_charges(bank, (charge_id, "debited")).json["results"][0]["status"] == "debited"


def test_a_card_in_debt_is_refused_when_verified_for_a_charge_until_paid_off(pay: Payments, shop: dict[str, Any]) -> None:
    api: ApiClient = pay.api
    holder, canteen = shop["holders"][0], shop["canteen"]
    charge_id = _decline(pay, shop)
    refused = api.verify(canteen, api.code(holder.token), terminal_id="gate-1", scene="campus").json
    assert refused["accepted"] is False and refused["reason"] == "payment_debt" and refused["subject"] is None
    metro = pay.merchant(("transit",), "Metro")
    assert api.verify(metro, api.code(holder.token)).json["reason"] == "payment_debt"  # any charging scene
    bus = api.partner(("transit",), "Bus (no merchant role)")
    assert api.verify(bus, api.code(holder.token)).json["accepted"] is True  # identification only: not refused
    other = shop["holders"][1]
    assert api.verify(canteen, api.code(other.token), terminal_id="gate-1", scene="campus").json["accepted"] is True

    _pay_off(pay, shop, charge_id)
    assert api.verify(canteen, api.code(holder.token), terminal_id="gate-1", scene="campus").json["accepted"] is True
    _ledger_agrees(pay)  # the card's debt (payment_debt_fen) equals its owed charges and the ledger's


def test_a_void_of_the_declined_charge_also_takes_the_card_off(pay: Payments, shop: dict[str, Any]) -> None:
    api: ApiClient = pay.api
    holder, canteen = shop["holders"][0], shop["canteen"]
    charge_id = _decline(pay, shop)
    assert pay.void(canteen, charge_id).json["status"] == "voided"
    assert api.verify(canteen, api.code(holder.token), terminal_id="gate-1", scene="campus").json["accepted"] is True
    _ledger_agrees(pay)


def test_a_debtors_offline_certificate_is_on_the_deny_list_until_the_debt_is_paid(pay: Payments, shop: dict[str, Any]) -> None:
    api: ApiClient = pay.api
    certificate, _ = Phone(api, shop["holders"][0].token).set_up().certificate()
    operator = GateOperator(api)
    trust = operator.trust()
    assert certificate.serial not in operator.deny(trust)
    charge_id = _decline(pay, shop)
    api.clock.advance(61)  # a version at least every minute
    assert certificate.serial in operator.deny(trust)
    _pay_off(pay, shop, charge_id)
    api.clock.advance(61)
    assert certificate.serial not in operator.deny(trust)  # off again: the certificate itself was never revoked
    assert DENY_MIN_INTERVAL < 61


def test_32_racing_declines_and_pay_offs_keep_the_cards_debt_exact(pay: Payments, shop: dict[str, Any]) -> None:
    holder, canteen, bank = shop["holders"][0], shop["canteen"], shop["bank"]
    charges = [pay.charge(canteen, pay.verified(canteen, holder), 100 + n).json["charge_id"] for n in range(4)]

    def confirm(n: int) -> Any:  # 32 banks' retries of four declines at once
        client = Payments(ApiClient(pay.api.app, pay.api.wechat, pay.api.clock))
        return client.confirm_charges(bank, (charges[n % 4], "declined", "insufficient_funds")).json["results"][0]["result"]

    results = race(THREADS, confirm)
    assert results.count("applied") == 4 and results.count("unchanged") == THREADS - 4
    assert pay.payments(holder).json["debt_fen"] == 100 + 101 + 102 + 103
    _ledger_agrees(pay)
