"""The customer-service staff console at /console: server-rendered pages (Flask + Jinja).

Only this package has cookie sessions (app.NoCookieSessions scopes them to /console). The
cookie is HttpOnly, SameSite=Strict and Secure (CARD_CONSOLE_SECURE_COOKIE=0 only for plain-HTTP
tests); every POST carries a Flask-WTF CSRF token; sessions end after CARD_CONSOLE_IDLE_MINUTES
without a request. docs/customer-service.md describes the roles and pages.
"""
from __future__ import annotations

from flask import Flask
from flask_wtf.csrf import CSRFProtect

PREFIX = "/console"
csrf = CSRFProtect()


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
