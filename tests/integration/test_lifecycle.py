"""The card's carriers (docs/card-lifecycle.md): the physical card's and the e-card's state
machines through the HTTP API (citizen and bank), every legal and illegal transition, loss
reports against terminals, fees, activation and PIN, phone change, device move."""
from __future__ import annotations

import json
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import select

from app.card.lifecycle import ECARD_TRANSITIONS, PHYSICAL_TRANSITIONS, REINSTATE, transition_physical
from app.card.models import CarrierEvent, Device, PhysicalCard
from app.card.pins import pin_matches
from app.platform.db import db
from app.scanning.models import Verification

from ..helpers import ApiClient
from .test_login import error_code
from .test_partner_admin import cli

REPORTS = "/api/partner/v1/bank/card-reports"
PIN = "480915"
OTHER = {"name": "李建国", "id_number": "441900195008281658", "phone": "13800138488"}
UNINSURED = {"name": "林秀英", "id_number": "441900195612012868", "phone": "13800138205"}


class Story:
    """A bound, insured citizen, a partner bank, and a verifying terminal partner."""

    def __init__(self, api: ApiClient) -> None:
        self.api = api
        self.token = api.bound_citizen()
        self.bank = api.partner((), name="Bank", roles=("bank",))
        self.metro = api.partner(("transit",), name="Metro")

    def mp(self, method: str, path: str, body: Any = None) -> Any:
        return self.api.client.open(f"/api/mp/v1{path}", method=method, json=body, headers=self.api.bearer(self.token))

    def apply(self) -> str:
        fee = self.mp("GET", "/card/physical/fee").json["fee_fen"]
        response = self.mp("POST", "/card/physical", {"bank_partner_id": self.bank["partner_id"], "accepted_fee_fen": fee})
        assert response.status_code == 201, response.json
        return response.json["application_id"]

    def report(self, application_id: str, event: str, bank: dict | None = None, request_id: str | None = None, **extra: Any) -> Any:
        body = {"request_id": request_id or "rq-" + secrets.token_hex(6), "application_id": application_id, "event": event, **extra}
        return self.api.signed_post(bank or self.bank, json.dumps(body).encode(), path=REPORTS)

    def issued(self, serial: str = "SN00000001") -> str:
        application_id = self.apply()
        assert self.report(application_id, "produced", serial_number=serial).status_code == 200
        assert self.report(application_id, "issued").status_code == 200
        return application_id

    def activated(self, serial: str = "SN00000001") -> str:
        application_id = self.issued(serial)
        response = self.mp("POST", "/card/physical/activation", {"serial_number": serial, "pin": PIN})
        assert response.status_code == 200, response.json
        return application_id

    def card_number(self) -> str:
        return self.mp("GET", "/card/carriers").json["card_number"]

    def read_card(self, terminal_id: str = "gate-1") -> Any:
        body = {"card_number": self.card_number(), "scene": "transit", "terminal_id": terminal_id}
        return self.api.signed_post(self.metro, json.dumps(body).encode()).json

    def state(self) -> str:
        return self.mp("GET", "/card/carriers").json["physical"]["state"]


@pytest.fixture
def story(api: ApiClient) -> Story:
    return Story(api)


# --- the state machines, transition by transition ----------------------------------------------

ALL_PHYSICAL = ("applied", "produced", "issued", "activated", "suspended", "replaced", "recovered", "cancelled")
PHYSICAL_CASES = [(event, state) for event in PHYSICAL_TRANSITIONS for state in ALL_PHYSICAL]


