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

from typing import Any

from flask import Flask, request
from flask_wtf.csrf import CSRFProtect

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
    from . import views

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

    @app.after_request
    def _console_security_headers(response: Any) -> Any:
        """On every /console response, including 404s outside the blueprint's routes."""
        if request.path == PREFIX or request.path.startswith(PREFIX + "/"):
            response.headers.update(headers)
        return response
