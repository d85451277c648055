"""The card's carriers for the citizen (docs/card-lifecycle.md, docs/miniprogram-api.md):
states and history, the physical card (application, activation, loss report, replacement,
fees), the e-card (suspension, moving it to a new device), and the contact phone."""
from __future__ import annotations

from typing import Any

import marshmallow as ma

from app.card import lifecycle
from app.card.devices import bound_card
from app.card.passwords import require_password, reset_password, set_password
from app.card.phone import change_phone, send_phone_code
from app.platform.city_time import CityDateTime
from app.platform.http_json import CardBlueprint
from app.platform.openapi import error_responses
from app.platform.text import Text
from app.runtime import runtime

from .card import SeedRequestSchema, SeedSchema
from .security import BEARER_DOC, bearer_token, current_account

blp = CardBlueprint("mp_lifecycle", __name__, url_prefix="/api/mp/v1", description="Card carriers: physical card and e-card life")

AUTH_ERRORS = {401: "token_missing / token_invalid", 403: "not_bound"}
TRANSITION_ERRORS = {**AUTH_ERRORS, 404: "no_physical_card", 409: "illegal_transition: details.state is the current state"}


class FeeSchema(ma.Schema):
    EXAMPLES = [{"rule": "first_card", "fee_fen": 0, "payer": "bank", "technology": "gen3"},
                {"rule": "replacement", "fee_fen": 2000, "payer": "citizen", "technology": "gen3"}]

    rule = ma.fields.String(required=True, metadata={"description": "first_card, technology_upgrade or replacement (M-24)"})
    fee_fen = ma.fields.Integer(required=True, metadata={"description": "Integer fen due from the payer"})
    payer = ma.fields.String(required=True, metadata={"description": "bank (free for the citizen) or citizen"})
    technology = ma.fields.String(required=True)


class PhysicalSchema(ma.Schema):
    EXAMPLES = [{"application_id": "pc_5d1e8a93b07c42f6e1a9", "state": "activated", "serial_number": "****7021",
                 "bank_name": "中国工商银行东莞分行", "technology": "gen3", "issued_on": "2026-05-12", "fee_rule": "first_card",
                 "fee_fen": 0, "fee_payer": "bank", "applied_at": "2026-04-28T10:15:32+08:00"}]

    application_id = ma.fields.String(required=True)
    state = ma.fields.String(required=True, metadata={
        "enum": ["applied", "produced", "issued", "activated", "suspended", "replaced", "recovered", "cancelled"]})
    serial_number = ma.fields.String(required=True, allow_none=True, metadata={"description": "Masked: ****1234"})
    bank_name = ma.fields.String(required=True)
    technology = ma.fields.String(required=True)
    issued_on = ma.fields.Date(required=True, allow_none=True)
    fee_rule = ma.fields.String(required=True)
    fee_fen = ma.fields.Integer(required=True)
    fee_payer = ma.fields.String(required=True)
    applied_at = CityDateTime(required=True)


class CarriersSchema(ma.Schema):
    EXAMPLES = [{"card_number": "4419000000000018", "ecard_state": "active", "physical": PhysicalSchema.EXAMPLES[0]},
                {"card_number": "4419000000000026", "ecard_state": "active", "physical": None}]

    card_number = ma.fields.String(required=True)
    ecard_state = ma.fields.String(required=True, metadata={"enum": ["active", "suspended", "cancelled"]})
    physical = ma.fields.Nested(PhysicalSchema, required=True, allow_none=True)


class TransitionSchema(ma.Schema):
    EXAMPLES = [{"carrier": "physical", "event": "loss_reported", "from_state": "activated", "to_state": "suspended"}]

    carrier = ma.fields.String(required=True, metadata={"enum": ["ecard", "physical"]})
    event = ma.fields.String(required=True)
    from_state = ma.fields.String(required=True)
    to_state = ma.fields.String(required=True)


class EventSchema(TransitionSchema):
    EXAMPLES = [{"carrier": "physical", "event": "loss_reported", "from_state": "activated", "to_state": "suspended", "reason": "钱包遗失",
                 "actor": "citizen", "at": "2026-05-21T09:30:05+08:00"},
                {"carrier": "physical", "event": "issued", "from_state": "produced", "to_state": "issued", "reason": "柜台领卡",
                 "actor": "bank:p_8c2e4a6b0d1f3e57", "at": "2026-05-12T14:20:11+08:00"}]

    carrier = ma.fields.String(required=True, metadata={"enum": ["card", "ecard", "physical"]})
    from_state = ma.fields.String(required=True, allow_none=True)
    reason = ma.fields.String(required=True)
    actor = ma.fields.String(required=True, metadata={"description": "citizen, bank:<partner_id> or operator"})
    at = CityDateTime(required=True, attribute="created_at")


