"""The signed partner API for paying with the card (M-4, M-20, M-23.2, M-23.7; docs/payments.md):
merchants (role ``merchant``) charge, void and refund; banks (role ``bank``) pull pending charges
and confirm them debited or declined; both read their daily clearing statements."""
from __future__ import annotations

from datetime import date
from typing import Any

import marshmallow as ma
from flask import Response, g

from app.money.charge_bank import MAX_CONFIRMATIONS, OUTCOMES, ChargeConfirmation, confirm_charges, pending_charges
from app.money.charge_reversals import confirm_reversals, pending_reversals
from app.money.charges import MAX_AMOUNT_FEN, ChargeRequest, create_charge
from app.money.clearing import PARTIES, is_cleared, statement
from app.money.fares import fare_table, rules_from, set_fare_table
from app.money.models import Charge
from app.money.refunds import refund_charge, void_charge
from app.partners.partners import require_role
from app.platform.city_time import CityDateTime, in_city_time
from app.platform.db import db
from app.platform.errors import AppError
from app.platform.http_json import CardBlueprint
from app.platform.openapi import error_responses
from app.platform.text import Text
from app.runtime import runtime
from app.scanning.charge_targets import partner_verification_row
from app.scanning.statements import EARLIEST_DAY, sign

from .rides import ride_for, verified_of
from .signing import signed

blp = CardBlueprint("partner_payments", __name__, url_prefix="/api/partner/v1",
                    description="Paying with the card: charges, voids, refunds, bank confirmations, clearing (docs/payments.md)")

SIGNED_DOC = {"security": [{"partnerSignature": []}]}
KEY = {"validate": ma.validate.Regexp(r"[A-Za-z0-9_.:-]{8,64}\Z"),
       "metadata": {"description": "Yours, 8-64 of A-Za-z0-9_.:-: a retry with it never charges twice",
                    "pattern": "^[A-Za-z0-9_.:-]{8,64}$"}}
AUTH = {401: "Signature, timestamp, nonce or partner refused"}


def _role(role: str) -> dict[int, str]:
    return {**AUTH, 403: f"role_required: the partner lacks the {role} role"}


class ChargeRequestSchema(ma.Schema):
    EXAMPLES = [{"verification_id": "vf_4e7a1c9d0b2f3a5c6e8d0f12", "description": "鸿福路站-东城站 单程",
                 "idempotency_key": "dgmetro-20260521-7731904"},
                {"verification_id": "vf_0d6c2b8e4f1a3c5e7a9b0d2f", "amount_fen": 1500, "description": "门诊挂号费",
                 "idempotency_key": "dgph-his-20260520-551208"},
                {"record_id": "gate-B07-20260521-000913", "amount_fen": 200, "description": "公交 2路",
                 "idempotency_key": "dgbus-20260521-0913"},
                {"verification_id": "vf_9f1b3d5e7a0c2e4f6b8d0a13", "amount_fen": 68000, "description": "住院预交金", "password": "739146",
                 "idempotency_key": "dgph-his-20260521-551377"}]

    verification_id = ma.fields.String(load_default=None, validate=ma.validate.Regexp(r"vf_[0-9a-f]{24}\Z"), metadata={
        "description": "Your accepted verification of the holder (or give record_id)", "pattern": "^vf_[0-9a-f]{24}$"})
    record_id = Text(load_default=None, validate=ma.validate.Length(1, 64), metadata={
        "description": "A settled offline record of yours (its record_id), instead of verification_id"})
    amount_fen = ma.fields.Integer(load_default=None, strict=True, validate=ma.validate.Range(1, MAX_AMOUNT_FEN), metadata={
        "description": "Whole fen (1 yuan = 100 fen), 1 or more; omit only on a transit exit: the fare is computed from the entry"})
    description = Text(required=True, validate=ma.validate.Length(1, 100), metadata={"description": "Shown to the holder"})
    idempotency_key = ma.fields.String(required=True, **KEY)
    password = ma.fields.String(load_default=None, load_only=True, validate=ma.validate.Regexp(r"[0-9]{6}\Z"), metadata={
        "description": "The holder's e-card password (6 digits), needed above the city's password-free amount; never stored"})

    @ma.validates_schema
    def _one_target(self, data: dict[str, Any], **_: Any) -> None:
        if (data.get("verification_id") is None) == (data.get("record_id") is None):
            raise ma.ValidationError("give exactly one of verification_id and record_id", "verification_id")