@pytest.mark.parametrize(("event", "state"), PHYSICAL_CASES)
def test_every_physical_transition_from_every_state(api: ApiClient, story: Story, event: str, state: str) -> None:
    """Legal: the state moves and one event is recorded. Illegal: 409 with the current state, nothing changes."""
    story.apply()
    sources, target = PHYSICAL_TRANSITIONS[event]
    with api.app.app_context():
        physical = db.session.scalars(select(PhysicalCard)).one()
        physical.state, physical.suspended_from = state, ("activated" if state == "suspended" else None)
        db.session.commit()
        before = db.session.scalar(select(db.func.count()).select_from(CarrierEvent))
        try:
            transition = transition_physical(api.rt, physical, event, "citizen", "test")
            db.session.commit()
            outcome: Any = transition.to_state
        except Exception as exc:  # noqa: BLE001 (AppError expected; asserted below)
            outcome = exc
        db.session.expire_all()
        after_state = db.session.scalar(select(PhysicalCard.state))
        events = db.session.scalar(select(db.func.count()).select_from(CarrierEvent)) - before
    if state in sources:
        expected = "activated" if target == REINSTATE else target
        assert (outcome, after_state, events) == (expected, expected, 1)
    else:
        assert (outcome.code, outcome.http_status, outcome.details["state"]) == ("illegal_transition", 409, state)
        assert (after_state, events) == (state, 0)


@pytest.mark.parametrize(("event", "state"), [(e, s) for e in ECARD_TRANSITIONS for s in ("active", "suspended", "cancelled")])
def test_every_ecard_transition_from_every_state(api: ApiClient, story: Story, event: str, state: str) -> None:
    from app.card.lifecycle import transition_ecard
    from app.card.models import Card

    with api.app.app_context():
        card = db.session.scalars(select(Card)).one()
        card.status = state
        db.session.commit()
        try:
            outcome: Any = transition_ecard(api.rt, card, event, "citizen", "test").to_state
            db.session.commit()
        except Exception as exc:  # noqa: BLE001
            outcome = exc
        db.session.expire_all()
        now = db.session.scalar(select(Card.status))
    sources, target = ECARD_TRANSITIONS[event]
    if state in sources:
        assert (outcome, now) == (target, target)
    else:
        assert (outcome.code, outcome.details["state"], now) == ("illegal_transition", state, state)


def test_the_whole_life_through_the_api(story: Story) -> None:
    application_id = story.activated()
    assert story.state() == "activated"
    assert story.mp("POST", "/card/physical/loss-report").json == {
        "carrier": "physical", "event": "loss_reported", "from_state": "activated", "to_state": "suspended"}
    assert story.mp("DELETE", "/card/physical/loss-report").json["to_state"] == "activated"
    assert story.mp("POST", "/card/physical/loss-report").status_code == 200
    fee = story.mp("GET", "/card/physical/fee").json
    assert fee == {"rule": "replacement", "fee_fen": 2000, "payer": "citizen", "technology": "gen3"}
    new = story.mp("POST", "/card/physical/replacement", {"accepted_fee_fen": 2000})
    assert new.status_code == 201 and new.json["state"] == "applied" and new.json["fee_rule"] == "replacement"
    assert story.report(new.json["application_id"], "produced", serial_number="SN00000002").json["state"] == "produced"
    assert story.report(new.json["application_id"], "issued").json["state"] == "issued"
    with story.api.app.app_context():
        old = db.session.scalar(select(PhysicalCard).where(PhysicalCard.application_id == application_id))
        assert old.state == "recovered"  # taken back when the replacement was issued
    events = story.mp("GET", "/card/events").json["items"]
    assert [e["event"] for e in events] == [
        "recovered", "issued", "produced", "applied", "replaced", "loss_reported", "loss_report_cancelled", "loss_reported",
        "activated", "issued", "produced", "applied"]  # newest first
    assert (events[3]["from_state"], events[3]["reason"]) == (None, "fee 2000 fen by citizen (rule replacement)")
    assert all(set(e) == {"carrier", "event", "from_state", "to_state", "reason", "actor", "at"} for e in events)
    assert {e["actor"] for e in events} == {"citizen", f"bank:{story.bank['partner_id']}"}


def test_an_illegal_request_is_409_with_the_current_state(story: Story) -> None:
    story.apply()
    response = story.mp("POST", "/card/physical/loss-report")
    details = response.json["error"]["details"]
    assert (response.status_code, error_code(response), details["state"]) == (409, "illegal_transition", "applied")
    assert error_code(story.mp("POST", "/card/physical/loss-report")) == "illegal_transition"


