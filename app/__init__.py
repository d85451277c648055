"""The application factory: config -> extensions -> blueprints -> errors -> runtime."""
from __future__ import annotations

import logging
import os
import sys
from typing import Any

from flask import Flask
from flask.sessions import NullSession, SecureCookieSessionInterface
from sqlalchemy import event
from sqlalchemy.exc import SQLAlchemyError

from app.config import load_config
from app.extensions import db, migrate
from app.platform import logs
from app.platform.clock import Clock
from app.platform.http_errors import register_error_handlers
from app.platform.http_json import refuse_chunked_bodies
from app.platform.http_methods import CardFlask, refuse_head
from app.platform.openapi import make_api, name_operations, publish_examples
from app.platform.proxies import TrustedProxies, parse_networks
from app.platform.store import SqlStore
from app.platform.text import refuse_control_characters
from app.runtime import EXTENSION_KEY, build_runtime
from app.scanning.partitions import include_name

MIGRATIONS_DIR = os.path.join(os.path.dirname(__file__), "migrations")


def create_app(config: dict[str, Any] | None = None, clock: Clock | None = None) -> Flask:
    """Build the app. ``config`` overrides settings read from the environment (tests use it)."""
    app = CardFlask(__name__, instance_path=os.environ.get("CARD_INSTANCE_PATH") or None, static_folder=None)
    app.config.update(load_config())
    app.config.update(config or {})
    _database_defaults(app)
    db.init_app(app)
    app.teardown_appcontext(_remove_session)  # runs before Flask-SQLAlchemy's own (teardowns run in reverse)
    migrate.init_app(app, db, directory=MIGRATIONS_DIR, render_as_batch=True,
                     include_name=include_name)  # partitions are no models of their own
    _register_http(app)
    app.wsgi_app = TrustedProxies(app.wsgi_app, parse_networks(app.config.get("CARD_TRUSTED_PROXIES")))  # type: ignore[method-assign]
    with app.app_context():
        _tune_sqlite(db.engine)
        app.extensions[EXTENSION_KEY] = runtime = build_runtime(app, db.engine, clock)
        if isinstance(runtime.store, SqlStore):
            _tune_sqlite(runtime.store.engine)
    _log_to_stderr(app.config.get("CARD_LOG_LEVEL", "INFO"), app.config.get("CARD_LOG_FORMAT", "text"))
    return app


class _CurrentStderr(logging.StreamHandler):  # type: ignore[type-arg]
    """A StreamHandler writing to whatever ``sys.stderr`` is at each line (a test runner swaps it)."""

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def _log_to_stderr(level: str, log_format: str = "text") -> None:
    """Our log lines (``app.*``) to stderr at ``level``, beside gunicorn's: without a handler,
    Python drops INFO lines (e.g. the development SMS sender's). ``log_format``: ``text`` or
    ``json`` (app.platform.logs)."""
    logger = logging.getLogger("app")
    logger.setLevel(level)
    if not logger.handlers:
        logger.addHandler(_CurrentStderr())
    for handler in logger.handlers:
        if isinstance(handler, _CurrentStderr):
            handler.setFormatter(logs.formatter(log_format))


def _remove_session(_error: BaseException | None) -> None:
    """End the request's session. If the database went away after the answer was made, the
    ROLLBACK fails (the server already rolled back; SQLAlchemy has invalidated the connection):
    that must not escape the WSGI app as a 500, nor leave the session registered."""
    try:
        db.session.remove()
    except SQLAlchemyError as exc:
        logging.getLogger(__name__).warning("database lost while ending a request: %s", type(exc).__name__)
        db.session.remove()  # the connection is invalidated now: this close succeeds and clears the registry


def _database_defaults(app: Flask) -> None:
    if not app.config.get("SQLALCHEMY_DATABASE_URI"):
        os.makedirs(app.instance_path, exist_ok=True)
        app.config["SQLALCHEMY_DATABASE_URI"] = "sqlite:///" + os.path.join(app.instance_path, "citizencard.sqlite")
    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    if uri.startswith("postgres://") or uri.startswith("postgresql://"):
        app.config["SQLALCHEMY_DATABASE_URI"] = "postgresql+psycopg://" + uri.split("://", 1)[1]
    # No pool_pre_ping: its extra round trip on every request cost ~10% of a verification. After a
    # database restart the first request on each stale connection fails with 503 and SQLAlchemy
    # invalidates the pool, so the app recovers without a restart.
    # hide_parameters: an error's log line shows the SQL, never the values (personal data, M-19).
    options: dict[str, Any] = {"pool_size": 20, "max_overflow": 10, "hide_parameters": True}
    if app.config.get("CARD_DATABASE_POOLER") == "transaction":
        # PgBouncer < 1.21 in transaction mode hands each transaction any server connection: a
        # statement psycopg prepared on one is unknown on the next ("prepared statement ... does
        # not exist"). None: psycopg never prepares (docs/operations.md, "PgBouncer").
        options["connect_args"] = {"prepare_threshold": None}
    if uri.startswith("sqlite"):
        options = {"connect_args": {"timeout": 30}, "hide_parameters": True}
    app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", options)


