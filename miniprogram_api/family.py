"""Family members (M-15, issue 18; docs/family.md): /family-members and the codes a relative shows."""
from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import marshmallow as ma
from flask import Response, jsonify

from app.card import family, printed
from app.card.devices import bound_card, not_bound
from app.card.family import RELATIONS
from app.card.offline_certificates import issue
from app.card.proxy_charges import set_proxy_charges
from app.identity.models import MpAccount
from app.money.benefits import benefit_summary
from app.platform.city_time import CityDateTime
from app.platform.errors import AppError
from app.platform.http_json import CardBlueprint
from app.platform.openapi import error_responses
from app.platform.text import StrictBoolean, Text
from app.runtime import runtime
from app.scanning.history import list_verifications
from app.scanning.proxy_code import issue_proxy_code
from app.service_desk import family_actions
from qr import offline

from .benefits import SummarySchema
from .card import CodeSchema, HistoryPageSchema, HistoryQuerySchema, code_answer
from .offline import CertificateRequestSchema, CertificatesSchema
from .security import BEARER_DOC, current_account

blp = CardBlueprint("mp_family", __name__, url_prefix="/api/mp/v1", description="Family members and relatives' codes (M-15)")

AUTH = {401: "token_missing / token_invalid", 403: "not_bound"}
NOT_FOUND = {404: "family_member_not_found: not on a list of yours, or removed"}


class FamilyMemberRequestSchema(ma.Schema):
    EXAMPLES = [{"name": "陈乐乐", "id_number": "441900201503076619", "relation": "child"}]

    name = Text(required=True, validate=ma.validate.Length(1, 50), metadata={"description": "As on the roster"})
    id_number = Text(required=True, validate=ma.validate.Length(1, 32),
                     metadata={"description": "The member's 18-character resident ID number (GB 11643-1999)"})
    relation = ma.fields.String(required=True, validate=ma.validate.OneOf(RELATIONS), metadata={
        "description": "The member is your ...: spouse (quota 1), parent / parent_in_law / grandparent (elders, 4), "
                       "child / grandchild (children, 3)"})


class FamilyMemberSchema(ma.Schema):
    EXAMPLES = [{"id": 412, "relation": "child", "status": "active", "minor": True, "masked_name": "陈**",
                 "masked_id_number": "441900********6619", "share_benefits": True, "share_history": True,
                 "created_at": "2026-05-21T09:30:05+08:00", "confirmed_at": "2026-05-21T09:30:05+08:00",
                 "confirmed_assurance": None},
                {"id": 398, "relation": "child", "status": "pending", "minor": False, "masked_name": "陈**",
                 "masked_id_number": "441900********1235", "share_benefits": False, "share_history": False,
                 "created_at": "2026-05-20T19:02:40+08:00", "confirmed_at": None,
                 "confirmed_assurance": None}]

    id = ma.fields.Integer(required=True)
    relation = ma.fields.String(required=True, metadata={"description": "The member is the guardian's ..."})
    status = ma.fields.String(required=True, metadata={"enum": ["pending", "active"], "description": (
        "pending: an adult member has not confirmed yet (in their app or at a counter)")})
    minor = ma.fields.Boolean(required=True, metadata={"description": "Under 16 when added (by a parent)"})
    masked_name = ma.fields.String(required=True, metadata={"description": "Surname and *"})
    masked_id_number = ma.fields.String(required=True, metadata={"description": "First 6 and last 4 characters"})
    share_benefits = ma.fields.Boolean(required=True, metadata={"description": "The member lets this guardian see their benefits"})
    share_history = ma.fields.Boolean(required=True, metadata={"description": "The member lets this guardian see their card's uses"})
    created_at = CityDateTime(required=True)
    confirmed_at = CityDateTime(required=True, allow_none=True)
    confirmed_assurance = ma.fields.String(required=True, allow_none=True, metadata={
        "enum": ["knowledge", "real_person", "counter", None], "description": (
            "How the member's agreement was proven: real_person (a face check of the member, required in the app where "
            "the app's platform offers one), counter (at a counter with the document), knowledge (the member's app "
            "without a real-person provider: the assurance of their binding); null while pending or for a child")})