def test_without_a_physical_card_there_is_nothing_to_report(story: Story) -> None:
    assert error_code(story.mp("POST", "/card/physical/loss-report")) == "no_physical_card"
    assert story.mp("GET", "/card/carriers").json["physical"] is None


def test_only_insured_residents_may_apply(api: ApiClient) -> None:
    api.import_sample_roster()
    token = api.login("uninsured")
    assert api.bind(token, UNINSURED).status_code == 200
    bank = api.partner((), name="Bank", roles=("bank",))
    response = api.client.post("/api/mp/v1/card/physical", json={"bank_partner_id": bank["partner_id"], "accepted_fee_fen": 0},
                               headers=api.bearer(token))
    assert (response.status_code, error_code(response)) == (403, "not_insured")
    assert "e-card" in response.json["error"]["message"]


def test_a_second_application_is_refused(story: Story) -> None:
    story.apply()
    response = story.mp("POST", "/card/physical", {"bank_partner_id": story.bank["partner_id"], "accepted_fee_fen": 2000})
    details = response.json["error"]["details"]
    assert (response.status_code, error_code(response), details["state"]) == (409, "physical_card_exists", "applied")


def test_concurrent_applications_make_one_card(story: Story) -> None:
    body = {"bank_partner_id": story.bank["partner_id"], "accepted_fee_fen": 0}
    with ThreadPoolExecutor(4) as pool:
        statuses = sorted(pool.map(lambda _: story.mp("POST", "/card/physical", body).status_code, range(4)))
    assert statuses == [201, 409, 409, 409]
    with story.api.app.app_context():
        assert db.session.scalar(select(db.func.count()).select_from(PhysicalCard)) == 1


def test_the_fee_is_shown_and_must_be_confirmed(story: Story) -> None:
    assert story.mp("GET", "/card/physical/fee").json == {"rule": "first_card", "fee_fen": 0, "payer": "bank", "technology": "gen3"}
    story.activated()
    story.mp("POST", "/card/physical/loss-report")
    refused = story.mp("POST", "/card/physical/replacement", {"accepted_fee_fen": 0})
    assert (refused.status_code, error_code(refused)) == (409, "fee_not_accepted")
    assert refused.json["error"]["details"] == {"rule": "replacement", "fee_fen": 2000, "payer": "citizen"}
    assert story.state() == "suspended"  # nothing changed


def test_a_technology_upgrade_is_free(api: ApiClient, story: Story) -> None:
    story.activated()
    api.app.config["CARD_TECHNOLOGY"] = "gen4"
    story.mp("POST", "/card/physical/loss-report")
    new = story.mp("POST", "/card/physical/replacement", {"accepted_fee_fen": 0}).json
    assert (new["fee_rule"], new["fee_fen"], new["fee_payer"], new["technology"]) == ("technology_upgrade", 0, "bank", "gen4")


def test_a_partner_without_the_bank_role_is_not_a_bank(story: Story) -> None:
    response = story.mp("POST", "/card/physical", {"bank_partner_id": story.metro["partner_id"], "accepted_fee_fen": 0})
    assert error_code(response) == "bank_unknown"
    application_id = story.apply()
    refused = story.report(application_id, "produced", bank=story.metro, serial_number="SN12345678")
    assert (refused.status_code, error_code(refused)) == (403, "role_required")


# --- the bank's reports ---------------------------------------------------------------------


def test_a_bank_reports_only_on_its_own_cards(api: ApiClient, story: Story) -> None:
    application_id = story.apply()
    other_bank = api.partner((), name="Other Bank", roles=("bank",))
    response = story.report(application_id, "produced", bank=other_bank, serial_number="SN12345678")
    assert (response.status_code, error_code(response)) == (404, "card_not_found")
    assert story.state() == "applied"


