"""The ONE place where exceptions become the JSON error envelope (registered on the app)."""
from __future__ import annotations

import logging
from typing import Any

from flask import Flask, jsonify
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException

from app.platform import metrics
from app.platform.errors import AppError
from app.platform.http_methods import allow_header
from app.platform.store import StoreUnavailable

log = logging.getLogger(__name__)

HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    411: "length_required",
    413: "payload_too_large",
    414: "uri_too_long",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "too_many_requests",
    431: "request_header_fields_too_large",
    500: "internal_error",
    501: "not_implemented",
}


def register_error_handlers(app: Flask) -> None:
    """Every error, including routing 404/405 and flask-smorest validation, leaves as the envelope."""
    app.register_error_handler(AppError, as_response)
    app.register_error_handler(HTTPException, _http_exception)
    app.register_error_handler(StoreUnavailable, _store_unavailable)
    app.register_error_handler(OperationalError, _store_unavailable)
    app.register_error_handler(PoolTimeout, _store_unavailable)
    app.register_error_handler(Exception, _unexpected)


def as_response(error: AppError) -> Any:
    """The envelope response for an AppError, with its status and headers (the AppError handler)."""
    response = jsonify(error.envelope())
    response.status_code = error.http_status
    if error.http_status == 503:
        metrics.unavailable(error.code)
    response.headers.update(error.headers)
    return response


def _http_exception(error: HTTPException) -> Any:
    status = error.code or 500
    if status >= 500:
        return _unexpected(error)
    data = getattr(error, "data", None) or {}
    details: dict[str, Any] = {}
    if "messages" in data:  # webargs/flask-smorest validation errors, by location then field
        details["fields"] = data["messages"]
    message = "request validation failed" if details else (error.description or error.name)
    headers = {k: v for k, v in error.get_headers() if k.lower() != "content-type"}  # e.g. Allow on 405
    if getattr(error, "valid_methods", None):  # a 405: Werkzeug's order varies between processes
        headers["Allow"] = allow_header(error.valid_methods)  # type: ignore[attr-defined]
    headers.update(data.get("headers") or {})
    return as_response(AppError(HTTP_CODES.get(status, "http_error"), status, message, details, headers))


def _store_unavailable(error: Exception) -> Any:
    # A StoreUnavailable's message is ours (the client error's type, never its text); a driver's
    # error may carry a connection string, so only its type is logged.
    log.error("backing service unavailable: %s", error if isinstance(error, StoreUnavailable) else type(error).__name__)
    metrics.unavailable("store" if isinstance(error, StoreUnavailable) else "database")
    message = "a backing service is unavailable; retry shortly"
    envelope = AppError("service_unavailable", 503, message, headers={"Retry-After": "1"})
    response = jsonify(envelope.envelope())  # not as_response: counted once, by its cause
    response.status_code = 503
    response.headers.update(envelope.headers)
    return response


def _unexpected(error: BaseException) -> Any:
    log.exception("unhandled error", exc_info=error)
    return as_response(AppError("internal_error", 500, "internal error"))
