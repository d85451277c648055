"""Complaints and the access log (M-14, M-25): file, list, follow up, rate; who looked at my data."""
from __future__ import annotations

from typing import Any

import marshmallow as ma

from app.card.devices import bound_card
from app.money.payment_history import charge_verification
from app.platform.city_time import CityDateTime
from app.platform.http_json import CardBlueprint
from app.platform.openapi import error_responses
from app.platform.text import Text
from app.runtime import runtime
from app.service_desk.access_log import access_log_page
from app.service_desk.complaints import add_citizen_message, file_complaint, own_complaints, rate
from app.service_desk.models import TICKET_KINDS

from .security import BEARER_DOC, current_account

blp = CardBlueprint("mp_complaints", __name__, url_prefix="/api/mp/v1", description="Complaints and the access log")

AUTH_ERRORS = {401: "token_missing / token_invalid", 403: "not_bound"}
TICKET_ERRORS = {**AUTH_ERRORS, 404: "complaint_not_found: not one of your complaints"}


class CategorySchema(ma.Schema):
    EXAMPLES = [{"key": "code", "label": "电子码"}, {"key": "verification", "label": "验证与刷码"}]

    key = ma.fields.String(required=True)
    label = ma.fields.String(required=True, metadata={"description": "Chinese display text"})


class ComplaintRequestSchema(ma.Schema):
    EXAMPLES = [{"category": "verification", "description": "5月21日早上在鸿福路站进站时闸机提示二维码已使用，但我当天第一次进站。",
                 "verification_id": "vf_8b1e0c2d4f6a8b0c2d4e6f80"},
                {"category": "code", "kind": "consultation", "description": "请问电子社保卡二维码可以在没有网络时使用吗？"},
                {"category": "verification", "description": "同一趟地铁被扣了两次车费。", "charge_id": 52817}]

    category = Text(required=True, validate=ma.validate.Length(1, 32),
                    metadata={"description": "A key from GET /complaint-categories"})
    description = Text(multiline=True, required=True, validate=ma.validate.Length(1, 2000))
    kind = ma.fields.String(load_default="complaint", validate=ma.validate.OneOf(TICKET_KINDS), metadata={
        "description": "complaint (投诉, default) or consultation (咨询: a question); same queue and deadlines"})
    verification_id = Text(load_default=None, allow_none=True, validate=ma.validate.Length(1, 32),
                           metadata={"description": "One of your verifications the complaint is about"})
    charge_id = ma.fields.Integer(load_default=None, strict=True, validate=ma.validate.Range(1, 2**62), metadata={
        "description": "To dispute one of your charges (GET /payments): the complaint is linked to its verification"})


class MessageSchema(ma.Schema):
    EXAMPLES = [{"author": "citizen", "body": "5月21日早上在鸿福路站进站时闸机提示二维码已使用，但我当天第一次进站。",
                 "created_at": "2026-05-21T09:41:12+08:00"},
                {"author": "agent", "body": "您好，已核实为闸机重复上送，相关记录已更正，给您带来不便深表歉意。",
                 "created_at": "2026-05-21T14:05:37+08:00"}]

    author = ma.fields.String(required=True, metadata={"enum": ["citizen", "agent", "department", "system"]})
    body = ma.fields.String(required=True)
    created_at = CityDateTime(required=True)


class ComplaintSchema(ma.Schema):
    EXAMPLES = [{"ticket_number": "CS20260521-4F7K2Q", "category": "verification", "kind": "complaint",
                 "description": "5月21日早上在鸿福路站进站时闸机提示二维码已使用，但我当天第一次进站。",
                 "verification_id": "vf_8b1e0c2d4f6a8b0c2d4e6f80", "status": "answered", "created_at": "2026-05-21T09:41:12+08:00",
                 "first_response_due": "2026-05-22T09:41:12+08:00", "resolution_due": "2026-05-26T09:41:12+08:00", "closed_at": None,
                 "rating": None, "messages": MessageSchema.EXAMPLES}]

    ticket_number = ma.fields.String(required=True)
    category = ma.fields.String(required=True)
    kind = ma.fields.String(required=True, metadata={"enum": list(TICKET_KINDS)})
    description = ma.fields.String(required=True)
    verification_id = ma.fields.String(required=True, allow_none=True)
    status = ma.fields.String(required=True, metadata={"enum": ["new", "in_progress", "transferred", "answered", "closed"]})
    created_at = CityDateTime(required=True)
    first_response_due = CityDateTime(required=True, metadata={"description": "a first reply is due by then"})
    resolution_due = CityDateTime(required=True, metadata={"description": "the complaint should be closed by then"})
    closed_at = CityDateTime(required=True, allow_none=True)
    rating = ma.fields.Integer(required=True, allow_none=True)
    messages = ma.fields.List(ma.fields.Nested(MessageSchema), required=True, metadata={"description": "Oldest first"})