def test_a_retried_report_never_applies_twice(story: Story) -> None:
    application_id = story.apply()
    first = story.report(application_id, "produced", request_id="req-00000001", serial_number="SN12345678").json
    again = story.report(application_id, "produced", request_id="req-00000001", serial_number="SN12345678").json
    assert first == {"request_id": "req-00000001", "application_id": application_id, "event": "produced",
                     "state": "produced", "replayed": False}
    assert again == {**first, "replayed": True}
    reused = story.report(application_id, "issued", request_id="req-00000001")
    assert (reused.status_code, error_code(reused)) == (409, "request_id_reused")
    with story.api.app.app_context():
        assert db.session.scalar(select(db.func.count()).select_from(CarrierEvent).where(CarrierEvent.event == "produced")) == 1


def test_concurrent_retries_apply_once(story: Story) -> None:
    application_id = story.apply()
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: story.report(application_id, "produced", request_id="req-concurrent",
                                                       serial_number="SN12345678").json, range(4)))
    assert sorted(answer["replayed"] for answer in answers) == [False, True, True, True]
    with story.api.app.app_context():
        assert db.session.scalar(select(db.func.count()).select_from(CarrierEvent).where(CarrierEvent.event == "produced")) == 1


def test_production_needs_a_serial_number_and_serials_are_unique(api: ApiClient, story: Story) -> None:
    application_id = story.apply()
    assert error_code(story.report(application_id, "produced")) == "validation_error"
    assert story.report(application_id, "produced", serial_number="SN12345678").status_code == 200
    api.import_sample_roster()
    token = api.login("other")
    assert api.bind(token, OTHER).status_code == 200
    other = api.client.post("/api/mp/v1/card/physical", json={"bank_partner_id": story.bank["partner_id"], "accepted_fee_fen": 0},
                            headers=api.bearer(token)).json["application_id"]
    assert error_code(story.report(other, "produced", serial_number="SN12345678")) == "serial_in_use"


def test_the_bank_lists_its_applications(story: Story) -> None:
    application_id = story.apply()
    path = "/api/partner/v1/bank/applications?state=applied"
    response = story.api.signed_post(story.bank, b"", path=path, method="GET")
    assert response.status_code == 200
    [item] = response.json["items"]
    assert (item["application_id"], item["holder_name"], item["card_number"]) == (application_id, "陈小明", story.card_number())


def test_a_bank_reports_an_information_change(story: Story) -> None:
    application_id = story.activated()
    answer = story.report(application_id, "information_changed", contact_phone="13900139000")
    assert answer.json["state"] == "activated"
    assert story.mp("GET", "/card/events").json["items"][0]["event"] == "information_changed"


# --- the physical card at terminals -------------------------------------------------------------


def test_an_activated_card_verifies_at_a_terminal_and_the_record_says_physical(story: Story) -> None:
    story.activated()
    answer = story.read_card()
    assert (answer["accepted"], answer["reason"], answer["scene"]) == (True, None, "transit")
    assert story.read_card("gate-2")["accepted"] is True  # no one-time rule for a card read
    with story.api.app.app_context():
        assert set(db.session.scalars(select(Verification.carrier))) == {"physical"}


def test_a_lost_card_is_refused_as_soon_as_the_report_returns(story: Story) -> None:
    story.activated()
    assert story.read_card()["accepted"] is True
    number = story.card_number()
    body = json.dumps({"card_number": number, "scene": "transit", "terminal_id": "gate-1"}).encode()
    assert story.mp("POST", "/card/physical/loss-report").status_code == 200
    returned = time.perf_counter()
    assert story.api.signed_post(story.metro, body).json["reason"] == "card_lost"
    assert time.perf_counter() - returned < 1.0  # within the same second, by the wall clock too
    assert story.api.verify(story.metro, story.api.code(story.token)).json["accepted"] is True  # the e-card is unaffected
    story.mp("DELETE", "/card/physical/loss-report")
    assert story.read_card()["accepted"] is True