class EventsQuerySchema(ma.Schema):
    limit = ma.fields.Integer(load_default=50, validate=ma.validate.Range(1, 200))


class EventsSchema(ma.Schema):
    EXAMPLES = [{"items": EventSchema.EXAMPLES}]

    items = ma.fields.List(ma.fields.Nested(EventSchema), required=True)


class BankSchema(ma.Schema):
    EXAMPLES = [{"bank_partner_id": "p_8c2e4a6b0d1f3e57", "name": "中国工商银行东莞分行"},
                {"bank_partner_id": "p_1a3c5e7f9b2d4e60", "name": "东莞农村商业银行"}]

    bank_partner_id = ma.fields.String(required=True, attribute="partner_id")
    name = ma.fields.String(required=True)


class BanksSchema(ma.Schema):
    EXAMPLES = [{"items": BankSchema.EXAMPLES}]

    items = ma.fields.List(ma.fields.Nested(BankSchema), required=True)


FEE_FIELD = ma.fields.Integer(required=True, strict=True, validate=ma.validate.Range(0, 10**9), metadata={
    "description": "The fee_fen of GET /card/physical/fee, confirming it (409 fee_not_accepted otherwise)"})


class ApplicationRequestSchema(ma.Schema):
    EXAMPLES = [{"bank_partner_id": "p_8c2e4a6b0d1f3e57", "accepted_fee_fen": 0}]

    bank_partner_id = Text(required=True, validate=ma.validate.Length(1, 32))
    accepted_fee_fen = FEE_FIELD


class ReplacementRequestSchema(ma.Schema):
    EXAMPLES = [{"accepted_fee_fen": 2000}]

    accepted_fee_fen = FEE_FIELD


class ActivationRequestSchema(ma.Schema):
    EXAMPLES = [{"serial_number": "A0260512847021", "pin": "395174"}]

    serial_number = Text(required=True, validate=ma.validate.Length(1, 32),
                         metadata={"description": "As printed on the card"})
    pin = ma.fields.String(required=True, load_only=True, validate=ma.validate.Regexp(r"[0-9]{6}\Z"), metadata={
        "description": "6 digits of your choice; not all one digit, not a run like 123456 (422 pin_weak)", "pattern": "^[0-9]{6}$"})


SIX_DIGITS = {"pattern": "^[0-9]{6}$"}


def password_field(description: str, required: bool = False) -> ma.fields.String:
    """A 6-digit secret of the citizen: load-only, never echoed."""
    optional: dict[str, Any] = {} if required else {"load_default": None}
    return ma.fields.String(required=required, load_only=True, validate=ma.validate.Regexp(r"[0-9]{6}\Z"),
                            metadata={"description": description, **SIX_DIGITS}, **optional)


PASSWORD_FIELD_DOC = "The e-card password, once one is set (403 password_required without it)"  # noqa: S105 (a description)


class PasswordRequestSchema(ma.Schema):
    EXAMPLES = [{"password": "582930", "current_password": "739146"}, {"password": "739146"}]

    password = password_field("The new 6-digit e-card password: not all one digit, not a run, not the physical card's PIN",
                              required=True)
    current_password = password_field("The current e-card password, when one is set")


class PasswordResetRequestSchema(ma.Schema):
    EXAMPLES = [{"password": "582930", "real_person_token": "7D2B9C4E-61F0-4A8B-9E3C-5F1A2D8B0C47"}]

    password = password_field("The new 6-digit e-card password (the rules of PUT /card/password)", required=True)
    real_person_token = Text(required=True, load_only=True, validate=ma.validate.Length(1, 512), metadata={
        "description": "A passed real-person check of the card holder (POST /real-person/checks)"})


class DeviceMoveRequestSchema(SeedRequestSchema):
    EXAMPLES = [{"installation_id": "mp-7f3c9a2e41b64d0e", "password": "739146"}]

    password = password_field(PASSWORD_FIELD_DOC)


class PhoneCodeRequestSchema(ma.Schema):
    EXAMPLES = [{"phone": "13912345678"}]

    phone = ma.fields.String(required=True, validate=ma.validate.Regexp(r"1[3-9][0-9]{9}\Z"), metadata={
        "description": "The new 11-digit mainland mobile number", "pattern": "^1[3-9][0-9]{9}$"})


class PhoneCodeSchema(ma.Schema):
    EXAMPLES = [{"expires_in": 600}]

    expires_in = ma.fields.Integer(required=True, metadata={"description": "Seconds the code sent by SMS stays valid"})