class FamilyListSchema(ma.Schema):
    EXAMPLES = [{"members": FamilyMemberSchema.EXAMPLES[:1], "guardians": FamilyMemberSchema.EXAMPLES[1:]}]

    members = ma.fields.List(ma.fields.Nested(FamilyMemberSchema), required=True, metadata={
        "description": "The people on your list (you are their guardian)"})
    guardians = ma.fields.List(ma.fields.Nested(FamilyMemberSchema), required=True, metadata={
        "description": "The lists you are on (masked: the guardian); confirm or remove them here"})


class ConfirmationRequestSchema(ma.Schema):
    EXAMPLES = [{"real_person_token": "sandbox-face-5f2b8c0e9d1a4b7c"}, {}]

    real_person_token = Text(load_default=None, validate=ma.validate.Length(1, 512), metadata={"description": (
        "The member's real-person check (POST /real-person/checks with the member's own name and ID number; a WeChat "
        "verifyResult or an Alipay certify_id): required where the app's platform offers one (else 403 "
        "real_person_required); single use, this account, the member's name and ID number")})


class FamilyConsentRequestSchema(ma.Schema):
    EXAMPLES = [{"share_benefits": True, "share_history": False}, {"share_history": True}]

    share_benefits = StrictBoolean(load_default=None)
    share_history = StrictBoolean(load_default=None)


def _me() -> int:
    account: MpAccount = current_account()
    if account.citizen_id is None:
        raise not_bound()
    return account.citizen_id


@blp.route("/family-members", methods=["POST"])
@blp.doc(**BEARER_DOC)
@blp.arguments(FamilyMemberRequestSchema)
@blp.response(201, FamilyMemberSchema)
@error_responses(blp, {**AUTH, 409: "family_member_exists, family_quota_exceeded (details: category, limit) or member_guardian_limit",
                       422: "identity_mismatch, family_self, relation_mismatch, minor_needs_parent, household_mismatch "
                            "or validation_error",
                       429: "too_many_attempts: 10 additions per hour"})
def post_family_member(args: dict[str, Any]) -> Any:
    """Add a family member (M-15): a child under 16 as ``child`` is active at once; anyone else
    is ``pending`` until they confirm in their own app (POST /family-members/{id}/confirmation)
    or at a counter. Quotas: 4 elders, 3 children, 1 spouse; a member on at most 2 lists."""
    rt = runtime()
    entry = family_actions.add_member(rt, _me(), args["name"], args["id_number"], args["relation"])
    return family.views(rt, [entry], "member")[0]


@blp.route("/family-members", methods=["GET"])
@blp.doc(**BEARER_DOC)
@blp.response(200, FamilyListSchema)
@error_responses(blp, AUTH)
def get_family_members() -> Any:
    """Your members and the guardians whose lists you are on; names and ID numbers masked."""
    members, guardians = family.lists_of(runtime(), _me())
    return {"members": members, "guardians": guardians}


@blp.route("/family-members/<int:entry_id>", methods=["DELETE"])
@blp.doc(**BEARER_DOC)
@blp.response(204)
@error_responses(blp, {**AUTH, **NOT_FOUND})
def delete_family_member(entry_id: int) -> Any:
    """End an entry: as its guardian, as its member (at any time), or for a child as the child's
    other parent. The guardian's codes for the member stop verifying at once; offline
    certificates of the entry go to the next deny list. Recorded in the member's access log."""
    family_actions.remove(runtime(), _me(), entry_id)
    return None


