"""POST /applications, GET /applications/{reference}, POST /applications/{reference}/answers:
the e-card for residents off the roster (M-5; issue 17 item 1; docs/applications.md)."""
from __future__ import annotations

from typing import Any

import marshmallow as ma

from app.identity.documents import DOCUMENT_TYPES, PERMIT_TYPES, REASONS
from app.identity.real_person import LEVELS
from app.platform.city_time import CityDateTime
from app.platform.http_json import CardBlueprint
from app.platform.openapi import error_responses
from app.platform.text import Text
from app.runtime import runtime
from app.service_desk.applications import answer, own_application, submit
from app.service_desk.models import APPLICATION_STATUSES

from .security import BEARER_DOC, current_account

blp = CardBlueprint("mp_applications", __name__, url_prefix="/api/mp/v1",
                    description="E-card applications of residents off the roster (M-5)")

REFERENCE_ERRORS = {401: "token_missing / token_invalid", 404: "application_not_found: not one of your applications"}


class ECardApplicationRequestSchema(ma.Schema):
    EXAMPLES = [{"document_type": "residence_permit", "document_number": "441900199203154321", "name": "周晓燕", "phone": "13800138721",
                 "address": "东莞市南城街道鸿福路88号"},
                {"document_type": "passport_with_permit", "document_number": "E12345678", "nationality": "DEU", "permit_type": "work",
                 "permit_number": "WP4419002026001", "name": "Anna Schmidt", "phone": "13800138722",
                 "employer": "东莞松山湖某科技有限公司"}]

    document_type = ma.fields.String(required=True, metadata={"enum": list(DOCUMENT_TYPES), "description": (
        "residence_permit (居住证: its GB 11643 number), hmt_residence_permit (港澳台居民居住证: 81/82/83 0000...), "
        "travel_permit_hkmo (回乡证: H/M + 8 or 10 digits), travel_permit_tw (台胞证: 8 digits), "
        "foreign_permanent_id (外国人永久居留身份证: 15-character 2004 or 18-digit 2023 format starting 9), "
        "passport_with_permit (passport number, nationality and a work or residence permit)")})
    document_number = Text(required=True, validate=ma.validate.Length(1, 32))
    nationality = Text(load_default=None, validate=ma.validate.Length(3, 3),
                       metadata={"description": "passport_with_permit only: ISO 3166-1 alpha-3, not CHN"})
    permit_type = ma.fields.String(load_default=None, validate=ma.validate.OneOf(PERMIT_TYPES),
                                   metadata={"enum": [*PERMIT_TYPES, None], "description": "passport_with_permit only"})
    permit_number = Text(load_default=None, validate=ma.validate.Length(1, 32),
                         metadata={"description": "passport_with_permit only: the work or residence permit's number"})
    name = Text(required=True, validate=ma.validate.Length(1, 100), metadata={"description": "As on the document"})
    phone = Text(required=True, validate=ma.validate.Length(1, 20), metadata={"description": "11-digit mainland mobile number"})
    address = Text(load_default=None, validate=ma.validate.Length(1, 200),
                   metadata={"description": "Home address in Dongguan (naming 东莞); this or employer"})
    employer = Text(load_default=None, validate=ma.validate.Length(1, 200),
                    metadata={"description": "Employer and its address in Dongguan (naming 东莞); this or address"})


class ECardApplicationAnswerSchema(ma.Schema):
    EXAMPLES = [{"answer": "居住证有效期已于2026年5月续签，新证件照片已重新上传。"}]

    answer = Text(multiline=True, required=True, validate=ma.validate.Length(1, 2000),
                  metadata={"description": "The answer to the reviewer's question"})


class ECardApplicationAccessSchema(ma.Schema):
    EXAMPLES = [{"accessed_at": "2026-05-22T14:45:30+08:00", "role": "reviewer", "action": "approve", "fields": ["decision"]},
                {"accessed_at": "2026-05-21T16:12:09+08:00", "role": "reviewer", "action": "view",
                 "fields": ["name", "phone_masked", "document_masked", "permit", "address", "employer", "answer"]}]

    accessed_at = CityDateTime(required=True)
    role = ma.fields.String(required=True, metadata={"enum": ["reviewer"], "description": "Never the person"})
    action = ma.fields.String(required=True, metadata={"enum": ["view", "ask", "approve", "refuse"]})
    fields = ma.fields.List(ma.fields.String(), required=True, metadata={"description": "Which of your fields were seen"})


