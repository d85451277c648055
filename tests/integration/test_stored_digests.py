"""Stored digests cannot be reversed (issue 15 item 4, M-19): every hash we keep of something a
guesser could enumerate is keyed (a MAC under a purpose key) or salted and slow."""
from __future__ import annotations

import hashlib
import json

from sqlalchemy import select, update

from app.card.models import BankReport, PhysicalCard
from app.card.pins import SCRYPT_N, hash_pin
from app.platform.db import db

from ..helpers import ApiClient
from .test_lifecycle import Story


def _phone_changed(story: Story, phone: str) -> tuple[dict, str]:
    application_id = story.issued()
    body = {"request_id": "rq-phone-change-1", "application_id": application_id, "event": "information_changed",
            "contact_phone": phone}
    answer = story.report(application_id, "information_changed", request_id=body["request_id"], contact_phone=phone)
    assert answer.status_code == 200, answer.json
    with story.api.app.app_context():
        digest = db.session.scalar(select(BankReport.digest).where(BankReport.request_id == body["request_id"]))
    return body, digest


def _candidate_digests(body: dict, phone: str) -> set[str]:
    """What an attacker holding the table would compute: the body with each candidate phone, under
    the shapes the report could have been hashed in (all optional fields present or not)."""
    full = {"serial_number": None, "issued_on": None, "reason": None, **body}
    digests = set()
    for number in [phone] + [f"1390013{n:04d}" for n in range(2000)]:
        for shape in (body, full):
            candidate = {**shape, "contact_phone": number}
            for text in (json.dumps(candidate, sort_keys=True, default=str), json.dumps(candidate)):
                digests.add(hashlib.sha256(text.encode()).hexdigest())
    return digests


def test_a_phone_number_dictionary_attack_on_a_stored_bank_report_digest_fails(api: ApiClient) -> None:
    story = Story(api)
    body, stored = _phone_changed(story, "13900139000")
    assert stored not in _candidate_digests(body, "13900139000")


def test_a_retried_bank_report_still_replays_and_a_changed_body_is_still_refused(api: ApiClient) -> None:
    story = Story(api)
    body, _ = _phone_changed(story, "13900139000")
    again = story.report(body["application_id"], "information_changed", request_id=body["request_id"],
                         contact_phone="13900139000")
    assert again.status_code == 200 and again.json["replayed"] is True
    changed = story.report(body["application_id"], "information_changed", request_id=body["request_id"],
                           contact_phone="13900139001")
    assert changed.status_code == 409 and changed.json["error"]["code"] == "request_id_reused"


def test_a_report_stored_before_the_upgrade_without_a_digest_still_replays(api: ApiClient) -> None:
    """The migration blanks the old unkeyed digests; a retry of such a report gets its first answer."""
    story = Story(api)
    body, _ = _phone_changed(story, "13900139000")
    with api.app.app_context():
        db.session.execute(update(BankReport).values(digest=""))
        db.session.commit()
    again = story.report(body["application_id"], "information_changed", request_id=body["request_id"],
                         contact_phone="13900139000")
    assert again.status_code == 200 and again.json["replayed"] is True
    with api.app.app_context():
        assert db.session.scalar(select(PhysicalCard.state)) == "issued"


def test_pin_hashes_are_salted_and_slow() -> None:
    first, second = hash_pin("480915"), hash_pin("480915")
    assert first != second and first.startswith("scrypt$") and SCRYPT_N >= 2**15
    assert hashlib.sha256(b"480915").hexdigest() not in first
