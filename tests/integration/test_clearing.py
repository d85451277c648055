"""Clearing (issue 22 item 5; docs/payments.md "Clearing"): daily statements per merchant and per
bank that reconcile to the fen with the ledger, through the CLI and the signed statement
endpoints; racing runs clear each entry once; a property test drives random charges, debits,
declines, pay-offs, voids and refunds and checks that the statements always equal the ledger."""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
from datetime import timedelta
from typing import Any

import pytest
from click.testing import CliRunner
from flask.cli import ScriptInfo
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from app.cli import main
from app.money.charges import city_day
from app.platform.db import db

from ..helpers import ApiClient
from ..payments_support import Payments


@pytest.fixture
def pay(api: ApiClient) -> Payments:
    return Payments(api)


def _today(pay: Payments) -> str:
    return city_day(pay.api.rt.clock.now()).isoformat()


def _clear(pay: Payments, day: str) -> str:
    result = CliRunner().invoke(main, ["payments", "clear", "--day", day], obj=ScriptInfo(create_app=lambda: pay.api.app))
    assert result.exit_code == 0, result.output
    return result.output


def test_a_clearing_run_makes_statements_that_match_the_ledger(pay: Payments) -> None:
    holders = pay.holders(2)
    bank, canteen = pay.bank(), pay.merchant()
    for holder in holders:
        pay.open_account(bank, holder)
    pay.members(canteen, *holders)
    pay.api.app.config["CARD_CHARGE_FEE_BP"] = 60  # 0.6 %
    ids = [pay.charge(canteen, pay.verified(canteen, holders[n % 2]), amount).json["charge_id"]
           for n, amount in enumerate((1000, 2000, 3000, 4000, 500))]
    pay.confirm_charges(bank, (ids[0], "debited"), (ids[1], "debited"), (ids[2], "debited"), (ids[3], "declined", "insufficient_funds"))
    assert pay.void(canteen, ids[1]).json["status"] == "voided"  # debited, then voided before clearing
    assert pay.refund(canteen, ids[2], 700).status_code == 200
    day = _today(pay)
    output = _clear(pay, day)
    assert f"{day}: 2 statements" in output
    merchant = pay.call(canteen, f"/api/partner/v1/clearing-statements/{day}", method="GET")
    assert merchant.status_code == 200, merchant.json
    # debits 1000 + 2000 + 3000, reversed 2000 (void) + 700 (refund); the pending 500 and the declined 4000 move nothing
    assert merchant.json["totals"] == {"entries": 5, "gross_fen": 6000, "reversed_fen": 2700, "fee_fen": 36, "net_fen": 3264}
    assert sorted(row["kind"] for row in merchant.json["entries"]) == ["debit", "debit", "debit", "refund", "void"]
    assert sum(row["net_fen"] for row in merchant.json["entries"]) == 6000 - 2700
    banked = pay.call(bank, f"/api/partner/v1/clearing-statements/{day}", method="GET").json
    assert banked["totals"]["net_fen"] == 3300 and banked["totals"]["fee_fen"] == 0
    assert {row["merchant"] for row in banked["entries"]} == {canteen["partner_id"]}
    csv = pay.call(canteen, f"/api/partner/v1/clearing-statements/{day}.csv", method="GET")
    body, _, last = csv.get_data().rstrip(b"\n").rpartition(b"\n")
    expected = base64.b64encode(hmac.new(canteen["secret"].encode(), body + b"\n", hashlib.sha256).digest()).decode()
    assert last.decode() == f"#signature,HMAC-SHA256,{expected}" == f"#signature,HMAC-SHA256,{merchant.json['signature']}"
    assert b"#totals,entries=5,gross_fen=6000,reversed_fen=2700,fee_fen=36,net_fen=3264" in body
    # cleared: no void any more; a refund the next day goes into that day's statement; a second run
    # of the first day clears nothing twice
    late = pay.void(canteen, ids[0])
    assert late.status_code == 409 and late.json["error"]["code"] == "charge_cleared"
    pay.api.clock.advance(86000)  # past the city's midnight, within the login token's day
    assert pay.refund(canteen, ids[0], 100).status_code == 200
    _clear(pay, day)
    assert pay.call(canteen, f"/api/partner/v1/clearing-statements/{day}", method="GET").json["totals"] == merchant.json["totals"]
    next_day = _today(pay)
    _clear(pay, next_day)
    following = pay.call(canteen, f"/api/partner/v1/clearing-statements/{next_day}", method="GET").json
    assert following["totals"] == {"entries": 1, "gross_fen": 0, "reversed_fen": 100, "fee_fen": 0, "net_fen": -100}
    assert pay.call(pay.merchant(name="Quiet"), f"/api/partner/v1/clearing-statements/{day}", method="GET").json["entries"] == []
    assert pay.call(pay.api.partner(("campus",), name="No role"), f"/api/partner/v1/clearing-statements/{day}",
                    method="GET").json["error"]["code"] == "role_required"


