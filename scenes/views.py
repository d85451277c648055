"""POST /api/partner/v1/verifications: a partner's terminal verifies a scanned code."""
from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import g

from app.extensions import error_responses
from app.http_json import CardBlueprint
from app.runtime import runtime
from app.services.verification import verify

from .registry import POLICIES, SCENE_NAMES
from .signing import signed

blp = CardBlueprint("partner", __name__, url_prefix="/api/partner/v1",
                description="Partner API: signed requests (docs/partner-api.md)")

TERMINAL_ID = r"[A-Za-z0-9_.:-]{1,64}\Z"  # \Z, not $: "$" lets a trailing newline through
MAX_CODE_LENGTH = 512


class VerificationRequestSchema(ma.Schema):
    code = ma.fields.String(required=True, validate=ma.validate.Length(1, MAX_CODE_LENGTH),
                            metadata={"description": "The text decoded from the QR code, as scanned"})
    scene = ma.fields.String(required=True, validate=ma.validate.OneOf(SCENE_NAMES))
    terminal_id = ma.fields.String(required=True, validate=ma.validate.Regexp(TERMINAL_ID),
                                   metadata={"description": "The scanning terminal's id (1-64 of A-Za-z0-9_.:-)"})


class VerificationSchema(ma.Schema):
    verification_id = ma.fields.String(required=True)
    accepted = ma.fields.Boolean(required=True)
    reason = ma.fields.String(required=True, allow_none=True, metadata={
        "description": "null when accepted, else code_invalid, code_expired, code_used, card_inactive or scene_not_permitted"})
    scene = ma.fields.String(required=True)
    subject = ma.fields.Dict(required=True, allow_none=True, metadata={
        "description": "What the scene may see; null unless accepted"})
    duplicate = ma.fields.Boolean(required=True, metadata={
        "description": "true when this terminal already sent this code within 60 s: the original answer"})


@blp.route("/verifications", methods=["POST"])
@blp.doc(security=[{"partnerSignature": []}])
@signed
@blp.arguments(VerificationRequestSchema)
@blp.response(200, VerificationSchema)
@error_responses(blp, {
    401: "Signature, timestamp, nonce or partner refused",
    422: "Invalid request body",
    503: "A backing service is unavailable; retry",
})
def create_verification(args: dict[str, Any]) -> Any:
    """Verify a scanned e-card code. Always 200 with ``accepted`` and ``reason`` once signed and valid."""
    return verify(runtime(), g.partner, POLICIES[args["scene"]], args["terminal_id"], args["code"])