class ECardApplicationSchema(ma.Schema):
    EXAMPLES = [{"reference": "AP7K3QX9MNB2TR4W", "status": "approved", "document_type": "residence_permit",
                 "document_masked": "441900********4321", "submitted_at": "2026-05-21T09:30:05+08:00",
                 "due_at": "2026-05-29T11:02:11+08:00", "question": None, "answered_at": "2026-05-22T11:02:11+08:00",
                 "decided_at": "2026-05-22T14:45:30+08:00", "refusal_reason": None, "assurance": "knowledge",
                 "card_number": "4419000000000026", "access_log": ECardApplicationAccessSchema.EXAMPLES}]

    reference = ma.fields.String(required=True, metadata={"description": "Public; name it in GET /applications/{reference}"})
    status = ma.fields.String(required=True, metadata={"enum": list(APPLICATION_STATUSES), "description": (
        "pending: being reviewed, due by due_at; more_info: answer the question; approved: your card is ready "
        "(GET /card/code); refused: see refusal_reason")})
    document_type = ma.fields.String(required=True)
    document_masked = ma.fields.String(required=True, metadata={"description": "Never the full number"})
    submitted_at = CityDateTime(required=True)
    due_at = CityDateTime(required=True, metadata={"description": "UTC; the review is due by then (working days)"})
    question = ma.fields.String(required=True, allow_none=True, metadata={"description": "Set while status is more_info"})
    answered_at = CityDateTime(required=True, allow_none=True)
    decided_at = CityDateTime(required=True, allow_none=True)
    refusal_reason = ma.fields.String(required=True, allow_none=True)
    assurance = ma.fields.String(required=True, allow_none=True, metadata={"enum": [*LEVELS, None]})
    card_number = ma.fields.String(required=True, allow_none=True, metadata={"description": "Once approved"})
    access_log = ma.fields.List(ma.fields.Nested(ECardApplicationAccessSchema), required=True, metadata={
        "description": "Staff reads of and decisions on this application, newest first (M-25); empty on POST"})


@blp.route("/applications", methods=["POST"])
@blp.doc(**BEARER_DOC)
@blp.arguments(ECardApplicationRequestSchema)
@blp.response(201, ECardApplicationSchema)
@error_responses(blp, {
    401: "token_missing / token_invalid",
    409: "application_open (this account or this document has an open application) / account_already_bound",
    422: "document_invalid (details: document_type, field, reason: one of " + ", ".join(REASONS) + "), "
         "dongguan_address_required, or validation_error",
    429: "too_many_attempts: 3 applications per account a day (counted before they are checked)",
})
def post_application(args: dict[str, Any]) -> Any:
    """Apply for an e-card-only card (M-5) without local social insurance: an identity document,
    validated by its own rules (check digits where the number has one), name, phone and an address
    or employer in Dongguan. Reviewed in the console within CARD_APPLICATION_REVIEW_DAYS working
    days; follow it with GET /applications/{reference}."""
    return submit(runtime(), current_account(), args)


@blp.route("/applications/<reference>", methods=["GET"])
@blp.doc(**BEARER_DOC)
@blp.response(200, ECardApplicationSchema)
@error_responses(blp, {**REFERENCE_ERRORS, 422: "validation_error (a control character in the reference)"})
def get_application(reference: str) -> Any:
    """Your application: its status, the reviewer's question or decision, the card once approved,
    and who (by role) read it."""
    return own_application(runtime(), current_account(), reference)


@blp.route("/applications/<reference>/answers", methods=["POST"])
@blp.doc(**BEARER_DOC)
@blp.arguments(ECardApplicationAnswerSchema)
@blp.response(200, ECardApplicationSchema)
@error_responses(blp, {**REFERENCE_ERRORS, 409: "not_awaiting_answer", 422: "validation_error",
                       429: "too_many_attempts: 10 answers per account a day"})
def post_answer(args: dict[str, Any], reference: str) -> Any:
    """Answer the reviewer's question (status more_info): the application goes back to review,
    due again in CARD_APPLICATION_REVIEW_DAYS working days."""
    return answer(runtime(), current_account(), reference, args["answer"])