class ChargeSchema(ma.Schema):
    EXAMPLES = [{"charge_id": 52817, "verification_id": "vf_4e7a1c9d0b2f3a5c6e8d0f12", "scene": "transit", "amount_fen": 300,
                 "description": "鸿福路站-东城站 单程", "status": "pending", "refunded_fen": 0,
                 "fare": {"base_fen": 300, "km": 4.83, "fare_class": "standard", "paid_percent": 100, "transfer_discount_fen": 0,
                          "max_fare_fen": 900, "unfinished": False, "entry_verification_id": "vf_23360b7bf332b2d06b054a45"},
                 "created_at": "2026-05-21T09:58:41+08:00", "cleared": False, "replayed": False},
                {"charge_id": 52790, "verification_id": "vf_0d6c2b8e4f1a3c5e7a9b0d2f", "scene": "medical", "amount_fen": 1500,
                 "description": "门诊挂号费", "status": "pending", "refunded_fen": 0, "fare": None,
                 "created_at": "2026-05-20T15:13:02+08:00", "cleared": False, "replayed": True}]

    charge_id = ma.fields.Integer(required=True)
    verification_id = ma.fields.String(required=True)
    scene = ma.fields.String(required=True)
    amount_fen = ma.fields.Integer(required=True)
    description = ma.fields.String(required=True)
    status = ma.fields.String(required=True, metadata={"enum": ["pending", "debited", "declined", "voided"]})
    refunded_fen = ma.fields.Integer(required=True)
    fare = ma.fields.Raw(required=True, allow_none=True, metadata={"description": "Transit: how the fare was made"})
    created_at = CityDateTime(required=True)
    cleared = ma.fields.Boolean(required=True, metadata={"description": "true: in a clearing statement; void no more, refund"})
    replayed = ma.fields.Boolean(required=True, metadata={"description": "true: this idempotency_key was used before; the first charge"})


def _charge(charge: Charge, replayed: bool = False) -> dict[str, Any]:
    import json

    return {"charge_id": charge.id, "verification_id": charge.verification_id, "scene": charge.scene,
            "amount_fen": charge.amount_fen, "description": charge.description, "status": charge.status,
            "refunded_fen": charge.refunded_fen, "fare": json.loads(charge.fare) if charge.fare else None,
            "created_at": charge.created_at, "cleared": charge.status != "pending" and is_cleared(charge.id),  # pending: never debited
            "replayed": replayed}


@blp.route("/charges", methods=["POST"])
@blp.doc(**SIGNED_DOC)
@signed
@blp.arguments(ChargeRequestSchema)
@blp.response(200, ChargeSchema)
@error_responses(blp, {**AUTH, 403: "role_required (merchant), password_required, password_not_set, proxy_charge_not_allowed",
                       404: "verification_unknown",
                       409: "verification_refused, verification_too_old, no_financial_account, payment_debt, "
                            "verification_already_charged, idempotency_key_reused, daily_limit_reached",
                       422: "validation_error, scene_not_chargeable, amount_over_scene_limit, fare_not_computable, password_wrong",
                       429: "password_locked"})
def post_charge(args: dict[str, Any]) -> Any:
    """Charge the holder of one of your accepted verifications (or settled offline records): at most
    one charge per verification, the scene's and the card's daily limits, the e-card password above
    the password-free amount. The charge is ``pending`` until the holder's bank debits it."""
    require_role(g.partner, "merchant")
    request = ChargeRequest(args["idempotency_key"], args["description"], args["amount_fen"], args["password"])
    rt = runtime()
    row = partner_verification_row(g.partner.id, args["verification_id"], args["record_id"])
    verified = verified_of(row) if row is not None else None
    ride = ride_for(rt, g.partner, row) if row is not None and row.direction == "exit" else None
    charge, replayed = create_charge(rt, g.partner, request, verified, ride)
    return _charge(charge, replayed)


