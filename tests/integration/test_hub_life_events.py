"""Life events from the city data hub (M-18, docs/data-hub.md): each event type's effect,
out-of-order and duplicate delivery (also 32 at once), the roster's --full report. Both backends."""
from __future__ import annotations

import json
import secrets
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from app.card.models import Card, Device, OfflineCertificate
from app.hub.life_events import CORRECTION, end_departed
from app.hub.models import CitizenCorrection, CitizenEvent, CitizenLife
from app.identity.models import AuthToken, Citizen, MpAccount
from app.identity.people import NAME
from app.platform.db import db

from ..benefits_support import Benefits, Holder, id_number, line
from ..helpers import ApiClient, roster_text
from .test_lifecycle import Story
from .test_offline_certificates import Phone
from .test_partner_admin import cli

EVENTS = "/api/partner/v1/citizen-events"
T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


class Hub:
    def __init__(self, api: ApiClient) -> None:
        self.api = api
        self.partner = api.partner((), name="City data hub", roles=("data_hub",))

    def send(self, kind: str, number: str, at: datetime = T0, event_id: str | None = None, **fields: Any) -> Any:
        body = {"event_id": event_id or "ev-" + secrets.token_hex(8), "type": kind, "occurred_at": at.isoformat(),
                "id_number": number, **fields}
        return self.api.signed_post(self.partner, json.dumps(body).encode(), path=EVENTS)

    def citizen(self, number: str) -> Citizen:
        from app.identity.people import citizen_by_id_number

        with self.api.app.app_context():
            citizen = citizen_by_id_number(self.api.rt, number)
            assert citizen is not None
            db.session.expunge(citizen)
            return citizen


@pytest.fixture
def hub(api: ApiClient) -> Hub:
    return Hub(api)


def applied(response: Any, *effects: str) -> None:
    assert response.status_code == 200, response.json
    assert response.json["outcome"] == "applied" and response.json["replayed"] is False
    assert set(effects) <= set(response.json["effects"]), response.json


def test_only_the_data_hub_role_may_send_events(api: ApiClient, hub: Hub) -> None:
    Benefits(api).holders(1)
    other = api.partner((), name="HRSS", roles=("disburse",))
    body = json.dumps({"event_id": "ev-12345678", "type": "death", "occurred_at": T0.isoformat(), "id_number": id_number(0)})
    refused = api.signed_post(other, body.encode(), path=EVENTS)
    assert refused.status_code == 403 and refused.json["error"]["code"] == "role_required"
    unknown = hub.send("death", id_number(5))
    assert unknown.status_code == 404 and unknown.json["error"]["code"] == "citizen_not_found"
    missing = hub.send("insured_changed", id_number(0))
    assert missing.status_code == 422 and missing.json["error"]["code"] == "validation_error"
    stray = hub.send("death", id_number(0), event_id="ev-stray-0001", insured=False)  # a field of another type
    assert stray.status_code == 422 and stray.json["error"]["details"]["fields"]["json"] == {"insured": ["not for this event type"]}
    applied(hub.send("death", id_number(0), event_id="ev-stray-0001"), "status_deceased")  # the refused one was not recorded


def test_a_death_cancels_everything_stops_disbursement_and_tells_the_bank(api: ApiClient, hub: Hub) -> None:
    story = Story(api)
    application_id = story.activated()
    phone = Phone(api, story.token).set_up()
    phone.certificate()
    number = "441900198506151235"  # the sample roster's bound person (tests.helpers.PERSON)
    benefits = Benefits(api)
    department = benefits.department()
    holder = Holder(story.token, "", number, story.card_number())
    opened = benefits.open_account(story.bank, holder)
    assert opened.status_code == 200, opened.json
    cli(api, "hub", "subscribe", story.bank["partner_id"], "card_cancelled")

    answer = hub.send("death", number)
    applied(answer, "card_cancelled", "physical_cancelled", "tokens_revoked", "bindings_ended", "status_deceased")
    assert story.mp("GET", "/card/carriers").status_code == 401  # the token is gone
    with api.app.app_context():
        citizen = hub.citizen(number)
        card = db.session.scalar(select(Card).where(Card.citizen_id == citizen.id))
        assert card.status == "cancelled"
        assert db.session.scalar(select(func.count()).select_from(Device).where(
            Device.card_id == card.id, Device.revoked_at.is_(None))) == 0
        assert db.session.scalar(select(func.count()).select_from(OfflineCertificate).where(
            OfflineCertificate.card_id == card.id, OfflineCertificate.revoked_at.is_(None))) == 0
        assert db.session.scalar(select(func.count()).select_from(AuthToken)) == 0
        assert db.session.scalar(select(MpAccount.citizen_id).where(MpAccount.citizen_id == citizen.id)) is None
        assert db.session.get(CitizenLife, citizen.id).status == "deceased"
        assert db.session.get(Citizen, citizen.id) is not None  # kept for retention
        card_number = card.card_number
    read = api.signed_post(story.metro, json.dumps({"card_number": card_number, "scene": "transit", "terminal_id": "gate-1"}).encode())
    assert read.json["accepted"] is False, read.json
    lines = benefits.submit(department, "B-death", [line("L1", holder), line("L2", holder, by_card=False)])
    assert lines.json["accepted"] == 0
    assert [item["reason"] for item in lines.json["rejected"]] == ["card_cancelled", "card_cancelled"]
    # the bank hears of it on its feed (the outbox collected from the card's transitions)
    api.clock.advance(10)
    assert cli(api, "hub", "run").exit_code == 0
    pulled = api.signed_post(story.bank, b"", path="/api/partner/v1/feeds/card_cancelled?after=0", method="GET")
    assert pulled.status_code == 200, pulled.json
    events = [item["event"] for item in pulled.json["items"]]
    assert {"card_number": card_number, "carrier": "physical", "application_id": application_id, "reason": "death"} in [
        {key: event[key] for key in ("card_number", "carrier", "application_id", "reason")} for event in events]
    assert {event["carrier"] for event in events} == {"ecard", "physical"}


