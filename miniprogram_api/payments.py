"""GET /payments, GET /payments/summary and POST /payments/{charge_id}/pay-off: the holder's
charges, what is owed, and paying a declined charge off (docs/payments.md "For citizens")."""
from __future__ import annotations

from typing import Any

import marshmallow as ma

from app.card.devices import bound_card
from app.money.charge_bank import present_again
from app.money.payment_history import MAX_PAGE, list_payments, monthly_summary
from app.platform.city_time import CityDateTime
from app.platform.http_json import CardBlueprint
from app.platform.openapi import error_responses
from app.platform.text import Text
from app.runtime import runtime

from .security import BEARER_DOC, current_account

blp = CardBlueprint("mp_payments", __name__, url_prefix="/api/mp/v1", description="Paying with the card: charges, debts, notices")

AUTH_ERRORS = {401: "token_missing / token_invalid", 403: "not_bound"}


class PaymentQuerySchema(ma.Schema):
    limit = ma.fields.Integer(load_default=20, validate=ma.validate.Range(1, MAX_PAGE))
    cursor = Text(load_default=None, validate=ma.validate.Length(1, 200))


class PaymentItemSchema(ma.Schema):
    EXAMPLES = [{"charge_id": 52817, "verification_id": "vf_4e7a1c9d0b2f3a5c6e8d0f12", "merchant": "东莞轨道交通2号线",
                 "description": "鸿福路站-东城站 单程", "scene": "transit", "amount_fen": 300, "refunded_fen": 0, "status": "debited",
                 "decline_reason": None, "notices": [], "created_at": "2026-05-21T09:58:41+08:00",
                 "settled_at": "2026-05-22T02:10:05+08:00"},
                {"charge_id": 52790, "verification_id": "vf_0d6c2b8e4f1a3c5e7a9b0d2f", "merchant": "东莞市人民医院",
                 "description": "门诊挂号费", "scene": "medical", "amount_fen": 1500, "refunded_fen": 0, "status": "declined",
                 "decline_reason": "余额不足", "notices": ["declined"], "created_at": "2026-05-20T15:13:02+08:00",
                 "settled_at": "2026-05-21T02:10:07+08:00"}]

    charge_id = ma.fields.Integer(required=True, metadata={
        "description": "Name it (charge_id) in POST /complaints to dispute the charge"})
    verification_id = ma.fields.String(required=True, metadata={"description": "The scan the charge was made on"})
    merchant = ma.fields.String(required=True)
    description = ma.fields.String(required=True)
    scene = ma.fields.String(required=True)
    amount_fen = ma.fields.Integer(required=True, metadata={"description": "Fen (1 yuan = 100 fen)"})
    refunded_fen = ma.fields.Integer(required=True)
    status = ma.fields.String(required=True, metadata={"enum": ["pending", "debited", "declined", "voided"]})
    decline_reason = ma.fields.String(required=True, allow_none=True, metadata={"description": "The bank's reason, when declined"})
    notices = ma.fields.List(ma.fields.String(), required=True, metadata={
        "description": "large_charge (above the city's notice amount), declined"})
    created_at = CityDateTime(required=True)
    settled_at = CityDateTime(required=True, allow_none=True)


class PaymentPageSchema(ma.Schema):
    EXAMPLES = [{"items": PaymentItemSchema.EXAMPLES, "next_cursor": None, "debt_fen": 1500}]

    items = ma.fields.List(ma.fields.Nested(PaymentItemSchema), required=True)
    next_cursor = ma.fields.String(required=True, allow_none=True)
    debt_fen = ma.fields.Integer(required=True, metadata={
        "description": "What you owe on declined charges; while above 0 the card cannot pay (pay it off)"})


class MonthTotalSchema(ma.Schema):
    EXAMPLES = [{"month": "2026-05", "charges": 38, "paid_fen": 11400, "refunded_fen": 300},
                {"month": "2026-04", "charges": 44, "paid_fen": 13200, "refunded_fen": 0}]

    month = ma.fields.String(required=True, metadata={"description": "YYYY-MM (Asia/Shanghai)"})
    charges = ma.fields.Integer(required=True)
    paid_fen = ma.fields.Integer(required=True, metadata={"description": "Debited, net of refunds"})
    refunded_fen = ma.fields.Integer(required=True)


class PaymentSummarySchema(ma.Schema):
    EXAMPLES = [{"months": MonthTotalSchema.EXAMPLES}]

    months = ma.fields.List(ma.fields.Nested(MonthTotalSchema), required=True)


class PayOffSchema(ma.Schema):
    EXAMPLES = [{"charge_id": 52790, "status": "pending"}]

    charge_id = ma.fields.Integer(required=True)
    status = ma.fields.String(required=True, metadata={"description": "pending: sent to your bank again"})


@blp.route("/payments", methods=["GET"])
@blp.doc(**BEARER_DOC)
@blp.arguments(PaymentQuerySchema, location="query")
@blp.response(200, PaymentPageSchema)
@error_responses(blp, {**AUTH_ERRORS, 422: "cursor_invalid or validation_error"})
def get_payments(args: dict[str, Any]) -> Any:
    """Your card's charges newest first (cursor pages), their notices, and what you owe."""
    return list_payments(current_account(), args["limit"], args["cursor"])


@blp.route("/payments/summary", methods=["GET"])
@blp.doc(**BEARER_DOC)
@blp.response(200, PaymentSummarySchema)
@error_responses(blp, AUTH_ERRORS)
def get_payment_summary() -> Any:
    """What you paid per month (the last 12 months), net of refunds."""
    return {"months": monthly_summary(current_account(), runtime().clock.now())}


@blp.route("/payments/<int:charge_id>/pay-off", methods=["POST"])
@blp.doc(**BEARER_DOC)
@blp.response(200, PayOffSchema)
@error_responses(blp, {**AUTH_ERRORS, 404: "charge_unknown", 409: "charge_not_owed, no_financial_account"})
def post_pay_off(charge_id: int) -> Any:
    """Pay off a declined charge: it goes to your bank again; when the bank debits it, the card
    can pay again. A repeat while the bank has not answered changes nothing."""
    card = bound_card(current_account())
    return {"charge_id": charge_id, "status": present_again(runtime(), card.citizen_id, charge_id)}
