"""Ride now, pay later (issue 22 item 2; docs/payments.md "Transit"): the exit's fare from the
linked entry and the operator's fare table (distance bands or flat, concessions by fare class, a
maximum fare, a transfer discount within a window), an offline ride uploaded later and charged,
an entry without exit charged the maximum after the window, once. Both backends."""
from __future__ import annotations

import json
import secrets
from typing import Any

import pytest
from click.testing import CliRunner
from flask.cli import ScriptInfo
from sqlalchemy import select

from app.card.models import Card
from app.cli import main
from app.partners.terminals import register_terminals
from app.platform.db import db
from qr import offline

from ..benefits_support import Holder
from ..helpers import ApiClient
from ..payments_support import Payments
from .test_offline_certificates import Phone

# Dongguan, along one line of latitude: 0.01 degree of longitude is about 1.02 km here
GATES = {"gate-1": (23.02, 113.70), "gate-2": (23.02, 113.75), "gate-3": (23.02, 113.85), "gate-4": (23.02, 114.70)}
TABLE = {"mode": "distance", "bands": [{"up_to_km": 6, "fare_fen": 300}, {"up_to_km": 12, "fare_fen": 400}],
         "max_fare_fen": 900, "concessions": {"senior": 50, "disabled": 0},
         "transfer_window_minutes": 90, "transfer_discount_fen": 100}


@pytest.fixture
def pay(api: ApiClient) -> Payments:
    return Payments(api)


@pytest.fixture
def metro(pay: Payments) -> dict[str, Any]:
    """A metro operator (transit merchant) with gate coordinates and a distance fare table, a bank,
    and a holder with an account there."""
    operator = pay.merchant(("transit",), name="Metro")
    with pay.api.app.app_context():
        register_terminals(pay.api.rt, operator["partner_id"], [(gate, gate, "Line 2", *point) for gate, point in GATES.items()])
    answer = pay.call(operator, "/api/partner/v1/fare-table", TABLE, method="PUT")
    assert answer.status_code == 200, answer.json
    bank = pay.bank()
    holder = pay.holders(1)[0]
    pay.open_account(bank, holder)
    return {"operator": operator, "bank": bank, "holder": holder}


def ride(pay: Payments, operator: dict[str, str], holder: Holder, entry: str, exit_: str, minutes: int = 20) -> str:
    """Enter at ``entry``, ride ``minutes``, leave at ``exit_``; returns the exit's verification id."""
    pay.verified(operator, holder, scene="transit", terminal_id=entry, direction="entry")
    pay.api.clock.advance(minutes * 60)
    return pay.verified(operator, holder, scene="transit", terminal_id=exit_, direction="exit")


def fare_charge(pay: Payments, operator: dict[str, str], verification_id: str | None = None, **extra: Any) -> Any:
    body = {"description": "地铁 2 号线", "idempotency_key": f"ride-{secrets.token_hex(6)}", **extra}
    if verification_id:
        body["verification_id"] = verification_id
    return pay.call(operator, "/api/partner/v1/charges", body)


def test_a_ride_pays_its_distance_band_and_a_transfer_within_the_window_is_discounted(pay: Payments, metro: dict[str, Any]) -> None:
    operator, holder = metro["operator"], metro["holder"]
    first = fare_charge(pay, operator, ride(pay, operator, holder, "gate-1", "gate-2"))
    assert first.status_code == 200, first.json
    assert first.json["amount_fen"] == 300 and first.json["status"] == "pending"
    how = first.json["fare"]
    assert 5.0 < how["km"] < 5.3 and how["fare_class"] == "standard" and how["transfer_discount_fen"] == 0
    pay.api.clock.advance(30 * 60)  # a transfer: the next ride begins 30 minutes after the first ended
    second = fare_charge(pay, operator, ride(pay, operator, holder, "gate-2", "gate-3"))
    assert second.json["amount_fen"] == 400 - 100 and second.json["fare"]["transfer_discount_fen"] == 100
    pay.api.clock.advance(3 * 3600)  # outside the window: no discount
    third = fare_charge(pay, operator, ride(pay, operator, holder, "gate-3", "gate-2"))
    assert third.json["amount_fen"] == 400 and third.json["fare"]["transfer_discount_fen"] == 0
    assert [item["amount_fen"] for item in pay.bank_charges(metro["bank"])] == [300, 300, 400]


