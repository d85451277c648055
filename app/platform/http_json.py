"""Strict JSON request bodies for every endpoint (one parser, used by every blueprint).

Python's json module accepts what an API should refuse and fails in ways a generic handler would
turn into a 500: nesting deep enough to exhaust the stack, integers too long to convert, NaN and
Infinity (also as an overflowing ``1e999``), lone UTF-16 surrogates (``"\\ud800"``) that later
fail to encode, and a key repeated in one object (whose value wins differs between parsers: a
signature checker and the app must not disagree). Here each of these is a 400 ``bad_request``;
a body that is not declared as JSON is a 415; chunked bodies without a
length are refused with 411 (the body-size limit needs the length).
"""
from __future__ import annotations

import json
import math
import re
from typing import Any

import flask
from flask_smorest import Blueprint
from webargs import core
from webargs.flaskparser import FlaskParser, is_json_request

from app.platform.errors import AppError
from app.platform.openapi import error_responses

MAX_DEPTH = 16
MAX_NUMBER_CHARACTERS = 30
BODY_ERRORS = {  # documented on every operation with a JSON body: the answers of this module and the size limit
    400: "bad_request: the body is not acceptable JSON; details.reason says why",
    411: "length_required: a chunked body; send Content-Length",
    413: "payload_too_large: the body is over the size limit (64 KiB)",
    415: "unsupported_media_type: send the body with Content-Type: application/json",
}


def _bad_json(reason: str) -> AppError:
    return AppError("bad_request", 400, "the request body is not acceptable JSON", {"reason": reason})


def _no_constants(name: str) -> Any:
    raise _bad_json(f"{name} is not JSON")


def _bounded_number(kind: type) -> Any:
    def convert(text: str) -> Any:
        if len(text) > MAX_NUMBER_CHARACTERS:
            raise _bad_json("number too long")
        number = kind(text)
        if kind is float and not math.isfinite(number):
            raise _bad_json("number out of range")
        return number

    return convert


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    value = dict(pairs)
    if len(value) != len(pairs):
        raise _bad_json("a key is repeated in one object")
    return value


_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def _depth_ok(value: Any) -> bool:
    """No value nested deeper than :data:`MAX_DEPTH` (the body itself at depth 1). Level by level,
    only containers kept: a 1,000-record upload is checked in a fifth of the time of a walk."""
    level = [value] if type(value) in (dict, list) else []
    for depth in range(1, MAX_DEPTH + 1):
        children: list[Any] = []
        for item in level:
            children.extend(item.values() if type(item) is dict else item)
        if depth == MAX_DEPTH:
            return not children  # each would be at depth MAX_DEPTH + 1
        level = [child for child in children if type(child) in (dict, list)]
    return True


def loads_strict(data: bytes) -> Any:
    """Parse a request body; raises AppError 400 for anything but plain, shallow UTF-8 JSON."""
    try:
        value = json.loads(data.decode("utf-8"), parse_constant=_no_constants, object_pairs_hook=_unique_keys,
                           parse_int=_bounded_number(int), parse_float=_bounded_number(float))
        if _SURROGATE_ESCAPE.search(data):  # only an escape makes one: UTF-8 decoding refused raw ones
            json.dumps(value, ensure_ascii=False).encode("utf-8")  # lone surrogates fail here
    except RecursionError:
        raise _bad_json(f"nested deeper than {MAX_DEPTH} levels") from None
    except UnicodeError:
        raise _bad_json("not UTF-8 text, or a lone UTF-16 surrogate") from None
    except ValueError:  # JSONDecodeError is a ValueError
        raise _bad_json("not JSON") from None
    if not _depth_ok(value):
        raise _bad_json(f"nested deeper than {MAX_DEPTH} levels")
    return value


class StrictJsonParser(FlaskParser):
    """webargs' Flask parser with :func:`loads_strict` and a 415 for bodies not sent as JSON."""

    def _raw_load_json(self, req: flask.Request) -> Any:
        data = req.get_data(cache=True)
        if not data and not req.content_length:  # a form body may already be parsed away: it still had a length
            return core.missing
        if not is_json_request(req):
            raise AppError("unsupported_media_type", 415, "send the body with Content-Type: application/json")
        return loads_strict(data)


class CardBlueprint(Blueprint):
    """flask-smorest's Blueprint with the strict parser; every blueprint of ours uses it. An
    operation with a JSON body documents the body errors (:data:`BODY_ERRORS`)."""

    ARGUMENTS_PARSER = StrictJsonParser()

    def arguments(self, schema: Any, *, location: str = "json", **kwargs: Any) -> Any:
        # An instance, made once: given a class, webargs builds a schema (deep-copying its fields)
        # on every request (it showed in the verification's profile, issue 7).
        schema = schema() if isinstance(schema, type) else schema
        decorator = super().arguments(schema, location=location, **kwargs)
        if location != "json":
            return decorator
        return lambda view: decorator(error_responses(self, BODY_ERRORS)(view))

    @staticmethod
    def documented(decorator: Any) -> Any:
        """Apply a flask-smorest decorator (``arguments``, ``response``) to the OpenAPI document only:
        the view reads its request and writes its answer itself (a hot route, issue 25; its test
        proves it does what the schema would)."""

        def apply(view: Any) -> Any:
            view._apidoc = decorator(view)._apidoc
            return view

        return apply


def read_by_hand(schema: Any, plainly_valid: Any) -> dict[str, Any]:
    """A hot route's JSON body as ``schema`` (an instance) loads it: ``plainly_valid(data)`` returns the
    loaded arguments for a body it recognises at once as valid, else None, and then the schema decides
    through :attr:`CardBlueprint.ARGUMENTS_PARSER`, so every refusal (400, 415, 422) is the schema's own
    (issue 25). A test per route proves its check accepts exactly what its schema accepts."""
    body = flask.request.get_data(cache=True)
    if body and is_json_request(flask.request):
        args = plainly_valid(loads_strict(body))
        if args is not None:
            return args  # type: ignore[no-any-return]
    return CardBlueprint.ARGUMENTS_PARSER.parse(schema, flask.request, location="json")  # type: ignore[no-any-return]


def refuse_chunked_bodies() -> None:
    """``before_request``: a body without Content-Length cannot be held to the size limit."""
    if "chunked" in flask.request.headers.get("Transfer-Encoding", "").lower():
        raise AppError("length_required", 411, "send the body with a Content-Length header, not chunked")
