"""Guessing codes: terminals and partners are throttled, a card under attack is slowed, not locked."""
from __future__ import annotations

import json
import logging
from concurrent.futures import ThreadPoolExecutor
from threading import Barrier

import pytest
from sqlalchemy import func, select, update

from app.card.models import Card
from app.platform.db import db
from app.scanning import guessing
from app.scanning.models import Verification
from qr import payload

from ..helpers import ApiClient
from .test_login import error_code

RUN_ON_CLUSTER = True  # also on the Redis Cluster backend (tests/conftest.py, pytest -m cluster)


def wrong(code: str, n: int = 1) -> str:
    """The same code with another 8-digit password: a guess."""
    otp = int(code[-8:])
    return code[:-8] + f"{(otp + n) % 10**8:08d}"


def test_the_documented_bound_holds() -> None:
    assert guessing.daily_success_bound() < 1e-6


def test_a_terminal_sending_many_invalid_codes_is_throttled(api: ApiClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    partner = api.partner()
    for n in range(guessing.TERMINAL_LIMIT + 1):
        assert api.verify(partner, f"DGC1:AAAAAAAAAAAAAAAA.000000001.00.{n:08d}", terminal_id="gate-1").json["reason"] == "code_invalid"
    blocked = api.verify(partner, "anything", terminal_id="gate-1")
    assert (blocked.status_code, error_code(blocked)) == (429, "too_many_invalid_codes")
    assert 1 <= int(blocked.headers["Retry-After"]) <= 60
    assert "guessing throttled: terminal" in caplog.text
    assert api.verify(partner, "anything", terminal_id="gate-2").status_code == 200  # other terminals go on
    api.clock.advance(61)
    assert api.verify(partner, "anything", terminal_id="gate-1").status_code == 200


def test_guesses_against_one_card_slow_it_down_without_locking_the_owner_out(api: ApiClient) -> None:
    token = api.bound_citizen()
    partner = api.partner()
    code = api.code(token)
    for n in range(guessing.CARD_FREE_FAILURES):
        assert api.verify(partner, wrong(code, n + 1), terminal_id=f"gate-{n}").json["reason"] == "code_invalid"
    with api.app.app_context():
        assert db.session.scalar(select(Card.failed_attempts)) == guessing.CARD_FREE_FAILURES
    assert api.verify(partner, code, terminal_id="gate-20").json["reason"] == "card_throttled"  # the 10th's slot is spent
    api.clock.advance(guessing.CARD_SLOT_SECONDS)
    assert api.verify(partner, api.code(token), terminal_id="gate-21").json["accepted"] is True  # the next slot's one evaluation
    assert api.verify(partner, api.code(token), terminal_id="gate-22").json["reason"] == "card_throttled"
    assert api.verify(partner, wrong(api.code(token)), terminal_id="gate-23").json["reason"] == "card_throttled"
    api.clock.advance(guessing.CARD_SLOT_SECONDS)
    assert api.verify(partner, api.code(token), terminal_id="gate-24").json["accepted"] is True  # the owner, next slot


def test_the_card_window_ends_after_a_day(api: ApiClient) -> None:
    api.app.config["CARD_TOKEN_TTL"] = 3 * 86400  # the citizen stays logged in across the day
    token = api.bound_citizen()
    partner = api.partner()
    code = api.code(token)
    for n in range(guessing.CARD_FREE_FAILURES):
        api.verify(partner, wrong(code, n + 1), terminal_id=f"gate-{n}")
    api.clock.advance(guessing.CARD_WINDOW.total_seconds() + 1)
    _redis_lets_the_day_pass(api)
    fresh = api.code(token)
    assert api.verify(partner, fresh, terminal_id="gate-30").json["accepted"] is True
    assert api.verify(partner, api.code(token), terminal_id="gate-31").json["accepted"] is True  # no slot needed
    assert payload.parse(fresh).sequence == 0


def _redis_lets_the_day_pass(api: ApiClient) -> None:
    """Redis expires keys by its own clock, not the test's frozen one: end the card's day count as
    24 real hours would (the SQL store follows the test clock by itself)."""
    store = api.rt.store
    if hasattr(store, "client"):
        for key in store.client.scan_iter(store.prefix + "card-failures:*"):
            store.client.delete(key)


def test_the_owners_own_scans_are_no_failures(api: ApiClient) -> None:
    """Right passwords are no failures: only wrong ones count towards the 10."""
    token = api.bound_citizen()
    partner = api.partner()
    for n in range(guessing.CARD_FREE_FAILURES + 5):
        assert api.verify(partner, api.code(token), terminal_id=f"gate-{n}").json["accepted"] is True
    for n in range(guessing.CARD_FREE_FAILURES - 1):
        assert api.verify(partner, wrong(api.code(token)), terminal_id=f"gate-{20 + n}").json["reason"] == "code_invalid"
    assert api.verify(partner, api.code(token), terminal_id="gate-40").json["accepted"] is True


def _counted_in_the_store_only(api: ApiClient, partner: dict[str, str], code: str) -> None:
    """10 wrong passwords that the store has counted and the database has not (yet): the moment
    while other requests' counts are in flight, when only the store's count is current."""
    for n in range(guessing.CARD_FREE_FAILURES):
        assert api.verify(partner, wrong(code, n + 1), terminal_id=f"gate-{n}").json["reason"] == "code_invalid"
    with api.app.app_context():
        db.session.execute(update(Card).values(failed_attempts=0, failures_since=None))
        db.session.commit()


def test_a_right_code_is_checked_against_the_stores_count_in_its_use(api: ApiClient) -> None:
    """The database's count is under 10, so the right code's count check goes into the use's own
    store step (guessing.right_password_gate); the store's count is 10, so the step does nothing
    and the card's slot decides: spent (the 10th's), so ``card_throttled``, with the nonce
    claimed and the code not used; in the next slot the first evaluation passes, no second."""
    token = api.bound_citizen()
    partner = api.partner()
    _counted_in_the_store_only(api, partner, api.code(token))
    code = api.code(token)
    body = json.dumps({"code": code, "scene": "transit", "terminal_id": "gate-20"}).encode()
    first = api.signed_post(partner, body, nonce="nonce-gated-1")
    assert first.json.get("reason") == "card_throttled", first.json
    assert error_code(api.signed_post(partner, body, nonce="nonce-gated-1")) == "nonce_reused"
    api.clock.advance(guessing.CARD_SLOT_SECONDS)
    assert api.verify(partner, api.code(token), terminal_id="gate-21").json["accepted"] is True
    assert api.verify(partner, api.code(token), terminal_id="gate-22").json["reason"] == "card_throttled"


def test_a_right_code_refused_for_its_age_does_not_tell_it_was_right_on_a_card_under_guessing(api: ApiClient) -> None:
    """``code_expired`` would tell a guesser the password was right: the count decides first."""
    api.clock.advance(guessing.CARD_SLOT_SECONDS - api.clock.time() % guessing.CARD_SLOT_SECONDS)  # a slot's start
    token = api.bound_citizen()
    partner = api.partner()
    old = api.code(token)
    _counted_in_the_store_only(api, partner, old)
    api.clock.advance(10 * 60)  # the code expired; the 10th's slot is still spent
    assert api.verify(partner, old, terminal_id="gate-30").json["reason"] == "card_throttled"


def test_32_simultaneous_reads_of_a_right_code_on_a_card_under_guessing_are_evaluated_once(api: ApiClient) -> None:
    token = api.bound_citizen()
    partner = api.partner()
    _counted_in_the_store_only(api, partner, api.code(token))
    api.clock.advance(guessing.CARD_SLOT_SECONDS)  # a fresh slot: one evaluation
    code = api.code(token)
    barrier = Barrier(32)

    def read(n: int) -> str | None:
        barrier.wait()
        return api.verify(partner, code, terminal_id=f"gate-{n}").json["reason"]  # type: ignore[no-any-return]

    with ThreadPoolExecutor(32) as pool:
        reasons = list(pool.map(read, range(32)))
    assert sorted(reasons, key=str) == sorted([None] + ["card_throttled"] * 31, key=str), reasons
    with api.app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Verification).where(Verification.accepted.is_(True))) == 1
