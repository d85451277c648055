"""The signed partner API: POST /verifications (a terminal verifies a scanned code) and
PUT /members (a campus or library uploads its member roster)."""
from __future__ import annotations

import re
from typing import Any

import marshmallow as ma
from flask import g, jsonify

from app.partners.memberships import may_hold_members, member_count, replace_members
from app.platform import metrics
from app.platform.errors import AppError
from app.platform.http_json import CardBlueprint
from app.platform.openapi import error_responses
from app.platform.text import Text
from app.runtime import runtime
from app.scanning.verification import verify, verify_card_number

from .policies.base import sees_birth_dates
from .registry import POLICIES, SCENE_NAMES, enabled_policy
from .signing import signed
from .verification_args import Rules, verification_args

blp = CardBlueprint("partner", __name__, url_prefix="/api/partner/v1",
                    description="Partner API: signed requests (docs/partner-api.md)")


def subject_schema_name(scene: str) -> str:
    return "".join(part.title() for part in scene.split("_")) + "Subject"


TERMINAL_ID = r"[A-Za-z0-9_.:-]{1,64}\Z"  # \Z, not $: "$" lets a trailing newline through
TERMINAL_ID_DOC = "^[A-Za-z0-9_.:-]{1,64}$"  # the same for the document: JSON Schema patterns are ECMA 262, unanchored
MAX_CODE_LENGTH = 512


CARD_NUMBER = r"[0-9]{16}\Z"


class VerificationRequestSchema(ma.Schema):
    """Exactly one of ``code`` (an e-card QR code) or ``card_number`` (a physical card read by a chip reader);
    both or neither is 422 ``validation_error``. Said in words, not as a top-level ``oneOf``: that would
    leave code generators (openapi-python-client) with no request model (issue 20)."""

    EXAMPLES = [
        {"code": "DGC1:MFRGGZDFMZTWQ2LK.059312345.00.48213790", "scene": "transit", "terminal_id": "gate-A01",
         "direction": "entry"},
        {"card_number": "4419000000000018", "scene": "medical", "terminal_id": "clinic-3"},
    ]

    code = Text(validate=ma.validate.Length(1, MAX_CODE_LENGTH), metadata={
        "description": "The text decoded from the QR code, as scanned: DGC1:... or DGC2:... (docs/offline-codes.md). "
                       "Exactly one of code or card_number",
        "examples": ["DGC1:MFRGGZDFMZTWQ2LK.059312345.00.48213790"]})
    card_number = ma.fields.String(validate=ma.validate.Regexp(CARD_NUMBER), metadata={
        "description": "The card number read from a physical card's chip (16 digits). Exactly one of code or card_number",
        "pattern": "^[0-9]{16}$", "examples": ["4419000000000018"]})
    scene = Text(required=True, validate=ma.validate.Length(1, 32), metadata={
        "enum": list(SCENE_NAMES), "description": "An unknown or not yet opened scene is 422 scene_unknown / scene_not_enabled",
        "examples": ["transit"]})
    terminal_id = ma.fields.String(required=True, validate=ma.validate.Regexp(TERMINAL_ID),
                                   metadata={"description": "The scanning terminal's id (1-64 of A-Za-z0-9_.:-)",
                                             "pattern": TERMINAL_ID_DOC, "examples": ["gate-A01"]})
    direction = ma.fields.String(load_default=None, validate=ma.validate.OneOf(["entry", "exit"]), metadata={
        "description": "Transit: entry or exit gate; an exit is linked to the holder's open entry", "examples": ["entry"]})

    @ma.validates_schema
    def _one_carrier(self, data: dict[str, Any], **_kwargs: Any) -> None:
        if ("code" in data) == ("card_number" in data):
            raise ma.ValidationError("send exactly one of code or card_number", "_schema")


def nullable_subject(description: str) -> ma.fields.Raw:
    """A ``subject`` field: one of the scenes' *Subject schemas, or null. Written as one ``anyOf`` with
    ``{"type": "null"}`` (OpenAPI 3.1), not ``nullable`` beside an ``anyOf``: generators type it as
    a union of the subject models and None (openapi-python-client crashed on the old form, issue 20)."""
    return ma.fields.Raw(required=True, allow_none=True, metadata={"description": description, "anyOf": [
        *({"$ref": f"#/components/schemas/{subject_schema_name(name)}"} for name in SCENE_NAMES), {"type": "null"}]})


class VerificationSchema(ma.Schema):
    EXAMPLES = [
        {"verification_id": "vf_23360b7bf332b2d06b054a45", "accepted": True, "reason": None, "scene": "transit",
         "subject": {"settlement_token": "3f9c0a51d2e84b7aa1c6e0d95b2f4a17", "concession": "standard",
                     "entry_verification_id": None}, "duplicate": False},
        {"verification_id": "vf_8b1e0c2d4f6a8b0c2d4e6f80", "accepted": False, "reason": "code_used", "scene": "transit",
         "subject": None, "duplicate": False},
    ]

    verification_id = ma.fields.String(required=True, metadata={"examples": ["vf_23360b7bf332b2d06b054a45"]})
    accepted = ma.fields.Boolean(required=True, metadata={"examples": [True]})
    reason = ma.fields.String(required=True, allow_none=True, metadata={
        "description": "null when accepted, else one of the reasons in docs/partner-api.md (new ones may be added)",
        "examples": [None, "code_used"]})
    scene = ma.fields.String(required=True, metadata={"examples": ["transit"]})
    subject = nullable_subject("What the scene may see (one of the *Subject schemas, by scene); null unless accepted")
    duplicate = ma.fields.Boolean(required=True, metadata={
        "description": "true when this terminal already sent this code within 60 s: the original answer",
        "examples": [False]})


