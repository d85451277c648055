"""Issue 17 item 5: the e-card password (set, weak ones refused, not the PIN, change with the old
one, asked before moving the e-card and changing the phone, throttled) and the bank's PIN check."""
from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

from app.card.models import Card
from app.card.passwords import require_password
from app.platform.db import db
from app.platform.errors import AppError

from ..helpers import ApiClient
from .test_lifecycle import PIN, Story, story  # noqa: F401 (the fixture)
from .test_login import error_code

PASSWORD = "305172"
PIN_CHECKS = "/api/partner/v1/bank/pin-checks"
BURST = 32


def _set(story: Story, password: str, current: str | None = None):  # noqa: F811
    body = {"password": password, **({"current_password": current} if current else {})}
    return story.mp("PUT", "/card/password", body)


def test_weak_passwords_and_the_pin_are_refused(story: Story) -> None:  # noqa: F811
    for weak, weakness in (("111111", "one_digit"), ("123456", "run"), ("654321", "run")):
        answer = _set(story, weak)
        assert answer.status_code == 422 and answer.json["error"]["code"] == "password_weak"
        assert answer.json["error"]["details"]["weakness"] == weakness
    assert error_code(_set(story, "12345")) == "validation_error"
    story.activated()
    assert error_code(_set(story, PIN)) == "password_same_as_pin"
    assert _set(story, PASSWORD).status_code == 204


def test_the_password_is_kept_as_a_hash_and_a_change_needs_the_old_one(story: Story, api: ApiClient) -> None:  # noqa: F811
    assert _set(story, PASSWORD).status_code == 204
    with api.app.app_context():
        stored = db.session.query(Card).one().password_hash
    assert stored.startswith("scrypt$") and PASSWORD not in stored
    assert error_code(_set(story, "580213")) == "password_required"
    assert error_code(_set(story, "580213", current="999990")) == "password_wrong"
    assert _set(story, "580213", current=PASSWORD).status_code == 204
    events = story.mp("GET", "/card/events").json["items"]
    assert [e["event"] for e in events].count("password_set") == 2


def test_moving_the_ecard_and_changing_the_phone_need_the_password_once_set(story: Story) -> None:  # noqa: F811
    assert story.mp("POST", "/card/ecard/device", {"installation_id": "install-one"}).status_code == 200
    assert _set(story, PASSWORD).status_code == 204
    assert error_code(story.mp("POST", "/card/ecard/device", {"installation_id": "install-two"})) == "password_required"
    wrong = story.mp("POST", "/card/ecard/device", {"installation_id": "install-two", "password": "000001"})
    assert wrong.status_code == 422 and wrong.json["error"]["details"]["attempts_left"] == 4
    right = story.mp("POST", "/card/ecard/device", {"installation_id": "install-two", "password": PASSWORD})
    assert right.status_code == 200, right.json
    assert error_code(story.mp("PUT", "/card/phone", {"phone": "13900139000", "sms_code": "123456"})) == "password_required"


def test_five_wrong_passwords_a_day_then_locked_even_for_the_right_one(story: Story) -> None:  # noqa: F811
    assert _set(story, PASSWORD).status_code == 204
    lefts = [story.mp("POST", "/card/ecard/device", {"installation_id": "install-x", "password": f"00000{n}"})
             .json["error"]["details"]["attempts_left"] for n in range(1, 6)]
    assert lefts == [4, 3, 2, 1, 0]
    locked = story.mp("POST", "/card/ecard/device", {"installation_id": "install-x", "password": PASSWORD})
    assert locked.status_code == 429 and locked.json["error"]["code"] == "password_locked" and locked.headers["Retry-After"]


def test_the_right_password_does_not_use_up_an_attempt(story: Story) -> None:  # noqa: F811
    assert _set(story, PASSWORD).status_code == 204
    for n in range(8):
        answer = story.mp("POST", "/card/ecard/device", {"installation_id": f"install-{n}", "password": PASSWORD})
        assert answer.status_code == 200, answer.json


def _burst(story: Story, api: ApiClient, password: str) -> list[str]:  # noqa: F811
    """``BURST`` simultaneous checks of ``password`` (the service, as every caller uses it): each
    answer's error code, or "ok"."""
    def one(_n: int) -> str:
        with api.app.app_context():
            try:
                require_password(api.rt, db.session.query(Card).one(), password)
            except AppError as refused:
                return refused.code
            finally:
                db.session.remove()
            return "ok"

    with ThreadPoolExecutor(BURST) as pool:
        return list(pool.map(one, range(BURST)))


def test_32_simultaneous_right_passwords_never_lock_the_card(story: Story, api: ApiClient) -> None:  # noqa: F811
    """Every attempt is counted before the check, so at most 5 are checked at once; a right one and
    one refused unchecked are given back, so the burst leaves the day's count untouched."""
    assert _set(story, PASSWORD).status_code == 204
    answers = _burst(story, api, PASSWORD)
    assert "ok" in answers and set(answers) <= {"ok", "password_locked"}, answers
    wrong = story.mp("POST", "/card/ecard/device", {"installation_id": "install-y", "password": "000001"})
    assert wrong.json["error"]["details"]["attempts_left"] == 4  # nothing of the burst was kept
    assert story.mp("POST", "/card/ecard/device", {"installation_id": "install-y", "password": PASSWORD}).status_code == 200


def test_32_simultaneous_wrong_passwords_check_five_and_lock_the_card(story: Story, api: ApiClient) -> None:  # noqa: F811
    assert _set(story, PASSWORD).status_code == 204
    answers = _burst(story, api, "000001")
    assert answers.count("password_wrong") == 5 and answers.count("password_locked") == BURST - 5, answers
    locked = story.mp("POST", "/card/ecard/device", {"installation_id": "install-z", "password": PASSWORD})
    assert locked.status_code == 429 and locked.json["error"]["code"] == "password_locked"


def _pin_check(story: Story, serial: str, pin: str, bank: dict | None = None):  # noqa: F811
    body = json.dumps({"serial_number": serial, "pin": pin}).encode()
    return story.api.signed_post(bank or story.bank, body, path=PIN_CHECKS)


def test_the_bank_checks_the_pin_three_wrong_a_day(story: Story) -> None:  # noqa: F811
    story.issued("SN00000009")
    assert error_code(_pin_check(story, "SN00000009", PIN)) == "card_not_usable"
    assert story.mp("POST", "/card/physical/activation", {"serial_number": "SN00000009", "pin": PIN}).status_code == 200
    assert _pin_check(story, "SN00000009", PIN).json == {"match": True, "attempts_left": 3}
    assert [_pin_check(story, "SN00000009", "000009").json for _ in range(3)] == [
        {"match": False, "attempts_left": n} for n in (2, 1, 0)]
    locked = _pin_check(story, "SN00000009", PIN)
    assert locked.status_code == 429 and locked.json["error"]["code"] == "too_many_attempts"


def test_only_the_issuing_bank_may_check_and_only_banks(story: Story) -> None:  # noqa: F811
    story.activated("SN00000010")
    other_bank = story.api.partner((), name="Other bank", roles=("bank",))
    assert error_code(_pin_check(story, "SN00000010", PIN, other_bank)) == "card_not_found"
    assert error_code(_pin_check(story, "SN00000010", PIN, story.metro)) == "role_required"
    assert error_code(_pin_check(story, "SN00000010", "12345")) == "validation_error"