@blp.route("/family-members/<int:entry_id>/confirmation", methods=["POST"])
@blp.doc(**BEARER_DOC)
@blp.arguments(ConfirmationRequestSchema, required=False)
@blp.response(200, FamilyMemberSchema)
@error_responses(blp, {**AUTH, **NOT_FOUND, 403: "not_bound / real_person_required",
                       422: "real_person_invalid / real_person_failed / validation_error",
                       429: "too_many_attempts (real-person checks)", 503: "platform_unavailable"})
def post_confirmation(args: dict[str, Any] | None, entry_id: int) -> Any:
    """The member agrees to be on this guardian's list (from ``guardians`` of GET
    /family-members); the guardian may then show codes for them. Where the app's platform offers
    a real-person check (M-17, issue 17), the member passes one first and sends its
    ``real_person_token``; elsewhere the assurance of the member's binding is recorded
    (``confirmed_assurance``). Recorded in the member's access log."""
    rt = runtime()
    entry = family_actions.confirm(rt, current_account(), entry_id, (args or {}).get("real_person_token"))
    return family.views(rt, [entry], "guardian")[0]


@blp.route("/family-members/<int:entry_id>/consent", methods=["PUT"])
@blp.doc(**BEARER_DOC)
@blp.arguments(FamilyConsentRequestSchema)
@blp.response(200, FamilyMemberSchema)
@error_responses(blp, {**AUTH, **NOT_FOUND, 422: "validation_error"})
def put_consent(args: dict[str, Any], entry_id: int) -> Any:
    """The member's switches for what this guardian sees (both off for an adult until turned on)."""
    rt = runtime()
    entry = family_actions.set_consent(rt, _me(), entry_id, args["share_benefits"], args["share_history"])
    return family.views(rt, [entry], "guardian")[0]


class ProxyChargesSchema(ma.Schema):
    EXAMPLES = [{"id": 412, "proxy_charges": True}, {"proxy_charges": False}]

    id = ma.fields.Integer(dump_only=True)
    proxy_charges = StrictBoolean(required=True, metadata={
        "description": "true: a merchant may charge a code the guardian shows for the member (docs/payments.md)"})


@blp.route("/family-members/<int:entry_id>/proxy-charges", methods=["PUT"])
@blp.doc(**BEARER_DOC)
@blp.arguments(ProxyChargesSchema)
@blp.response(200, ProxyChargesSchema)
@error_responses(blp, {**AUTH, **NOT_FOUND, 403: "not_bound / proxy_charges_member_decides", 422: "validation_error"})
def put_proxy_charges(args: dict[str, Any], entry_id: int) -> Any:
    """Whether codes the guardian shows for the member may be charged (off by default): the member
    sets it on or off; the guardian turns it off, or on for a minor member. Otherwise a charge on
    such a code is 403 ``proxy_charge_not_allowed``."""
    entry = set_proxy_charges(runtime(), _me(), entry_id, args["proxy_charges"])
    return {"id": entry.id, "proxy_charges": entry.proxy_charges}


@blp.route("/family-members/<int:entry_id>/code", methods=["GET"])
@blp.doc(**BEARER_DOC)
@blp.documented(blp.response(200, CodeSchema))
@error_responses(blp, {**AUTH, **NOT_FOUND, 403: "not_bound / card_inactive (the member's card)",
                       409: "family_member_pending", 429: "too_many_codes"})
def get_member_code(entry_id: int) -> Any:
    """A fresh code of the member, shown from your phone under its own pseudonym: the scene sees
    ``proxy: true`` and the relation, and government and finance refuse it (``proxy_not_accepted``)."""
    return jsonify(code_answer(issue_proxy_code(runtime(), _me(), entry_id)))


