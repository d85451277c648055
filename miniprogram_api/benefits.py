"""GET /benefits, GET /benefits/summary, GET /accounts, POST /subscriptions, and the holder's consent that a bank
may register the benefit account, POST /card/financial-account/consents[/code] (docs/benefits.md)."""
from __future__ import annotations

from datetime import date
from typing import Any

import marshmallow as ma

from app.money.benefits import MAX_PAGE, benefit_summary, card_accounts, checked_filter, list_benefits
from app.money.financial_accounts import consent, send_consent_code
from app.money.notifications import SUBSCRIPTION_RESULTS, record_subscription
from app.platform.city_time import CityDateTime
from app.platform.http_json import CardBlueprint
from app.platform.openapi import error_responses
from app.platform.text import Text
from app.runtime import runtime

from .security import BEARER_DOC, current_account

blp = CardBlueprint("mp_benefits", __name__, url_prefix="/api/mp/v1", description="Benefits received and the card's accounts")

AUTH_ERRORS = {401: "token_missing / token_invalid", 403: "not_bound"}


# Postings exist from the platform's start; the bounds keep every date convertible to an instant.
POSTING_DATES = ma.validate.Range(date(2000, 1, 1), date(2099, 12, 31))


class BenefitQuerySchema(ma.Schema):
    start = ma.fields.Date(data_key="from", load_default=None, validate=POSTING_DATES,
                           metadata={"description": "First posting date (Asia/Shanghai), YYYY-MM-DD, 2000-01-01 to 2099-12-31"})
    end = ma.fields.Date(data_key="to", load_default=None, validate=POSTING_DATES,
                         metadata={"description": "Last posting date, inclusive, 2000-01-01 to 2099-12-31"})
    benefit_type = Text(data_key="type", load_default=None, validate=ma.validate.Length(1, 32),
                        metadata={"description": "Only this benefit type (docs/benefits.md)"})
    limit = ma.fields.Integer(load_default=20, validate=ma.validate.Range(1, MAX_PAGE))
    cursor = Text(load_default=None, validate=ma.validate.Length(1, 200))


class BenefitItemSchema(ma.Schema):
    EXAMPLES = [{"disbursement_id": 90317, "benefit_type": "pension", "amount_fen": 150000, "period": "2026-05", "status": "credited",
                 "return_reason": None, "department": "市人力资源和社会保障局", "posted_at": "2026-05-08T10:02:17+08:00",
                 "settled_at": "2026-05-09T09:15:40+08:00"},
                {"disbursement_id": 88204, "benefit_type": "elderly_allowance", "amount_fen": 20000, "period": "2026-04",
                 "status": "returned", "return_reason": "账户已销户", "department": "市民政局", "posted_at": "2026-04-10T10:00:03+08:00",
                 "settled_at": "2026-04-11T16:42:09+08:00"}]

    disbursement_id = ma.fields.Integer(required=True)
    benefit_type = ma.fields.String(required=True)
    amount_fen = ma.fields.Integer(required=True, metadata={"description": "Fen (1 yuan = 100 fen)"})
    period = ma.fields.String(required=True, metadata={"description": "The month covered, YYYY-MM"})
    status = ma.fields.String(required=True, metadata={"enum": ["pending", "credited", "returned"]})
    return_reason = ma.fields.String(required=True, allow_none=True)
    department = ma.fields.String(required=True)
    posted_at = CityDateTime(required=True)
    settled_at = CityDateTime(required=True, allow_none=True)


class BenefitPageSchema(ma.Schema):
    EXAMPLES = [{"items": BenefitItemSchema.EXAMPLES, "next_cursor": "MjAyNi0wNC0xMFQwMjowMDowMyswMDowMHw4ODIwNA=="}]

    items = ma.fields.List(ma.fields.Nested(BenefitItemSchema), required=True)
    next_cursor = ma.fields.String(required=True, allow_none=True)