def test_a_concession_is_applied_and_no_ride_costs_more_than_the_maximum(pay: Payments, metro: dict[str, Any]) -> None:
    operator, holder = metro["operator"], metro["holder"]
    pay.api.app.config["CARD_CONCESSION_AGES"] = (("senior", 30),)  # the holders were born in 1990
    far = fare_charge(pay, operator, ride(pay, operator, holder, "gate-1", "gate-4"))  # about 102 km: beyond the bands
    assert far.json["amount_fen"] == 900 * 50 // 100
    assert far.json["fare"] == {**far.json["fare"], "base_fen": 900, "fare_class": "senior", "paid_percent": 50}


def test_a_free_ride_is_debited_at_once_and_never_sent_to_the_bank(pay: Payments, metro: dict[str, Any]) -> None:
    """A 0 % concession (elders riding free) makes a 0-fen charge: it keeps its place in
    the transfer chain but is debited at once, with its ledger entry; the bank is never asked to debit 0."""
    from app.money.ledger import check
    from app.money.models import Charge, LedgerEntry

    operator, holder = metro["operator"], metro["holder"]
    free_for_elders = {**TABLE, "concessions": {**TABLE["concessions"], "elder": 0}}
    assert pay.call(operator, "/api/partner/v1/fare-table", free_for_elders, method="PUT").status_code == 200
    pay.api.app.config["CARD_CONCESSION_AGES"] = (("elder", 30),)  # the holders were born in 1990
    free = fare_charge(pay, operator, ride(pay, operator, holder, "gate-1", "gate-2"))
    assert free.status_code == 200, free.json
    assert (free.json["amount_fen"], free.json["status"], free.json["fare"]["paid_percent"]) == (0, "debited", 0)
    assert pay.bank_charges(metro["bank"]) == []
    again = fare_charge(pay, operator, ride(pay, operator, holder, "gate-2", "gate-3"))  # a transfer after a free ride
    assert (again.json["amount_fen"], again.json["status"]) == (0, "debited")
    with pay.api.app.app_context():
        charge_id = free.json["charge_id"]
        kinds = db.session.scalars(select(LedgerEntry.kind).where(LedgerEntry.charge_id == charge_id).order_by(LedgerEntry.id)).all()
        assert kinds == ["charge", "debit"]
        assert db.session.get(Charge, charge_id).settled_at is not None
        assert check() == []


def test_a_flat_table_and_the_charges_a_fare_refuses(pay: Payments, metro: dict[str, Any]) -> None:
    operator, holder = metro["operator"], metro["holder"]
    assert pay.call(operator, "/api/partner/v1/fare-table", {"mode": "flat", "flat_fen": 200, "max_fare_fen": 500},
                    method="PUT").status_code == 200
    assert pay.call(operator, "/api/partner/v1/fare-table", method="GET").json["flat_fen"] == 200
    exit_id = ride(pay, operator, holder, "gate-1", "gate-4")
    assert fare_charge(pay, operator, exit_id).json["amount_fen"] == 200
    again = fare_charge(pay, operator, exit_id)
    assert again.status_code == 409 and again.json["error"]["code"] == "verification_already_charged"
    entry = pay.verified(operator, holder, scene="transit", terminal_id="gate-1", direction="entry")
    refused = fare_charge(pay, operator, entry)
    assert refused.status_code == 422 and refused.json["error"]["code"] == "fare_not_computable"
    bad = pay.call(operator, "/api/partner/v1/fare-table", {"mode": "distance", "max_fare_fen": 500,
                                                            "bands": [{"up_to_km": 6, "fare_fen": 3}, {"up_to_km": 2, "fare_fen": 4}]},
                   method="PUT")
    assert bad.status_code == 422 and "bands" in str(bad.json["error"]["details"])
    canteen = pay.merchant(("campus",), name="Canteen")
    assert pay.call(canteen, "/api/partner/v1/fare-table", TABLE, method="PUT").json["error"]["code"] == "scene_not_allowed"


def test_a_concession_for_no_fare_class_is_refused(pay: Payments, metro: dict[str, Any]) -> None:
    """A trial: a misspelt class was stored and replaced the table's concessions, so seniors paid the full fare."""
    operator = metro["operator"]
    bad = pay.call(operator, "/api/partner/v1/fare-table", {**TABLE, "concessions": {"senoir": 50, "disabled": 0}}, method="PUT")
    assert (bad.status_code, bad.json["error"]["code"]) == (422, "validation_error")
    assert list(bad.json["error"]["details"]["fields"]["json"]["concessions"]) == ["senoir"]
    assert pay.call(operator, "/api/partner/v1/fare-table", method="GET").json["concessions"] == TABLE["concessions"]
    every = {"standard": 100, "disabled": 0, "senior": 50, "elder": 0}  # the default CARD_CONCESSION_AGES: senior, elder
    assert pay.call(operator, "/api/partner/v1/fare-table", {**TABLE, "concessions": every}, method="PUT").status_code == 200