VERIFICATION_REQUEST = VerificationRequestSchema()  # the refusals' judge (scenes.verification_args)
VERIFICATION_RULES = Rules(re.compile(TERMINAL_ID), re.compile(CARD_NUMBER), MAX_CODE_LENGTH)


@blp.route("/verifications", methods=["POST"])
@blp.doc(security=[{"partnerSignature": []}])
@signed(defer_nonce=True)  # claimed with the code's atomic use: one Redis round trip (issue 7)
@blp.documented(blp.arguments(VERIFICATION_REQUEST))  # read by hand: scenes.verification_args (issue 25)
@blp.documented(blp.response(200, VerificationSchema))  # written by hand: vars(answer), its six fields
@error_responses(blp, {
    401: "Signature, timestamp, nonce or partner refused",
    422: "validation_error (also: both or neither of code and card_number; direction outside transit), scene_unknown or "
         "scene_not_enabled",
    429: "too_many_invalid_codes: this terminal or partner sent too many invalid codes; see Retry-After",
    503: "A backing service is unavailable; retry",
})
def create_verification() -> Any:
    """Verify a scanned e-card code, or a physical card's number read by a chip reader: 200 with ``accepted`` and
    ``reason`` once signed and valid (429 when throttled). Send exactly one of ``code`` and ``card_number``."""
    args = verification_args(VERIFICATION_REQUEST, VERIFICATION_RULES)
    rt = runtime()
    policy = enabled_policy(args["scene"], rt.config)
    direction = args.get("direction")
    if direction is not None and policy.name != "transit":
        raise AppError("validation_error", 422, "direction is for the transit scene only",
                       {"fields": {"json": {"direction": ["transit only"]}}})
    if "card_number" in args:
        answer = verify_card_number(rt, g.partner, policy, args["terminal_id"], args["card_number"], direction, g.nonce)
    else:
        answer = verify(rt, g.partner, policy, args["terminal_id"], args["code"], direction, g.nonce)
    metrics.verification(answer.scene, answer.accepted, answer.reason)
    return jsonify(vars(answer))  # VerificationSchema's dump of a VerificationAnswer (tests/unit/test_hand_validation.py)


def register_subject_schemas(spec: Any) -> None:
    """Publish each scene's subject shape in the OpenAPI document."""
    for name, policy in POLICIES.items():
        spec.components.schema(subject_schema_name(name), schema=policy.Subject)


class MemberSchema(ma.Schema):
    """Lengths bound the request only: an entry that is blank, too long or otherwise wrong is
    rejected on its own (``rejected``), the others are applied (docs/partner-api.md)."""

    EXAMPLES = [{"id_number": "441900198506151235", "member_id": "S2026010437"},
                {"id_number": "441900195612012868", "member_id": "T1998-0452"},
                {"id_number": "441900196205155735", "member_id": "S2026010512"}]

    id_number = Text(required=True, validate=ma.validate.Length(max=64))
    member_id = Text(required=True, validate=ma.validate.Length(max=256))


class MembersRequestSchema(ma.Schema):
    EXAMPLES = [{"members": MemberSchema.EXAMPLES[:2], "mode": "replace"}, {"members": MemberSchema.EXAMPLES[2:], "mode": "append"}]

    members = ma.fields.List(ma.fields.Nested(MemberSchema), required=True, validate=ma.validate.Length(0, 1000))
    mode = ma.fields.String(load_default="replace", validate=ma.validate.OneOf(["replace", "append"]), metadata={
        "description": "replace: the roster becomes this list; append: add or update these members (for large rosters, in batches)"})


class RejectedMemberSchema(ma.Schema):
    EXAMPLES = [{"position": 2, "reason": "id_number_bad_check_digit"}]

    position = ma.fields.Integer(required=True, metadata={"description": "1-based position in the request's list"})
    reason = ma.fields.String(required=True)


class MembersSchema(ma.Schema):
    EXAMPLES = [{"accepted": 1, "rejected": RejectedMemberSchema.EXAMPLES, "total": 1}]

    accepted = ma.fields.Integer(required=True, metadata={"description": "Members taken from this request"})
    rejected = ma.fields.List(ma.fields.Nested(RejectedMemberSchema), required=True)
    total = ma.fields.Integer(required=True, metadata={"description": "Members on the roster now"})


@blp.route("/members", methods=["PUT"])
@blp.doc(security=[{"partnerSignature": []}])
@signed
@blp.arguments(MembersRequestSchema)
@blp.response(200, MembersSchema)
@error_responses(blp, {
    401: "Signature, timestamp, nonce or partner refused",
    403: "members_not_permitted: not a campus partner or a library, or the partner also holds medical",
    422: "validation_error",
})
def put_members(args: dict[str, Any]) -> Any:
    """Upload the partner's member roster (campus, library: M-23.4, M-23.6) as ID numbers and member ids.
    403 ``members_not_permitted`` for partners that are neither campus partners nor libraries, or
    that also hold the medical scene."""
    if not may_hold_members(g.partner.scenes, g.partner.kind):
        raise AppError("members_not_permitted", 403, "only campus partners and libraries keep member rosters")
    if sees_birth_dates(g.partner):  # issue 15 item 1: a roster next to birth dates is an ID-number oracle
        raise AppError("members_not_permitted", 403, "a partner holding the medical scene keeps no member roster")
    pairs = ((member["id_number"], member["member_id"]) for member in args["members"])
    report = replace_members(runtime(), g.partner.id, pairs, replace=args["mode"] == "replace")
    return {"accepted": report.accepted, "total": member_count(g.partner.id),
            "rejected": [{"position": position, "reason": reason} for position, reason in report.rejected]}