class YearTotalSchema(ma.Schema):
    EXAMPLES = [{"year": 2026, "benefit_type": "pension", "lines": 5, "credited_fen": 600000, "pending_fen": 150000, "returned_fen": 0},
                {"year": 2026, "benefit_type": "elderly_allowance", "lines": 4, "credited_fen": 60000, "pending_fen": 0,
                 "returned_fen": 20000}]

    year = ma.fields.Integer(required=True, metadata={"description": "The year of the period covered"})
    benefit_type = ma.fields.String(required=True)
    lines = ma.fields.Integer(required=True)
    credited_fen = ma.fields.Integer(required=True)
    pending_fen = ma.fields.Integer(required=True)
    returned_fen = ma.fields.Integer(required=True)


class SummarySchema(ma.Schema):
    EXAMPLES = [{"totals": YearTotalSchema.EXAMPLES}]

    totals = ma.fields.List(ma.fields.Nested(YearTotalSchema), required=True)


class CardFinancialAccountSchema(ma.Schema):
    EXAMPLES = [{"bank_name": "中国工商银行东莞分行", "account_number_masked": "**** 0123", "opened_at": "2026-03-02T11:20:45+08:00"}]

    bank_name = ma.fields.String(required=True)
    account_number_masked = ma.fields.String(required=True, metadata={"description": "Last four digits only"})
    opened_at = CityDateTime(required=True)


class MedicalStatementEntrySchema(ma.Schema):
    EXAMPLES = [{"date": "2026-05-18", "description": "东莞市人民医院 门诊 药费", "amount_fen": -4230},
                {"date": "2026-05-01", "description": "个人账户 5月划入", "amount_fen": 18650}]

    date = ma.fields.String(required=True)
    description = ma.fields.String(required=True)
    amount_fen = ma.fields.Integer(required=True)


class MedicalInsuranceSchema(ma.Schema):
    EXAMPLES = [{"balance_fen": 325870, "as_of": "2026-05-20T02:00:00+08:00", "statement": MedicalStatementEntrySchema.EXAMPLES}]

    balance_fen = ma.fields.Integer(required=True)
    as_of = CityDateTime(required=True, metadata={"description": "As last reported by the medical-insurance bureau"})
    statement = ma.fields.List(ma.fields.Nested(MedicalStatementEntrySchema), required=True)


class AccountsSchema(ma.Schema):
    EXAMPLES = [{"financial_account": CardFinancialAccountSchema.EXAMPLES[0], "medical_insurance": MedicalInsuranceSchema.EXAMPLES[0]},
                {"financial_account": None, "medical_insurance": None}]

    financial_account = ma.fields.Nested(CardFinancialAccountSchema, required=True, allow_none=True)
    medical_insurance = ma.fields.Nested(MedicalInsuranceSchema, required=True, allow_none=True)


class SubscriptionRequestSchema(ma.Schema):
    EXAMPLES = [{"template_id": "Xo3l9n1bQz7ZC2dHn6kUqf4T1pWc8yRj0aM5sVeEgLk", "result": "accept"}]

    template_id = ma.fields.String(required=True, validate=ma.validate.Regexp(r"[A-Za-z0-9_-]{1,64}\Z"),
                                   metadata={"pattern": "^[A-Za-z0-9_-]{1,64}$"})
    result = ma.fields.String(required=True, validate=ma.validate.OneOf(SUBSCRIPTION_RESULTS),
                              metadata={"description": "What wx.requestSubscribeMessage answered for this template"})


class SubscriptionSchema(ma.Schema):
    EXAMPLES = [{"template_id": "Xo3l9n1bQz7ZC2dHn6kUqf4T1pWc8yRj0aM5sVeEgLk", "remaining": 3}]

    template_id = ma.fields.String(required=True)
    remaining = ma.fields.Integer(required=True, metadata={"description": "Messages this template may still send"})


@blp.route("/benefits", methods=["GET"])
@blp.doc(**BEARER_DOC)
@blp.arguments(BenefitQuerySchema, location="query")
@blp.response(200, BenefitPageSchema)
@error_responses(blp, {**AUTH_ERRORS, 422: "cursor_invalid, date_range_invalid, benefit_type_unknown or validation_error"})
def get_benefits(args: dict[str, Any]) -> Any:
    """The citizen's benefit lines (M-22, M-23.7), newest first, paginated by ``cursor``."""
    where = checked_filter(runtime(), args["start"], args["end"], args["benefit_type"])
    return list_benefits(current_account(), args["limit"], args["cursor"], where)


