"""POST /offline/records (a gate's accepted offline scans, settled) and GET /offline/findings
(replays, clones, acceptances after a revocation): issue 16, docs/offline-codes.md "Records for
upload". Signed partner requests."""
from __future__ import annotations

from functools import wraps
from typing import Any

import marshmallow as ma
from flask import g, jsonify, request

from app.platform.errors import AppError
from app.platform.http_json import CardBlueprint, read_by_hand
from app.platform.openapi import error_responses
from app.runtime import runtime
from app.scanning.offline_records import MAX_RECORDS, STATUSES, findings, settle_records

from .registry import POLICIES, enabled_policy
from .signing import signed
from .views import nullable_subject

blp = CardBlueprint("partner_offline_records", __name__, url_prefix="/api/partner/v1",
                    description="Offline codes (DGC2): record upload and findings (docs/offline-codes.md)")

MAX_BODY_BYTES = 512 * 1024  # 1,000 records of ~430 bytes (SM2 codes, long ids); the other endpoints keep CARD_MAX_BODY_BYTES
SIGNED_ERRORS = {401: "Signature, timestamp, nonce or partner refused",
                 503: "A backing service is unavailable; retry (the same batch is idempotent by record_id)"}


def larger_body(view: Any) -> Any:
    """This endpoint only: a body up to :data:`MAX_BODY_BYTES` (Flask 3.1's per-request limit)."""
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        request.max_content_length = MAX_BODY_BYTES
        return view(*args, **kwargs)
    return wrapper


class OfflineRecordSchema(ma.Schema):
    """Documentation of one record; each is checked on its own (a malformed one is ``invalid``)."""

    record_id = ma.fields.String(required=True, metadata={"description": "1-64 of A-Za-z0-9_.:-, unique per partner"})
    terminal_id = ma.fields.String(required=True)
    scene = ma.fields.String(required=True, metadata={"enum": ["transit", "culture", "public_venue"]})
    direction = ma.fields.String(metadata={"enum": ["entry", "exit"]})
    scanned_at = ma.fields.Integer(required=True, metadata={"description": "Unix seconds (the gate's clock)"})
    code = ma.fields.String(required=True, metadata={"description": "The DGC2: text as scanned"})


class RecordsRequestSchema(ma.Schema):
    EXAMPLES = [{"records": [{"record_id": "gate-B07-20260521-000913", "terminal_id": "gate-B07", "scene": "transit", "direction": "entry",
                              "scanned_at": 1779324605, "code": "DGC2:JD4GF0MAV:VQROHLAR*43VHUHC387E000KG0AEREWB4.CFHKT"}]}]

    # Items are not typed in the contract: a malformed item (even a non-object) is answered
    # ``invalid`` and the others are processed (issue 16), so no item shape is a 422.
    records = ma.fields.List(ma.fields.Raw(allow_none=True, metadata={"description": "An OfflineRecord; anything else: invalid"}),
                             required=True, validate=ma.validate.Length(1, MAX_RECORDS))


class RecordResultSchema(ma.Schema):
    EXAMPLES = [{"record_id": "gate-B07-20260521-000913", "status": "settled", "verification_id": "vf_6a0c4e8b2d1f3a5c7e9b0d24",
                 "subject": {"settlement_token": "3f9c0a51d2e84b7aa1c6e0d95b2f4a17", "concession": "standard",
                             "entry_verification_id": None}},
                {"record_id": "gate-B07-20260521-000914", "status": "double_use", "verification_id": None, "subject": None}]

    record_id = ma.fields.String(required=True, allow_none=True)
    status = ma.fields.String(required=True, metadata={"enum": list(STATUSES)})
    verification_id = ma.fields.String(required=True, allow_none=True)
    subject = nullable_subject("The scene's subject (tokens exactly as online); null unless settled (or a duplicate of one)")


class RecordsSchema(ma.Schema):
    EXAMPLES = [{"results": RecordResultSchema.EXAMPLES}]

    results = ma.fields.List(ma.fields.Nested(RecordResultSchema), required=True)


def _policy(name: str) -> Any:
    if name not in POLICIES:
        return None
    try:
        return enabled_policy(name, runtime().config)
    except AppError:
        return None