def test_racing_clearing_runs_clear_each_entry_once(pay: Payments) -> None:
    from app.money.clearing import run_clearing
    from app.money.models import ClearingItem

    holder = pay.holders(1)[0]
    bank, canteen = pay.bank(), pay.merchant()
    pay.open_account(bank, holder)
    pay.members(canteen, holder)
    ids = [pay.charge(canteen, pay.verified(canteen, holder), 100 + n).json["charge_id"] for n in range(10)]
    pay.confirm_charges(bank, *((charge_id, "debited") for charge_id in ids))
    day = city_day(pay.api.rt.clock.now())
    start, failures = threading.Barrier(8), []

    def run() -> None:
        with pay.api.app.app_context():
            start.wait()
            try:
                run_clearing(pay.api.rt, day)
            except Exception as exc:  # noqa: BLE001 - a lost race may fail, but never double-clear
                failures.append(type(exc).__name__)

    threads = [threading.Thread(target=run) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with pay.api.app.app_context():
        run_clearing(pay.api.rt, day)  # whatever a failed racer left is cleared now
        assert db.session.scalar(select(func.count()).select_from(ClearingItem)) == 20  # 10 debits, merchant and bank
    total = pay.call(canteen, f"/api/partner/v1/clearing-statements/{day}", method="GET").json["totals"]
    assert total["gross_fen"] == sum(100 + n for n in range(10)) and total["entries"] == 10


OPERATIONS = st.lists(st.tuples(st.sampled_from(["charge", "debit", "decline", "pay_off", "void", "refund", "clear", "next_day"]),
                                st.integers(0, 40), st.integers(1, 5000)), min_size=5, max_size=40)


@pytest.mark.parametrize("app", ["embedded"], indirect=True)
@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(operations=OPERATIONS)
def test_statements_always_equal_the_ledger(pay: Payments, operations: list[tuple[str, int, int]]) -> None:
    """Whatever happens, in whatever order: after clearing every day, each party's statements sum
    to its ledger balance, each statement's totals to its entries, and the ledger replays to the
    stored charges and debts."""
    from app.money.clearing import run_clearing

    world = _world(pay)
    with pay.api.app.app_context():
        for name, pick, amount in operations:
            _apply(pay, world, name, pick, amount)
        run_clearing(pay.api.rt, city_day(pay.api.rt.clock.now()), timedelta(days=400))  # however many days passed
        _assert_statements_equal_ledger()


def _world(pay: Payments) -> dict[str, Any]:
    """One set of holders, banks and merchants for all examples (the invariants are cumulative)."""
    if not hasattr(pay.api.app, "_payment_world"):
        from app.card.models import Card
        from app.partners.partners import partner_view

        holders = pay.holders(3)
        banks = [pay.bank("Bank A"), pay.bank("Bank B")]
        for n, holder in enumerate(holders):
            pay.open_account(banks[n % 2], holder)
        merchants = [pay.merchant(name="Canteen"), pay.merchant(("transit",), name="Metro")]
        with pay.api.app.app_context():
            cards = [db.session.scalar(select(Card.id).where(Card.card_number == holder.card_number)) for holder in holders]
            views = [partner_view(pay.api.rt, merchant["partner_id"]) for merchant in merchants]
            bank_ids = [partner_view(pay.api.rt, bank["partner_id"]).id for bank in banks]  # type: ignore[union-attr]
        pay.api.app._payment_world = {"cards": cards, "merchants": views, "banks": bank_ids, "charges": []}  # type: ignore[attr-defined]
    return pay.api.app._payment_world  # type: ignore[attr-defined,no-any-return]


def _apply(pay: Payments, world: dict[str, Any], name: str, pick: int, amount: int) -> None:
    from app.money.charge_bank import ChargeConfirmation, confirm_charges, present_again
    from app.money.charges import ChargeRequest, Verified, create_charge
    from app.money.clearing import run_clearing
    from app.money.models import Charge
    from app.money.refunds import refund_charge, void_charge
    from app.platform.errors import AppError

    rt, charges = pay.api.rt, world["charges"]
    charge = db.session.get(Charge, charges[pick % len(charges)]) if charges else None
    try:
        if name == "charge":
            merchant = world["merchants"][pick % 2]
            verified = Verified("vf_" + secrets.token_hex(12), "campus" if pick % 2 == 0 else "transit",
                                world["cards"][pick % 3], True, rt.clock.now())
            made, _ = create_charge(rt, merchant, ChargeRequest(f"key-{secrets.token_hex(6)}", "x", min(amount, 5000)), verified)
            charges.append(made.id)
        elif charge is not None and name in ("debit", "decline"):
            confirm_charges(rt, charge.bank_partner_id, [ChargeConfirmation(charge.id, "debited" if name == "debit" else "declined",
                                                                            None if name == "debit" else "no_funds")])
        elif charge is not None and name == "pay_off":
            present_again(rt, charge.citizen_id, charge.id)
        elif charge is not None and name == "void":
            void_charge(rt, charge.merchant_partner_id, charge.id)
        elif charge is not None and name == "refund":
            refund_charge(rt, charge.merchant_partner_id, charge.id, 1 + amount % 800, f"r-{secrets.token_hex(6)}", None)
        elif name == "clear":
            run_clearing(rt, city_day(rt.clock.now()))
        elif name == "next_day":
            rt.clock.advance(86400 + amount)
    except AppError:
        db.session.rollback()  # a refused operation (limits, debts, cleared, ...) changes nothing


def _assert_statements_equal_ledger() -> None:
    from app.money.ledger import check, replay
    from app.money.models import Clearing, ClearingItem, LedgerEntry

    state = replay()
    for party, balances in (("merchant", state.merchant_balance), ("bank", state.bank_balance)):
        cleared = dict(db.session.execute(select(Clearing.partner_id, func.sum(Clearing.net_fen + Clearing.fee_fen))
                                          .where(Clearing.party == party).group_by(Clearing.partner_id)).all())
        assert {key: int(value) for key, value in cleared.items() if value} == {key: value for key, value in balances.items() if value}
    for clearing in db.session.scalars(select(Clearing)):
        amounts = [amount for (amount,) in db.session.execute(
            select(LedgerEntry.merchant_fen).join(ClearingItem, ClearingItem.ledger_entry_id == LedgerEntry.id)
            .where(ClearingItem.clearing_id == clearing.id))]
        assert clearing.entries == len(amounts)
        assert clearing.gross_fen == sum(a for a in amounts if a > 0) and clearing.reversed_fen == -sum(a for a in amounts if a < 0)
        assert clearing.net_fen == clearing.gross_fen - clearing.reversed_fen - clearing.fee_fen
    assert check() == []


def test_the_clear_command_refuses_a_bad_day(pay: Payments) -> None:
    result = CliRunner().invoke(main, ["payments", "clear", "--day", "2026-13-01"], obj=ScriptInfo(create_app=lambda: pay.api.app))
    assert result.exit_code != 0 and "YYYY-MM-DD" in result.output
    replay = CliRunner().invoke(main, ["payments", "replay"], obj=ScriptInfo(create_app=lambda: pay.api.app))
    assert replay.exit_code == 0 and "agree" in replay.output


def test_clearing_a_day_excludes_what_came_after_it(pay: Payments) -> None:
    holder = pay.holders(1)[0]
    bank, canteen = pay.bank(), pay.merchant()
    pay.open_account(bank, holder)
    pay.members(canteen, holder)
    first = pay.charge(canteen, pay.verified(canteen, holder), 300).json["charge_id"]
    pay.confirm_charges(bank, (first, "debited"))
    yesterday = _today(pay)
    pay.api.clock.advance(86000)  # past the city's midnight, within the login token's day
    second = pay.charge(canteen, pay.verified(canteen, holder), 400).json["charge_id"]
    pay.confirm_charges(bank, (second, "debited"))
    _clear(pay, yesterday)
    assert pay.call(canteen, f"/api/partner/v1/clearing-statements/{yesterday}", method="GET").json["totals"]["gross_fen"] == 300
    _clear(pay, _today(pay))
    assert pay.call(canteen, f"/api/partner/v1/clearing-statements/{_today(pay)}", method="GET").json["totals"]["gross_fen"] == 400
