"""The signed partner API for money paid to the card (M-20, M-21, M-22; docs/benefits.md):
departments submit disbursement batches (role ``disburse``), banks register financial accounts
and confirm credits (role ``bank``), the medical-insurance bureau reports personal accounts
(role ``medical_insurance``)."""
from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import g

from app.money.disbursement import LINE_FIELDS, submit_batch
from app.money.financial_accounts import card_for_recipient, mask_account_number, register_financial_account
from app.money.medical_insurance import MAX_STATEMENT_ENTRIES, evoucher_reference, report_evoucher, report_medical_account
from app.money.settlement import MAX_CONFIRMATIONS, OUTCOMES, Confirmation, confirm, find_batch, pending_for_bank, reconcile
from app.partners.partners import require_role
from app.platform.city_time import CityDateTime
from app.platform.errors import AppError
from app.platform.http_json import CardBlueprint
from app.platform.openapi import error_responses
from app.platform.text import Instant, Text
from app.runtime import runtime

from .signing import signed

blp = CardBlueprint("partner_benefits", __name__, url_prefix="/api/partner/v1",
                    description="Partner API for benefits: disbursement batches, bank confirmations, accounts (docs/benefits.md)")

SIGNED_DOC = {"security": [{"partnerSignature": []}]}
REFERENCE_DOC = {"pattern": "^[A-Za-z0-9_.:-]{1,64}$"}
MAX_LINES = 200  # 200 lines of the largest size stay under the 64 KiB body limit; send larger batches in parts
AUTH_ERRORS = {401: "Signature, timestamp, nonce or partner refused"}


def _role(role: str) -> dict[int, str]:
    return {**AUTH_ERRORS, 403: f"role_required: the partner lacks the {role} role"}


class RecipientSchema(ma.Schema):
    id_number = Text(load_default=None, allow_none=True, validate=ma.validate.Length(0, 18),
                     metadata={"description": "The recipient's resident ID number; or give card_number"})
    card_number = Text(load_default=None, allow_none=True, validate=ma.validate.Length(0, 16),
                       metadata={"description": "The recipient's 16-digit citizen card number; or give id_number"})


class LineSchema(RecipientSchema):
    EXAMPLES = [{"line_reference": "P-000001", "id_number": "441900198506151235", "benefit_type": "pension", "amount_fen": 150000,
                 "period": "2026-05"},
                {"line_reference": "P-000002", "card_number": "4419000000000026", "benefit_type": "pension", "amount_fen": 150000,
                 "period": "2026-05"}]

    line_reference = Text(required=True, validate=ma.validate.Length(0, 64), metadata={
        "description": "The department's own reference, unique per department: a line is paid at most once (1-64 of A-Za-z0-9_.:-)"})
    benefit_type = Text(required=True, validate=ma.validate.Length(0, 32),
                        metadata={"description": "One of the configured types (docs/benefits.md), e.g. pension"})
    amount_fen = ma.fields.Integer(required=True, strict=True, validate=ma.validate.Range(-10**15, 10**15), metadata={
        "description": "Positive whole number of fen (1 yuan = 100 fen); zero, negative or over 10 million yuan is a rejected line"})
    period = Text(required=True, validate=ma.validate.Length(0, 10), metadata={"description": "The month covered, YYYY-MM"})


class BatchRequestSchema(ma.Schema):
    EXAMPLES = [{"batch_reference": "PENSION-2026-05", "lines": LineSchema.EXAMPLES}]

    batch_reference = ma.fields.String(required=True, validate=ma.validate.Regexp(r"[A-Za-z0-9_.:-]{1,64}\Z"), metadata=REFERENCE_DOC)
    lines = ma.fields.List(ma.fields.Nested(LineSchema), required=True, validate=ma.validate.Length(1, MAX_LINES))


class RejectedLineSchema(ma.Schema):
    EXAMPLES = [{"position": 2, "line_reference": "P-000002", "reason": "no_financial_account"}]

    position = ma.fields.Integer(required=True, metadata={"description": "1-based position in this request's lines"})
    line_reference = ma.fields.String(required=True, allow_none=True, metadata={
        "description": "The line's line_reference; null when it is missing or malformed (a malformed value is never repeated back)"})
    reason = ma.fields.String(required=True, metadata={"description": "One of the line reasons in docs/benefits.md"})


