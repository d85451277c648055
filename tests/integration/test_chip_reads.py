"""Issue 15 item 2: a bare 16-digit card number read by a chip reader is no proof that the holder
is present (docs/card-lifecycle.md "What a chip read may disclose"). Scenes that identify the
holder answer it with identity fields at most as often as a holder could be present: limits per
card and per terminal, counted first, refusals ``chip_read_limited``, recorded."""
from __future__ import annotations

import json
import secrets
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from app.platform.db import db
from app.scanning import chip_reads
from app.scanning.models import Verification
from scenes.signing import authorization_header

from ..helpers import VERIFY_PATH, ApiClient
from .test_lifecycle import Story

RUN_ON_CLUSTER = True  # also on the Redis Cluster backend (tests/conftest.py, pytest -m cluster)

READS = 40


@pytest.fixture
def story(api: ApiClient) -> Story:
    story = Story(api)
    story.activated()
    return story


def _read(story: Story, partner: dict, scene: str, terminal: str, number: str) -> dict:
    body = json.dumps({"card_number": number, "scene": scene, "terminal_id": terminal}).encode()
    header = authorization_header(partner["partner_id"], partner["secret"], "POST", VERIFY_PATH, body,
                                  int(story.api.clock.time()), secrets.token_hex(12))
    response = story.api.app.test_client().post(VERIFY_PATH, data=body, headers={"Authorization": header,
                                                                                 "Content-Type": "application/json"})
    assert response.status_code == 200, response.json
    return response.json


def _burst(story: Story, partner: dict, scene: str, terminals: list[str]) -> list[dict]:
    number, barrier = story.card_number(), threading.Barrier(len(terminals))

    def read(terminal: str) -> dict:
        barrier.wait()
        return _read(story, partner, scene, terminal, number)

    with ThreadPoolExecutor(len(terminals)) as pool:
        return list(pool.map(read, terminals))


@pytest.mark.parametrize(("scene", "kind"), [("medical", "organisation"), ("government", "government")])
def test_40_simultaneous_bare_reads_of_one_card_disclose_identity_at_most_the_card_limit(
        story: Story, scene: str, kind: str) -> None:
    partner = story.api.partner((scene,), "Reader", kind=kind)
    answers = _burst(story, partner, scene, [f"gate-{n}" for n in range(READS)])
    accepted = [answer for answer in answers if answer["accepted"]]
    assert len(accepted) == chip_reads.CARD_LIMIT
    refused = [answer for answer in answers if not answer["accepted"]]
    assert {(answer["reason"], answer["subject"]) for answer in refused} == {("chip_read_limited", None)}
    with story.api.app.app_context():  # every read recorded, the refusals too, against the card (its holder sees them)
        reasons = db.session.execute(select(Verification.reason, func.count()).where(Verification.card_id.is_not(None))
                                     .group_by(Verification.reason)).all()
    assert dict(reasons) == {None: chip_reads.CARD_LIMIT, "chip_read_limited": READS - chip_reads.CARD_LIMIT}
    history = story.mp("GET", "/card/verifications?limit=100").json["items"]
    assert sum(item["reason"] == "chip_read_limited" for item in history) == READS - chip_reads.CARD_LIMIT
    story.api.clock.advance(chip_reads.WINDOW_SECONDS)
    assert _read(story, partner, scene, "gate-1", story.card_number())["accepted"] is True  # the next window


def test_40_simultaneous_bare_reads_from_one_terminal_disclose_at_most_the_terminal_limit(
        story: Story, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chip_reads, "CARD_LIMIT", 1000)
    monkeypatch.setattr(chip_reads, "TERMINAL_LIMIT", 5)
    hospital = story.api.partner(("medical",), "Hospital")
    answers = _burst(story, hospital, "medical", ["gate-7"] * READS)
    assert sum(answer["accepted"] for answer in answers) == 5
    assert {answer["reason"] for answer in answers if not answer["accepted"]} == {"chip_read_limited"}
    assert _read(story, hospital, "medical", "gate-8", story.card_number())["accepted"] is True  # another terminal goes on


def test_scenes_that_do_not_identify_the_holder_are_not_limited(story: Story) -> None:
    answers = _burst(story, story.metro, "transit", [f"gate-{n}" for n in range(READS)])
    assert all(answer["accepted"] for answer in answers)


def test_an_e_card_code_is_not_a_bare_read(story: Story) -> None:
    hospital = story.api.partner(("medical",), "Hospital")
    number = story.card_number()
    for n in range(chip_reads.CARD_LIMIT):
        assert _read(story, hospital, "medical", f"gate-{n}", number)["accepted"] is True
    assert _read(story, hospital, "medical", "gate-30", number)["reason"] == "chip_read_limited"
    assert story.api.verify(hospital, story.api.code(story.token), scene="medical").json["accepted"] is True  # the holder's phone