def _own(charge_id: int) -> Charge:
    charge = db.session.get(Charge, charge_id) if 0 < charge_id < 2**62 else None
    if charge is None or charge.merchant_partner_id != g.partner.id:
        raise AppError("charge_unknown", 404, "no charge of yours with this id")
    return charge


@blp.route("/charges/<int:charge_id>", methods=["GET"])
@blp.doc(**SIGNED_DOC)
@signed
@blp.response(200, ChargeSchema)
@error_responses(blp, {**_role("merchant"), 404: "charge_unknown"})
def get_charge(charge_id: int) -> Any:
    """One of your charges, as it stands now."""
    require_role(g.partner, "merchant")
    return _charge(_own(charge_id))


@blp.route("/charges/<int:charge_id>/void", methods=["POST"])
@blp.doc(**SIGNED_DOC)
@signed
@blp.response(200, ChargeSchema)
@error_responses(blp, {**_role("merchant"), 404: "charge_unknown", 409: "charge_cleared: refund it instead"})
def post_void(charge_id: int) -> Any:
    """Void the charge before clearing (the gate did not open): exactly once; a repeat answers
    the voided charge with ``replayed`` true. Empty body."""
    require_role(g.partner, "merchant")
    charge, applied = void_charge(runtime(), g.partner.id, _own(charge_id).id)
    return _charge(charge, not applied)


class RefundRequestSchema(ma.Schema):
    EXAMPLES = [{"amount_fen": 300, "idempotency_key": "dgmetro-refund-20260522-0041", "reason": "闸机重复扣费"}]

    amount_fen = ma.fields.Integer(required=True, strict=True, validate=ma.validate.Range(1, MAX_AMOUNT_FEN),
                                   metadata={"description": "Whole fen to give back, at most what is left of the charge"})
    idempotency_key = ma.fields.String(required=True, **KEY)
    reason = Text(load_default=None, validate=ma.validate.Length(1, 200))


class RefundSchema(ma.Schema):
    EXAMPLES = [{"refund_id": 7304, "charge_id": 52817, "amount_fen": 300, "refunded_fen": 300, "replayed": False}]

    refund_id = ma.fields.Integer(required=True)
    charge_id = ma.fields.Integer(required=True)
    amount_fen = ma.fields.Integer(required=True)
    refunded_fen = ma.fields.Integer(required=True, metadata={"description": "The charge's refunds in all, now"})
    replayed = ma.fields.Boolean(required=True)


@blp.route("/charges/<int:charge_id>/refunds", methods=["POST"])
@blp.doc(**SIGNED_DOC)
@signed
@blp.arguments(RefundRequestSchema)
@blp.response(200, RefundSchema)
@error_responses(blp, {**_role("merchant"), 404: "charge_unknown", 422: "validation_error",
                       409: "charge_not_refundable, refund_exceeds_charge (details.refundable_fen), idempotency_key_reused"})
def post_refund(args: dict[str, Any], charge_id: int) -> Any:
    """Refund all or part of a debited charge, once per ``idempotency_key``; refunds never pass the charge's amount."""
    require_role(g.partner, "merchant")
    result = refund_charge(runtime(), g.partner.id, _own(charge_id).id, args["amount_fen"], args["idempotency_key"], args["reason"])
    return result.__dict__


class BankChargeQuerySchema(ma.Schema):
    after = ma.fields.Integer(load_default=0, validate=ma.validate.Range(0, 2**62),
                              metadata={"description": "The last charge_id of the previous page (0: from the start)"})
    limit = ma.fields.Integer(load_default=100, validate=ma.validate.Range(1, 500))