class BatchReportSchema(ma.Schema):
    EXAMPLES = [{"batch_reference": "PENSION-2026-05", "accepted": 1, "duplicates": 0, "rejected": RejectedLineSchema.EXAMPLES}]

    batch_reference = ma.fields.String(required=True)
    accepted = ma.fields.Integer(required=True, metadata={"description": "Lines recorded now as pending"})
    duplicates = ma.fields.Integer(required=True, metadata={
        "description": "Lines whose line_reference was already on record: not paid again"})
    rejected = ma.fields.List(ma.fields.Nested(RejectedLineSchema), required=True)


class TallySchema(ma.Schema):
    EXAMPLES = [{"count": 1200, "amount_fen": 180000000},
                {"count": 1195, "amount_fen": 179250000},
                {"count": 3, "amount_fen": 450000},
                {"count": 2, "amount_fen": 300000}]

    count = ma.fields.Integer(required=True)
    amount_fen = ma.fields.Integer(required=True)


class ReconciliationSchema(ma.Schema):
    EXAMPLES = [{"batch_reference": "PENSION-2026-05", "total": TallySchema.EXAMPLES[0], "credited": TallySchema.EXAMPLES[1],
                 "returned": TallySchema.EXAMPLES[2], "pending": TallySchema.EXAMPLES[3], "balanced": True}]

    batch_reference = ma.fields.String(required=True, allow_none=True, metadata={"description": "null: all the department's batches"})
    total = ma.fields.Nested(TallySchema, required=True)
    credited = ma.fields.Nested(TallySchema, required=True)
    returned = ma.fields.Nested(TallySchema, required=True)
    pending = ma.fields.Nested(TallySchema, required=True)
    balanced = ma.fields.Boolean(required=True, metadata={"description": "total = credited + returned + pending"})


class BatchPathSchema(ma.Schema):
    batch_reference = ma.fields.String(required=True, validate=ma.validate.Regexp(r"[A-Za-z0-9_.:-]{1,64}\Z"), metadata=REFERENCE_DOC)


@blp.route("/disbursement-batches", methods=["POST"])
@blp.doc(**SIGNED_DOC)
@signed
@blp.arguments(BatchRequestSchema)
@blp.response(200, BatchReportSchema)
@error_responses(blp, {**_role("disburse"), 422: "validation_error"})
def post_batch(args: dict[str, Any]) -> Any:
    """Submit a disbursement batch (or a part of one) as the department (M-22). 200 with each
    rejected line's reason; resubmitting never pays twice (``duplicates``)."""
    require_role(g.partner, "disburse")
    lines = ((position, {name: line.get(name) for name in LINE_FIELDS}) for position, line in enumerate(args["lines"], start=1))
    report = submit_batch(runtime(), g.partner.id, args["batch_reference"], lines)
    return {"batch_reference": report.batch_reference, "accepted": report.accepted, "duplicates": report.duplicates,
            "rejected": [{"position": p, "line_reference": ref, "reason": reason} for p, ref, reason in report.rejected]}


def _reconciliation(batch_reference: str | None, totals: Any) -> dict[str, Any]:
    parts = {name: {"count": tally.count, "amount_fen": tally.amount_fen} for name, tally in
             (("total", totals.total), ("credited", totals.credited), ("returned", totals.returned), ("pending", totals.pending))}
    return {"batch_reference": batch_reference, **parts, "balanced": totals.balanced}


@blp.route("/disbursement-batches/<batch_reference>", methods=["GET"])
@blp.doc(**SIGNED_DOC)
@signed
@blp.arguments(BatchPathSchema, location="path", as_kwargs=True)
@blp.response(200, ReconciliationSchema)
@error_responses(blp, {**_role("disburse"), 404: "batch_unknown", 422: "validation_error"})
def get_batch(batch_reference: str) -> Any:
    """The batch's reconciliation: total = credited + returned + pending, in lines and fen."""
    require_role(g.partner, "disburse")
    batch = find_batch(g.partner.id, batch_reference)
    if batch is None:
        raise AppError("batch_unknown", 404, "no batch with this reference from this department")
    return _reconciliation(batch_reference, reconcile(g.partner.id, batch.id))