@blp.route("/family-members/<int:entry_id>/benefits/summary", methods=["GET"])
@blp.doc(**BEARER_DOC)
@blp.response(200, SummarySchema)
@error_responses(blp, {**AUTH, **NOT_FOUND, 403: "not_bound / consent_required"})
def get_member_benefits(entry_id: int) -> Any:
    """The member's benefit totals, only if the member switched ``share_benefits`` on; the read is
    recorded in the member's access log."""
    guardian = _me()
    entry = family.guardian_entry(guardian, entry_id)
    family.require_consent(entry, "benefits")
    family_actions.record(runtime(), guardian, entry, "view", ["benefits"], "a relative read your benefit totals")
    return {"totals": benefit_summary(SimpleNamespace(citizen_id=entry.member_citizen_id))}  # type: ignore[arg-type]


@blp.route("/family-members/<int:entry_id>/verifications", methods=["GET"])
@blp.doc(**BEARER_DOC)
@blp.arguments(HistoryQuerySchema, location="query")
@blp.response(200, HistoryPageSchema)
@error_responses(blp, {**AUTH, **NOT_FOUND, 403: "not_bound / consent_required", 422: "cursor_invalid"})
def get_member_history(args: dict[str, Any], entry_id: int) -> Any:
    """The member's card uses, only if the member switched ``share_history`` on; the read is
    recorded in the member's access log."""
    guardian = _me()
    entry = family.guardian_entry(guardian, entry_id)
    family.require_consent(entry, "history")
    family_actions.record(runtime(), guardian, entry, "view", ["history"], "a relative read your card's uses")
    return list_verifications(SimpleNamespace(citizen_id=entry.member_citizen_id), args["limit"], args["cursor"])  # type: ignore[arg-type]


class PrintedRequestSchema(ma.Schema):
    EXAMPLES = [{"scenes": ["transit", "culture"], "days": 90}]

    scenes = ma.fields.List(ma.fields.String(validate=ma.validate.OneOf(["transit", "culture", "public_venue"])),
                            required=True, validate=ma.validate.Length(1, 3),
                            metadata={"description": "Where the printed code may be used"})
    days = ma.fields.Integer(load_default=180, validate=ma.validate.Range(1, 180), metadata={"description": "Validity, 1-180 days"})


class PrintedSchema(ma.Schema):
    EXAMPLES = [{"serial": "3fa2c19b7e04d851", "code": "DGP1:NCFX1C.OQ4UEN8A$KJ5FVB3LM-K+AE4TJ0%V7*3UKF1VPA4C7Q0",
                 "scenes": ["transit", "culture"], "not_before": "2026-05-21T09:30:05+08:00", "expires_at": "2026-08-19T09:30:05+08:00"}]

    serial = ma.fields.String(required=True, metadata={"description": "16 hex digits; the deny list's key"})
    code = ma.fields.String(required=True, metadata={"description": "The QR text: DGP1: + base45 (docs/family.md)"})
    scenes = ma.fields.List(ma.fields.String(), required=True)
    not_before = CityDateTime(required=True)
    expires_at = CityDateTime(required=True)


def printed_answer(rt: Any, row: Any) -> dict[str, Any]:
    """PrintedSchema's fields of a printed-code row."""
    return {"serial": row.serial, "code": printed.printed_text(rt, row), "scenes": offline.scene_names(row.scenes),
            "not_before": row.not_before, "expires_at": row.expires_at}


def _active_member_card(entry_id: int) -> tuple[Any, Any]:
    entry = family.guardian_entry(_me(), entry_id)
    if entry.status != "active":
        raise AppError("family_member_pending", 409, "the member has not confirmed yet")
    return entry, bound_card(SimpleNamespace(citizen_id=entry.member_citizen_id))  # type: ignore[arg-type]


@blp.route("/family-members/<int:entry_id>/printed-codes", methods=["POST"])
@blp.doc(**BEARER_DOC)
@blp.arguments(PrintedRequestSchema)
@blp.response(201, PrintedSchema)
@error_responses(blp, {**AUTH, **NOT_FOUND, 403: "not_bound / card_inactive",
                       409: "family_member_pending / printed_code_conflict", 422: "validation_error",
                       503: "offline_unavailable"})