def test_a_duplicate_changes_nothing_twice_and_returns_the_first_answer(api: ApiClient, hub: Hub) -> None:
    Benefits(api).holders(1)
    first = hub.send("disability_granted", id_number(0), event_id="ev-dup-0001")
    applied(first, "disability_set")
    again = hub.send("disability_granted", id_number(0), event_id="ev-dup-0001")
    assert again.status_code == 200 and again.json == {**first.json, "replayed": True}
    reused = hub.send("death", id_number(0), event_id="ev-dup-0001")
    assert reused.status_code == 409 and reused.json["error"]["code"] == "event_id_reused"
    with api.app.app_context():
        assert db.session.scalar(select(func.count()).select_from(CitizenEvent)) == 1


def test_an_older_event_than_the_last_applied_changes_nothing(api: ApiClient, hub: Hub) -> None:
    Benefits(api).holders(1)
    applied(hub.send("insured_changed", id_number(0), at=T0 + timedelta(hours=2), insured=False), "uninsured")
    late = hub.send("insured_changed", id_number(0), at=T0 + timedelta(hours=1), insured=True)
    assert late.status_code == 200 and late.json["outcome"] == "stale" and late.json["effects"] == []
    assert hub.citizen(id_number(0)).insured is False
    applied(hub.send("insured_changed", id_number(0), at=T0 + timedelta(hours=3), insured=True), "insured")
    assert hub.citizen(id_number(0)).insured is True


def test_an_event_dated_in_the_future_is_refused_and_cannot_block_later_ones(api: ApiClient, hub: Hub) -> None:
    """A trial: an event dated years ahead (a typo in the year) was applied and became the person's
    last one, so every real event after it was ``stale`` until that date. Over 5 minutes ahead is 422."""
    Benefits(api).holders(1)
    now = datetime.fromtimestamp(api.clock.time(), UTC)
    ahead = hub.send("disability_granted", id_number(0), at=now + timedelta(days=4 * 365))
    assert (ahead.status_code, ahead.json["error"]["code"]) == (422, "occurred_at_in_future")
    assert set(ahead.json["error"]["details"]) == {"server_time"}
    with api.app.app_context():
        assert db.session.scalar(select(func.count()).select_from(CitizenEvent)) == 0  # nothing recorded
    applied(hub.send("disability_granted", id_number(0), at=now + timedelta(minutes=4)), "disability_set")  # a clock a little ahead
    applied(hub.send("insured_changed", id_number(0), at=now + timedelta(minutes=5), insured=False), "uninsured")


def test_thirty_two_concurrent_deliveries_of_one_death_apply_it_once(api: ApiClient, hub: Hub) -> None:
    Benefits(api).holders(1)

    def deliver(_: int) -> Any:
        response = hub.send("death", id_number(0), event_id="ev-race-0001")
        return response.status_code, response.json

    with ThreadPoolExecutor(32) as pool:
        answers = list(pool.map(deliver, range(32)))
    assert {status for status, _ in answers} == {200}
    assert sum(not body["replayed"] for _, body in answers) == 1
    assert {tuple(body["effects"]) for _, body in answers} == {tuple(answers[0][1]["effects"])}
    assert "card_cancelled" in answers[0][1]["effects"]
    with api.app.app_context():
        assert db.session.scalar(select(func.count()).select_from(CitizenEvent)) == 1
        from app.card.models import CarrierEvent

        assert db.session.scalar(select(func.count()).select_from(CarrierEvent).where(
            CarrierEvent.event == "cancelled", CarrierEvent.carrier == "ecard")) == 1


