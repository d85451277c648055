"""The customer-service staff console at /console: server-rendered pages (Flask + Jinja).

Only this package has cookie sessions (app.NoCookieSessions scopes them to /console). The
cookie is HttpOnly, SameSite=Strict and Secure (CARD_CONSOLE_SECURE_COOKIE=0 only for plain-HTTP
tests); every POST carries a Flask-WTF CSRF token; sessions end after CARD_CONSOLE_IDLE_MINUTES
without a request. Every response under /console (pages, redirects, errors, static files) carries
the browser security headers of :data:`SECURITY_HEADERS` (a CSP allowing only the console's own
files and no framing), and HSTS when the cookie is Secure. docs/customer-service.md describes the
roles and pages.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask, request
from flask_wtf.csrf import CSRFProtect

from app.platform import metrics, offload
from app.platform.errors import AppError

PREFIX = "/console"
csrf = CSRFProtect()
# No inline script or style anywhere in the templates: keep it so (the CSP refuses them).
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                           "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # console URLs carry ticket numbers
}
HSTS = "max-age=31536000; includeSubDomains"


def register(app: Flask) -> None:
    """Cookie settings, CSRF (checked by the console's own before_request only), the blueprint."""
    from . import (  # noqa: F401 (they add their routes to views.blp)
        caller_views,
        catalogue_editor_views,
        catalogue_views,
        counter_views,
        hub_views,
        review_views,
        views,
    )

    app.config.update(
        SESSION_COOKIE_NAME="cc_console", SESSION_COOKIE_PATH=PREFIX, SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict", SESSION_COOKIE_SECURE=app.config["CARD_CONSOLE_SECURE_COOKIE"],
        WTF_CSRF_CHECK_DEFAULT=False,  # the APIs are not cookie-authenticated: only the console checks
    )
    csrf.init_app(app)
    app.register_blueprint(views.blp)
    headers = dict(SECURITY_HEADERS)
    if app.config["CARD_CONSOLE_SECURE_COOKIE"]:
        headers["Strict-Transport-Security"] = HSTS
    app.wsgi_app = LogInTurns(app.wsgi_app, headers)  # type: ignore[method-assign]

    @app.after_request
    def _console_security_headers(response: Any) -> Any:
        """On every /console response, including 404s outside the blueprint's routes."""
        if request.path == PREFIX or request.path.startswith(PREFIX + "/"):
            response.headers.update(headers)
        return response


LOGIN_PATH = PREFIX + "/login"
BUSY_PAGE = ("<!doctype html><meta charset=utf-8><title>503</title><p>登录人数过多，请稍后重试。"
             "<p>Too many log-ins at once; try again in a few seconds.").encode()


class LogInTurns:
    """WSGI middleware: each ``POST /console/login`` is handled whole (session, CSRF, form, limits,
    the hash, the page) inside the worker's hashing turn (app.platform.offload.turn), one at a time
    per worker (issue 15, item 7).

    A burst of log-ins then waits here, costing the event loop nothing, instead of every log-in's
    Python work becoming runnable at once in the loop that also answers ``POST /verifications``.
    One still waiting after ``offload.OFFLOAD_WAIT`` seconds gets a small fixed 503 page (code
    ``busy``, ``Retry-After``, the console's security headers) made without Flask or a template,
    so the answers to a timed-out burst cost next to nothing either. Without gevent (tests, the
    CLI) it passes every request straight through."""

    def __init__(self, wsgi_app: Callable[..., Iterable[bytes]], headers: dict[str, str]) -> None:
        self.wsgi_app, self.headers = wsgi_app, headers

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") != "POST" or environ.get("PATH_INFO") != LOGIN_PATH:
            return self.wsgi_app(environ, start_response)
        try:
            turn = offload.turn()
            turn.__enter__()
        except AppError as busy:
            metrics.unavailable(busy.code)
            start_response("503 Service Unavailable", [("Content-Type", "text/html; charset=utf-8"),
                                                       ("Content-Length", str(len(BUSY_PAGE))), *busy.headers.items(),
                                                       *self.headers.items()])
            return [BUSY_PAGE]
        try:
            body = self.wsgi_app(environ, start_response)
            try:
                return list(body)  # the whole page made inside the turn
            finally:
                if hasattr(body, "close"):
                    body.close()
        finally:
            turn.__exit__(None, None, None)
