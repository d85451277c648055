"""The flask-smorest API with our one error envelope (``{"error": {"code", "message", "details"}}``)
documented on every answer, and the security schemes of the two audiences (bearer tokens, signed
partner requests)."""
from __future__ import annotations

import re
import threading
from collections.abc import Callable
from typing import Any

import marshmallow as ma
import werkzeug.routing
from apispec import APISpec
from flask import Flask
from flask_smorest import Api

from app.platform.text import path_parameter_schema


class ErrorBodySchema(ma.Schema):
    EXAMPLES = [
        {"code": "signature_invalid", "message": "the signature does not match the request", "details": {}},
        {"code": "timestamp_out_of_window", "message": "the timestamp is more than 300 s from our clock",
         "details": {"server_timestamp": 1779370355, "server_time": "2026-05-21T21:32:35+08:00", "tolerance_seconds": 300}},
        {"code": "validation_error", "message": "request validation failed",
         "details": {"fields": {"json": {"terminal_id": ["String does not match expected pattern."]}}}},
    ]

    code = ma.fields.String(required=True, metadata={"description": "Stable machine code", "examples": ["signature_invalid"]})
    message = ma.fields.String(required=True, metadata={"description": "Human-readable text",
                                                        "examples": ["the signature does not match the request"]})
    details = ma.fields.Dict(required=True, metadata={"description": "Machine-readable context", "examples": [{}]})


class ErrorSchema(ma.Schema):
    """The one error envelope: ``{"error": {"code", "message", "details"}}``."""

    EXAMPLES = [{"error": body} for body in ErrorBodySchema.EXAMPLES]

    error = ma.fields.Nested(ErrorBodySchema, required=True)


class CardApi(Api):
    """flask-smorest's Api whose documented error body is our envelope, and whose OpenAPI document
    is written at its first read (``spec``: serving /api/openapi.json, ``citizencard openapi
    write``), not when the app is made. Documenting the blueprints costs about 0.3 s of CPU per app
    (apispec deep-copies every operation): every gunicorn worker paid it at start, and every test
    that makes an app, for a document few of them read. Error *handling* is registered once, in
    app.platform.http_errors, not here."""

    ERROR_SCHEMA = ErrorSchema

    def __init__(self, app: Flask | None = None, *, spec_kwargs: dict[str, Any] | None = None) -> None:
        self._to_document: list[Callable[[APISpec], None]] = []  # run in order at the first read
        self._document_lock = threading.Lock()
        super().__init__(app, spec_kwargs=spec_kwargs)

    @property
    def spec(self) -> APISpec:
        """The OpenAPI document, completed first by the steps :meth:`document_later` queued (once;
        concurrent first readers wait for it)."""
        if self._to_document:
            with self._document_lock:
                while self._to_document:
                    self._to_document[0](self._spec)  # a step writes to the spec it is given, never reads api.spec
                    del self._to_document[0]
        return self._spec

    @spec.setter
    def spec(self, value: APISpec) -> None:
        self._spec = value

    def document_later(self, step: Callable[[APISpec], None]) -> None:
        """Queue ``step(spec)`` to run at the document's first read, after the steps queued before it."""
        self._to_document.append(step)

    def register_blueprint(self, blp: Any, *, parameters: list[Any] | None = None, **options: Any) -> None:
        """As flask-smorest's: the routes now, the blueprint's operations and tag at the first read."""
        name = options.get("name", blp.name)
        self._app.extensions["flask-smorest"]["blp_name_to_api"][name] = self
        self._app.register_blueprint(blp, **options)

        def document(spec: APISpec) -> None:
            blp.register_views_in_doc(self, self._app, spec, name=name, parameters=parameters)
            spec.tag({"name": name, "description": blp.description})

        self.document_later(document)

    def _register_error_handlers(self) -> None:
        """Our own handlers (app.platform.http_errors) replace flask-smorest's."""
        return None


API_SETTINGS = {
    "API_TITLE": "Dongguan Citizen Card API",
    "API_VERSION": "1.0.0",
    "OPENAPI_VERSION": "3.1.0",
    # Relative: the document is served by each deployment (production, the sandbox) at /api/openapi.json.
    "API_SPEC_OPTIONS": {"servers": [{"url": "/", "description": "The server this document was fetched from "
                                                                "(production, or the sandbox: docs/partner-api.md)"}]},
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


_RULE_ARGUMENT = re.compile(r"<(?:[^<>:]+:)?([^<>]+)>")


def name_operations(app: Flask, spec: APISpec) -> None:
    """Give every documented operation a stable ``operationId``, the lowerCamelCase name of its view
    function (``create_verification`` -> ``createVerification``), and ``security: []`` to those that
    declare no security (public: the log-ins, the complaint categories). Queue after the blueprints
    (:meth:`CardApi.document_later`). Raises ValueError when two operations would share an id."""
    paths = spec._paths  # apispec keeps the operations here; to_dict() reads the same dict
    seen: dict[str, str] = {}
    for rule in app.url_map.iter_rules():
        operations = paths.get(_RULE_ARGUMENT.sub(r"{\1}", rule.rule), {})
        view = app.view_functions[rule.endpoint]
        for method in sorted(rule.methods or ()):
            operation = operations.get(method.lower())
            if operation is None:
                continue
            name = _camel(view.__name__)
            if seen.setdefault(name, f"{method} {rule.rule}") != f"{method} {rule.rule}":
                raise ValueError(f"operationId {name} twice: {seen[name]} and {method} {rule.rule}")
            operation["operationId"] = name
            operation.setdefault("security", [])


def _camel(snake: str) -> str:
    first, *rest = snake.split("_")
    return first + "".join(part.title() for part in rest)


def publish_examples(api: CardApi, spec: APISpec) -> None:
    """Copy each schema class's ``EXAMPLES`` (a list of whole example objects, kept beside its
    fields) to its component as the JSON Schema ``examples`` keyword (OpenAPI 3.1). Queue after the
    blueprints (:meth:`CardApi.document_later`); tests/unit/test_openapi.py validates every example
    against its schema."""
    schemas = spec.components.schemas
    for key, name in api.ma_plugin.converter.refs.items():
        examples = getattr(key[0], "EXAMPLES", None)
        if examples and name in schemas:
            schemas[name]["examples"] = examples