@blp.route("/benefits/summary", methods=["GET"])
@blp.doc(**BEARER_DOC)
@blp.response(200, SummarySchema)
@error_responses(blp, AUTH_ERRORS)
def get_summary() -> Any:
    """Totals per benefit type per year (of the period covered), in fen per status."""
    return {"totals": benefit_summary(current_account())}


@blp.route("/accounts", methods=["GET"])
@blp.doc(**BEARER_DOC)
@blp.response(200, AccountsSchema)
@error_responses(blp, AUTH_ERRORS)
def get_accounts() -> Any:
    """The card's financial account (masked) and medical-insurance personal account with its as-of time (M-21)."""
    return card_accounts(runtime(), current_account())


@blp.route("/subscriptions", methods=["POST"])
@blp.doc(**BEARER_DOC)
@blp.arguments(SubscriptionRequestSchema)
@blp.response(200, SubscriptionSchema)
@error_responses(blp, {401: "token_missing / token_invalid", 422: "validation_error"})
def post_subscription(args: dict[str, Any]) -> Any:
    """Record the citizen's answer to a subscribe-message request (accept: one more message allowed)."""
    remaining = record_subscription(runtime(), current_account(), args["template_id"], args["result"])
    return {"template_id": args["template_id"], "remaining": remaining}


class ConsentCodeRequestSchema(ma.Schema):
    EXAMPLES = [{"bank_partner_id": "p_8c2e4a6b0d1f3e57"}]

    bank_partner_id = Text(required=True, validate=ma.validate.Length(1, 64),
                           metadata={"description": "The bank (GET /card/banks) that may register the benefit account"})


class ConsentCodeSchema(ma.Schema):
    EXAMPLES = [{"expires_in": 600}]

    expires_in = ma.fields.Integer(required=True, metadata={"description": "Seconds the code is valid"})


class ConsentRequestSchema(ConsentCodeRequestSchema):
    EXAMPLES = [{"bank_partner_id": "p_8c2e4a6b0d1f3e57", "sms_code": "204816"}]

    sms_code = ma.fields.String(required=True, validate=ma.validate.Regexp(r"[0-9]{6}\Z"),
                                metadata={"pattern": "^[0-9]{6}$", "description": "The code sent to the card's contact phone"})


class ConsentSchema(ma.Schema):
    EXAMPLES = [{"bank_partner_id": "p_8c2e4a6b0d1f3e57", "expires_at": "2026-06-20T09:30:05+08:00"}]

    bank_partner_id = ma.fields.String(required=True)
    expires_at = CityDateTime(required=True, metadata={"description": "The bank may register once until then"})


@blp.route("/card/financial-account/consents/code", methods=["POST"])
@blp.doc(**BEARER_DOC)
@blp.arguments(ConsentCodeRequestSchema)
@blp.response(200, ConsentCodeSchema)
@error_responses(blp, {**AUTH_ERRORS, 422: "bank_unknown or validation_error", 429: "too_many_codes: one a minute",
                       503: "sms_unavailable: the SMS gateway did not take the code (details.reason; Retry-After)"})
def post_consent_code(args: dict[str, Any]) -> Any:
    """Send a code by SMS to the card's contact phone, to confirm that this bank may register the benefit account."""
    return {"expires_in": send_consent_code(runtime(), current_account(), args["bank_partner_id"])}


@blp.route("/card/financial-account/consents", methods=["POST"])
@blp.doc(**BEARER_DOC)
@blp.arguments(ConsentRequestSchema)
@blp.response(201, ConsentSchema)
@error_responses(blp, {**AUTH_ERRORS, 422: "sms_code_invalid, bank_unknown or validation_error"})
def post_consent(args: dict[str, Any]) -> Any:
    """Allow this bank to register (once, within 30 days) the card's financial account (M-21)."""
    expires = consent(runtime(), current_account(), args["bank_partner_id"], args["sms_code"])
    return {"bank_partner_id": args["bank_partner_id"], "expires_at": expires}
