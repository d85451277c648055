"""POST /binding, GET /card/code, POST /card/seed, GET /card/verifications."""
from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import Response, request

from app.card.binding import bind
from app.card.seeds import provision_seed
from app.platform.http_json import CardBlueprint
from app.platform.openapi import error_responses
from app.platform.text import Text
from app.runtime import runtime
from app.scanning.card_code import issue_code
from app.scanning.history import MAX_PAGE, list_verifications
from qr import render

from .security import BEARER_DOC, bearer_token, current_account

blp = CardBlueprint("mp_card", __name__, url_prefix="/api/mp/v1", description="Binding and the e-card code")

IMAGE_TYPES = {"png": ("image/png", render.png), "svg": ("image/svg+xml", render.svg)}


class BindingRequestSchema(ma.Schema):
    name = Text(required=True, validate=ma.validate.Length(1, 50))
    id_number = Text(required=True, validate=ma.validate.Length(1, 32),
                     metadata={"description": "18-character resident ID number (GB 11643-1999)"})
    phone = Text(required=True, validate=ma.validate.Length(1, 20),
                 metadata={"description": "11-digit mainland mobile number"})
    sms_code = ma.fields.String(load_default=None, validate=ma.validate.Regexp(r"[0-9]{6}\Z"), metadata={
        "description": "Only after 403 sms_code_required: the 6-digit code sent to the phone on the resident roster",
        "pattern": "^[0-9]{6}$"})


class BindingSchema(ma.Schema):
    card_number = ma.fields.String(required=True)
    insured = ma.fields.Boolean(required=True, metadata={"description": "Entitled to the physical card (M-5)"})


class CodeQuerySchema(ma.Schema):
    format = ma.fields.String(load_default="json", validate=ma.validate.OneOf(["json", "png", "svg"]), metadata={
        "enum": ["json"], "description": "json only: for the image use GET /card/code.png or /card/code.svg "
                                         "(png and svg are still accepted here, undocumented, for older clients)"})


class CodeSchema(ma.Schema):
    code = ma.fields.String(required=True, metadata={"description": "The QR text (docs/qr-format.md)"})
    expires_at = ma.fields.DateTime(required=True, metadata={"description": "UTC; verifiers refuse it after this"})
    refresh_in = ma.fields.Integer(required=True, metadata={"description": "Seconds until the client should fetch a new code"})


class SeedRequestSchema(ma.Schema):
    installation_id = ma.fields.String(required=True, validate=ma.validate.Regexp(r"[A-Za-z0-9_-]{8,64}\Z"),
                                       metadata={"description": "Random id the mini-program keeps in its storage",
                                                 "pattern": "^[A-Za-z0-9_-]{8,64}$"})  # ECMA 262, as JSON Schema reads it


class SeedSchema(ma.Schema):
    seed = ma.fields.String(required=True, metadata={"description": "Base32 TOTP seed (160 bits); keep in secure storage"})
    pseudonym = ma.fields.String(required=True)
    format_version = ma.fields.Integer(required=True)
    algorithm = ma.fields.String(required=True)
    digits = ma.fields.Integer(required=True)
    step_seconds = ma.fields.Integer(required=True)


class HistoryQuerySchema(ma.Schema):
    limit = ma.fields.Integer(load_default=20, validate=ma.validate.Range(1, MAX_PAGE))
    cursor = Text(load_default=None, validate=ma.validate.Length(1, 200))


class HistoryItemSchema(ma.Schema):
    verification_id = ma.fields.String(required=True)
    verified_at = ma.fields.DateTime(required=True)
    partner_name = ma.fields.String(required=True)
    terminal_id = ma.fields.String(required=True)
    terminal_location = ma.fields.String(required=True, allow_none=True)
    scene = ma.fields.String(required=True)
    accepted = ma.fields.Boolean(required=True)
    reason = ma.fields.String(required=True, allow_none=True)
    disclosed = ma.fields.List(ma.fields.String(), required=True, metadata={"description": "The fields the partner was shown"})


class HistoryPageSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(HistoryItemSchema), required=True)
    next_cursor = ma.fields.String(required=True, allow_none=True)


