"""The partner bank API (M-10(8)): signed requests of partners holding the ``bank`` role.
GET /bank/applications (cards to produce or issue), POST /bank/card-reports (idempotent by
``request_id``), POST /bank/pin-checks (is this the card's PIN? M-26).
A chip reader's card read goes to POST /verifications (scenes/views.py)."""
from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import g

from app.card.bank_reports import BANK_EVENTS, CHANNELS, applications, report
from app.card.pin_checks import check_pin
from app.partners.partners import require_role
from app.platform.city_time import CityDateTime
from app.platform.http_json import CardBlueprint
from app.platform.openapi import error_responses
from app.platform.text import Text
from app.runtime import runtime

from .signing import signed

blp = CardBlueprint("partner_bank", __name__, url_prefix="/api/partner/v1",
                    description="Partner bank API: the physical card's life (docs/card-lifecycle.md)")

BANK_ERRORS = {401: "Signature, timestamp, nonce or partner refused", 403: "role_required: the partner is not a bank"}
PHYSICAL_STATES = ["applied", "produced", "issued", "activated", "suspended", "replaced", "recovered", "cancelled"]


class ApplicationsQuerySchema(ma.Schema):
    state = ma.fields.String(load_default="applied", validate=ma.validate.OneOf(PHYSICAL_STATES))
    limit = ma.fields.Integer(load_default=100, validate=ma.validate.Range(1, 500))


class FeeDecisionSchema(ma.Schema):
    EXAMPLES = [{"rule": "first_card", "fee_fen": 0, "payer": "bank"}, {"rule": "replacement", "fee_fen": 2000, "payer": "citizen"}]

    rule = ma.fields.String(required=True, metadata={"description": "first_card, technology_upgrade or replacement (M-24)"})
    fee_fen = ma.fields.Integer(required=True, metadata={"description": "What to charge, integer fen"})
    payer = ma.fields.String(required=True, metadata={"description": "citizen, or bank (the bank bears the cost)"})


class ApplicationSchema(ma.Schema):
    EXAMPLES = [{"application_id": "pc_5d1e8a93b07c42f6e1a9", "card_number": "4419000000000018", "holder_name": "陈小明",
                 "state": "applied", "technology": "gen3", "serial_number": None, "replaces_serial_number": None,
                 "applied_at": "2026-04-28T10:15:32+08:00", "fee": FeeDecisionSchema.EXAMPLES[0]}]

    application_id = ma.fields.String(required=True)
    card_number = ma.fields.String(required=True, metadata={"description": "Written to the chip"})
    holder_name = ma.fields.String(required=True, metadata={"description": "Printed on the card"})
    state = ma.fields.String(required=True)
    technology = ma.fields.String(required=True)
    serial_number = ma.fields.String(required=True, allow_none=True)
    replaces_serial_number = ma.fields.String(required=True, allow_none=True, metadata={"description": "The card it replaces, if any"})
    applied_at = CityDateTime(required=True)
    fee = ma.fields.Nested(FeeDecisionSchema, required=True, metadata={"description": "The fee the city decided (M-24): charge this"})


class ApplicationsSchema(ma.Schema):
    EXAMPLES = [{"items": ApplicationSchema.EXAMPLES}]

    items = ma.fields.List(ma.fields.Nested(ApplicationSchema), required=True)


class CardReportRequestSchema(ma.Schema):
    EXAMPLES = [{"request_id": "icbc-dg-20260505-000183", "application_id": "pc_5d1e8a93b07c42f6e1a9", "event": "produced",
                 "serial_number": "A0260512847021"},
                {"request_id": "icbc-dg-20260512-000417", "application_id": "pc_5d1e8a93b07c42f6e1a9", "event": "issued",
                 "issued_on": "2026-05-12"},
                {"request_id": "icbc-dg-20260521-000052", "application_id": "pc_5d1e8a93b07c42f6e1a9", "event": "loss_reported",
                 "channel": "hotline"},
                {"request_id": "icbc-dg-20260522-000090", "application_id": "pc_5d1e8a93b07c42f6e1a9", "event": "replacement",
                 "accepted_fee_fen": 2000}]

    request_id = ma.fields.String(required=True, validate=ma.validate.Regexp(r"[A-Za-z0-9_.:-]{8,64}\Z"), metadata={
        "description": "The bank's id for this report (8-64 of A-Za-z0-9_.:-): a retry with it never applies twice",
        "pattern": "^[A-Za-z0-9_.:-]{8,64}$"})
    application_id = Text(load_default=None, validate=ma.validate.Length(1, 32), metadata={
        "description": "The physical card reported on (every event but counter_application)"})
    event = ma.fields.String(required=True, validate=ma.validate.OneOf(BANK_EVENTS))
    channel = ma.fields.String(load_default=None, validate=ma.validate.OneOf(CHANNELS), metadata={
        "description": "loss_reported: where the holder reported the loss (the bank's counter or its hotline)"})
    accepted_fee_fen = ma.fields.Integer(load_default=None, strict=True, validate=ma.validate.Range(0, 10_000_000), metadata={
        "description": "replacement, counter_application: the fee (integer fen) shown to the resident; "
                       "409 fee_not_accepted with the city's decision when it differs"})
    id_number = Text(load_default=None, load_only=True, validate=ma.validate.Length(1, 32), metadata={
        "description": "counter_application: the resident's ID number (GB 11643-1999) from the document checked at the counter"})
    serial_number = ma.fields.String(load_default=None, validate=ma.validate.Regexp(r"[A-Za-z0-9]{6,32}\Z"), metadata={
        "description": "produced: the card's serial number (6-32 of A-Za-z0-9)", "pattern": "^[A-Za-z0-9]{6,32}$"})
    issued_on = ma.fields.Date(load_default=None, metadata={"description": "issued: the issue date (default: today, Asia/Shanghai)"})
    contact_phone = Text(load_default=None, validate=ma.validate.Length(1, 20),
                         metadata={"description": "information_changed: the holder's new contact phone"})
    reason = Text(load_default=None, validate=ma.validate.Length(1, 200))


