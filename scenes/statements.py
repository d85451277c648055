"""GET /verifications/{verification_id} (a partner reads one of its verifications back) and
GET /statements/{date} (the daily statement, 对账单, as JSON or as the signed CSV file):
app.scanning.statements, docs/partner-api.md "Reading back"."""
from __future__ import annotations

import re
from datetime import date
from typing import Any

import marshmallow as ma
from flask import Response, g

from app.platform.city_time import in_city_time
from app.platform.errors import AppError
from app.platform.http_json import CardBlueprint
from app.platform.openapi import error_responses
from app.runtime import runtime
from app.scanning.statements import EARLIEST_DAY, daily_statement, partner_verification

from .signing import signed

blp = CardBlueprint("partner_records", __name__, url_prefix="/api/partner/v1",
                    description="Partner API: reading verifications back, daily statements (docs/partner-api.md)")

VERIFICATION_ID = re.compile(r"vf_[0-9a-f]{24}\Z")
DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")
SIGNED_ERRORS = {401: "Signature, timestamp, nonce or partner refused",
                 422: "validation_error: a control character in the path"}
DAY_PARAMETER = {"in": "path", "name": "day", "required": True, "description": "A calendar day at +08:00, 2020-01-01 to today",
                 "schema": {"type": "string", "format": "date", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
                            "examples": ["2026-05-21"]}}


RECORD_EXAMPLE = {
    "verification_id": "vf_23360b7bf332b2d06b054a45", "verified_at": "2026-05-21T09:30:05+08:00", "terminal_id": "gate-A01",
    "scene": "transit", "carrier": "ecard", "direction": "entry", "accepted": True, "reason": None,
    "disclosed": ["settlement_token", "concession", "entry_verification_id"], "entry_verification_id": None,
    "record_id": None, "scanned_at": None}

CSV_EXAMPLE = ("verification_id,verified_at,terminal_id,scene,carrier,direction,accepted,reason,disclosed,entry_verification_id,record_id,"
               "scanned_at\nvf_23360b7bf332b2d06b054a45,2026-05-21T09:30:05+08:00,gate-A01,transit,ecard,entry,true,,"
               "settlement_token;concession;entry_verification_id,,,\n#signature,HMAC-SHA256,u2Jr9b1yq0lJ8mJ3yq8kTQ3p1x7m1b3y0F0mZg2q1sE=\n")


class VerificationRecordSchema(ma.Schema):
    EXAMPLES = [RECORD_EXAMPLE]

    verification_id = ma.fields.String(required=True, metadata={"examples": ["vf_23360b7bf332b2d06b054a45"]})
    verified_at = ma.fields.String(required=True, metadata={
        "format": "date-time", "description": "When it was recorded, at +08:00 (an offline record: when it was settled)",
        "examples": ["2026-05-21T09:30:00+08:00"]})
    terminal_id = ma.fields.String(required=True, metadata={"examples": ["gate-A01"]})
    scene = ma.fields.String(required=True, metadata={"examples": ["transit"]})
    carrier = ma.fields.String(required=True, metadata={"enum": ["ecard", "physical"], "description": "ecard: a scanned code"})
    direction = ma.fields.String(required=True, allow_none=True, metadata={"description": "Transit: entry or exit"})
    accepted = ma.fields.Boolean(required=True)
    reason = ma.fields.String(required=True, allow_none=True, metadata={"description": "null when accepted"})
    disclosed = ma.fields.List(ma.fields.String(), required=True, metadata={
        "description": "The subject's field names you were shown (their values are not kept, M-19)",
        "examples": [["settlement_token", "concession", "entry_verification_id"]]})
    entry_verification_id = ma.fields.String(required=True, allow_none=True, metadata={"description": "Transit exit: the linked entry"})
    record_id = ma.fields.String(required=True, allow_none=True, metadata={"description": "A settled offline record: your record_id"})
    scanned_at = ma.fields.String(required=True, allow_none=True, metadata={
        "format": "date-time", "description": "A settled offline record: the gate's scan time, at +08:00"})


class SceneTallySchema(ma.Schema):
    EXAMPLES = [{"scene": "transit", "accepted": 1, "refused": 0}]

    scene = ma.fields.String(required=True)
    accepted = ma.fields.Integer(required=True)
    refused = ma.fields.Integer(required=True)


class StatementTotalsSchema(ma.Schema):
    EXAMPLES = [{"count": 1, "accepted": 1, "refused": 0, "offline_settled": 0, "by_scene": SceneTallySchema.EXAMPLES}]

    count = ma.fields.Integer(required=True)
    accepted = ma.fields.Integer(required=True)
    refused = ma.fields.Integer(required=True)
    offline_settled = ma.fields.Integer(required=True, metadata={"description": "Rows that are settled offline records"})
    by_scene = ma.fields.List(ma.fields.Nested(SceneTallySchema), required=True)


