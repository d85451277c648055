"""The city data hub's partner API (docs/data-hub.md): life events in (role ``data_hub``, M-18),
feeds pulled by entitled departments and banks, daily figures for departments (M-10(2), M-10(7))."""
from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import g

from app.hub.feeds import FEEDS, pull
from app.hub.life_events import EVENT_TYPES, receive_event
from app.partners.partners import require_role
from app.platform.http_json import CardBlueprint
from app.platform.openapi import error_responses
from app.platform.text import Instant, StrictBoolean, Text
from app.runtime import runtime

from .signing import signed

blp = CardBlueprint("partner_hub", __name__, url_prefix="/api/partner/v1",
                    description="City data hub: life events in, feeds out, figures (docs/data-hub.md)")

SIGNED_ERRORS = {401: "Signature, timestamp, nonce or partner refused"}


class CitizenEventRequestSchema(ma.Schema):
    EXAMPLES = [{"event_id": "hub-20260521-0000381", "type": "death", "occurred_at": "2026-05-19T00:00:00+08:00",
                 "id_number": "441900195008281658"},
                {"event_id": "hub-20260521-0000402", "type": "insured_changed", "occurred_at": "2026-05-20T00:00:00+08:00",
                 "id_number": "441900195612012868", "insured": True},
                {"event_id": "hub-20260521-0000415", "type": "name_corrected", "occurred_at": "2026-05-21T10:00:00+08:00",
                 "id_number": "441900196205155735", "name": "王志刚"}]

    event_id = ma.fields.String(required=True, validate=ma.validate.Regexp(r"[A-Za-z0-9_.:-]{8,64}\Z"), metadata={
        "description": "The hub's id of this event (8-64 of A-Za-z0-9_.:-): a second delivery changes nothing",
        "pattern": "^[A-Za-z0-9_.:-]{8,64}$"})
    type = ma.fields.String(required=True, validate=ma.validate.OneOf(EVENT_TYPES))
    occurred_at = Instant(required=True, metadata={
        "description": "When it happened (ISO 8601 with offset): events are applied per person in this order; "
                       "at most 5 minutes after the server's clock (422 occurred_at_in_future)"})
    id_number = Text(required=True, load_only=True, validate=ma.validate.Length(1, 32), metadata={
        "description": "The resident's ID number (GB 11643-1999) as on the roster"})
    insured = StrictBoolean(load_default=None,
                                metadata={"description": "insured_changed: the new status"})
    name = Text(load_default=None, load_only=True, validate=ma.validate.Length(1, 50),
                metadata={"description": "name_corrected: the corrected name"})
    new_id_number = Text(load_default=None, load_only=True, validate=ma.validate.Length(1, 32),
                         metadata={"description": "id_number_corrected: the corrected ID number"})


class CitizenEventSchema(ma.Schema):
    EXAMPLES = [{"event_id": "hub-20260521-0000381", "outcome": "applied",
                 "effects": ["card_cancelled", "physical_cancelled", "tokens_revoked", "bindings_ended", "status_deceased"],
                 "replayed": False},
                {"event_id": "hub-20260521-0000402", "outcome": "stale", "effects": [], "replayed": False}]

    event_id = ma.fields.String(required=True)
    outcome = ma.fields.String(required=True, metadata={
        "description": "applied, or stale (older than the last event applied to this person: recorded, no effect)"})
    effects = ma.fields.List(ma.fields.String(), required=True, metadata={
        "description": "What it did: card_cancelled, physical_cancelled, tokens_revoked, bindings_ended, status_deceased, "
                       "card_ends_after_grace, insured, uninsured, disability_set, disability_cleared, "
                       "certificates_revoked, name_corrected, id_number_corrected (empty: nothing to change)"})
    replayed = ma.fields.Boolean(required=True, metadata={"description": "true: this event_id was already received; the first answer"})


@blp.route("/citizen-events", methods=["POST"])
@blp.doc(security=[{"partnerSignature": []}])
@signed
@blp.arguments(CitizenEventRequestSchema)
@blp.response(200, CitizenEventSchema)
@error_responses(blp, {**SIGNED_ERRORS, 403: "role_required: the partner is not the data hub",
                       404: "citizen_not_found: no resident on the roster has this ID number",
                       409: "event_id_reused (another person or type) or id_number_in_use (id_number_corrected)",
                       422: "validation_error (e.g. insured missing for insured_changed), or occurred_at_in_future "
                            "(over 5 minutes after our clock)"})
def post_citizen_event(args: dict[str, Any]) -> Any:
    """A resident's life event from the city data hub (M-18): death, leaving the city, insured
    status, disability certificate, name or ID-number correction. Idempotent by ``event_id``;
    applied per person in ``occurred_at`` order (an older event is ``stale``). The effect rules
    are docs/data-hub.md's."""
    require_role(g.partner, "data_hub")
    return receive_event(runtime(), g.partner, args)


class FeedQuerySchema(ma.Schema):
    after = ma.fields.Integer(load_default=0, validate=ma.validate.Range(0, 2**62), metadata={
        "description": "The last event id you have (0: from the start)"})
    limit = ma.fields.Integer(load_default=100, validate=ma.validate.Range(1, 1000))