def _tune_sqlite(engine: Any) -> None:
    """WAL journal and foreign keys for SQLite, so several workers can share the file."""
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()


class NoCookieSessions(SecureCookieSessionInterface):
    """No session cookie outside ``cookie_path`` (the API authenticates every request itself);
    real signed-cookie sessions under it (the staff console: console/)."""

    def __init__(self, cookie_path: str = "/console") -> None:
        self.cookie_path = cookie_path

    def open_session(self, app: Flask, request: Any) -> Any:
        if request.path == self.cookie_path or request.path.startswith(self.cookie_path + "/"):
            return super().open_session(app, request)
        return None

    def make_null_session(self, app: Flask) -> Any:
        return NullSession()


def _register_http(app: Flask) -> None:
    import console
    from app import probes
    from miniprogram_api import applications as mp_applications
    from miniprogram_api import auth as mp_auth
    from miniprogram_api import benefits as mp_benefits
    from miniprogram_api import card as mp_card
    from miniprogram_api import complaints as mp_complaints
    from miniprogram_api import family as mp_family
    from miniprogram_api import help as mp_help
    from miniprogram_api import lifecycle as mp_lifecycle
    from miniprogram_api import offline as mp_offline
    from miniprogram_api import oidc as mp_oidc
    from miniprogram_api import payments as mp_payments
    from miniprogram_api import services as mp_services
    from scenes import answer_signing, identity_provider
    from scenes import bank as bank_views
    from scenes import benefits as partner_benefits
    from scenes import catalogue as partner_catalogue
    from scenes import hub as partner_hub
    from scenes import offline as partner_offline
    from scenes import offline_records as partner_offline_records
    from scenes import payments as partner_payments
    from scenes import statements as partner_statements
    from scenes import views as partner_views
    from scenes.registry import check_enabled_scenes

    check_enabled_scenes(app.config)
    app.url_map.merge_slashes = False  # "//" is a 404 envelope, not an HTML redirect
    app.session_interface = NoCookieSessions(console.PREFIX)  # the API has no cookie sessions: skip their cost per request
    logs.register(app)  # the request id, before every other hook but ...
    probes.register(app)  # ... the metrics' timer, first of all
    app.before_request(refuse_chunked_bodies)
    app.before_request(refuse_control_characters)  # paths, query strings, console forms (issue 15)
    api = make_api(app)
    api.document_later(partner_views.register_subject_schemas)
    for blueprint in (mp_auth.blp, mp_card.blp, mp_lifecycle.blp, mp_complaints.blp, mp_help.blp, mp_benefits.blp, mp_offline.blp,
                      mp_payments.blp, mp_family.blp, mp_applications.blp, mp_oidc.blp, mp_services.blp,
                      partner_views.blp, bank_views.blp, partner_benefits.blp, partner_offline.blp,
                      partner_offline_records.blp, partner_statements.blp, answer_signing.blp, partner_catalogue.blp,
                      partner_hub.blp, partner_payments.blp):
        api.register_blueprint(blueprint)
    if app.config.get("CARD_SANDBOX"):  # test partners, residents and codes: never in production (app.config)
        from scenes import sandbox as sandbox_views

        api.register_blueprint(sandbox_views.blp)
    api.document_later(lambda spec: name_operations(app, spec))
    api.document_later(lambda spec: publish_examples(api, spec))
    refuse_head(app, *(f"{mp_card.blp.name}.{view.__name__}" for view in (mp_card.get_code, mp_card.get_code_png, mp_card.get_code_svg)))
    register_error_handlers(app)
    answer_signing.register(app)
    identity_provider.register(app)  # OpenID Connect: protocol endpoints, not in the OpenAPI document
    console.register(app)

    @app.after_request
    def _no_store(response: Any) -> Any:
        response.headers.setdefault("Cache-Control", "no-store")
        return response