class PendingChargeSchema(ma.Schema):
    EXAMPLES = [{"charge_id": 52817, "account_number": "6222021234567890123", "amount_fen": 300, "merchant": "东莞轨道交通2号线",
                 "description": "鸿福路站-东城站 单程", "debt_repayment": False, "created_at": "2026-05-21T09:58:41+08:00"}]

    charge_id = ma.fields.Integer(required=True)
    account_number = ma.fields.String(required=True, metadata={"description": "Your customer's account to debit"})
    amount_fen = ma.fields.Integer(required=True)
    merchant = ma.fields.String(required=True)
    description = ma.fields.String(required=True)
    debt_repayment = ma.fields.Boolean(required=True, metadata={"description": "true: declined before; the holder pays it off now"})
    created_at = CityDateTime(required=True)


class BankChargePageSchema(ma.Schema):
    EXAMPLES = [{"items": PendingChargeSchema.EXAMPLES}]

    items = ma.fields.List(ma.fields.Nested(PendingChargeSchema), required=True)


@blp.route("/bank/charges", methods=["GET"])
@blp.doc(**SIGNED_DOC)
@signed
@blp.arguments(BankChargeQuerySchema, location="query")
@blp.response(200, BankChargePageSchema)
@error_responses(blp, {**_role("bank"), 422: "validation_error"})
def get_bank_charges(args: dict[str, Any]) -> Any:
    """Pending charges on accounts this bank holds, in charge_id order after ``after``."""
    require_role(g.partner, "bank")
    return {"items": pending_charges(runtime(), g.partner.id, args["after"], args["limit"])}