@blp.route("/binding", methods=["POST"])
@blp.doc(**BEARER_DOC)
@blp.arguments(BindingRequestSchema)
@blp.response(200, BindingSchema)
@error_responses(blp, {
    401: "token_missing / token_invalid",
    403: "sms_code_required: 20 attempts on this ID number this hour; send the code sent to the roster phone",
    409: "already_bound / account_already_bound",
    422: "identity_mismatch (also: not on the roster), sms_code_invalid, or validation_error",
    429: "too_many_attempts: 5 attempts per account per hour (counted before they are checked)",
})
def create_binding(args: dict[str, Any]) -> Any:
    """Bind this account to a roster identity (M-17) and create the citizen's card."""
    return bind(runtime(), current_account(), args["name"], args["id_number"], args["phone"],
                args["sms_code"], request.remote_addr)


CODE_ERRORS = {
    401: "token_missing / token_invalid",
    403: "not_bound / card_inactive",
    429: "too_many_codes: 100 codes in this 30 s step; see Retry-After",
}


@blp.route("/card/code", methods=["GET"])
@blp.doc(**BEARER_DOC)
@blp.arguments(CodeQuerySchema, location="query")
@blp.response(200, CodeSchema)
@error_responses(blp, CODE_ERRORS)
def get_code(args: dict[str, Any]) -> Any:
    """A fresh e-card code as JSON. The QR image is ``GET /card/code.png`` or ``/card/code.svg``
    (``?format=png|svg`` here is their older spelling, kept for existing clients)."""
    issued = issue_code(runtime(), bearer_token())
    if args["format"] == "json":
        return issued
    return _image(issued.code, args["format"])


@blp.route("/card/code.png", methods=["GET"])
@blp.doc(**BEARER_DOC, responses={200: {"description": "The QR image of a fresh code", "content": {
    "image/png": {"schema": {"type": "string", "format": "binary"}}}}})
@error_responses(blp, CODE_ERRORS)
def get_code_png() -> Any:
    """A fresh e-card code as a PNG QR image (one code of the step's 100, like ``GET /card/code``)."""
    return _image(issue_code(runtime(), bearer_token()).code, "png")


@blp.route("/card/code.svg", methods=["GET"])
@blp.doc(**BEARER_DOC, responses={200: {"description": "The QR image of a fresh code", "content": {
    "image/svg+xml": {"schema": {"type": "string", "format": "binary"}}}}})
@error_responses(blp, CODE_ERRORS)
def get_code_svg() -> Any:
    """A fresh e-card code as an SVG QR image (one code of the step's 100, like ``GET /card/code``)."""
    return _image(issue_code(runtime(), bearer_token()).code, "svg")


def _image(code: str, fmt: str) -> Response:
    mimetype, draw = IMAGE_TYPES[fmt]
    return Response(draw(code), mimetype=mimetype, headers={"Cache-Control": "no-store"})


@blp.route("/card/seed", methods=["POST"])
@blp.doc(**BEARER_DOC)
@blp.arguments(SeedRequestSchema)
@blp.response(200, SeedSchema)
@error_responses(blp, {
    401: "token_missing / token_invalid",
    403: "not_bound",
    409: "device_conflict: another installation was provisioned at the same moment; retry",
})
def post_seed(args: dict[str, Any]) -> Any:
    """Provision a fresh TOTP seed to this installation for offline codes (a card event, with an SMS
    notice to the holder); the copy ends when this session logs out or the e-card moves."""
    return provision_seed(runtime(), current_account(), args["installation_id"], bearer_token())


@blp.route("/card/verifications", methods=["GET"])
@blp.doc(**BEARER_DOC)
@blp.arguments(HistoryQuerySchema, location="query")
@blp.response(200, HistoryPageSchema)
@error_responses(blp, {
    401: "token_missing / token_invalid",
    403: "not_bound",
    422: "cursor_invalid or validation_error",
})
def get_verifications(args: dict[str, Any]) -> Any:
    """The citizen's own verifications, newest first, paginated by ``cursor``."""
    return list_verifications(current_account(), args["limit"], args["cursor"])