class FeedItemSchema(ma.Schema):
    EXAMPLES = [{"id": 18342, "feed": "card_cancelled", "created_at": "2026-05-21T10:01:00+08:00",
                 "event": {"card_number": "4419000000000034", "carrier": "physical", "application_id": "pc_0b3e9d7c5a1f2e84d6c1",
                           "reason": "death", "at": "2026-05-21T10:00:41+08:00"}}]

    id = ma.fields.Integer(required=True, metadata={"description": "The cursor: pass the last one as ?after="})
    feed = ma.fields.String(required=True)
    created_at = ma.fields.String(required=True, metadata={"description": "ISO 8601 at the city's offset (+08:00)"})
    event = ma.fields.Dict(required=True, metadata={"description": "The feed's minimum fields (docs/data-hub.md)"})


class FeedSchema(ma.Schema):
    EXAMPLES = [{"items": FeedItemSchema.EXAMPLES, "next_after": 18342}]

    items = ma.fields.List(ma.fields.Nested(FeedItemSchema), required=True)
    next_after = ma.fields.Integer(required=True, metadata={"description": "Pass as ?after= for the next page"})


@blp.route("/feeds/<string:name>", methods=["GET"])
@blp.doc(security=[{"partnerSignature": []}], parameters=[{
    "in": "path", "name": "name", "required": True, "schema": {"type": "string", "enum": sorted(FEEDS)}}])
@signed
@blp.arguments(FeedQuerySchema, location="query")
@blp.response(200, FeedSchema)
@error_responses(blp, {**SIGNED_ERRORS, 403: "feed_not_entitled (details.roles)", 404: "feed_unknown",
                       422: "validation_error"})
def get_feed(args: dict[str, Any], name: str) -> Any:
    """The pull fallback of a feed's webhooks: events after ``after``, oldest first, only those
    the partner's roles entitle it to (a bank: its own cards)."""
    items = pull(g.partner, name, args["after"], args["limit"])
    return {"items": items, "next_after": items[-1]["id"] if items else args["after"]}


class StatisticsQuerySchema(ma.Schema):
    from_ = ma.fields.Date(required=True, data_key="from", metadata={"description": "First day (Asia/Shanghai)"})
    to = ma.fields.Date(required=True, metadata={"description": "Last day, at most 92 days after from"})
    town = Text(load_default=None, validate=ma.validate.Length(0, 32), metadata={"description": "Only this town (\"\": unknown)"})
    department = Text(load_default=None, validate=ma.validate.Length(0, 64), metadata={
        "description": "Only this department (a partner_id, or a complaint department; \"\": all departments)"})


class FigureSchema(ma.Schema):
    EXAMPLES = [{"day": "2026-05-20", "town": "南城街道", "department": "", "metric": "scans", "key": "transit", "value": 48213},
                {"day": "2026-05-20", "town": "麻涌镇", "department": "", "metric": "complaints_opened", "key": "", "value": None},
                {"day": "2026-05-20", "town": "*", "department": "*", "metric": "scans", "key": "transit", "value": 912640}]

    day = ma.fields.String(required=True, metadata={"description": "YYYY-MM-DD (Asia/Shanghai)"})
    town = ma.fields.String(required=True, metadata={"description": "The holder's town (\"\": unknown; \"*\": a total over towns)"})
    department = ma.fields.String(required=True, metadata={
        "description": "A partner_id or complaint department (\"\": none for this metric; \"*\": a total over departments)"})
    metric = ma.fields.String(required=True, metadata={"description": "cards_issued, ecards_active, physical_cards, scans, "
                                                       "disbursements_paid, disbursements_returned, complaints_opened, "
                                                       "complaints_closed, complaints_closed_in_time, sla_rate_percent"})
    key = ma.fields.String(required=True, metadata={"description": "physical_cards: the state; scans: the scene; else empty"})
    value = ma.fields.Integer(required=True, allow_none=True, metadata={"description": "null: suppressed (a count under 10, or one "
                              "that the shown totals and cells would give away by subtraction)"})


class StatisticsSchema(ma.Schema):
    EXAMPLES = [{"computed_through": "2026-05-20", "items": FigureSchema.EXAMPLES}]

    computed_through = ma.fields.String(required=True, allow_none=True, metadata={"description": "The last computed day"})
    items = ma.fields.List(ma.fields.Nested(FigureSchema), required=True)


STATISTICS_ROLES = frozenset({"data_hub", "disburse", "medical_insurance"})


@blp.route("/statistics", methods=["GET"])
@blp.doc(security=[{"partnerSignature": []}])
@signed
@blp.arguments(StatisticsQuerySchema, location="query")
@blp.response(200, StatisticsSchema)
@error_responses(blp, {**SIGNED_ERRORS, 403: "statistics_not_allowed: only government departments and the data hub",
                       422: "validation_error (e.g. more than 92 days)"})
def get_statistics(args: dict[str, Any]) -> Any:
    """Daily figures per town and department (M-10(2), M-10(7)) as computed by the daily job;
    each day with its totals per town, per department and overall (town or department ``*``);
    every count under 10 is null (suppressed), and so is every count that could be recomputed
    from a shown total minus shown cells (secondary suppression, docs/data-hub.md). The town and
    department filters select rows; they never change what is suppressed."""
    from app.hub.figures import computed_through, figures_of
    from app.platform.errors import AppError

    if g.partner.kind != "government" and not g.partner.roles & STATISTICS_ROLES:
        raise AppError("statistics_not_allowed", 403, "figures are for government departments and the data hub")
    if not 0 <= (args["to"] - args["from_"]).days <= 92:
        raise AppError("validation_error", 422, "to must be 0-92 days after from", {"fields": {"query": {"to": ["range"]}}})
    through = computed_through()
    return {"computed_through": through.isoformat() if through else None,
            "items": figures_of(args["from_"], args["to"], args["town"], args["department"])}