class ComplaintListSchema(ma.Schema):
    EXAMPLES = [{"items": ComplaintSchema.EXAMPLES}]

    items = ma.fields.List(ma.fields.Nested(ComplaintSchema), required=True, metadata={"description": "Newest first"})


class FollowUpSchema(ma.Schema):
    EXAMPLES = [{"body": "谢谢，今天再刷已经正常了。"}]

    body = Text(multiline=True, required=True, validate=ma.validate.Length(1, 2000))


class RatingSchema(ma.Schema):
    EXAMPLES = [{"score": 5, "comment": "处理很及时"}, {"score": 3}]

    score = ma.fields.Integer(required=True, validate=ma.validate.Range(1, 5), metadata={"description": "1 (poor) to 5 (very good)"})
    comment = Text(multiline=True, load_default=None, allow_none=True, validate=ma.validate.Length(0, 500))


class AccessLogItemSchema(ma.Schema):
    EXAMPLES = [{"accessed_at": "2026-05-21T14:03:50+08:00", "first_accessed_at": "2026-05-21T13:58:02+08:00", "count": 3, "role": "agent",
                 "department": None, "action": "view", "purpose": "CS20260521-4F7K2Q", "fields": ["name", "phone"]},
                {"accessed_at": "2026-05-22T10:15:31+08:00", "first_accessed_at": "2026-05-22T10:15:31+08:00", "count": 1,
                 "role": "liaison", "department": "市交通运输局", "action": "unmask", "purpose": "CS20260521-4F7K2Q",
                 "fields": ["id_number"]}]

    accessed_at = CityDateTime(required=True, metadata={"description": "The newest access of the item"})
    first_accessed_at = CityDateTime(required=True, metadata={"description": "The oldest access of the item"})
    count = ma.fields.Integer(required=True, metadata={
        "description": "How many accesses the item stands for: consecutive views by one staff member on one ticket "
                       "are one item; an unmask or a lookup is always 1"})
    role = ma.fields.String(required=True, metadata={"description": (
        "The staff role (agent, supervisor, liaison, reviewer, counter), a relying party's kind, or for your family "
        "list (issue 18): relative (a guardian of yours acted) or self (you did)")})
    department = ma.fields.String(required=True, allow_none=True, metadata={
        "description": "A liaison's department; a relying party's name; a family-list item: the relation (you are the guardian's ...)"})
    action = ma.fields.String(required=True, metadata={"description": (
        "view, unmask, lookup, ask, approve, refuse, release; a phone or walk-in caller's ticket (caller_code, "
        "caller_verify, card_action, unbind_request, unbind_decision); the counter's (counter_bind, family_add, printed_issue, ...); "
        "family-list: family_add, family_confirm, family_remove, family_consent, printed_issue, printed_revoke, "
        "offline_cert, view (a guardian read your history or benefits)")})
    purpose = ma.fields.String(required=True, allow_none=True, metadata={
        "description": "The ticket number, the reference of your e-card application (a reviewer's reads), or "
                       "family:<entry id> (the entry in GET /family-members' guardians)"})
    fields = ma.fields.List(ma.fields.String(), required=True, metadata={"description": "Which of your fields were seen"})


class AccessLogQuerySchema(ma.Schema):
    limit = ma.fields.Integer(load_default=20, validate=ma.validate.Range(1, 100))
    cursor = Text(load_default=None, validate=ma.validate.Length(1, 200))