@blp.route("/disbursement-reconciliation", methods=["GET"])
@blp.doc(**SIGNED_DOC)
@signed
@blp.response(200, ReconciliationSchema)
@error_responses(blp, _role("disburse"))
def get_department_reconciliation() -> Any:
    """The department's reconciliation over all its batches (``batch_reference`` null)."""
    require_role(g.partner, "disburse")
    return _reconciliation(None, reconcile(g.partner.id))


class PendingQuerySchema(ma.Schema):
    after = ma.fields.Integer(load_default=0, validate=ma.validate.Range(0, 2**62),
                              metadata={"description": "The last disbursement_id of the previous page (0: from the start)"})
    limit = ma.fields.Integer(load_default=100, validate=ma.validate.Range(1, 500))


class PendingLineSchema(ma.Schema):
    EXAMPLES = [{"disbursement_id": 90317, "account_number": "6222021234567890123", "amount_fen": 150000, "benefit_type": "pension",
                 "period": "2026-05", "department": "市人力资源和社会保障局", "posted_at": "2026-05-08T10:02:17+08:00"}]

    disbursement_id = ma.fields.Integer(required=True)
    account_number = ma.fields.String(required=True, metadata={"description": "Your customer's account to credit"})
    amount_fen = ma.fields.Integer(required=True)
    benefit_type = ma.fields.String(required=True)
    period = ma.fields.String(required=True)
    department = ma.fields.String(required=True)
    posted_at = CityDateTime(required=True)


class PendingPageSchema(ma.Schema):
    EXAMPLES = [{"items": PendingLineSchema.EXAMPLES}]

    items = ma.fields.List(ma.fields.Nested(PendingLineSchema), required=True)


@blp.route("/disbursements", methods=["GET"])
@blp.doc(**SIGNED_DOC)
@signed
@blp.arguments(PendingQuerySchema, location="query")
@blp.response(200, PendingPageSchema)
@error_responses(blp, {**_role("bank"), 422: "validation_error"})
def get_pending(args: dict[str, Any]) -> Any:
    """Pending lines on accounts this bank holds, in disbursement_id order after ``after``."""
    require_role(g.partner, "bank")
    return {"items": pending_for_bank(runtime(), g.partner.id, args["after"], args["limit"])}


