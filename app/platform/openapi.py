"""The flask-smorest API with our one error envelope (``{"error": {"code", "message", "details"}}``)
documented on every answer, and the security schemes of the two audiences (bearer tokens, signed
partner requests)."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import marshmallow as ma
import werkzeug.routing
from flask import Flask
from flask_smorest import Api

from app.platform.text import path_parameter_schema


class ErrorBodySchema(ma.Schema):
    code = ma.fields.String(required=True, metadata={"description": "Stable machine code"})
    message = ma.fields.String(required=True, metadata={"description": "Human-readable text"})
    details = ma.fields.Dict(required=True, metadata={"description": "Machine-readable context"})


class ErrorSchema(ma.Schema):
    """The one error envelope: ``{"error": {"code", "message", "details"}}``."""

    error = ma.fields.Nested(ErrorBodySchema, required=True)


class CardApi(Api):
    """flask-smorest's Api whose documented error body is our envelope. Error *handling* is
    registered once, in app.platform.http_errors, not here."""

    ERROR_SCHEMA = ErrorSchema

    def _register_error_handlers(self) -> None:
        """Our own handlers (app.platform.http_errors) replace flask-smorest's."""
        return None


API_SETTINGS = {
    "API_TITLE": "Dongguan Citizen Card API",
    "API_VERSION": "1.0.0",
    "OPENAPI_VERSION": "3.0.3",
    "OPENAPI_URL_PREFIX": "/api",
    "OPENAPI_JSON_PATH": "openapi.json",
}


def make_api(app: Flask) -> CardApi:
    """A flask-smorest Api for ``app`` (one per app, so tests can build many apps)."""
    for key, value in API_SETTINGS.items():
        app.config.setdefault(key, value)
    api = CardApi(app)
    api.register_converter(werkzeug.routing.UnicodeConverter, path_parameter_schema)  # the control-character rule
    api.spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer"})
    api.spec.components.security_scheme("partnerSignature", {
        "type": "apiKey", "in": "header", "name": "Authorization",
        "description": 'CC-HMAC-SHA256 partner_id="…",timestamp="…",nonce="…",signature="…" (docs/partner-api.md)',
    })
    return api


def error_responses(blueprint: Any, errors: dict[int, str]) -> Callable[[Any], Any]:
    """Document a view's error answers (status -> description), each with the envelope schema."""

    def decorate(view: Any) -> Any:
        for status, description in errors.items():
            view = blueprint.alt_response(status, schema=ErrorSchema, description=description)(view)
        return view

    return decorate
