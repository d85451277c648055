"""Log in to a website with the card (M-20): GET/POST /oidc/requests/{id}, GET/DELETE /consents."""
from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import current_app, request

from app.oidc import backchannel, consents, login
from app.oidc.server import issuer
from app.platform.city_time import CityDateTime
from app.platform.errors import AppError
from app.platform.http_json import CardBlueprint
from app.platform.openapi import error_responses
from app.runtime import runtime

from .card import REAL_PERSON_TOKEN
from .security import BEARER_DOC, current_account

blp = CardBlueprint("mp_oidc", __name__, url_prefix="/api/mp/v1", description="Log in to websites with the card")


class LoginRequestSchema(ma.Schema):
    EXAMPLES = [{"relying_party": "东莞市政务服务网", "kind": "government", "redirect_domain": "www.dg.gov.cn",
                 "claims": ["name", "id_number"], "confirmation": "real_person"},
                {"relying_party": "东莞图书馆", "kind": "public_service", "redirect_domain": "www.dglib.cn", "claims": ["age_band"],
                 "confirmation": "password"}]

    relying_party = ma.fields.String(required=True, metadata={"description": "The website's registered (verified) name"})
    kind = ma.fields.String(required=True, metadata={"enum": ["government", "public_service", "commercial"]})
    redirect_domain = ma.fields.String(required=True, metadata={
        "description": "Where the browser will be sent: show it, so a look-alike site is noticed"})
    claims = ma.fields.List(ma.fields.String(), required=True, metadata={
        "description": "What the website will receive besides the pairwise sub and acr: name, id_number, insured, "
                       "age_band, concession"})
    confirmation = ma.fields.String(required=True, metadata={
        "enum": ["password", "real_person"], "description": "What to send to confirm"})


class ConfirmSchema(ma.Schema):
    EXAMPLES = [{"password": "739146"}, {"real_person_token": "7D2B9C4E-61F0-4A8B-9E3C-5F1A2D8B0C47"}]

    password = ma.fields.String(load_default=None, load_only=True, validate=ma.validate.Regexp(r"[0-9]{6}\Z"), metadata={
        "description": "The e-card password (confirmation password)", "pattern": "^[0-9]{6}$"})
    real_person_token = REAL_PERSON_TOKEN


class LoginConsentSchema(ma.Schema):
    EXAMPLES = [{"consent_id": 1207, "relying_party": "东莞图书馆", "kind": "public_service", "claims": ["age_band"], "acr": "knowledge",
                 "created_at": "2026-05-19T14:22:10+08:00", "withdrawn_at": None}]

    consent_id = ma.fields.Integer(required=True)
    relying_party = ma.fields.String(required=True)
    kind = ma.fields.String(required=True)
    claims = ma.fields.List(ma.fields.String(), required=True, metadata={"description": "Claim names released (never values)"})
    acr = ma.fields.String(required=True, metadata={"description": "Binding assurance told to the website"})
    created_at = CityDateTime(required=True)
    withdrawn_at = CityDateTime(required=True, allow_none=True)


class LoginConsentListSchema(ma.Schema):
    EXAMPLES = [{"items": LoginConsentSchema.EXAMPLES}]

    items = ma.fields.List(ma.fields.Nested(LoginConsentSchema), required=True)


class WithdrawnSchema(ma.Schema):
    EXAMPLES = [{"tokens_revoked": 2}]

    tokens_revoked = ma.fields.Integer(required=True, metadata={"description": "Live tokens the withdrawal ended"})


REQUEST_ERRORS = {401: "token_missing / token_invalid", 403: "not_bound", 404: "login_request_expired", 422: "validation_error"}


@blp.route("/oidc/requests/<string:request_id>", methods=["GET"])
@blp.doc(**BEARER_DOC)
@blp.response(200, LoginRequestSchema)
@error_responses(blp, REQUEST_ERRORS)
def get_login_request(request_id: str) -> Any:
    """A website's log-in request, from the scanned QR: who asks, for what, where the browser goes."""
    return login.describe(runtime(), current_account(), request_id)


@blp.route("/oidc/requests/<string:request_id>/confirmation", methods=["POST"])
@blp.doc(**BEARER_DOC)
@blp.arguments(ConfirmSchema)
@blp.response(204)
@error_responses(blp, {**REQUEST_ERRORS, 403: "not_bound / password_required / password_not_set / real_person_required",
                       409: "login_request_used",
                       422: "confirmation_missing / password_wrong / real_person_invalid / real_person_failed / validation_error",
                       429: "password_locked / too_many_attempts"})
def confirm_login_request(args: dict[str, Any], request_id: str) -> None:
    """Confirm the log-in (works once): the e-card password, or a real-person check for a government website."""
    if not args["password"] and not args["real_person_token"]:
        raise AppError("confirmation_missing", 422, "send password (or real_person_token for a government website)")
    login.confirm(runtime(), current_app.extensions["oidc_server"], current_account(), request_id,
                  args["password"], args["real_person_token"])


@blp.route("/consents", methods=["GET"])
@blp.doc(**BEARER_DOC)
@blp.response(200, LoginConsentListSchema)
@error_responses(blp, {401: "token_missing / token_invalid", 403: "not_bound"})
def get_consents() -> Any:
    """Every release of claims to a website, newest first (at most 100)."""
    account = current_account()
    return {"items": consents.list_consents(account.citizen_id) if account.citizen_id else []}


@blp.route("/consents/<int:consent_id>", methods=["DELETE"])
@blp.doc(**BEARER_DOC)
@blp.response(200, WithdrawnSchema)
@error_responses(blp, {401: "token_missing / token_invalid", 404: "consent_not_found"})
def delete_consent(consent_id: int) -> Any:
    """Withdraw a consent: the website's tokens from it stop working at once; a website registered for
    back-channel logout is told at once (docs/identity-provider.md)."""
    account, rt = current_account(), runtime()
    revoked = consents.withdraw(rt, account.citizen_id or 0, consent_id)
    backchannel.notify(rt, consent_id, issuer(rt.config, request.host_url))
    return {"tokens_revoked": revoked}