def _unfinished(pay: Payments) -> str:
    result = CliRunner().invoke(main, ["payments", "charge-unfinished-rides"], obj=ScriptInfo(create_app=lambda: pay.api.app))
    assert result.exit_code == 0, result.output
    return result.output


def test_an_entry_without_exit_is_charged_the_maximum_after_the_window_once(pay: Payments, metro: dict[str, Any]) -> None:
    operator, holder = metro["operator"], metro["holder"]
    entry = pay.verified(operator, holder, scene="transit", terminal_id="gate-1", direction="entry")
    assert "charged 0 unfinished rides" in _unfinished(pay)  # still within its 4 hours
    pay.api.clock.advance(4 * 3600 + 60)
    assert "charged 1 unfinished rides" in _unfinished(pay)
    assert "charged 0 unfinished rides" in _unfinished(pay)
    [charge] = pay.payments(holder).json["items"]
    assert charge["amount_fen"] == 900 and charge["scene"] == "transit"
    with pay.api.app.app_context():
        from app.money.models import Charge

        stored = db.session.scalar(select(Charge).where(Charge.verification_id == entry))
        assert json.loads(stored.fare)["unfinished"] is True and stored.ride_entry_id == entry


def test_an_offline_ride_uploaded_later_is_charged_its_fare(pay: Payments, metro: dict[str, Any]) -> None:
    operator, bank = metro["operator"], metro["bank"]
    token = pay.api.bound_citizen("openid-offline-rider")
    phone = Phone(pay.api, token).set_up()
    with pay.api.app.app_context():
        card_number = db.session.scalar(select(Card.card_number).order_by(Card.id.desc()).limit(1))
    pay.open_account(bank, Holder(token, "", "", card_number))
    certificate, device = phone.certificate()
    pay.api.clock.advance(1800)  # the ride, offline, after the certificate was issued; uploaded now
    now = int(pay.api.clock.time())
    entry_code = offline.make_code(certificate, device, t=now - 1500, ctr=0).text
    exit_code = offline.make_code(certificate, device, t=now - 300, ctr=1).text
    records = [{"record_id": "rec-entry-0001", "terminal_id": "gate-2", "scene": "transit", "direction": "entry",
                "scanned_at": now - 1500, "code": entry_code},
               {"record_id": "rec-exit-0001", "terminal_id": "gate-3", "scene": "transit", "direction": "exit",
                "scanned_at": now - 300, "code": exit_code}]
    uploaded = pay.call(operator, "/api/partner/v1/offline/records", {"records": records})
    assert [item["status"] for item in uploaded.json["results"]] == ["settled", "settled"], uploaded.json
    charged = fare_charge(pay, operator, record_id="rec-exit-0001")
    assert charged.status_code == 200, charged.json
    assert charged.json["amount_fen"] == 400 and 10 < charged.json["fare"]["km"] < 10.5, charged.json["fare"]
    assert [item["charge_id"] for item in pay.bank_charges(bank)] == [charged.json["charge_id"]]
    pay.api.clock.advance(4 * 3600 + 60)
    assert "charged 0 unfinished rides" in _unfinished(pay)  # its entry was charged with its exit


def test_32_racing_fare_table_updates_leave_one_table(pay: Payments, metro: dict[str, Any]) -> None:
    import threading

    operator = metro["operator"]
    start, answers = threading.Barrier(32), [None] * 32

    def put(index: int) -> None:
        start.wait()
        answers[index] = Payments(ApiClient(pay.api.app, pay.api.wechat, pay.api.clock)).call(
            operator, "/api/partner/v1/fare-table", {"mode": "flat", "flat_fen": 100 + index, "max_fare_fen": 900}, method="PUT")

    threads = [threading.Thread(target=put, args=(index,)) for index in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert {answer.status_code for answer in answers} == {200}  # type: ignore[union-attr]
    stored = pay.call(operator, "/api/partner/v1/fare-table", method="GET").json
    assert stored["mode"] == "flat" and 100 <= stored["flat_fen"] < 132
    with pay.api.app.app_context():
        from sqlalchemy import func

        from app.money.models import FareTable

        assert db.session.scalar(select(func.count()).select_from(FareTable)) == 1
