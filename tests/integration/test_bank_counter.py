"""Issue 17 item 7: the bank's counter and hotline as a channel (M-10(8)): a loss reported there,
a replacement and a first application made there, idempotent like every bank report, each
carrying the city's fee decision (M-24) that GET /bank/applications shows too."""
from __future__ import annotations

import json
import secrets
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import select

from app.card.models import CarrierEvent, PhysicalCard
from app.platform.db import db

from ..helpers import PERSON, ApiClient
from .test_lifecycle import REPORTS, UNINSURED, Story
from .test_login import error_code

APPLICATIONS = "/api/partner/v1/bank/applications"


@pytest.fixture
def story(api: ApiClient) -> Story:
    return Story(api)


def _counter(story: Story, event: str, request_id: str | None = None, **extra: Any) -> Any:
    body = {"request_id": request_id or "rq-" + secrets.token_hex(6), "event": event, **extra}
    return story.api.signed_post(story.bank, json.dumps(body).encode(), path=REPORTS)


def _applications(story: Story, state: str = "applied") -> list[dict]:
    return story.api.signed_post(story.bank, b"", path=f"{APPLICATIONS}?state={state}", method="GET").json["items"]


def test_a_loss_reported_at_the_counter_or_hotline_suspends_the_card(story: Story) -> None:
    application_id = story.activated()
    assert error_code(story.report(application_id, "loss_reported")) == "validation_error"  # which channel?
    answer = story.report(application_id, "loss_reported", channel="hotline")
    assert answer.status_code == 200 and answer.json["state"] == "suspended"
    assert story.state() == "suspended"
    assert story.read_card()["reason"] == "card_lost"
    event = story.mp("GET", "/card/events").json["items"][0]
    assert event["event"] == "loss_reported" and "hotline" in event["reason"]
    with story.api.app.app_context():
        actor = db.session.scalar(select(CarrierEvent.actor).where(CarrierEvent.event == "loss_reported"))
    assert actor == f"bank:{story.bank['partner_id']}"


def test_a_replacement_at_the_counter_carries_the_fee_decision(story: Story) -> None:
    old = story.activated()
    refused = story.report(old, "replacement", accepted_fee_fen=0)
    assert (refused.status_code, error_code(refused)) == (409, "fee_not_accepted")
    decision = refused.json["error"]["details"]
    assert decision["rule"] == "replacement" and decision["payer"] == "citizen" and decision["fee_fen"] > 0
    assert story.state() == "activated"  # nothing applied
    answer = story.report(old, "replacement", request_id="rq-replace-1", accepted_fee_fen=decision["fee_fen"])
    assert answer.status_code == 200, answer.json
    assert answer.json["fee"] == {"rule": "replacement", "fee_fen": decision["fee_fen"], "payer": "citizen"}
    assert answer.json["replaces_application_id"] == old and answer.json["state"] == "applied"
    again = story.report(old, "replacement", request_id="rq-replace-1", accepted_fee_fen=decision["fee_fen"])
    assert again.json == {**answer.json, "replayed": True}
    [listed] = _applications(story)
    assert listed["application_id"] == answer.json["application_id"]
    assert listed["fee"] == answer.json["fee"] and listed["replaces_serial_number"] == "SN00000001"


def test_a_first_card_applied_for_at_the_counter(api: ApiClient, story: Story) -> None:
    assert error_code(_counter(story, "counter_application", id_number=PERSON["id_number"])) == "validation_error"
    answer = _counter(story, "counter_application", id_number=PERSON["id_number"], accepted_fee_fen=0)
    assert answer.status_code == 200, answer.json
    assert answer.json["fee"] == {"rule": "first_card", "fee_fen": 0, "payer": "bank"}
    assert story.state() == "applied"
    [listed] = _applications(story)
    assert listed["fee"] == {"rule": "first_card", "fee_fen": 0, "payer": "bank"} and listed["holder_name"] == "陈小明"
    second = _counter(story, "counter_application", id_number=PERSON["id_number"], accepted_fee_fen=0)
    assert error_code(second) == "physical_card_exists"
    unbound = _counter(story, "counter_application", id_number=UNINSURED["id_number"], accepted_fee_fen=0)
    assert (unbound.status_code, error_code(unbound)) == (404, "card_not_found")  # no citizen card yet
    malformed = _counter(story, "counter_application", id_number="441900199001011230", accepted_fee_fen=0)
    assert error_code(malformed) == "validation_error"


def test_the_uninsured_apply_at_the_counter_for_no_physical_card(api: ApiClient, story: Story) -> None:
    token = api.login("uninsured")
    assert api.bind(token, UNINSURED).status_code == 200
    refused = _counter(story, "counter_application", id_number=UNINSURED["id_number"], accepted_fee_fen=0)
    assert (refused.status_code, error_code(refused)) == (403, "not_insured")


def test_32_concurrent_counter_applications_make_one_card(story: Story) -> None:
    """The same report retried 32 times at once applies once; 32 different reports at once for
    the same resident make one application (the others 409 physical_card_exists)."""
    def same(_n: int) -> Any:
        return _counter(story, "counter_application", request_id="rq-counter-same", id_number=PERSON["id_number"],
                        accepted_fee_fen=0).json

    with ThreadPoolExecutor(32) as pool:
        answers = list(pool.map(same, range(32)))
    assert sorted(answer["replayed"] for answer in answers) == [False] + [True] * 31, answers
    assert len({answer["application_id"] for answer in answers}) == 1
    assert story.report(answers[0]["application_id"], "cancelled", reason="test: start again").status_code == 200

    fee = story.mp("GET", "/card/physical/fee").json["fee_fen"]  # a second card: the replacement fee

    def different(_n: int) -> Any:
        return _counter(story, "counter_application", id_number=PERSON["id_number"], accepted_fee_fen=fee)

    with ThreadPoolExecutor(32) as pool:
        results = list(pool.map(different, range(32)))
    assert sorted(r.status_code for r in results) == [200] + [409] * 31, [r.json for r in results]
    assert {error_code(r) for r in results if r.status_code == 409} == {"physical_card_exists"}
    with story.api.app.app_context():
        assert db.session.scalar(select(db.func.count()).select_from(PhysicalCard)) == 2