def post_printed_code(args: dict[str, Any], entry_id: int) -> Any:
    """Issue a printed code (DGP1) for the member, valid up to 180 days for the chosen scenes; it
    replaces (revokes) the member's previous one. Print it with GET .../printed-code.pdf."""
    rt = runtime()
    entry, card = _active_member_card(entry_id)
    row = printed.issue_printed(rt, card, args["scenes"], args["days"], f"relative:{entry.id}")
    family_actions.record(rt, entry.guardian_citizen_id, entry, "printed_issue", ["printed_code"],
                          f"printed code for {', '.join(args['scenes'])}, {args['days']} days")
    return printed_answer(rt, row)


@blp.route("/family-members/<int:entry_id>/printed-code.pdf", methods=["GET"])
@blp.doc(**BEARER_DOC, responses={200: {"description": "The A6 card", "content": {
    "application/pdf": {"schema": {"type": "string", "format": "binary"}}}}})
@error_responses(blp, {**AUTH, **NOT_FOUND, 409: "family_member_pending"})
def get_printed_pdf(entry_id: int) -> Any:
    """The member's live printed code as an A6 PDF: the QR, the masked name and the expiry."""
    rt = runtime()
    entry, card = _active_member_card(entry_id)
    row = printed.live_printed(card.id)
    if row is None:
        raise AppError("printed_code_not_found", 404, "the member has no live printed code")
    masked = family.views(rt, [entry], "member")[0].masked_name
    family_actions.record(rt, entry.guardian_citizen_id, entry, "printed_print", ["printed_code", "name"], "printed code printed")
    return Response(printed.pdf(rt, row, masked), mimetype="application/pdf", headers={"Cache-Control": "no-store"})


@blp.route("/family-members/<int:entry_id>/printed-codes", methods=["DELETE"])
@blp.doc(**BEARER_DOC)
@blp.response(204)
@error_responses(blp, {**AUTH, **NOT_FOUND, 409: "family_member_pending"})
def delete_printed_code(entry_id: int) -> Any:
    """Revoke the member's printed code at once: refused online from now on, at gates from the
    next deny list (within about a minute, docs/family.md)."""
    rt = runtime()
    entry, card = _active_member_card(entry_id)
    if printed.revoke_printed(rt, card.id, f"relative:{entry.id}"):
        family_actions.record(rt, entry.guardian_citizen_id, entry, "printed_revoke", ["printed_code"], "printed code revoked")
    return None


@blp.route("/family-members/<int:entry_id>/offline/certificates", methods=["POST"])
@blp.doc(**BEARER_DOC)
@blp.arguments(CertificateRequestSchema)
@blp.response(200, CertificatesSchema)
@error_responses(blp, {**AUTH, **NOT_FOUND, 403: "not_bound / card_inactive (the member's card)",
                       409: "family_member_pending / too_many_certificates",
                       422: "challenge_invalid / proof_invalid / alg_unsupported / validation_error",
                       429: "too_many_requests", 503: "offline_unavailable"})
def post_member_certificates(args: dict[str, Any], entry_id: int) -> Any:
    """A 24-hour DGC2 certificate of the member's proxy device for a fresh key on your phone (the
    nonce from POST /card/offline/challenge): offline codes for the member, shown by you. Online
    verification marks them ``proxy: true``; the member's history says so; removal revokes it."""
    rt = runtime()
    entry, card = _active_member_card(entry_id)
    issued = issue(rt, current_account(), args["nonce"], args["alg"], args["device_public_key"], args["proof"],
                   proxy=(card.id, f"{family.PROXY_PLATFORM}{entry.id}"))
    family_actions.record(rt, entry.guardian_citizen_id, entry, "offline_cert", ["offline_certificate"],
                          "an offline certificate for a relative's phone")
    return issued