def test_leaving_the_city_ends_the_card_after_the_grace_period(api: ApiClient, hub: Hub) -> None:
    holder = Benefits(api).holders(1)[0]
    left_at = datetime.fromtimestamp(api.clock.time(), UTC)
    applied(hub.send("left_city", holder.id_number, at=left_at), "card_ends_after_grace")
    with api.app.app_context():
        assert end_departed(api.rt) == 0
    assert api.client.get("/api/mp/v1/card/code", headers=api.bearer(holder.token)).status_code == 200
    api.clock.advance(90 * 86400 + 1)
    with api.app.app_context():
        assert end_departed(api.rt) == 1
        assert end_departed(api.rt) == 0
        assert db.session.scalar(select(Card.status).where(Card.card_number == holder.card_number)) == "cancelled"


def test_an_uninsured_resident_keeps_the_e_card_only(api: ApiClient, hub: Hub) -> None:
    story = Story(api)
    story.issued()
    answer = hub.send("insured_changed", "441900198506151235", insured=False)
    applied(answer, "uninsured", "physical_cancelled")
    assert story.state() == "cancelled"
    assert story.mp("GET", "/card/carriers").json["ecard_state"] == "active"
    fee = story.mp("GET", "/card/physical/fee").json["fee_fen"]
    again = story.mp("POST", "/card/physical", {"bank_partner_id": story.bank["partner_id"], "accepted_fee_fen": fee})
    assert again.status_code == 403 and again.json["error"]["code"] == "not_insured"
    applied(hub.send("insured_changed", "441900198506151235", at=T0 + timedelta(days=1), insured=True), "insured")
    assert story.apply()


def test_a_disability_withdrawal_revokes_the_concession_certificates(api: ApiClient, hub: Hub) -> None:
    story = Story(api)
    applied(hub.send("disability_granted", "441900198506151235"), "disability_set", "certificates_revoked")
    phone = Phone(api, story.token).set_up()
    certificate, _ = phone.certificate()
    assert certificate.fare_class == 3
    withdrawn = hub.send("disability_withdrawn", "441900198506151235", at=T0 + timedelta(days=1))
    applied(withdrawn, "disability_cleared", "certificates_revoked")
    with api.app.app_context():
        assert db.session.scalar(select(func.count()).select_from(OfflineCertificate).where(
            OfflineCertificate.revoked_at.is_(None))) == 0
    assert phone.certificate()[0].fare_class != 3


def test_corrections_keep_the_history(api: ApiClient, hub: Hub) -> None:
    Benefits(api).holders(2)
    applied(hub.send("name_corrected", id_number(0), name="居民零"), "name_corrected")
    new_number = id_number(7)
    applied(hub.send("id_number_corrected", id_number(0), at=T0 + timedelta(minutes=1), new_id_number=new_number),
            "id_number_corrected")
    taken = hub.send("id_number_corrected", id_number(1), at=T0 + timedelta(minutes=2), new_id_number=new_number)
    assert taken.status_code == 409 and taken.json["error"]["code"] == "id_number_in_use"
    citizen = hub.citizen(new_number)
    with api.app.app_context():
        decrypt = api.rt.keyring.decrypt
        assert decrypt(citizen.name_enc, NAME) == "居民零"
        history = db.session.scalars(select(CitizenCorrection).order_by(CitizenCorrection.id)).all()
        assert [(row.field, decrypt(row.old_value_enc, CORRECTION)) for row in history] == [
            ("name", "居民0"), ("id_number", id_number(0))]
    gone = hub.send("death", id_number(0), at=T0 + timedelta(minutes=3))
    assert gone.status_code == 404


def test_a_full_roster_import_reports_the_absent_and_deletes_nobody(api: ApiClient, tmp_path: Any) -> None:
    people = [(f"居民{n}", id_number(n), f"1390000{n:04d}", "1") for n in range(3)]
    api.import_roster(roster_text(people))
    path = tmp_path / "full.csv"
    path.write_text("name,id_number,phone,insured,disability,town\n" + "".join(
        f"{name},{number},{phone},{insured},0,南城街道\n" for name, number, phone, insured in people[:2]), encoding="utf-8")
    result = cli(api, "roster", "import", "--full", str(path))
    assert result.exit_code == 0, result.output
    with api.app.app_context():
        absent_id = db.session.scalar(select(Citizen.id).where(Citizen.town.is_(None)))
        assert db.session.scalar(select(func.count()).select_from(Citizen)) == 3
        assert db.session.scalar(select(func.count()).select_from(Citizen).where(Citizen.town == "南城街道")) == 2
    assert f"absent from the complete file (kept; review them): 1\nabsent: citizen {absent_id}\n" in result.output
    assert id_number(2) not in result.output
