"""Console log-in limits (issue 15, items 6 and 7): a throttled attempt costs no hash, an unknown
username costs one (off the loop), and only failures use up the limit."""
from __future__ import annotations

from typing import Any

import pytest

from app.service_desk import staff

from ..helpers import ApiClient, Console, new_staff


@pytest.fixture
def hashes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The argon2 hashes the log-in runs, by the stored hash they were checked against."""
    seen: list[str] = []
    real = staff.off_loop

    def counting(fn: Any, *args: Any) -> Any:
        seen.append(args[0])
        return real(fn, *args)

    monkeypatch.setattr(staff, "off_loop", counting)
    return seen


def test_a_throttled_attempt_is_refused_before_hashing(api: ApiClient, hashes: list[str]) -> None:
    seed = new_staff(api.app, "agent1", "agent")
    console = Console(api.app, api.clock)
    for _ in range(staff.MAX_FAILURES):
        assert console.login("agent1", seed, password="not the password").status_code == 401
    assert len(hashes) == staff.MAX_FAILURES
    assert console.login("agent1", seed).status_code == 429
    assert console.login("agent1", seed, password="not the password").status_code == 429
    assert len(hashes) == staff.MAX_FAILURES


def test_an_unknown_username_costs_a_hash_too(api: ApiClient, hashes: list[str]) -> None:
    assert Console(api.app, api.clock).login("nobody", "A" * 32).status_code == 401
    assert hashes == [staff._DUMMY_HASH]


def test_successful_log_ins_do_not_use_up_the_limit(api: ApiClient) -> None:
    seed = new_staff(api.app, "agent1", "agent")
    for _ in range(staff.MAX_FAILURES + 2):
        assert Console(api.app, api.clock).login("agent1", seed).status_code == 302
        api.clock.advance(30)  # the next TOTP step: a code is accepted once
    console = Console(api.app, api.clock)
    for _ in range(staff.MAX_FAILURES):
        assert console.login("agent1", seed, password="not the password").status_code == 401
    assert console.login("agent1", seed).status_code == 429


def test_a_log_in_that_cannot_be_hashed_in_time_is_answered_busy_and_not_counted(
        api: ApiClient, monkeypatch: pytest.MonkeyPatch) -> None:
    from app.platform import offload

    seed = new_staff(api.app, "agent1", "agent")
    console = Console(api.app, api.clock)
    monkeypatch.setattr(staff, "off_loop", lambda *args: (_ for _ in ()).throw(offload._busy()))
    for _ in range(staff.MAX_FAILURES + 1):  # the hashing process was too slow: 503, not a failure
        answer = console.login("agent1", seed, password="not the password")
        assert answer.status_code == 503 and answer.headers["Retry-After"] == str(round(offload.OFFLOAD_WAIT))
    monkeypatch.undo()
    assert console.login("agent1", seed).status_code == 302  # none of them used up the limit


def test_a_log_in_still_waiting_for_its_turn_gets_a_small_busy_page(api: ApiClient, monkeypatch: pytest.MonkeyPatch) -> None:
    from app.platform import offload

    console = Console(api.app, api.clock)
    token = console.csrf()

    def no_turn() -> Any:
        raise offload._busy()

    monkeypatch.setattr(offload, "turn", no_turn)
    answer = console.client.post("/console/login", data={"csrf_token": token, "username": "agent1", "password": "x" * 12,
                                                          "otp": "123456"})
    assert answer.status_code == 503 and answer.headers["Retry-After"] == str(round(offload.OFFLOAD_WAIT))
    assert "Too many log-ins at once" in answer.get_data(as_text=True)
    assert answer.headers["X-Frame-Options"] == "DENY" and "frame-ancestors 'none'" in answer.headers["Content-Security-Policy"]
    assert console.client.get("/console/login").status_code == 200  # only the log-in waits for a turn