class CardReportSchema(ma.Schema):
    EXAMPLES = [{"request_id": "icbc-dg-20260521-000052", "application_id": "pc_5d1e8a93b07c42f6e1a9", "event": "loss_reported",
                 "state": "suspended", "replayed": False},
                {"request_id": "icbc-dg-20260522-000090", "application_id": "pc_a27f04c9e1d3b58e6f20", "event": "replacement",
                 "state": "applied", "fee": FeeDecisionSchema.EXAMPLES[1], "replaces_application_id": "pc_5d1e8a93b07c42f6e1a9",
                 "replayed": False}]

    request_id = ma.fields.String(required=True)
    application_id = ma.fields.String(required=True, metadata={
        "description": "The card reported on; for replacement and counter_application the new application"})
    event = ma.fields.String(required=True)
    state = ma.fields.String(required=True, metadata={"description": "The physical card's state after the report"})
    fee = ma.fields.Nested(FeeDecisionSchema, allow_none=True, metadata={
        "description": "replacement, counter_application: the city's fee decision for the new card"})
    replaces_application_id = ma.fields.String(allow_none=True, metadata={"description": "replacement: the card replaced"})
    replayed = ma.fields.Boolean(required=True, metadata={"description": "true: this request_id was already applied; the first answer"})


@blp.route("/bank/applications", methods=["GET"])
@blp.doc(security=[{"partnerSignature": []}])
@signed
@blp.arguments(ApplicationsQuerySchema, location="query")
@blp.response(200, ApplicationsSchema)
@error_responses(blp, {**BANK_ERRORS, 422: "validation_error"})
def get_applications(args: dict[str, Any]) -> Any:
    """This bank's physical cards in ``state`` (default ``applied``), oldest first."""
    require_role(g.partner, "bank")
    return {"items": applications(runtime(), g.partner, args["state"], args["limit"])}


@blp.route("/bank/card-reports", methods=["POST"])
@blp.doc(security=[{"partnerSignature": []}])
@signed
@blp.arguments(CardReportRequestSchema)
@blp.response(200, CardReportSchema)
@error_responses(blp, {**BANK_ERRORS, 404: "card_not_found: no card with this application_id issued by this bank",
                       409: "illegal_transition (details.state), request_id_reused, serial_in_use, physical_card_exists, "
                            "fee_not_accepted (details: rule, fee_fen, payer) or card_cancelled",
                       403: "role_required: the partner is not a bank; not_insured (counter_application, M-5)",
                       422: "validation_error (e.g. serial_number missing for produced, channel for loss_reported)"})
def post_card_report(args: dict[str, Any]) -> Any:
    """Report production, issuance, activation, recovery, cancellation or an information change
    (M-10(8)), and what happened at the bank's counter or hotline (issue 17 item 7): a loss
    (``loss_reported`` with ``channel``), a ``replacement`` or a ``counter_application`` (with
    ``accepted_fee_fen``; the answer's ``fee`` is the city's decision). Errors besides those
    listed: 403 ``not_insured`` (counter_application: M-5), 409 ``physical_card_exists``,
    ``fee_not_accepted`` (details: ``rule``, ``fee_fen``, ``payer``), ``card_cancelled``."""
    require_role(g.partner, "bank")
    return report(runtime(), g.partner, args)


class PinCheckRequestSchema(ma.Schema):
    EXAMPLES = [{"serial_number": "A0260512847021", "pin": "395174"}]

    serial_number = ma.fields.String(required=True, validate=ma.validate.Regexp(r"[A-Za-z0-9]{6,32}\Z"), metadata={
        "description": "The card's serial number (6-32 of A-Za-z0-9)", "pattern": "^[A-Za-z0-9]{6,32}$"})
    pin = ma.fields.String(required=True, load_only=True, validate=ma.validate.Regexp(r"[0-9]{6}\Z"), metadata={
        "description": "The 6 digits the holder typed; never stored or logged", "pattern": "^[0-9]{6}$"})


class PinCheckSchema(ma.Schema):
    EXAMPLES = [{"match": True, "attempts_left": 3}, {"match": False, "attempts_left": 1}]

    match = ma.fields.Boolean(required=True, metadata={"description": "true: the PIN is the card's"})
    attempts_left = ma.fields.Integer(required=True, metadata={"description": "Wrong PINs still allowed today for this card (3 a day)"})


@blp.route("/bank/pin-checks", methods=["POST"])
@blp.doc(security=[{"partnerSignature": []}])
@signed
@blp.arguments(PinCheckRequestSchema)
@blp.response(200, PinCheckSchema)
@error_responses(blp, {**BANK_ERRORS, 404: "card_not_found: no card with this serial number issued by this bank",
                       409: "card_not_usable (details.state: not activated, lost, replaced, cancelled) or pin_not_set",
                       422: "validation_error", 429: "too_many_attempts: 3 wrong PINs a day per card (Retry-After)"})
def post_pin_check(args: dict[str, Any]) -> Any:
    """Whether ``pin`` is the PIN of the activated card ``serial_number`` issued by this bank (M-26).
    Every check is counted before it is evaluated; a match does not use up an attempt."""
    require_role(g.partner, "bank")
    return check_pin(runtime(), g.partner, args["serial_number"], args["pin"])
