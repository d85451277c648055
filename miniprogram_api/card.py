"""POST /binding, GET /card/code, POST /card/seed, GET /card/verifications."""
from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import Response, jsonify, request

from app.card.binding import bind, validated_id_number
from app.card.closure import cancel_account, close_card
from app.card.seeds import provision_seed
from app.card.unbinding import unbind
from app.identity.real_person import LEVELS, start
from app.platform.city_time import CityDateTime, city_isoformat
from app.platform.http_json import CardBlueprint
from app.platform.openapi import error_responses
from app.platform.text import Text
from app.runtime import runtime
from app.scanning.card_code import IssuedCode, issue_code
from app.scanning.history import MAX_PAGE, list_verifications
from app.service_desk.audit import record_account_event
from qr import render

from .security import BEARER_DOC, bearer_token, current_account

blp = CardBlueprint("mp_card", __name__, url_prefix="/api/mp/v1", description="Binding and the e-card code")

IMAGE_TYPES = {"png": ("image/png", render.png), "svg": ("image/svg+xml", render.svg)}


REAL_PERSON_TOKEN = Text(load_default=None, load_only=True, validate=ma.validate.Length(1, 512), metadata={
    "description": "A passed real-person check for this name and ID number (POST /real-person/checks): WeChat's "
                   "verifyResult or Alipay's certify_id; checked with the platform, once"})


class BindingRequestSchema(ma.Schema):
    EXAMPLES = [{"name": "陈小明", "id_number": "441900198506151235", "phone": "13800138000"},
                {"name": "陈小明", "id_number": "441900198506151235", "phone": "13800138000", "sms_code": "204816"},
                {"name": "陈小明", "id_number": "441900198506151235", "phone": "13800138000",
                 "real_person_token": "7D2B9C4E-61F0-4A8B-9E3C-5F1A2D8B0C47"}]

    name = Text(required=True, validate=ma.validate.Length(1, 50))
    id_number = Text(required=True, validate=ma.validate.Length(1, 32),
                     metadata={"description": "18-character resident ID number (GB 11643-1999)"})
    phone = Text(required=True, validate=ma.validate.Length(1, 20),
                 metadata={"description": "11-digit mainland mobile number"})
    sms_code = ma.fields.String(load_default=None, validate=ma.validate.Regexp(r"[0-9]{6}\Z"), metadata={
        "description": "Only after 403 sms_code_required: the 6-digit code sent to the phone on the resident roster",
        "pattern": "^[0-9]{6}$"})
    real_person_token = REAL_PERSON_TOKEN


class BindingSchema(ma.Schema):
    EXAMPLES = [{"card_number": "4419000000000018", "insured": True, "assurance": "knowledge"},
                {"card_number": "4419000000000018", "insured": True, "assurance": "real_person"}]

    card_number = ma.fields.String(required=True)
    insured = ma.fields.Boolean(required=True, metadata={"description": "Entitled to the physical card (M-5)"})
    assurance = ma.fields.String(required=True, metadata={"enum": list(LEVELS), "description": "How the binding was proven"})


class RealPersonStartSchema(ma.Schema):
    EXAMPLES = [{"name": "陈小明", "id_number": "441900198506151235"}]

    name = Text(required=True, validate=ma.validate.Length(1, 50), metadata={"description": "As on the ID card"})
    id_number = Text(required=True, validate=ma.validate.Length(1, 32),
                     metadata={"description": "18-character resident ID number (GB 11643-1999)"})


class RealPersonCheckSchema(ma.Schema):
    EXAMPLES = [{"provider": "wechat_face", "certify_id": None, "certify_url": None},
                {"provider": "alipay_certify", "certify_id": "d4f7e2a9b1c04e5f8a6b3c2d1e0f9a8b",
                 "certify_url": "https://openapi.alipay.com/gateway.do?alipay_sdk=alipay-sdk-java&biz_content=%7B%22certify_id%22%3A%22d4f7e2a9%22%7D"}]

    provider = ma.fields.String(required=True, metadata={"enum": ["wechat_face", "alipay_certify"], "description": (
        "wechat_face: call wx.startFacialRecognitionVerify({name, idCardNumber}) and send its verifyResult as "
        "real_person_token; alipay_certify: my.startAPVerify({url: certify_url, certifyId: certify_id}), then send "
        "certify_id as real_person_token")})
    certify_id = ma.fields.String(required=True, allow_none=True)
    certify_url = ma.fields.String(required=True, allow_none=True)