@pytest.mark.parametrize(("steps", "reason"), [
    ((), "card_suspended"),  # applied, not yet usable
    (("produced",), "card_suspended"),
    (("produced", "issued"), "card_suspended"),  # issued, not activated
    (("produced", "issued", "cancelled"), "card_cancelled"),
])
def test_a_card_not_in_use_is_refused(story: Story, steps: tuple[str, ...], reason: str) -> None:
    application_id = story.apply()
    for event in steps:
        assert story.report(application_id, event, serial_number="SN12345678", reason="damaged").status_code == 200
    assert story.read_card()["reason"] == reason


@pytest.mark.parametrize(("event", "extra", "field"), [
    ("issued", {"issued_on": "9999-12-31"}, "issued_on"),
    ("issued", {"issued_on": "2001-01-01"}, "issued_on"),
    ("cancelled", {}, "reason"),
])
def test_implausible_bank_reports_are_refused(story: Story, event: str, extra: dict, field: str) -> None:
    application_id = story.apply()
    assert story.report(application_id, "produced", serial_number="SN12345678").status_code == 200
    refused = story.report(application_id, event, **extra)
    assert (refused.status_code, error_code(refused)) == (422, "validation_error")
    assert field in refused.json["error"]["details"]["fields"]["json"]


def test_a_fee_must_be_integer_fen(story: Story) -> None:
    for fee in (0.5, "0", 0.0):
        refused = story.mp("POST", "/card/physical", {"bank_partner_id": story.bank["partner_id"], "accepted_fee_fen": fee})
        assert (refused.status_code, error_code(refused)) == (422, "validation_error"), fee


def test_cancelling_the_card_cancels_every_carrier(api: ApiClient, story: Story) -> None:
    from app.card.lifecycle import cancel_card

    story.activated()
    code = api.code(story.token)
    with api.app.app_context():
        transitions = cancel_card(api.rt, story.card_number(), "operator", "holder deceased")
    assert {(t.carrier, t.to_state) for t in transitions} == {("ecard", "cancelled"), ("physical", "cancelled")}
    assert story.read_card()["reason"] == "card_cancelled"
    assert api.verify(story.metro, code).json["reason"] in ("code_invalid", "card_inactive")
    assert story.mp("GET", "/card/carriers").json["ecard_state"] == "cancelled"
    for method, path, body in (("GET", "/card/code", None), ("POST", "/card/seed", {"installation_id": "new-phone-01"})):
        refused = story.mp(method, path, body)
        assert (refused.status_code, error_code(refused)) == (403, "card_inactive"), path


def test_moves_to_new_devices_at_the_same_moment_leave_one_live_device(story: Story) -> None:
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda n: story.mp("POST", "/card/ecard/device", {"installation_id": f"phone-race-{n}"}), range(4)))
    assert {answer.status_code for answer in answers} <= {200, 409} and 200 in {answer.status_code for answer in answers}
    with story.api.app.app_context():
        assert db.session.scalar(select(db.func.count()).select_from(Device).where(Device.revoked_at.is_(None))) == 1


def test_unknown_card_numbers_count_as_invalid_input(story: Story) -> None:
    body = json.dumps({"card_number": "8000000000000000", "scene": "transit", "terminal_id": "gate-1"}).encode()
    answers = [story.api.signed_post(story.metro, body) for _ in range(32)]  # the 31st goes over the limit of 30
    assert {a.json["reason"] for a in answers[:31]} == {"card_unknown"}
    assert (answers[31].status_code, error_code(answers[31])) == (429, "too_many_invalid_codes")


@pytest.mark.parametrize("body", [
    {"scene": "transit", "terminal_id": "gate-1"},
    {"code": "x", "card_number": "8000000000000000", "scene": "transit", "terminal_id": "gate-1"},
    {"card_number": "80000", "scene": "transit", "terminal_id": "gate-1"},
])
def test_exactly_one_of_code_or_card_number(story: Story, body: dict) -> None:
    response = story.api.signed_post(story.metro, json.dumps(body).encode())
    assert (response.status_code, error_code(response)) == (422, "validation_error")


