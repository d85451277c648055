"""The sandbox's own endpoints, ``/api/sandbox/v1`` (only with ``CARD_SANDBOX=1``, never in
production: app.config): unsigned, so that curl alone gets an integrator started
(docs/partner-api.md "The sandbox"; the logic is app.sandbox)."""
from __future__ import annotations

from typing import Any

import marshmallow as ma

from app import sandbox
from app.platform.city_time import CityDateTime
from app.platform.http_json import CardBlueprint
from app.platform.openapi import error_responses
from app.runtime import runtime

from .registry import SCENE_NAMES, enabled_policy

blp = CardBlueprint("sandbox", __name__, url_prefix="/api/sandbox/v1",
                    description="SANDBOX ONLY (a server started with CARD_SANDBOX=1; these paths do not exist in "
                                "production): test partners, residents and codes, unsigned (docs/partner-api.md \"The sandbox\")")


class PartnerRequestSchema(ma.Schema):
    EXAMPLES = [{"scenes": ["transit"]}, {}]

    scenes = ma.fields.List(ma.fields.String(validate=ma.validate.OneOf(SCENE_NAMES)), load_default=None,
                            validate=ma.validate.Length(1, len(SCENE_NAMES)),
                            metadata={"description": "Default: every scene open on this server but government "
                                                     "(asking for government makes a government department)"})


class SandboxPartnerSchema(ma.Schema):
    EXAMPLES = [{"partner_id": "p_5e9a1c3d7b0f2e46", "secret": "Zq8vN3kT1xW6bR0mH4sJ9cL2dF7gA5eUyP3iO8tQw1E", "scenes": ["transit"],
                 "terminals": ["sandbox-gate-1", "sandbox-gate-2", "sandbox-gate-3"]}]

    partner_id = ma.fields.String(required=True)
    secret = ma.fields.String(required=True)
    scenes = ma.fields.List(ma.fields.String(), required=True)
    terminals = ma.fields.List(ma.fields.String(), required=True)


class ResidentRequestSchema(ma.Schema):
    EXAMPLES = [{"resident": 1}, {}]

    resident = ma.fields.Integer(load_default=1, strict=True, validate=ma.validate.Range(1, 100),
                                 metadata={"description": "A test resident's number (GET /residents)"})


class ResidentSchema(ma.Schema):
    EXAMPLES = [{"resident": 1, "name": "陈小明", "id_number": "441900198506151235", "phone": "13800138000", "insured": True}]

    resident = ma.fields.Integer(required=True, attribute="number")
    name = ma.fields.String(required=True)
    id_number = ma.fields.String(required=True)
    phone = ma.fields.String(required=True)
    insured = ma.fields.Boolean(required=True)


class FaceResultRequestSchema(ResidentRequestSchema):
    EXAMPLES = [{"resident": 1, "passed": True}, {"resident": 3, "passed": False}]

    passed = ma.fields.Boolean(load_default=True, metadata={"description": "false: a face that did not match"})


class FaceResultSchema(ma.Schema):
    EXAMPLES = [{"verify_result": "sbxface.1.1779370355.1.9f3a6c0e1b7d.T1v8XkQ2mZp4Lr0w"}]

    verify_result = ma.fields.String(required=True, metadata={
        "description": "As wx.startFacialRecognitionVerify's verifyResult: send it as real_person_token; single-use, 5 minutes"})


class LoginCodeSchema(ma.Schema):
    EXAMPLES = [{"code": "sbx.1.1779370355.4c8e2a0f9b1d.Yh3Kq9Vn2Lx7Pb0s"}]

    code = ma.fields.String(required=True, metadata={"description": "For POST /api/mp/v1/auth/wechat; single-use, 5 minutes"})


class SmsQuerySchema(ma.Schema):
    EXAMPLES = [{"resident": 1}]

    resident = ma.fields.Integer(required=True, strict=False, validate=ma.validate.Range(1, 100),
                                 metadata={"description": "A test resident's number (GET /residents)"})


class SandboxSmsSchema(ma.Schema):
    EXAMPLES = [{"kind": "bank_consent_code", "text": "【东莞市民卡】您正在授权示例银行登记您的待遇发放账户，验证码 482913，10 分钟内有效；"
                 "非本人操作请勿告知他人。 Code 482913: you allow 示例银行 to register your benefit account.",
                 "sent_at": "2026-05-21T21:33:30+08:00"}]

    kind = ma.fields.String(required=True, metadata={"description": "The message's template (docs/operations.md \"SMS\")"})
    text = ma.fields.String(required=True, metadata={"description": "What the resident's phone shows, codes included"})
    sent_at = CityDateTime(required=True)