class AccessLogSchema(ma.Schema):
    EXAMPLES = [{"items": AccessLogItemSchema.EXAMPLES, "next_cursor": None}]

    items = ma.fields.List(ma.fields.Nested(AccessLogItemSchema), required=True, metadata={"description": "Newest first"})
    next_cursor = ma.fields.String(required=True, allow_none=True, metadata={
        "description": "Pass back as ?cursor= for the next (older) page; null on the last page"})


@blp.route("/complaint-categories", methods=["GET"])
@blp.response(200, CategorySchema(many=True))
def get_categories() -> Any:
    """The complaint categories (configuration: CARD_COMPLAINT_CATEGORIES)."""
    return [{"key": key, "label": label} for key, label in runtime().config["CARD_COMPLAINT_CATEGORIES"].items()]


@blp.route("/complaints", methods=["POST"])
@blp.doc(**BEARER_DOC)
@blp.arguments(ComplaintRequestSchema)
@blp.response(201, ComplaintSchema)
@error_responses(blp, {**AUTH_ERRORS, 404: "charge_unknown (charge_id: not one of your charges)",
                       422: "category_unknown / verification_unknown, or validation_error",
                       429: "complaint_daily_limit (5 a day; Retry-After: until local midnight) / "
                            "complaint_open_limit (5 open at once: add a message to an open one)"})
def post_complaint(args: dict[str, Any]) -> Any:
    """File a complaint (M-14); deadlines for the first reply and the resolution are set at once.
    At most 5 a day (Asia/Shanghai) and 5 open at once per citizen."""
    account = current_account()
    verification_id = args["verification_id"]
    if args["charge_id"] is not None:  # a dispute of a charge (docs/payments.md): linked to the charge's verification
        verification_id = charge_verification(bound_card(account).citizen_id, args["charge_id"])
    return file_complaint(runtime(), account, args["category"], args["description"], verification_id,
                          args["kind"])


@blp.route("/complaints", methods=["GET"])
@blp.doc(**BEARER_DOC)
@blp.response(200, ComplaintListSchema)
@error_responses(blp, AUTH_ERRORS)
def get_complaints() -> Any:
    """Your complaints with status, messages (replies) and deadlines, newest first."""
    return {"items": own_complaints(current_account())}


@blp.route("/complaints/<ticket_number>/messages", methods=["POST"])
@blp.doc(**BEARER_DOC)
@blp.arguments(FollowUpSchema)
@blp.response(200, ComplaintSchema)
@error_responses(blp, {**TICKET_ERRORS, 409: "complaint_closed", 422: "validation_error"})
def post_message(args: dict[str, Any], ticket_number: str) -> Any:
    """Add a follow-up message to an open complaint."""
    return add_citizen_message(runtime(), current_account(), ticket_number, args["body"])


@blp.route("/complaints/<ticket_number>/rating", methods=["POST"])
@blp.doc(**BEARER_DOC)
@blp.arguments(RatingSchema)
@blp.response(200, ComplaintSchema)
@error_responses(blp, {**TICKET_ERRORS, 409: "complaint_open (not closed yet) / already_rated", 422: "validation_error"})
def post_rating(args: dict[str, Any], ticket_number: str) -> Any:
    """Rate the resolution of a closed complaint, once."""
    return rate(runtime(), current_account(), ticket_number, args["score"], args["comment"])


@blp.route("/me/access-log", methods=["GET"])
@blp.doc(**BEARER_DOC)
@blp.arguments(AccessLogQuerySchema, location="query")
@blp.response(200, AccessLogSchema)
@error_responses(blp, {**AUTH_ERRORS, 422: "cursor_invalid or validation_error"})
def get_access_log(args: dict[str, Any]) -> Any:
    """Who looked at your data (M-25): role or department, time, purpose (the ticket); never a staff
    name. Every access, newest first, paged by ``cursor``; consecutive views by one staff member on
    one ticket are one item with a ``count``."""
    return access_log_page(bound_card(current_account()).citizen_id, args["limit"], args["cursor"])