def test_concurrent_loss_report_and_verifications(story: Story) -> None:
    """Reads racing a loss report: every read that starts after the report returned is card_lost,
    and the report applies exactly once."""
    story.activated()
    number = story.card_number()
    body = json.dumps({"card_number": number, "scene": "transit", "terminal_id": "gate-1"}).encode()
    with ThreadPoolExecutor(6) as pool:
        reads = [pool.submit(story.api.signed_post, story.metro, body) for _ in range(10)]
        reports = [pool.submit(story.mp, "POST", "/card/physical/loss-report") for _ in range(2)]
        statuses = sorted(r.result().status_code for r in reports)
        for read in reads:
            assert read.result().json["reason"] in (None, "card_lost")
    assert statuses == [200, 409]
    assert [story.read_card()["reason"] for _ in range(3)] == ["card_lost"] * 3


# --- activation and PIN -----------------------------------------------------------------------


@pytest.mark.parametrize("pin", ["111111", "123456", "987654", "012345"])
def test_weak_pins_are_refused(story: Story, pin: str) -> None:
    story.issued()
    response = story.mp("POST", "/card/physical/activation", {"serial_number": "SN00000001", "pin": pin})
    assert (response.status_code, error_code(response)) == (422, "pin_weak")
    assert pin not in json.dumps(response.json)
    assert story.state() == "issued"


def test_activation_needs_the_serial_and_stores_only_a_slow_hash(story: Story, caplog: pytest.LogCaptureFixture) -> None:
    story.issued()
    wrong = story.mp("POST", "/card/physical/activation", {"serial_number": "SN99999999", "pin": PIN})
    assert (wrong.status_code, error_code(wrong)) == (422, "serial_mismatch")
    assert story.mp("POST", "/card/physical/activation", {"serial_number": "SN00000001", "pin": PIN}).status_code == 200
    with story.api.app.app_context():
        stored = db.session.scalar(select(PhysicalCard.pin_hash))
    assert stored.startswith("scrypt$") and PIN not in stored and pin_matches(PIN, stored)
    assert PIN not in caplog.text
    assert story.mp("GET", "/card/carriers").json["physical"]["serial_number"] == "****0001"


def test_wrong_serial_numbers_are_throttled(story: Story) -> None:
    story.issued()
    for _ in range(5):
        story.mp("POST", "/card/physical/activation", {"serial_number": "SN99999999", "pin": PIN})
    response = story.mp("POST", "/card/physical/activation", {"serial_number": "SN00000001", "pin": PIN})
    assert (response.status_code, error_code(response)) == (429, "too_many_attempts")


# --- the e-card: suspension, device move; the phone ----------------------------------------------


def test_a_suspended_ecard_is_refused_and_the_physical_card_is_not(story: Story) -> None:
    story.activated()
    assert story.mp("POST", "/card/ecard/suspension").json["to_state"] == "suspended"
    assert error_code(story.api.client.get("/api/mp/v1/card/code", headers=story.api.bearer(story.token))) == "card_inactive"
    assert story.read_card()["accepted"] is True
    assert story.mp("DELETE", "/card/ecard/suspension").json["to_state"] == "active"
    assert story.api.verify(story.metro, story.api.code(story.token)).json["accepted"] is True


def test_moving_the_ecard_revokes_the_old_seed_at_once(story: Story) -> None:
    first = story.mp("POST", "/card/seed", {"installation_id": "phone-one-1"}).json
    assert error_code(story.mp("POST", "/card/ecard/device", {"installation_id": "phone-one-1"})) == "same_device"
    moved = story.mp("POST", "/card/ecard/device", {"installation_id": "phone-two-2"}).json
    assert moved["pseudonym"] != first["pseudonym"]
    with story.api.app.app_context():
        revoked = db.session.scalar(select(Device.revoked_at).where(Device.pseudonym == first["pseudonym"]))
    assert revoked is not None
    assert story.mp("GET", "/card/events").json["items"][0]["event"] == "moved"