class PhoneChangeRequestSchema(PhoneCodeRequestSchema):
    EXAMPLES = [{"phone": "13912345678", "sms_code": "204816", "password": "739146"}]

    sms_code = Text(required=True, validate=ma.validate.Length(1, 12))
    password = password_field(PASSWORD_FIELD_DOC)


PASSWORD_ERRORS = {403: "not_bound, or password_required (the card has an e-card password: send it)",
                   422: "password_wrong (details.attempts_left) or validation_error",
                   429: "password_locked: 5 wrong passwords a day (Retry-After); reset it with a real-person check"}


@blp.route("/card/carriers", methods=["GET"])
@blp.doc(**BEARER_DOC)
@blp.response(200, CarriersSchema)
@error_responses(blp, AUTH_ERRORS)
def get_carriers() -> Any:
    """The card number, the e-card's state and the latest physical card (null if none) (M-3)."""
    return lifecycle.carriers(current_account())


@blp.route("/card/events", methods=["GET"])
@blp.doc(**BEARER_DOC)
@blp.arguments(EventsQuerySchema, location="query")
@blp.response(200, EventsSchema)
@error_responses(blp, {**AUTH_ERRORS, 422: "validation_error"})
def get_events(args: dict[str, Any]) -> Any:
    """Every transition of the card's carriers, newest first: event, states, reason, actor, time."""
    return {"items": lifecycle.card_events(current_account(), args["limit"])}


@blp.route("/card/banks", methods=["GET"])
@blp.doc(**BEARER_DOC)
@blp.response(200, BanksSchema)
@error_responses(blp, {401: "token_missing / token_invalid"})
def get_banks() -> Any:
    """The partner banks that issue the physical card (M-10(8))."""
    current_account()
    return {"items": lifecycle.list_banks()}


@blp.route("/card/physical/fee", methods=["GET"])
@blp.doc(**BEARER_DOC)
@blp.response(200, FeeSchema)
@error_responses(blp, AUTH_ERRORS)
def get_fee() -> Any:
    """The fee decision for the next physical card (M-24), to show before the citizen confirms."""
    return lifecycle.quote_fee(runtime(), current_account())


@blp.route("/card/physical", methods=["POST"])
@blp.doc(**BEARER_DOC)
@blp.arguments(ApplicationRequestSchema)
@blp.response(201, PhysicalSchema)
@error_responses(blp, {401: "token_missing / token_invalid",
                       403: "not_bound, or not_insured: only insured residents may have the physical card (M-5); use the e-card",
                       409: "physical_card_exists, card_cancelled, or fee_not_accepted (details: the fee decision)",
                       422: "bank_unknown or validation_error"})
def post_physical(args: dict[str, Any]) -> Any:
    """Apply for the physical card at a partner bank, confirming the quoted fee (M-5, M-14, M-24)."""
    physical = lifecycle.apply_physical(runtime(), current_account(), args["bank_partner_id"], args["accepted_fee_fen"])
    return lifecycle.physical_view(physical)


@blp.route("/card/physical/activation", methods=["POST"])
@blp.doc(**BEARER_DOC)
@blp.arguments(ActivationRequestSchema)
@blp.response(200, TransitionSchema)
@error_responses(blp, {**TRANSITION_ERRORS, 422: "pin_weak, serial_mismatch or validation_error",
                       429: "too_many_attempts: 5 wrong serial numbers a day"})
def post_activation(args: dict[str, Any]) -> Any:
    """Activate the issued physical card online with its serial number and a new 6-digit PIN (M-14, M-26)."""
    return lifecycle.activate_physical(runtime(), current_account(), args["serial_number"], args["pin"])


@blp.route("/card/physical/loss-report", methods=["POST"])
@blp.doc(**BEARER_DOC)
@blp.response(200, TransitionSchema)
@error_responses(blp, TRANSITION_ERRORS)
def post_loss_report() -> Any:
    """Report the physical card lost: in force when this returns (terminals answer card_lost); the e-card is unaffected."""
    return lifecycle.report_loss(runtime(), current_account())


@blp.route("/card/physical/loss-report", methods=["DELETE"])
@blp.doc(**BEARER_DOC)
@blp.response(200, TransitionSchema)
@error_responses(blp, TRANSITION_ERRORS)
def delete_loss_report() -> Any:
    """Cancel the loss report: the card returns to its state before it."""
    return lifecycle.cancel_loss_report(runtime(), current_account())


@blp.route("/card/physical/replacement", methods=["POST"])
@blp.doc(**BEARER_DOC)
@blp.arguments(ReplacementRequestSchema)
@blp.response(201, PhysicalSchema)
@error_responses(blp, {**TRANSITION_ERRORS, 409: "illegal_transition, card_cancelled, or fee_not_accepted (details: the fee decision)",
                       422: "validation_error"})