class UnbindingRequestSchema(ma.Schema):
    EXAMPLES = [{"password": "739146"}, {"real_person_token": "7D2B9C4E-61F0-4A8B-9E3C-5F1A2D8B0C47"}]

    password = ma.fields.String(load_default=None, load_only=True, validate=ma.validate.Regexp(r"[0-9]{6}\Z"), metadata={
        "description": "The e-card password (when no real_person_token is sent)", "pattern": "^[0-9]{6}$"})
    real_person_token = REAL_PERSON_TOKEN


CODE_FORMATS = ("json", "png", "svg")


class CodeQuerySchema(ma.Schema):
    format = ma.fields.String(load_default="json", validate=ma.validate.OneOf(list(CODE_FORMATS)), metadata={
        "enum": ["json"], "description": "json only: for the image use GET /card/code.png or /card/code.svg "
                                         "(png and svg are still accepted here, undocumented, for older clients)"})


CODE_QUERY = CodeQuerySchema()


class CodeSchema(ma.Schema):
    EXAMPLES = [{"code": "DGC1:MFRGGZDFMZTWQ2LK.059312345.00.48213790", "expires_at": "2026-05-21T21:33:30+08:00", "refresh_in": 25}]

    code = ma.fields.String(required=True, metadata={"description": "The QR text (docs/qr-format.md)"})
    expires_at = CityDateTime(required=True, metadata={"description": "verifiers refuse it after this"})
    refresh_in = ma.fields.Integer(required=True, metadata={"description": "Seconds until the client should fetch a new code"})


class SeedRequestSchema(ma.Schema):
    EXAMPLES = [{"installation_id": "mp-7f3c9a2e41b64d0e"}]

    installation_id = ma.fields.String(required=True, validate=ma.validate.Regexp(r"[A-Za-z0-9_-]{8,64}\Z"),
                                       metadata={"description": "Random id the mini-program keeps in its storage",
                                                 "pattern": "^[A-Za-z0-9_-]{8,64}$"})  # ECMA 262, as JSON Schema reads it


class SeedSchema(ma.Schema):
    EXAMPLES = [{"seed": "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", "pseudonym": "MFRGGZDFMZTWQ2LK", "format_version": 1, "algorithm": "SHA1",
                 "digits": 8, "step_seconds": 30}]

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
    EXAMPLES = [{"verification_id": "vf_23360b7bf332b2d06b054a45", "verified_at": "2026-05-21T21:32:35+08:00",
                 "partner_name": "东莞轨道交通2号线", "terminal_id": "gate-A01", "terminal_location": "鸿福路站A口进站闸机",
                 "scene": "transit", "accepted": True, "reason": None,
                 "disclosed": ["settlement_token", "concession", "entry_verification_id"], "app": "wechat", "shown_by": None},
                {"verification_id": "vf_8b1e0c2d4f6a8b0c2d4e6f80", "verified_at": "2026-05-20T15:12:48+08:00",
                 "partner_name": "东莞市人民医院", "terminal_id": "clinic-3", "terminal_location": "门诊大楼一楼挂号处", "scene": "medical",
                 "accepted": False, "reason": "code_expired", "disclosed": [], "app": None, "shown_by": None}]

    verification_id = ma.fields.String(required=True)
    verified_at = CityDateTime(required=True, metadata={
        "description": "When the card was used: for an offline (DGC2) use, when the gate scanned it, not when its upload was settled"})
    partner_name = ma.fields.String(required=True)
    terminal_id = ma.fields.String(required=True)
    terminal_location = ma.fields.String(required=True, allow_none=True)
    scene = ma.fields.String(required=True)
    accepted = ma.fields.Boolean(required=True)
    reason = ma.fields.String(required=True, allow_none=True)
    disclosed = ma.fields.List(ma.fields.String(), required=True, metadata={"description": "The fields the partner was shown"})
    app = ma.fields.String(required=True, allow_none=True, validate=ma.validate.OneOf(["wechat", "alipay"]), metadata={
        "description": "The app (wechat or alipay) whose e-card showed the accepted code; null for a refused code or a physical-card read"})
    shown_by = ma.fields.String(required=True, allow_none=True, metadata={
        "description": "relative (<relation>): a family member's phone showed the accepted code for you (M-15, docs/family.md)"})