def test_changing_the_phone_needs_the_code_sent_to_it(story: Story) -> None:
    assert story.mp("POST", "/card/phone/code", {"phone": "13900139000"}).json == {"expires_in": 600}
    phone, text = story.api.rt.sms.sent[-1]
    code = text.split("验证码 ")[1][:6]
    assert phone == "13900139000"
    assert error_code(story.mp("PUT", "/card/phone", {"phone": "13900139001", "sms_code": code})) == "sms_code_invalid"
    assert story.mp("PUT", "/card/phone", {"phone": "13900139000", "sms_code": code}).status_code == 204
    assert error_code(story.mp("PUT", "/card/phone", {"phone": "13900139000", "sms_code": code})) == "sms_code_invalid"
    assert error_code(story.mp("POST", "/card/phone/code", {"phone": "13900139000"})) == "too_many_codes"
    events = story.mp("GET", "/card/events").json["items"]
    assert events[0]["event"] == "phone_changed" and "139" not in json.dumps(events)


# --- the card-lending signal (M-27) --------------------------------------------------------------


def test_a_card_seen_too_far_apart_too_soon_is_flagged_but_not_blocked(api: ApiClient, story: Story) -> None:
    from app.partners.terminals import register_terminals

    story.activated()
    with api.app.app_context():
        register_terminals(api.rt, story.metro["partner_id"], [
            ("dg-1", "Dongguan", "Dongguan hall", 22.95, 113.87), ("gz-1", "Guangzhou", "Guangzhou hall", 22.988, 113.269),
            ("dg-2", "Dongguan 2", "Dongguan hall", 22.951, 113.871)])
    assert story.read_card("dg-1")["accepted"] is True
    api.clock.advance(300)  # 61.7 km in 5 minutes: 740 km/h
    assert story.read_card("gz-1")["accepted"] is True  # not blocked
    api.clock.advance(3600)
    assert story.read_card("gz-1")["accepted"] is True
    assert story.read_card("t1")["accepted"] is True  # a terminal without coordinates is never compared
    [line] = cli(api, "flags", "list").output.splitlines()
    assert line.split("\t")[1:4] == [story.card_number(), "61675", "300"]
    assert cli(api, "flags", "close", line.split("\t")[0]).exit_code == 0
    assert cli(api, "flags", "list").output == ""


def test_terminals_take_coordinates_from_the_cli_and_csv(api: ApiClient, tmp_path: Any) -> None:
    partner = api.partner(("transit",), terminals=())
    added = cli(api, "partner", "terminal", "add", partner["partner_id"], "--terminal-id", "a-1", "--name", "A", "--location", "Hall",
                "--latitude", "22.95", "--longitude", "113.87")
    assert added.exit_code == 0, added.output
    path = tmp_path / "t.csv"
    path.write_text("terminal_id,name,location,latitude,longitude\nb-1,B,Hall,22.9,113.8\nc-1,C,Hall,,\n", encoding="utf-8")
    assert cli(api, "partner", "terminal", "import", partner["partner_id"], str(path)).exit_code == 0
    listing = cli(api, "partner", "terminal", "list", partner["partner_id"]).output
    assert listing == "a-1\tA\tHall\t22.95,113.87\nb-1\tB\tHall\t22.9,113.8\nc-1\tC\tHall\n"
    path.write_text("terminal_id,name,location,latitude,longitude\nd-1,D,Hall,22.9,\n", encoding="utf-8")
    assert cli(api, "partner", "terminal", "import", partner["partner_id"], str(path)).exit_code == 2


def test_an_operator_cancels_a_card_from_the_cli(api: ApiClient, story: Story) -> None:
    story.activated()
    result = cli(api, "card", "cancel", story.card_number(), "--reason", "holder request at the service hall")
    assert result.output == "ecard: active -> cancelled\nphysical: activated -> cancelled\n"
    assert cli(api, "card", "cancel", story.card_number(), "--reason", "again").exit_code == 1
