"""Behind the documented proxy (issue 19, item 3): with ``CARD_TRUSTED_PROXIES`` the console's
per-address log-in limit counts the real client (the right-most X-Forwarded-For hop that is not
a trusted proxy), so one client's failures no longer lock out staff elsewhere; forged
X-Forwarded-For / X-Forwarded-Proto from an address that is not trusted change nothing."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from app.platform.clock import FrozenClock
from app.service_desk import staff
from standins.wechat import WeChatStandIn

from ..conftest import BACKENDS, make_app
from ..helpers import Console, dispose, new_staff

PROXY, OTHER_PROXY, STRANGER = "10.0.0.7", "10.0.1.9", "192.0.2.50"


@pytest.fixture(params=BACKENDS)
def proxied_app(request: pytest.FixtureRequest, tmp_path: Any, clock: FrozenClock, wechat: WeChatStandIn) -> Iterator[Any]:
    application = make_app(request.param, request, tmp_path, clock, wechat, CARD_TRUSTED_PROXIES="10.0.0.0/16, 127.0.0.1")
    yield application
    dispose(application)


def _console(app: Any, clock: FrozenClock, peer: str, forwarded_for: str | None = None, proto: str | None = None) -> Console:
    console = Console(app, clock)
    console.client.environ_base["REMOTE_ADDR"] = peer
    if forwarded_for is not None:
        console.client.environ_base["HTTP_X_FORWARDED_FOR"] = forwarded_for
    if proto is not None:
        console.client.environ_base["HTTP_X_FORWARDED_PROTO"] = proto
    return console


def _fail_from_one_client(app: Any, clock: FrozenClock, peer: str, forwarded_for: str) -> None:
    for attempt in range(staff.MAX_FAILURES_PER_CLIENT):  # distinct usernames: only the per-address limit counts
        answer = _console(app, clock, peer, forwarded_for).login(f"guess{attempt}", "A" * 32, password="wrong")
        assert answer.status_code == 401
    assert _console(app, clock, peer, forwarded_for).login("guessmore", "A" * 32).status_code == 429


def test_a_client_failing_behind_a_trusted_proxy_cannot_lock_out_staff_elsewhere(proxied_app: Any, clock: FrozenClock) -> None:
    seed = new_staff(proxied_app, "agent1", "agent")
    _fail_from_one_client(proxied_app, clock, PROXY, "203.0.113.7")
    assert _console(proxied_app, clock, PROXY, "198.51.100.20").login("agent1", seed).status_code == 302
    # the same client through another trusted hop (and a forged left-most entry) is still throttled
    assert _console(proxied_app, clock, OTHER_PROXY, f"1.2.3.4, 203.0.113.7, {PROXY}").login("x", "A" * 32).status_code == 429


def test_forged_forwarded_headers_from_an_untrusted_address_change_nothing(proxied_app: Any, clock: FrozenClock) -> None:
    seed = new_staff(proxied_app, "agent1", "agent")
    for attempt in range(staff.MAX_FAILURES_PER_CLIENT):  # a new forged client address each time
        console = _console(proxied_app, clock, STRANGER, f"203.0.113.{attempt}", proto="https")
        assert console.login(f"guess{attempt}", "A" * 32, password="wrong").status_code == 401
    assert _console(proxied_app, clock, STRANGER, "198.51.100.1").login("agent1", seed).status_code == 429


def test_the_real_client_address_and_scheme_reach_the_app_only_through_a_trusted_proxy(proxied_app: Any) -> None:
    seen: list[tuple[str, str]] = []

    @proxied_app.get("/_peer")
    def _peer() -> str:
        from flask import request

        seen.append((request.remote_addr, request.scheme))
        return "ok"

    def ask(peer: str, forwarded_for: str, proto: str = "https") -> tuple[str, str]:
        proxied_app.test_client().get("/_peer", environ_base={"REMOTE_ADDR": peer, "HTTP_X_FORWARDED_FOR": forwarded_for,
                                                              "HTTP_X_FORWARDED_PROTO": proto})
        return seen[-1]

    assert ask(PROXY, "203.0.113.7") == ("203.0.113.7", "https")
    assert ask(PROXY, f"203.0.113.7, {OTHER_PROXY}, 127.0.0.1") == ("203.0.113.7", "https")
    assert ask(PROXY, f"{OTHER_PROXY}, 127.0.0.1") == (OTHER_PROXY, "https")  # every hop trusted: the left-most
    assert ask(PROXY, "not-an-address, 203.0.113.7") == ("203.0.113.7", "https")
    assert ask(PROXY, f"not-an-address, {OTHER_PROXY}") == (OTHER_PROXY, "https")
    assert ask(PROXY, "203.0.113.7", proto="gopher") == ("203.0.113.7", "http")
    assert ask(STRANGER, "203.0.113.7") == (STRANGER, "http")
