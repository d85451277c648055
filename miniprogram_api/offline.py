"""POST /card/offline/challenge, POST /card/offline/certificates: DGC2 device certificates (issue 16,
docs/offline-codes.md §6). The body of the second is what miniprogram/dgc2's ``certificateRequest`` makes."""
from __future__ import annotations

from typing import Any

import marshmallow as ma

from app.card.offline_certificates import challenge, issue
from app.platform.http_json import CardBlueprint
from app.platform.openapi import error_responses
from app.platform.text import Text
from app.runtime import runtime

from .card import SeedRequestSchema
from .security import BEARER_DOC, current_account

blp = CardBlueprint("mp_offline", __name__, url_prefix="/api/mp/v1",
                    description="Offline codes (DGC2): device certificates (docs/offline-codes.md)")

B64URL = r"[A-Za-z0-9_-]{1,200}\Z"
B64URL_DOC = "^[A-Za-z0-9_-]{1,200}$"


def _b64url(description: str) -> Text:
    return Text(required=True, validate=ma.validate.Regexp(B64URL), metadata={"description": description, "pattern": B64URL_DOC})


class ChallengeRequestSchema(SeedRequestSchema):
    """The installation id the mini-program sent to POST /card/seed: the e-card must be on it."""

    EXAMPLES = [{"installation_id": "mp-7f3c9a2e41b64d0e"}]


class ChallengeSchema(ma.Schema):
    EXAMPLES = [{"nonce": "pU3KGCUwux1tEyze1iN7Lg", "server_time": 1779370355}]

    nonce = ma.fields.String(required=True, metadata={"description": "base64url of 16 random bytes; valid 120 s, once"})
    server_time = ma.fields.Integer(required=True, metadata={"description": "Unix seconds: the phone's clock offset"})


class CertificateRequestSchema(ma.Schema):
    EXAMPLES = [{"nonce": "pU3KGCUwux1tEyze1iN7Lg", "alg": "ed25519", "device_public_key": "2R4_ch_LGXEXRJTWSTydXDRgvjEgHmn-2qDu6LmZf1w",
                 "proof": "fCmZ_a_lkyU81lSvTfrXFCegrrP-6SMvivIhH57kkcWxC-y1Vjv8Hm-TQn7LyP4pVeXNjkbcjtS3wnZNKlpNdg"}]

    nonce = _b64url("The challenge's nonce")
    alg = ma.fields.String(required=True, validate=ma.validate.OneOf(["ed25519", "sm2"]))
    device_public_key = _b64url("A fresh device key: Ed25519 32 bytes, SM2 33-byte compressed point (base64url)")
    proof = _b64url('The device signature over b"DGC2/pop\\x00" + nonce + device_public_key (base64url, 64 bytes)')


class CertificateSchema(ma.Schema):
    EXAMPLES = [{"certificate": "dwb4XYaQAkrWvaNAG-nIy8zJNfbNH2EiauFTOK4aNABNM7oNJGrATIGxuvI-O_nu9fefK0k0r4f1UgtpuUsNmC6Fu1W2cqhyY3rNdGb8t"
                                "g4Oj_GEY7DksropcDR08GSsaPcA9bArPcZm9FveqizK7c0rUVdBDk0",
                 "serial": "9c41e07a2b5d83f6", "not_before": 1779370355, "expires": 1779456755}]

    certificate = ma.fields.String(required=True, metadata={"description": "base64url of the code's bytes 0-118 (SM2 0-119)"})
    serial = ma.fields.String(required=True, metadata={"description": "16 hex digits"})
    not_before = ma.fields.Integer(required=True, metadata={"description": "Unix seconds"})
    expires = ma.fields.Integer(required=True, metadata={"description": "Unix seconds (24 h after not_before)"})


class CertificatesSchema(ma.Schema):
    EXAMPLES = [{"certificates": CertificateSchema.EXAMPLES, "server_time": 1779370355, "refresh_after": 1779413555}]

    certificates = ma.fields.List(ma.fields.Nested(CertificateSchema), required=True)
    server_time = ma.fields.Integer(required=True, metadata={"description": "Unix seconds: t = phone clock + offset"})
    refresh_after = ma.fields.Integer(required=True, metadata={"description": "Unix seconds: ask for a new certificate after this"})


@blp.route("/card/offline/challenge", methods=["POST"])
@blp.doc(**BEARER_DOC)
@blp.arguments(ChallengeRequestSchema)
@blp.response(200, ChallengeSchema)
@error_responses(blp, {
    401: "token_missing / token_invalid",
    403: "not_bound",
    429: "too_many_requests: 60 challenges per account per hour",
})
def post_challenge(args: dict[str, Any]) -> Any:
    """A nonce for one certificate request from this installation."""
    return challenge(runtime(), current_account(), args["installation_id"])


@blp.route("/card/offline/certificates", methods=["POST"])
@blp.doc(**BEARER_DOC)
@blp.arguments(CertificateRequestSchema)
@blp.response(200, CertificatesSchema)
@error_responses(blp, {
    401: "token_missing / token_invalid",
    403: "not_bound / card_inactive (suspended or cancelled) / installation_not_current",
    409: "too_many_certificates: the device holds 2 unexpired certificates",
    422: "challenge_invalid / proof_invalid / alg_unsupported / validation_error",
    429: "too_many_requests: 40 requests per account per hour",
    503: "offline_unavailable: the offline keys are not set up",
})
def post_certificates(args: dict[str, Any]) -> Any:
    """A 24-hour device certificate for a fresh device key (proof of possession over the challenge's nonce)."""
    return issue(runtime(), current_account(), args["nonce"], args["alg"], args["device_public_key"], args["proof"])