class ChargeConfirmationItemSchema(ma.Schema):
    EXAMPLES = [{"charge_id": 52817, "outcome": "debited"}, {"charge_id": 52790, "outcome": "declined", "reason": "insufficient_funds"}]

    charge_id = ma.fields.Integer(required=True, strict=True, validate=ma.validate.Range(1, 2**62))
    outcome = ma.fields.String(required=True, validate=ma.validate.OneOf(OUTCOMES))
    reason = Text(load_default=None, validate=ma.validate.Length(1, 200),
                  metadata={"description": "Why the bank declined it (required when declined), e.g. insufficient_funds"})

    @ma.validates_schema
    def _reason_when_declined(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("outcome") == "declined" and not data.get("reason"):
            raise ma.ValidationError("a declined charge needs a reason", "reason")


class ChargeConfirmationsRequestSchema(ma.Schema):
    EXAMPLES = [{"confirmations": ChargeConfirmationItemSchema.EXAMPLES}]

    confirmations = ma.fields.List(ma.fields.Nested(ChargeConfirmationItemSchema), required=True,
                                   validate=ma.validate.Length(1, MAX_CONFIRMATIONS))

    @ma.validates_schema
    def _each_charge_once(self, data: dict[str, Any], **_: Any) -> None:
        ids = [item["charge_id"] for item in data.get("confirmations", [])]
        if len(ids) != len(set(ids)):
            raise ma.ValidationError("a charge may be confirmed once per request", "confirmations")


class ChargeConfirmationResultSchema(ma.Schema):
    EXAMPLES = [{"charge_id": 52817, "result": "applied", "status": "debited"},
                {"charge_id": 52790, "result": "unchanged", "status": "declined"}]

    charge_id = ma.fields.Integer(required=True)
    result = ma.fields.String(required=True, metadata={"enum": ["applied", "unchanged", "conflict", "unknown"]})
    status = ma.fields.String(required=True, allow_none=True, metadata={"description": "The charge's status now"})


class ChargeConfirmationsSchema(ma.Schema):
    EXAMPLES = [{"results": ChargeConfirmationResultSchema.EXAMPLES}]

    results = ma.fields.List(ma.fields.Nested(ChargeConfirmationResultSchema), required=True)


@blp.route("/bank/charge-confirmations", methods=["POST"])
@blp.doc(**SIGNED_DOC)
@signed
@blp.arguments(ChargeConfirmationsRequestSchema)
@blp.response(200, ChargeConfirmationsSchema)
@error_responses(blp, {**_role("bank"), 422: "validation_error (also: a charge_id named twice)"})
def post_charge_confirmations(args: dict[str, Any]) -> Any:
    """Report charges debited or declined (with a reason): each moves once. ``unchanged`` on a
    repeat, ``conflict`` for the other outcome or a charge voided meanwhile (do not debit it;
    credit it back if you did), ``unknown`` for charges not on your accounts."""
    require_role(g.partner, "bank")
    items = [ChargeConfirmation(item["charge_id"], item["outcome"], item["reason"]) for item in args["confirmations"]]
    return {"results": confirm_charges(runtime(), g.partner.id, items)}


class BankReversalQuerySchema(BankChargeQuerySchema):
    after = ma.fields.Integer(load_default=0, validate=ma.validate.Range(0, 2**62),
                              metadata={"description": "The last reversal_id of the previous page (0: from the start)"})


class PendingReversalSchema(ma.Schema):
    EXAMPLES = [{"reversal_id": 120391, "charge_id": 52817, "kind": "refund", "account_number": "6222021234567890123",
                 "amount_fen": 300, "merchant": "东莞轨道交通2号线", "created_at": "2026-05-22T11:40:27+08:00"}]

    reversal_id = ma.fields.Integer(required=True, metadata={"description": "Confirm this id once credited"})
    charge_id = ma.fields.Integer(required=True, metadata={"description": "The charge you debited"})
    kind = ma.fields.String(required=True, metadata={"enum": ["void", "refund"]})
    account_number = ma.fields.String(required=True, metadata={"description": "Your customer's account to credit back (the one debited)"})
    amount_fen = ma.fields.Integer(required=True, metadata={"description": "Whole fen to credit back"})
    merchant = ma.fields.String(required=True)
    created_at = CityDateTime(required=True)


class BankReversalPageSchema(ma.Schema):
    EXAMPLES = [{"items": PendingReversalSchema.EXAMPLES}]

    items = ma.fields.List(ma.fields.Nested(PendingReversalSchema), required=True)


@blp.route("/bank/reversals", methods=["GET"])
@blp.doc(**SIGNED_DOC)
@signed
@blp.arguments(BankReversalQuerySchema, location="query")
@blp.response(200, BankReversalPageSchema)
@error_responses(blp, {**_role("bank"), 422: "validation_error"})
def get_bank_reversals(args: dict[str, Any]) -> Any:
    """Voids of charges you debited and refunds, on accounts you hold, not yet confirmed: credit
    each back to the account and confirm it (``POST /bank/reversal-confirmations``); in
    reversal_id order after ``after``. Clearing nets them too (docs/payments.md)."""
    require_role(g.partner, "bank")
    return {"items": pending_reversals(runtime(), g.partner.id, args["after"], args["limit"])}


class ReversalConfirmationsRequestSchema(ma.Schema):
    EXAMPLES = [{"reversal_ids": [120391, 120402]}]

    reversal_ids = ma.fields.List(ma.fields.Integer(strict=True, validate=ma.validate.Range(1, 2**62)), required=True,
                                  validate=ma.validate.Length(1, MAX_CONFIRMATIONS))

    @ma.validates_schema
    def _no_repeats(self, data: dict[str, Any], **_: Any) -> None:
        if len(set(data.get("reversal_ids", []))) != len(data.get("reversal_ids", [])):
            raise ma.ValidationError("a reversal_id is named twice", "reversal_ids")


class ReversalResultSchema(ma.Schema):
    EXAMPLES = [{"reversal_id": 120391, "result": "applied"}, {"reversal_id": 120402, "result": "unchanged"}]

    reversal_id = ma.fields.Integer(required=True)
    result = ma.fields.String(required=True, metadata={"enum": ["applied", "unchanged", "unknown"]})


class ReversalConfirmationsSchema(ma.Schema):
    EXAMPLES = [{"results": ReversalResultSchema.EXAMPLES}]

    results = ma.fields.List(ma.fields.Nested(ReversalResultSchema), required=True)


@blp.route("/bank/reversal-confirmations", methods=["POST"])
@blp.doc(**SIGNED_DOC)
@signed
@blp.arguments(ReversalConfirmationsRequestSchema)
@blp.response(200, ReversalConfirmationsSchema)
@error_responses(blp, {**_role("bank"), 422: "validation_error (also: a reversal_id named twice)"})
def post_reversal_confirmations(args: dict[str, Any]) -> Any:
    """Report reversals credited back to your customers: each is confirmed once (``applied``); a
    repeat answers ``unchanged``; ``unknown`` for ids that are not reversals on your accounts."""
    require_role(g.partner, "bank")
    return {"results": confirm_reversals(runtime(), g.partner.id, args["reversal_ids"])}


class ClearingQuerySchema(ma.Schema):
    party = ma.fields.String(load_default=None, validate=ma.validate.OneOf(PARTIES), metadata={
        "description": "merchant or bank: which of your statements (needed only when you hold both roles)"})


class ClearingRowSchema(ma.Schema):
    EXAMPLES = [{"entry_id": 120344, "kind": "debit", "charge_id": 52817, "merchant": "p_3b7d1f5a9c2e4b60", "bank": "p_8c2e4a6b0d1f3e57",
                 "amount_fen": 300, "net_fen": 300, "created_at": "2026-05-22T02:10:05+08:00"},
                {"entry_id": 120391, "kind": "refund", "charge_id": 52817, "merchant": "p_3b7d1f5a9c2e4b60", "bank": "p_8c2e4a6b0d1f3e57",
                 "amount_fen": 300, "net_fen": -300, "created_at": "2026-05-22T11:40:27+08:00"}]

    entry_id = ma.fields.Integer(required=True)
    kind = ma.fields.String(required=True, metadata={"enum": ["debit", "debt_paid", "void", "refund"]})
    charge_id = ma.fields.Integer(required=True)
    merchant = ma.fields.String(required=True, metadata={"description": "The merchant's partner_id"})
    bank = ma.fields.String(required=True, metadata={"description": "The bank's partner_id"})
    amount_fen = ma.fields.Integer(required=True)
    net_fen = ma.fields.Integer(required=True, metadata={"description": "What the entry adds to what the bank pays the merchant"})
    created_at = ma.fields.String(required=True, metadata={"format": "date-time"})


class ClearingTotalsSchema(ma.Schema):
    EXAMPLES = [{"entries": 2, "gross_fen": 300, "reversed_fen": 300, "fee_fen": 0, "net_fen": 0}]

    entries = ma.fields.Integer(required=True)
    gross_fen = ma.fields.Integer(required=True, metadata={"description": "Debits and debts paid"})
    reversed_fen = ma.fields.Integer(required=True, metadata={"description": "Voids after a debit, refunds"})
    fee_fen = ma.fields.Integer(required=True)
    net_fen = ma.fields.Integer(required=True, metadata={"description": "gross - reversed - fee"})

CLEARING_CSV_EXAMPLE = ("entry_id,kind,charge_id,merchant,bank,amount_fen,net_fen,created_at\n"
                        "120344,debit,52817,p_3b7d1f5a9c2e4b60,p_8c2e4a6b0d1f3e57,300,300,2026-05-22T02:10:05+08:00\n"
                        "120391,refund,52817,p_3b7d1f5a9c2e4b60,p_8c2e4a6b0d1f3e57,300,-300,2026-05-22T11:40:27+08:00\n"
                        "#totals,entries=2,gross_fen=300,reversed_fen=300,fee_fen=0,net_fen=0\n"
                        "#signature,HMAC-SHA256,k8Jw2vQ1cX9mT4rZ7bN0yH5sL3dF6gA1eU8iO2qP4t0=\n")


class ClearingStatementSchema(ma.Schema):
    EXAMPLES = [{"date": "2026-05-22", "party": "merchant", "entries": ClearingRowSchema.EXAMPLES,
                 "totals": ClearingTotalsSchema.EXAMPLES[0], "signature": "k8Jw2vQ1cX9mT4rZ7bN0yH5sL3dF6gA1eU8iO2qP4t0="}]

    date = ma.fields.Date(required=True)
    party = ma.fields.String(required=True)
    entries = ma.fields.List(ma.fields.Nested(ClearingRowSchema), required=True)
    totals = ma.fields.Nested(ClearingTotalsSchema, required=True)
    signature = ma.fields.String(required=True, metadata={"description": "base64 HMAC-SHA256 (your current secret) of the CSV form"})


def _party(requested: str | None) -> str:
    held = [party for party in PARTIES if party in g.partner.roles]
    if not held:
        raise AppError("role_required", 403, "clearing statements are for merchants and banks")
    if requested is None and len(held) > 1:
        raise AppError("validation_error", 422, "you hold both roles: say party=merchant or party=bank",
                       {"fields": {"query": {"party": ["required"]}}})
    party = requested or held[0]
    if party not in held:
        raise AppError("role_required", 403, f"this statement needs the {party} role")
    return party


def _day(text: str) -> date:
    try:
        day = date.fromisoformat(text) if len(text) == 10 else None
    except ValueError:
        day = None
    if day is None or not EARLIEST_DAY <= day <= in_city_time(runtime().clock.now()).date():
        raise AppError("validation_error", 422, "day must be YYYY-MM-DD, from 2020-01-01 to today (+08:00)",
                       {"fields": {"path": {"day": ["YYYY-MM-DD, 2020-01-01 to today"]}}})
    return day


@blp.route("/clearing-statements/<day>", methods=["GET"])
@blp.doc(**SIGNED_DOC)
@signed
@blp.arguments(ClearingQuerySchema, location="query")
@blp.response(200, ClearingStatementSchema)
@error_responses(blp, {**AUTH, 403: "role_required (merchant or bank)", 422: "validation_error"})
def get_clearing_statement(args: dict[str, Any], day: str) -> Any:
    """Your clearing statement of ``day`` (YYYY-MM-DD, +08:00): the ledger entries cleared, with
    totals (net = gross - reversed - fee) and the signature of the CSV form. Empty before the run."""
    found = statement(_party(args["party"]), g.partner.id, _day(day))
    return {"date": found.day, "party": found.party, "entries": found.rows, "totals": found.totals(),
            "signature": sign(g.partner.secrets[0], found.csv())}


@blp.route("/clearing-statements/<day>.csv", methods=["GET"])
@blp.doc(**SIGNED_DOC, responses={200: {"description": "The statement as CSV, ending in #totals and #signature lines",
                                        "content": {"text/csv": {"schema": {"type": "string"}, "example": CLEARING_CSV_EXAMPLE}}}})
@signed
@blp.arguments(ClearingQuerySchema, location="query")
@error_responses(blp, {**AUTH, 403: "role_required (merchant or bank)", 422: "validation_error"})
def get_clearing_statement_csv(args: dict[str, Any], day: str) -> Any:
    """The clearing statement as a CSV file whose last line is ``#signature,HMAC-SHA256,<base64>``."""
    found = statement(_party(args["party"]), g.partner.id, _day(day))
    body = found.csv()
    return Response(body + f"#signature,HMAC-SHA256,{sign(g.partner.secrets[0], body)}\n".encode(), mimetype="text/csv")


FARE_FEN = ma.validate.Range(0, 100_000)


class FareBandSchema(ma.Schema):
    EXAMPLES = [{"up_to_km": 6, "fare_fen": 300}, {"up_to_km": 12, "fare_fen": 400}]

    up_to_km = ma.fields.Float(required=True, allow_nan=False, validate=ma.validate.Range(0.1, 1000),
                               metadata={"description": "Rides up to this great-circle distance (km) between the gates"})
    fare_fen = ma.fields.Integer(required=True, strict=True, validate=FARE_FEN)


class FareTableSchema(ma.Schema):
    EXAMPLES = [{"mode": "distance", "flat_fen": 0, "bands": [{"up_to_km": 6, "fare_fen": 300}, {"up_to_km": 12, "fare_fen": 400}],
                 "max_fare_fen": 900, "concessions": {"senior": 50, "elder": 0, "disabled": 0},
                 "transfer_window_minutes": 90, "transfer_discount_fen": 100}]

    mode = ma.fields.String(required=True, validate=ma.validate.OneOf(["flat", "distance"]))
    flat_fen = ma.fields.Integer(load_default=0, strict=True, validate=FARE_FEN, metadata={"description": "flat: every ride's fare"})
    bands = ma.fields.List(ma.fields.Nested(FareBandSchema), load_default=list, validate=ma.validate.Length(0, 50),
                           metadata={"description": "distance: rising up_to_km; beyond the last band, the maximum fare"})
    max_fare_fen = ma.fields.Integer(required=True, strict=True, validate=ma.validate.Range(1, 100_000), metadata={
        "description": "No ride costs more; an unknown distance or an entry without exit costs this"})
    concessions = ma.fields.Dict(keys=ma.fields.String(validate=ma.validate.Regexp(r"[a-z_]{1,32}\Z")),
                                 values=ma.fields.Integer(strict=True, validate=ma.validate.Range(0, 100)), load_default=dict,
                                 metadata={"description": "Percent of the fare paid per fare class (the transit subject's concession): "
                                                          "standard, disabled or a CARD_CONCESSION_AGES category (another is 422)"})
    transfer_window_minutes = ma.fields.Integer(load_default=0, strict=True, validate=ma.validate.Range(0, 1440))
    transfer_discount_fen = ma.fields.Integer(load_default=0, strict=True, validate=FARE_FEN)

    @ma.validates_schema
    def _shape(self, data: dict[str, Any], **_: Any) -> None:
        try:
            rules_from(data)
        except ValueError as exc:
            raise ma.ValidationError(str(exc), "bands") from None


@blp.route("/fare-table", methods=["PUT"])
@blp.doc(**SIGNED_DOC)
@signed
@blp.arguments(FareTableSchema)
@blp.response(200, FareTableSchema)
@error_responses(blp, {**AUTH, 403: "role_required (merchant), scene_not_allowed (transit operators only)", 422: "validation_error"})
def put_fare_table(args: dict[str, Any]) -> Any:
    """Set your fare table (a transit operator): the fare of a ride charged on its exit without
    ``amount_fen`` is computed from it (docs/payments.md "Transit")."""
    require_role(g.partner, "merchant")
    if "transit" not in g.partner.scenes:
        raise AppError("scene_not_allowed", 403, "fare tables are for transit operators")
    _known_fare_classes(args["concessions"])
    rules = rules_from(args)
    set_fare_table(runtime(), g.partner.id, rules)
    return rules.as_json()


def _known_fare_classes(concessions: dict[str, int]) -> None:
    """422 ``validation_error`` for a concession key that is no fare class: a misspelt class
    (``senoir``) would otherwise be stored and its holders charged the full fare (a trial found it)."""
    classes = {"standard", "disabled", *(category for category, _ in runtime().config["CARD_CONCESSION_AGES"])}
    unknown = sorted(set(concessions) - classes)
    if unknown:
        reason = "not a fare class: " + ", ".join(sorted(classes))
        raise AppError("validation_error", 422, "request validation failed",
                       {"fields": {"json": {"concessions": {key: [reason] for key in unknown}}}})


@blp.route("/fare-table", methods=["GET"])
@blp.doc(**SIGNED_DOC)
@signed
@blp.response(200, FareTableSchema)
@error_responses(blp, {**_role("merchant"), 404: "fare_table_unknown"})
def get_fare_table() -> Any:
    """Your fare table as stored."""
    require_role(g.partner, "merchant")
    rules = fare_table(g.partner.id)
    if rules is None:
        raise AppError("fare_table_unknown", 404, "you have not set a fare table")
    return rules.as_json()