class SandboxSmsListSchema(ma.Schema):
    EXAMPLES = [{"messages": SandboxSmsSchema.EXAMPLES}]

    messages = ma.fields.List(ma.fields.Nested(SandboxSmsSchema), required=True, metadata={
        "description": "The SMS the resident received in the last 10 minutes (at most 20), newest first"})


class EcardCodeSchema(ma.Schema):
    EXAMPLES = [{"code": "DGC1:MFRGGZDFMZTWQ2LK.059312345.00.48213790", "expires_at": "2026-05-21T21:33:30+08:00", "refresh_in": 25}]

    code = ma.fields.String(required=True, metadata={"description": "A valid DGC1 code: POST it to /api/partner/v1/verifications"})
    expires_at = CityDateTime(required=True)
    refresh_in = ma.fields.Integer(required=True)


@blp.route("/partners", methods=["POST"])
@blp.arguments(PartnerRequestSchema)
@blp.response(201, SandboxPartnerSchema)
@error_responses(blp, {422: "validation_error, scene_unknown or scene_not_enabled"})
def post_sandbox_partner(args: dict[str, Any]) -> Any:
    """A new test partner: ``{"partner_id", "secret", "scenes", "terminals"}`` (terminals
    sandbox-gate-1 to 3). Sign your requests with it as docs/partner-api.md says."""
    rt = runtime()
    enabled = rt.config.get("CARD_SCENES_ENABLED")
    wanted = args["scenes"] or [name for name in SCENE_NAMES if name != "government" and (enabled is None or name in enabled)]
    scenes = tuple(dict.fromkeys(enabled_policy(name, rt.config).name for name in wanted))
    return sandbox.new_partner(rt, scenes, tuple(SCENE_NAMES))


@blp.route("/residents", methods=["GET"])
@blp.response(200, ResidentSchema(many=True))
def get_sandbox_residents() -> Any:
    """The test residents (invented people, app/samples/roster.csv), numbered from 1."""
    return sandbox.residents()


@blp.route("/login-codes", methods=["POST"])
@blp.arguments(ResidentRequestSchema)
@blp.response(200, LoginCodeSchema)
@error_responses(blp, {404: "resident_unknown", 409: "sandbox_not_seeded: run `citizencard sandbox seed`",
                       422: "validation_error"})
def post_sandbox_login_code(args: dict[str, Any]) -> Any:
    """A WeChat login code (as ``wx.login()`` gives) for test resident ``resident``."""
    return {"code": sandbox.login_code(runtime(), args["resident"])}


@blp.route("/e-card-codes", methods=["POST"])
@blp.arguments(ResidentRequestSchema)
@blp.response(200, EcardCodeSchema)
@error_responses(blp, {404: "resident_unknown", 409: "sandbox_not_seeded: run `citizencard sandbox seed`",
                       422: "validation_error", 429: "too_many_codes"})
def post_sandbox_ecard_code(args: dict[str, Any]) -> Any:
    """A valid e-card code of test resident ``resident``'s card (bound on first use)."""
    return sandbox.ecard_code(runtime(), args["resident"])


@blp.route("/real-person-results", methods=["POST"])
@blp.arguments(FaceResultRequestSchema)
@blp.response(200, FaceResultSchema)
@error_responses(blp, {404: "resident_unknown", 409: "sandbox_not_seeded: run `citizencard sandbox seed`",
                       422: "validation_error"})
def post_sandbox_face_result(args: dict[str, Any]) -> Any:
    """A WeChat face check result (``verifyResult``) for test resident ``resident``, to use where a
    real-person check is asked for (government and finance scenes, evictions, password resets):
    the sandbox's WeChat face check knows it, and binds it to that resident's sandbox account."""
    return {"verify_result": sandbox.face_result(runtime(), args["resident"], args["passed"])}


@blp.route("/sms", methods=["GET"])
@blp.arguments(SmsQuerySchema, location="query")
@blp.response(200, SandboxSmsListSchema)
@error_responses(blp, {404: "resident_unknown", 422: "validation_error"})
def get_sandbox_sms(args: dict[str, Any]) -> Any:
    """The SMS test resident ``resident`` received in the last 10 minutes, newest first (the
    sandbox sends none: codes for the phone change, a bank's consent, a caller check are read here)."""
    return {"messages": sandbox.sms_inbox(runtime(), args["resident"])}