class HistoryPageSchema(ma.Schema):
    EXAMPLES = [{"items": HistoryItemSchema.EXAMPLES,
                 "next_cursor": "MjAyNi0wNS0yMFQwNzoxMjo0OCswMDowMHx2Zl84YjFlMGMyZDRmNmE4YjBjMmQ0ZTZmODA="},
                {"items": [], "next_cursor": None}]

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
    422: "identity_mismatch (also: not on the roster), sms_code_invalid, real_person_invalid, real_person_failed, or validation_error",
    429: "too_many_attempts: 5 attempts per account per hour (counted before they are checked)",
    503: "platform_unavailable / real_person_not_configured (only with real_person_token)",
})
def create_binding(args: dict[str, Any]) -> Any:
    """Bind this account to a roster identity (M-17) and create the citizen's card; with a
    real-person check, at assurance ``real_person``, evicting a knowledge-only binding of the
    same identity (issue 17 items 2 and 4; audited)."""
    rt = runtime()
    result = bind(rt, current_account(), args["name"], args["id_number"], args["phone"],
                  args["sms_code"], request.remote_addr, args["real_person_token"])
    if result.evicted_account_id is not None and result.citizen_id is not None:
        record_account_event(rt, "binding_evicted", result.evicted_account_id, result.citizen_id,
                             "knowledge-only binding ended by the holder's real-person check")
    return result


@blp.route("/real-person/checks", methods=["POST"])
@blp.doc(**BEARER_DOC)
@blp.arguments(RealPersonStartSchema)
@blp.response(200, RealPersonCheckSchema)
@error_responses(blp, {401: "token_missing / token_invalid", 422: "validation_error",
                       429: "too_many_attempts: 10 checks started per account per hour",
                       503: "platform_unavailable / real_person_not_configured"})
def post_real_person_check(args: dict[str, Any]) -> Any:
    """Start a real-person check (M-17) of this name and ID number with the platform of this
    account: what the mini-program opens next. Its result is sent as ``real_person_token`` to
    POST /binding, DELETE /binding or POST /card/password/reset, which check it with the platform."""
    id_number = validated_id_number(args["id_number"])
    return start(runtime(), current_account(), args["name"], id_number)


@blp.route("/account", methods=["DELETE"])
@blp.doc(**BEARER_DOC)
@blp.arguments(UnbindingRequestSchema)
@blp.response(204)
@error_responses(blp, {
    401: "token_missing / token_invalid",
    403: "password_required or reauthentication_required (the account holds a card: the password or a real-person check)",
    409: "binding_changed",
    422: "password_wrong, real_person_invalid, real_person_failed or validation_error",
    429: "password_locked or too_many_attempts",
    503: "platform_unavailable / real_person_not_configured",
})
def delete_account(args: dict[str, Any]) -> Any:
    """Cancel this mini-program account (PIPL art. 47): its binding ends, its tokens are deleted
    and its platform identifiers erased at once; the rest as the retention table of
    docs/operations.md. The card stays the citizen's (POST /card/closure closes it)."""
    cancel_account(runtime(), current_account(), args["password"], args["real_person_token"])
    return None


@blp.route("/card/closure", methods=["POST"])
@blp.doc(**BEARER_DOC)
@blp.arguments(UnbindingRequestSchema)
@blp.response(204)
@error_responses(blp, {
    401: "token_missing / token_invalid",
    403: "not_bound, password_required or reauthentication_required",
    409: "illegal_transition (already cancelled) or binding_changed",
    422: "password_wrong, real_person_invalid, real_person_failed or validation_error",
    429: "password_locked or too_many_attempts",
    503: "platform_unavailable / real_person_not_configured",
})
def post_card_closure(args: dict[str, Any]) -> Any:
    """Close the card for good (issue 17 item 6): the e-card, its devices and offline
    certificates and the live physical card are cancelled, and this account's binding ends."""
    close_card(runtime(), current_account(), args["password"], args["real_person_token"])
    return None


