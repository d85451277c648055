"""GET /offline/trust-list and GET /offline/deny-list: what a gate holds to verify DGC2 codes with no
network (issue 16; docs/offline-codes.md §3). Signed partner requests; ETag and If-None-Match."""
from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import Response, request

from app.card.offline_lists import DENY_MAX_AGE, deny_answer, publish_trust_list
from app.platform.http_json import CardBlueprint
from app.platform.openapi import error_responses
from app.runtime import runtime

from .signing import signed

blp = CardBlueprint("partner_offline", __name__, url_prefix="/api/partner/v1",
                    description="Offline codes (DGC2): the trust list and the deny list gates hold (docs/offline-codes.md)")

SIGNED_ERRORS = {401: "Signature, timestamp, nonce or partner refused",
                 503: "offline_unavailable: the offline keys are not set up; or a backing service is unavailable"}
NOT_MODIFIED = {304: {"description": "Not modified: If-None-Match names the current version"}}
OCTETS = {"description": "The signed full list (b\"DGCD\") or delta (b\"DGCd\")",
          "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}


class TrustListSchema(ma.Schema):
    EXAMPLES = [{"payload": "eyJ2ZXJzaW9uIjo0MiwiaXNzdWVkX2F0IjoxNzc5MzcwMzAwLCJuZXh0X3VwZGF0ZSI6MTc3OTQ1NjcwMCwia2V5cyI6W119",
                 "root_kid": 1, "alg": "ed25519",
                 "signature": "fCmZ_a_lkyU81lSvTfrXFCegrrP-6SMvivIhH57kkcWxC-y1Vjv8Hm-TQn7LyP4pVeXNjkbcjtS3wnZNKlpNdg"}]

    payload = ma.fields.String(required=True, metadata={
        "description": 'base64url of the JSON {"version", "issued_at", "next_update", "keys": [{"kid", "alg", "public_key", '
                       '"not_before", "not_after"}], "deny_list_key": {"alg", "public_key"}}'})
    root_kid = ma.fields.Integer(required=True)
    alg = ma.fields.String(required=True, metadata={"enum": ["ed25519", "sm2"]})
    signature = ma.fields.String(required=True, metadata={
        "description": 'base64url of the root signature over b"DGC2/trust\\x00" + the payload bytes'})


class DenyListQuerySchema(ma.Schema):
    since = ma.fields.Integer(load_default=None, validate=ma.validate.Range(0, 0xFFFFFFFF), metadata={
        "description": "The version the gate holds: the answer is the signed delta from it (b\"DGCd\"), 304 when it is "
                       "current, or the full list when it is no longer kept"})


def _not_modified(etag: str) -> Response | None:
    return _unchanged(etag) if request.if_none_match.contains(etag) else None


@blp.route("/offline/trust-list", methods=["GET"])
@blp.doc(security=[{"partnerSignature": []}], responses=NOT_MODIFIED)
@signed
@blp.response(200, TrustListSchema)
@error_responses(blp, SIGNED_ERRORS)
def get_trust_list() -> Any:
    """The signed trust list (issuing keys and the deny-list key), a new version when the keys change
    and at least hourly. Fetch it hourly or at next_update."""
    published = publish_trust_list(runtime())
    cached = _not_modified(published.etag)
    if cached is not None:
        return cached
    response = Response(published.body, mimetype="application/json")
    response.set_etag(published.etag)
    return response


@blp.route("/offline/deny-list", methods=["GET"])
@blp.doc(security=[{"partnerSignature": []}], responses={**NOT_MODIFIED, 200: OCTETS})
@signed
@blp.arguments(DenyListQuerySchema, location="query")
@error_responses(blp, {**SIGNED_ERRORS, 422: "validation_error"})
def get_deny_list(args: dict[str, Any]) -> Any:
    """The signed deny list (b"DGCD": the serials of revoked, unexpired certificates), or with
    since=V the signed delta (b"DGCd"). A new version at least every minute, and with the
    pending revocations once the last version is 5 s old (a revocation is listed within about
    10 s). Each version is built and signed once and
    served from a per-version cache; Cache-Control public, max-age 5 lets nginx or a CDN serve it
    (docs/offline-codes.md §3). Poll every minute; a gate refuses offline codes with a list over
    15 minutes old."""
    answer = deny_answer(runtime(), args.get("since"))
    if answer.body is None or request.if_none_match.contains(answer.etag):
        return _unchanged(answer.etag, deny=True)
    response = Response(answer.body, mimetype="application/octet-stream")
    response.set_etag(answer.etag)
    response.cache_control.public, response.cache_control.max_age = True, DENY_MAX_AGE
    return response


def _unchanged(etag: str, deny: bool = False) -> Response:
    response = Response(status=304)
    response.set_etag(etag)
    if deny:
        response.cache_control.public, response.cache_control.max_age = True, DENY_MAX_AGE
    return response