class StatementSchema(ma.Schema):
    EXAMPLES = [{"date": "2026-05-21", "final": True, "verifications": [RECORD_EXAMPLE],
                 "totals": {"count": 1, "accepted": 1, "refused": 0, "offline_settled": 0,
                            "by_scene": [{"scene": "transit", "accepted": 1, "refused": 0}]},
                 "signature": "u2Jr9b1yq0lJ8mJ3yq8kTQ3p1x7m1b3y0F0mZg2q1sE="}]

    date = ma.fields.Date(required=True, metadata={"description": "The calendar day at +08:00"})
    final = ma.fields.Boolean(required=True, metadata={"description": "false while the day is not over: the statement may still grow"})
    verifications = ma.fields.List(ma.fields.Nested(VerificationRecordSchema), required=True)
    totals = ma.fields.Nested(StatementTotalsSchema, required=True)
    signature = ma.fields.String(required=True, metadata={
        "description": "base64 HMAC-SHA256 (your current secret) of the CSV form's bytes before its #signature line"})


def _parse_day(text: str) -> date:
    """``YYYY-MM-DD`` from 2020-01-01 to today (+08:00); 422 validation_error otherwise."""
    try:
        day = date.fromisoformat(text) if DAY.match(text) else None
    except ValueError:
        day = None
    today = in_city_time(runtime().clock.now()).date()
    if day is None or not EARLIEST_DAY <= day <= today:
        raise AppError("validation_error", 422, "date must be YYYY-MM-DD, from 2020-01-01 to today (+08:00)",
                       {"fields": {"path": {"date": ["YYYY-MM-DD, 2020-01-01 to today"]}}})
    return day


@blp.route("/verifications/<verification_id>", methods=["GET"])
@blp.doc(security=[{"partnerSignature": []}])
@signed
@blp.response(200, VerificationRecordSchema)
@error_responses(blp, {**SIGNED_ERRORS, 404: "verification_unknown: no verification with this id is yours"})
def get_verification(verification_id: str) -> Any:
    """One of your verifications, read back by its ``verification_id``: ``{"verification_id",
    "verified_at" (+08:00), "terminal_id", "scene", "carrier", "direction", "accepted", "reason",
    "disclosed", "entry_verification_id", "record_id", "scanned_at"}``. Another partner's id is 404
    ``verification_unknown``, like an id that does not exist. Sign the path, empty body."""
    found = partner_verification(g.partner.id, verification_id) if VERIFICATION_ID.match(verification_id) else None
    if found is None:
        raise AppError("verification_unknown", 404, "no verification with this id is yours")
    return found


@blp.route("/statements/<day>", methods=["GET"], parameters=[DAY_PARAMETER])
@blp.doc(security=[{"partnerSignature": []}])
@signed
@blp.response(200, StatementSchema)
@error_responses(blp, {**SIGNED_ERRORS, 422: "validation_error: day is not YYYY-MM-DD from 2020-01-01 to today, "
                                             "or holds a control character"})
def get_statement(day: str) -> Any:
    """The daily statement (对账单): your verifications on ``day`` (YYYY-MM-DD, at +08:00) oldest first,
    settled offline records included, with totals and the CSV form's signature. ``final`` is false
    for today. Sign the path, empty body."""
    statement = daily_statement(runtime(), g.partner, _parse_day(day))
    return {"date": statement.day, "final": statement.final, "verifications": statement.rows,
            "totals": statement.totals, "signature": statement.signature}


@blp.route("/statements/<day>.csv", methods=["GET"], parameters=[DAY_PARAMETER])
@blp.doc(security=[{"partnerSignature": []}], responses={200: {
    "description": "The statement file: CSV (UTF-8, a header row, then one row per verification) whose last line is "
                   "#signature,HMAC-SHA256,<base64 HMAC-SHA256 of every byte before that line, keyed by your current secret>",
    "content": {"text/csv": {"schema": {"type": "string"}, "example": CSV_EXAMPLE}}}})
@signed
@error_responses(blp, {**SIGNED_ERRORS, 422: "validation_error: day is not YYYY-MM-DD from 2020-01-01 to today, "
                                             "or holds a control character"})
def get_statement_csv(day: str) -> Any:
    """The daily statement as its signed CSV file (columns: app.scanning.statements.COLUMNS)."""
    statement = daily_statement(runtime(), g.partner, _parse_day(day))
    return Response(statement.csv, mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="statement-{g.partner.partner_id}-{statement.day}.csv"'})