class ConfirmationItemSchema(ma.Schema):
    EXAMPLES = [{"disbursement_id": 90317, "outcome": "credited"},
                {"disbursement_id": 88204, "outcome": "returned", "reason": "账户已销户"}]

    disbursement_id = ma.fields.Integer(required=True, strict=True, validate=ma.validate.Range(1, 2**62))
    outcome = ma.fields.String(required=True, validate=ma.validate.OneOf(OUTCOMES))
    reason = Text(load_default=None, allow_none=True, validate=ma.validate.Length(1, 200),
                  metadata={"description": "Why the bank returned it (required when returned)"})

    @ma.validates_schema
    def _reason_when_returned(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("outcome") == "returned" and not data.get("reason"):
            raise ma.ValidationError("a returned line needs a reason", "reason")


class ConfirmationsRequestSchema(ma.Schema):
    EXAMPLES = [{"confirmations": ConfirmationItemSchema.EXAMPLES}]

    confirmations = ma.fields.List(ma.fields.Nested(ConfirmationItemSchema), required=True,
                                   validate=ma.validate.Length(1, MAX_CONFIRMATIONS), metadata={
                                       "description": "Each disbursement_id at most once: a request naming a line twice is refused whole"})

    @ma.validates_schema
    def _each_line_once(self, data: dict[str, Any], **_: Any) -> None:
        """422 ``validation_error`` naming the 1-based positions of every line named twice: one
        request cannot both credit and return a line, and only one entry could apply."""
        positions: dict[int, list[int]] = {}
        for position, item in enumerate(data.get("confirmations", []), start=1):
            positions.setdefault(item["disbursement_id"], []).append(position)
        repeated = [f"disbursement_id {line} at positions {', '.join(map(str, where))}"
                    for line, where in positions.items() if len(where) > 1]
        if repeated:
            raise ma.ValidationError([f"a line may be confirmed once per request: {text}" for text in repeated], "confirmations")


class ConfirmationResultSchema(ma.Schema):
    EXAMPLES = [{"disbursement_id": 90317, "result": "applied", "status": "credited"},
                {"disbursement_id": 88204, "result": "applied", "status": "returned"}]

    disbursement_id = ma.fields.Integer(required=True)
    result = ma.fields.String(required=True, metadata={"enum": ["applied", "unchanged", "conflict", "unknown"]})
    status = ma.fields.String(required=True, allow_none=True, metadata={"description": "The line's status now"})


class ConfirmationsSchema(ma.Schema):
    EXAMPLES = [{"results": ConfirmationResultSchema.EXAMPLES}]

    results = ma.fields.List(ma.fields.Nested(ConfirmationResultSchema), required=True)


@blp.route("/disbursement-confirmations", methods=["POST"])
@blp.doc(**SIGNED_DOC)
@signed
@blp.arguments(ConfirmationsRequestSchema)
@blp.response(200, ConfirmationsSchema)
@error_responses(blp, {**_role("bank"), 422: "validation_error (also: a disbursement_id named twice)"})
def post_confirmations(args: dict[str, Any]) -> Any:
    """Report lines as credited or returned; each line settles once (``unchanged`` on a repeat,
    ``conflict`` for the other outcome, ``unknown`` for lines not on this bank's accounts). 422
    ``validation_error`` when a request names a ``disbursement_id`` twice (positions in details)."""
    require_role(g.partner, "bank")
    items = [Confirmation(item["disbursement_id"], item["outcome"], item.get("reason")) for item in args["confirmations"]]
    return {"results": confirm(runtime(), g.partner.id, items)}


class FinancialAccountRequestSchema(RecipientSchema):
    EXAMPLES = [{"card_number": "4419000000000018", "account_number": "6222021234567890123"},
                {"id_number": "441900198506151235", "account_number": "6222021234567890123"}]

    account_number = ma.fields.String(required=True, validate=ma.validate.Regexp(r"[0-9]{12,30}\Z"),
                                      metadata={"pattern": "^[0-9]{12,30}$", "description": "The debit account number"})


class FinancialAccountRegisteredSchema(ma.Schema):
    EXAMPLES = [{"card_number": "4419000000000018", "account_number_masked": "**** 0123", "created": True}]

    card_number = ma.fields.String(required=True)
    account_number_masked = ma.fields.String(required=True)
    created = ma.fields.Boolean(required=True, metadata={"description": "false when the card already had this bank's account"})


@blp.route("/financial-accounts", methods=["PUT"])
@blp.doc(**SIGNED_DOC)
@signed
@blp.arguments(FinancialAccountRequestSchema)
@blp.response(200, FinancialAccountRegisteredSchema)
@error_responses(blp, {**_role("bank"), 403: "role_required, or not_holders_bank: neither the bank of the holder's card "
                       "application nor one the holder consented to in the mini-program",
                       409: "card_cancelled, account_held_by_another_bank (needs the holder's consent) or account_conflict (retry)",
                       422: "recipient_invalid, recipient_unknown, account_number_invalid or validation_error"})
def put_financial_account(args: dict[str, Any]) -> Any:
    """Register (idempotently) the card's financial account held by this bank (M-21): only the bank of the
    holder's card application or one the holder consented to; a replaced account is closed; 409
    ``card_cancelled`` for a cancelled card."""
    require_role(g.partner, "bank")
    rt = runtime()
    card = card_for_recipient(rt, args["id_number"], args["card_number"])
    created = register_financial_account(rt, g.partner.id, card, args["account_number"])
    return {"card_number": card.card_number, "account_number_masked": mask_account_number(args["account_number"]), "created": created}


class MedicalStatementReportSchema(ma.Schema):
    EXAMPLES = [{"date": "2026-05-18", "description": "东莞市人民医院 门诊 药费", "amount_fen": -4230},
                {"date": "2026-05-01", "description": "个人账户 5月划入", "amount_fen": 18650}]

    date = ma.fields.Date(required=True)
    description = Text(required=True, validate=ma.validate.Length(1, 100))
    amount_fen = ma.fields.Integer(required=True, strict=True, metadata={"description": "Fen; negative for a payment out"})


class MedicalAccountRequestSchema(RecipientSchema):
    EXAMPLES = [{"card_number": "4419000000000018", "balance_fen": 325870, "as_of": "2026-05-20T02:00:00+08:00",
                 "statement": MedicalStatementReportSchema.EXAMPLES}]

    balance_fen = ma.fields.Integer(required=True, strict=True, validate=ma.validate.Range(0, 10**12))
    as_of = Instant(required=True, metadata={
        "description": "When the balance was true (with a UTC offset); at most 5 minutes after the server's clock (422 as_of_in_future)"})
    statement = ma.fields.List(ma.fields.Nested(MedicalStatementReportSchema), load_default=list,
                               validate=ma.validate.Length(0, MAX_STATEMENT_ENTRIES))


class MedicalAccountSchema(ma.Schema):
    EXAMPLES = [{"applied": True}]

    applied = ma.fields.Boolean(required=True, metadata={"description": "false: a report at least as recent is already on record"})


@blp.route("/medical-insurance-accounts", methods=["PUT"])
@blp.doc(**SIGNED_DOC)
@signed
@blp.arguments(MedicalAccountRequestSchema)
@blp.response(200, MedicalAccountSchema)
@error_responses(blp, {**_role("medical_insurance"),
                       422: "as_of_in_future (over 5 minutes ahead), recipient_invalid, recipient_unknown or validation_error"})
def put_medical_account(args: dict[str, Any]) -> Any:
    """Report a citizen's medical-insurance personal account: balance, recent statement, as-of time (M-21).
    422 ``as_of_in_future`` for an ``as_of`` more than 5 minutes after the server's clock."""
    require_role(g.partner, "medical_insurance")
    rt = runtime()
    card = card_for_recipient(rt, args["id_number"], args["card_number"])
    statement = [{**entry, "date": entry["date"].isoformat()} for entry in args["statement"]]
    return {"applied": report_medical_account(rt, g.partner.id, card.citizen_id, args["balance_fen"], args["as_of"], statement)}


class EvoucherRequestSchema(RecipientSchema):
    EXAMPLES = [{"card_number": "4419000000000018", "evoucher": "EV4419A1B2C3D4E5F6A7B8C9", "as_of": "2026-05-20T02:00:00+08:00"},
                {"id_number": "441900198506151235", "evoucher": None, "as_of": "2026-06-01T09:30:00+08:00"}]

    evoucher = Text(required=True, allow_none=True, validate=ma.validate.Length(0, 64), metadata={
        "description": "The citizen's medical-insurance e-voucher reference (医保电子凭证): 16-64 letters and digits "
                       "(422 evoucher_invalid); null withdraws it"})
    as_of = Instant(required=True, metadata={
        "description": "When the reference was issued or withdrawn (with a UTC offset): an older report than the one on "
                       "record changes nothing; at most 5 minutes after the server's clock (422 as_of_in_future)"})


class EvoucherSchema(ma.Schema):
    EXAMPLES = [{"applied": True, "evoucher_on_record": True}, {"applied": False, "evoucher_on_record": False}]

    applied = ma.fields.Boolean(required=True, metadata={
        "description": "false: a report at least as recent was already on record (a retry, or a late report)"})
    evoucher_on_record = ma.fields.Boolean(required=True, metadata={
        "description": "Whether a reference is on record now (what medical partners see is non-null)"})


@blp.route("/medical-evouchers", methods=["PUT"])
@blp.doc(**SIGNED_DOC)
@signed
@blp.arguments(EvoucherRequestSchema)
@blp.response(200, EvoucherSchema)
@error_responses(blp, {**_role("medical_insurance"),
                       422: "evoucher_invalid, as_of_in_future (over 5 minutes ahead), recipient_invalid, recipient_unknown "
                            "or validation_error"})
def put_medical_evoucher(args: dict[str, Any]) -> Any:
    """Report (or, with ``evoucher`` null, withdraw) a citizen's medical-insurance e-voucher
    reference (医保电子凭证, M-23.3; issue 22 item 7), which the medical scene's subject then
    carries as ``medical_insurance_evoucher``. Idempotent: the latest ``as_of`` wins, a retry or an
    older report answers ``applied`` false. The reference is encrypted at rest. Errors: 403
    ``role_required``; 422 ``evoucher_invalid``, ``as_of_in_future``, ``recipient_invalid``,
    ``recipient_unknown``."""
    require_role(g.partner, "medical_insurance")
    rt = runtime()
    card = card_for_recipient(rt, args["id_number"], args["card_number"])
    applied = report_evoucher(rt, g.partner.id, card.citizen_id, args["evoucher"], args["as_of"])
    return {"applied": applied, "evoucher_on_record": evoucher_reference(rt, card.id) is not None}