@blp.route("/binding", methods=["DELETE"])
@blp.doc(**BEARER_DOC)
@blp.arguments(UnbindingRequestSchema)
@blp.response(204)
@error_responses(blp, {
    401: "token_missing / token_invalid",
    403: "not_bound, password_required, or reauthentication_required (no password set: pass a real-person check)",
    409: "binding_changed: ended by another request at the same moment",
    422: "password_wrong, real_person_invalid, real_person_failed or validation_error",
    429: "password_locked or too_many_attempts",
    503: "platform_unavailable / real_person_not_configured",
})
def delete_binding(args: dict[str, Any]) -> Any:
    """Unbind this account from its card (issue 17 item 4) after re-authenticating: a real-person
    check of the holder, or the e-card password. The e-card's device ends at once; bind again
    (from this or another account) to use the card."""
    unbind(runtime(), current_account(), args["password"], args["real_person_token"])
    return None


CODE_ERRORS = {
    401: "token_missing / token_invalid",
    403: "not_bound / card_inactive",
    429: "too_many_codes: 100 codes in this 30 s step; see Retry-After",
}


@blp.route("/card/code", methods=["GET"])
@blp.doc(**BEARER_DOC)
@blp.documented(blp.arguments(CODE_QUERY, location="query"))  # read by hand: code_format (issue 25)
@blp.documented(blp.response(200, CodeSchema))  # written by hand: code_answer
@error_responses(blp, CODE_ERRORS)
def get_code() -> Any:
    """A fresh e-card code as JSON. The QR image is ``GET /card/code.png`` or ``/card/code.svg``
    (``?format=png|svg`` here is their older spelling, kept for existing clients)."""
    image = code_format()
    issued = issue_code(runtime(), bearer_token())
    if image == "json":
        return jsonify(code_answer(issued))
    return _image(issued.code, image)


@blp.route("/card/code.png", methods=["GET"])
@blp.doc(**BEARER_DOC, responses={200: {"description": "The QR image of a fresh code", "content": {
    "image/png": {"schema": {"type": "string", "format": "binary"}}}}})
@error_responses(blp, CODE_ERRORS)
def get_code_png() -> Any:
    """A fresh e-card code as a PNG QR image (one code of the step's 100, like ``GET /card/code``)."""
    return _image(issue_code(runtime(), bearer_token()).code, "png")


@blp.route("/card/code.svg", methods=["GET"])
@blp.doc(**BEARER_DOC, responses={200: {"description": "The QR image of a fresh code", "content": {
    "image/svg+xml": {"schema": {"type": "string", "format": "binary"}, "example": render.svg(CodeSchema.EXAMPLES[0]["code"]).decode()}}}})
@error_responses(blp, CODE_ERRORS)
def get_code_svg() -> Any:
    """A fresh e-card code as an SVG QR image (one code of the step's 100, like ``GET /card/code``)."""
    return _image(issue_code(runtime(), bearer_token()).code, "svg")


def _image(code: str, fmt: str) -> Response:
    mimetype, draw = IMAGE_TYPES[fmt]
    return Response(draw(code), mimetype=mimetype, headers={"Cache-Control": "no-store"})


def code_format() -> str:
    """``?format`` as CodeQuerySchema loads it: read by hand when plain (absent, or one known value
    and nothing else), otherwise by the schema through flask-smorest's parser, which answers as
    it always did (issue 25: this route runs on every code refresh)."""
    query = request.args
    if not query:
        return "json"
    values = query.getlist("format")
    if len(query) == 1 and len(values) == 1 and values[0] in CODE_FORMATS:
        return values[0]  # type: ignore[no-any-return]
    return CardBlueprint.ARGUMENTS_PARSER.parse(CODE_QUERY, request, location="query")["format"]  # type: ignore[no-any-return]


def code_answer(issued: IssuedCode) -> dict[str, Any]:
    """CodeSchema's dump of ``issued``: ``{"code", "expires_at" (ISO 8601, +08:00), "refresh_in" (s)}``."""
    return {"code": issued.code, "expires_at": city_isoformat(issued.expires_at), "refresh_in": issued.refresh_in}


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