RECORDS_REQUEST = RecordsRequestSchema()


def records_args() -> dict[str, Any]:
    """The body as ``RecordsRequestSchema`` loads it, read by hand when plainly valid (an object holding
    only ``records``, a list of 1-:data:`MAX_RECORDS` items: the schema's items are any JSON, so it
    returns the list as it is); anything else goes to the schema, whose refusals (400, 415, 422) are
    the answer. Issue 16: marshmallow's load and dump of 1,000 records cost 24 µs a record."""
    return read_by_hand(RECORDS_REQUEST, _plain_records)


def _plain_records(data: Any) -> dict[str, Any] | None:
    if type(data) is dict and data.keys() == {"records"} and type(data["records"]) is list \
            and 1 <= len(data["records"]) <= MAX_RECORDS:
        return data
    return None


@blp.route("/offline/records", methods=["POST"])
@larger_body
@blp.doc(security=[{"partnerSignature": []}])
@signed
@blp.documented(blp.arguments(RECORDS_REQUEST))  # read by hand: records_args
@blp.documented(blp.response(200, RecordsSchema))  # written by hand: Item.answer's four fields
@error_responses(blp, {**SIGNED_ERRORS, 422: "validation_error: not {\"records\": [1-1,000 items]}",
                        429: "too_many_invalid_records: over 10 uploads holding an invalid record in a minute; "
                             "retry after Retry-After (nothing of this batch was stored)",
                        503: "A backing service is unavailable, or a scene policy failed (scene_unavailable); nothing was "
                             "stored: retry the same batch (idempotent by record_id)"})
def post_records() -> Any:
    """Upload a gate's offline records (at most 1,000; body up to 512 KiB), idempotent by record_id. One
    result per record, in order: settled, duplicate_record, double_use, clone_suspect, revoked_at_scan,
    invalid or terminal_unknown."""
    return jsonify({"results": settle_records(runtime(), g.partner, records_args()["records"], _policy)})


class FindingsQuerySchema(ma.Schema):
    after = ma.fields.Integer(load_default=0, validate=ma.validate.Range(0, 2**62),
                              metadata={"description": "The last finding id seen (next_after of the previous page)"})
    limit = ma.fields.Integer(load_default=100, validate=ma.validate.Range(1, 1000))


class FindingSchema(ma.Schema):
    EXAMPLES = [{"id": 311, "kind": "clone", "serial": "9c41e07a2b5d83f6", "ctr": 57, "record_ids": ["gate-B07-20260521-000913"],
                 "lag_seconds": None, "detected_at": 1779326410}]

    id = ma.fields.Integer(required=True)
    kind = ma.fields.String(required=True, metadata={"enum": ["replay", "clone", "revoked_at_scan"]})
    serial = ma.fields.String(required=True, metadata={"description": "The certificate's serial, 16 hex digits"})
    ctr = ma.fields.Integer(required=True)
    record_ids = ma.fields.List(ma.fields.String(), required=True, metadata={
        "description": "Your records involved (the earlier one first when it was yours too)"})
    lag_seconds = ma.fields.Integer(required=True, allow_none=True, metadata={
        "description": "revoked_at_scan: seconds between the revocation and the scan"})
    detected_at = ma.fields.Integer(required=True)


class FindingsSchema(ma.Schema):
    EXAMPLES = [{"findings": FindingSchema.EXAMPLES, "next_after": 311}]

    findings = ma.fields.List(ma.fields.Nested(FindingSchema), required=True)
    next_after = ma.fields.Integer(required=True)


@blp.route("/offline/findings", methods=["GET"])
@blp.doc(security=[{"partnerSignature": []}])
@signed
@blp.arguments(FindingsQuerySchema, location="query")
@blp.response(200, FindingsSchema)
@error_responses(blp, {**SIGNED_ERRORS, 422: "validation_error"})
def get_findings(args: dict[str, Any]) -> Any:
    """Replays, clones and acceptances after a revocation found in your uploads, oldest first; page with after."""
    page = findings(g.partner, args["after"], args["limit"])
    return {"findings": [vars(f) for f in page], "next_after": page[-1].id if page else args["after"]}