def post_replacement(args: dict[str, Any]) -> Any:
    """Replace the physical card (from issued, activated or lost): the old one is retired, a new one applied for (M-24 fee)."""
    physical = lifecycle.request_replacement(runtime(), current_account(), args["accepted_fee_fen"])
    return lifecycle.physical_view(physical)


@blp.route("/card/ecard/suspension", methods=["POST"])
@blp.doc(**BEARER_DOC)
@blp.response(200, TransitionSchema)
@error_responses(blp, {**AUTH_ERRORS, 409: "illegal_transition: details.state is the current state"})
def post_ecard_suspension() -> Any:
    """Suspend the e-card: its codes are refused (card_inactive) until resumed; the physical card is unaffected."""
    return lifecycle.suspend_ecard(runtime(), current_account())


@blp.route("/card/ecard/suspension", methods=["DELETE"])
@blp.doc(**BEARER_DOC)
@blp.response(200, TransitionSchema)
@error_responses(blp, {**AUTH_ERRORS, 409: "illegal_transition: details.state is the current state"})
def delete_ecard_suspension() -> Any:
    """Resume the suspended e-card."""
    return lifecycle.resume_ecard(runtime(), current_account())


@blp.route("/card/ecard/device", methods=["POST"])
@blp.doc(**BEARER_DOC)
@blp.arguments(DeviceMoveRequestSchema)
@blp.response(200, SeedSchema)
@error_responses(blp, {**AUTH_ERRORS, **PASSWORD_ERRORS, 409: "same_device or card_cancelled"})
def post_ecard_device(args: dict[str, Any]) -> Any:
    """Move the e-card to this installation: a new seed here; the old device's seed is revoked at once.
    Needs the e-card password once one is set (M-26)."""
    rt, account = runtime(), current_account()
    require_password(rt, bound_card(account), args["password"])
    return lifecycle.move_ecard(rt, account, args["installation_id"], bearer_token())


@blp.route("/card/password", methods=["PUT"])
@blp.doc(**BEARER_DOC)
@blp.arguments(PasswordRequestSchema)
@blp.response(204)
@error_responses(blp, {**AUTH_ERRORS, **PASSWORD_ERRORS,
                       422: "password_weak (details.weakness), password_same_as_pin, password_wrong or validation_error"})
def put_password(args: dict[str, Any]) -> Any:
    """Set the 6-digit e-card password (M-26), or change it with ``current_password``. Forgotten:
    reset it after a real-person check (POST /card/password/reset)."""
    rt = runtime()
    set_password(rt, bound_card(current_account()), args["password"], args["current_password"])
    return None


@blp.route("/card/password/reset", methods=["POST"])
@blp.doc(**BEARER_DOC)
@blp.arguments(PasswordResetRequestSchema)
@blp.response(204)
@error_responses(blp, {**AUTH_ERRORS, 422: "password_weak, password_same_as_pin, real_person_invalid, real_person_failed or "
                       "validation_error", 429: "too_many_attempts", 503: "platform_unavailable / real_person_not_configured"})
def post_password_reset(args: dict[str, Any]) -> Any:
    """Set a new e-card password without the old one, after a real-person check of the holder
    (M-26): it also starts a fresh count of wrong passwords (a locked password is unlocked)."""
    reset_password(runtime(), current_account(), args["password"], args["real_person_token"])
    return None


@blp.route("/card/phone/code", methods=["POST"])
@blp.doc(**BEARER_DOC)
@blp.arguments(PhoneCodeRequestSchema)
@blp.response(200, PhoneCodeSchema)
@error_responses(blp, {**AUTH_ERRORS, 422: "validation_error (bad_phone)", 429: "too_many_codes: one a minute",
                       503: "sms_unavailable: the SMS gateway did not take the code (details.reason; Retry-After)"})
def post_phone_code(args: dict[str, Any]) -> Any:
    """Send a 6-digit code by SMS to the new phone number (valid 10 minutes)."""
    return {"expires_in": send_phone_code(runtime(), current_account(), args["phone"])}


@blp.route("/card/phone", methods=["PUT"])
@blp.doc(**BEARER_DOC)
@blp.arguments(PhoneChangeRequestSchema)
@blp.response(204)
@error_responses(blp, {**AUTH_ERRORS, **PASSWORD_ERRORS, 422: "sms_code_invalid, password_wrong or validation_error"})
def put_phone(args: dict[str, Any]) -> Any:
    """Change the card's contact phone to the number the SMS code was sent to; needs the e-card
    password once one is set (M-26)."""
    rt, account = runtime(), current_account()
    require_password(rt, bound_card(account), args["password"])
    change_phone(rt, account, args["phone"], args["sms_code"])
    return None
