"""Issue 15 item 17: every console page (and every console error or redirect) tells the browser
not to frame it, not to sniff types, not to run anything but the console's own files, not to
leak the URL (ticket numbers) in the Referer, and, with secure cookies, to stay on HTTPS."""
from __future__ import annotations

from typing import Any

import pytest

from ..conftest import make_app
from ..helpers import ApiClient, Console, dispose, new_staff

EXPECTED = {"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}


def _check(response: Any, path: str, hsts: bool) -> None:
    headers = response.headers
    for name, value in EXPECTED.items():
        assert headers.get(name) == value, (path, response.status_code, name)
    csp = headers.get("Content-Security-Policy", "")
    for directive in ("default-src 'self'", "frame-ancestors 'none'", "script-src 'self'", "object-src 'none'",
                      "base-uri 'none'", "form-action 'self'"):
        assert directive in csp, (path, csp)
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert ("Strict-Transport-Security" in headers) == hsts, (path, response.status_code)
    if hsts:
        assert "max-age=" in headers["Strict-Transport-Security"]


def _every_console_path(app: Any, ticket: str) -> list[str]:
    paths = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/console"):
            continue
        paths.append(rule.rule.replace("<path:filename>", "console.css").replace("<number>", ticket)
                     .replace("<action>", "claim").replace("<int:alert_id>", "1").replace("<int:article_id>", "1")
                     .replace("<int:request_id>", "1").replace("<decision>", "approve").replace("<reference>", "ap_0000000000")
                     .replace("<int:entry_id>", "1"))
    assert not [path for path in paths if "<" in path], paths  # a new kind of route parameter: fill it in above
    return sorted(set(paths)) + ["/console/no-such-page", "/console/tickets/CS00000000-XXXXXX"]


def _ticket(api: ApiClient) -> str:
    token = api.bound_citizen()
    return api.client.post("/api/mp/v1/complaints", json={"category": "code", "description": "扫码失败"},
                           headers=api.bearer(token)).json["ticket_number"]


@pytest.mark.parametrize("role", ["supervisor", "auditor", None])
def test_every_console_route_sends_the_browser_security_headers(api: ApiClient, role: str | None) -> None:
    ticket = _ticket(api)
    console = Console(api.app, api.clock)
    if role:
        assert console.login(role, new_staff(api.app, role, role)).status_code == 302
    paths = _every_console_path(api.app, ticket)
    assert len(paths) >= 12
    for path in paths:
        _check(console.client.get(path), path, hsts=True)
        _check(console.client.post(path, data={"csrf_token": "wrong"}), path, hsts=True)


def test_hsts_is_sent_only_when_the_cookie_is_secure(request: pytest.FixtureRequest, tmp_path: Any, clock: Any,
                                                     wechat: Any) -> None:
    app = make_app("embedded", request, tmp_path, clock, wechat, CARD_CONSOLE_SECURE_COOKIE=False)
    try:
        client = app.test_client()
        for path in ("/console/login", "/console/", "/console/static/console.css", "/console/nothing"):
            _check(client.get(path), path, hsts=False)
        assert "Strict-Transport-Security" not in client.get("/api/openapi.json").headers
    finally:
        dispose(app)
