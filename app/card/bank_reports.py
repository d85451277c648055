"""The partner banks' reports on the physical cards they issued (M-10(8); docs/card-lifecycle.md).

A bank (a partner with the ``bank`` role) reports ``produced`` (with the serial number),
``issued`` (with the issue date), ``activated`` (at its counter), ``recovered`` (the old card
of a replacement is back), ``cancelled``, and ``information_changed`` (the holder's contact
phone), each for a card it issues and only those (404 ``card_not_found`` otherwise).

The bank's counter and hotline are a channel too (M-10(8); issue 17 item 7): ``loss_reported``
(``channel`` ``counter`` or ``hotline``: the card is suspended at once, as the citizen's own
report), ``replacement`` (of a card it issued: the old one becomes ``replaced``, a new
application goes to this bank) and ``counter_application`` (a first physical card for an
insured resident whose document the counter checked, named by ``id_number``; the resident's
citizen card must exist, i.e. the e-card was bound once). The two applications carry the city's
fee decision (M-24, app/card/fees.py): the bank sends the fee it showed the resident as
``accepted_fee_fen`` (409 ``fee_not_accepted`` with the decision otherwise) and the answer, like
``GET /bank/applications``, names the ``rule``, the amount in fen and the ``payer``.

Each report is idempotent by the bank's ``request_id``: the report row is inserted first, under
a unique (partner, request_id) index, in the transaction that applies the transition, so a
retry (even a concurrent one) never applies twice and gets the first answer back with
``replayed: true``. The same ``request_id`` with a different body is 409 ``request_id_reused``.

The body is kept only as a keyed digest (:func:`body_digest`, HMAC-SHA256 under the blind-index
key with its own purpose): a plain SHA-256 of a body whose only unknown is a phone number would
fall to a dictionary of phone numbers (M-19; issue 15 item 4). Rows stored before that change
have an empty digest (migration ``a1d3e5f7b9c2``) and replay without the comparison.
"""
from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from app.card.binding import validated_id_number
from app.card.lifecycle import Transition, new_physical, record_event, refuse_cancelled, refuse_first_physical, transition_physical
from app.card.models import BankReport, Card, PhysicalCard
from app.identity.models import Citizen
from app.identity.people import CONTACT_PHONE, MOBILE_PATTERN, NAME, citizen_by_id_number
from app.partners.partners import PartnerView
from app.platform.db import db
from app.platform.errors import AppError
from app.runtime import Runtime

BANK_EVENTS = ("produced", "issued", "activated", "recovered", "cancelled", "information_changed",
               "loss_reported", "replacement", "counter_application")
CHANNELS = ("counter", "hotline")
SHANGHAI = ZoneInfo("Asia/Shanghai")


def report(rt: Runtime, bank: PartnerView, body: dict[str, Any]) -> dict[str, Any]:
    """Apply one report; returns ``{"request_id", "application_id", "event", "state", "replayed"}``."""
    digest = body_digest(rt, body)
    earlier = _stored(bank.id, body["request_id"], digest)
    if earlier is not None:
        return earlier
    try:
        row = BankReport(partner_id=bank.id, request_id=body["request_id"], digest=digest, answer="{}", created_at=rt.clock.now())
        db.session.add(row)
        db.session.flush()  # a concurrent retry waits here, then fails on the unique index
        answer = _apply(rt, bank, body)
        row.answer = json.dumps(answer)
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        earlier = _stored(bank.id, body["request_id"], digest)
        if earlier is not None:
            return earlier
        raise AppError("serial_in_use", 409, "this serial number belongs to another card") from None
    return {**answer, "replayed": False}


BODY_DIGEST = "bank_report.body"
LEGACY_DIGEST = ""  # an unkeyed digest blanked by the migration: replays without comparing


def body_digest(rt: Runtime, body: dict[str, Any]) -> str:
    """HMAC-SHA256 (blind-index key, purpose ``bank_report.body``) of the canonical body, hex."""
    return rt.blind_index(json.dumps(body, sort_keys=True, default=str), BODY_DIGEST)


def _stored(partner_pk: int, request_id: str, digest: str) -> dict[str, Any] | None:
    row = db.session.scalar(select(BankReport).where(BankReport.partner_id == partner_pk, BankReport.request_id == request_id))
    if row is None:
        return None
    if row.digest not in (digest, LEGACY_DIGEST):
        raise AppError("request_id_reused", 409, "this request_id was used for a different report")
    return {**json.loads(row.answer), "replayed": True}


def _apply(rt: Runtime, bank: PartnerView, body: dict[str, Any]) -> dict[str, Any]:
    if body["event"] in ("replacement", "counter_application"):
        return _apply_application(rt, bank, body)
    physical = _issued_by(bank, body)
    actor, event = f"bank:{bank.partner_id}", body["event"]
    reason = body.get("reason") or f"reported by {bank.name}"
    if event == "information_changed":
        state = _change_information(rt, physical, body, actor, reason)
    else:
        if event == "loss_reported":
            reason = f"reported lost at {bank.name}'s {_channel(body)}"
        state = transition_physical(rt, physical, event, actor, reason, _values(rt, event, body)).to_state
        if event == "issued" and physical.replaces_id is not None:
            _recover_replaced(rt, physical.replaces_id, actor)
    return {"request_id": body["request_id"], "application_id": physical.application_id, "event": event, "state": state}


def _issued_by(bank: PartnerView, body: dict[str, Any]) -> PhysicalCard:
    if not body.get("application_id"):
        _missing("application_id", body["event"])
    physical = db.session.scalar(select(PhysicalCard).where(PhysicalCard.application_id == body["application_id"],
                                                            PhysicalCard.bank_partner_id == bank.id))
    if physical is None:
        db.session.rollback()
        raise AppError("card_not_found", 404, "no card with this application_id issued by this bank")
    return physical


def _channel(body: dict[str, Any]) -> str:
    if body.get("channel") not in CHANNELS:
        _missing("channel", "loss_reported (counter or hotline)")
    return str(body["channel"])


def _apply_application(rt: Runtime, bank: PartnerView, body: dict[str, Any]) -> dict[str, Any]:
    """``replacement`` of a card this bank issued, or a ``counter_application``; the answer adds
    ``fee`` (``rule``, ``fee_fen``, ``payer``) and ``replaces_application_id``."""
    if body.get("accepted_fee_fen") is None:
        _missing("accepted_fee_fen", body["event"] + " (the fee shown to the resident, in fen)")
    actor, old = f"bank:{bank.partner_id}", None
    try:
        if body["event"] == "replacement":
            old = _issued_by(bank, body)
            card = db.session.get(Card, old.card_id)
            refuse_cancelled(card)
            transition_physical(rt, old, "replaced", actor, f"replacement requested at {bank.name}'s counter")
        else:
            card = _card_of_resident(rt, body)
            refuse_first_physical(card)
        physical = new_physical(rt, card, bank.id, body["accepted_fee_fen"], old, actor)
    except AppError:
        db.session.rollback()  # the report row too: a corrected retry may reuse the request_id
        raise
    return {"request_id": body["request_id"], "application_id": physical.application_id, "event": body["event"],
            "state": physical.state, "fee": fee_of(physical),
            "replaces_application_id": old.application_id if old is not None else None}


def _card_of_resident(rt: Runtime, body: dict[str, Any]) -> Card:
    if not body.get("id_number"):
        _missing("id_number", "counter_application")
    citizen = citizen_by_id_number(rt, validated_id_number(body["id_number"]))
    card = db.session.scalar(select(Card).where(Card.citizen_id == citizen.id)) if citizen is not None else None
    if card is None:
        raise AppError("card_not_found", 404, "this resident has no citizen card yet (not on the roster, or the e-card "
                       "was never bound): the resident binds the e-card first")
    return card


def fee_of(physical: PhysicalCard) -> dict[str, Any]:
    """The fee decision stored on ``physical`` (M-24): ``{"rule", "fee_fen", "payer"}``."""
    return {"rule": physical.fee_rule, "fee_fen": physical.fee_fen, "payer": physical.fee_payer}


def _values(rt: Runtime, event: str, body: dict[str, Any]) -> dict[str, Any]:
    if event == "produced":
        if not body.get("serial_number"):
            _missing("serial_number", "produced")
        return {"serial_number": body["serial_number"]}
    if event == "issued":
        issued_on, today = body.get("issued_on") or today_in_shanghai(rt), today_in_shanghai(rt)
        if not today - timedelta(days=ISSUED_ON_PAST_DAYS) <= issued_on <= today:
            _invalid("issued_on", f"must be between {ISSUED_ON_PAST_DAYS} days ago and today (Asia/Shanghai)")
        return {"issued_on": issued_on}
    if event == "cancelled" and not body.get("reason"):
        _missing("reason", "cancelled")
    return {}


ISSUED_ON_PAST_DAYS = 90  # a late report of an issue is fine; a date in the future or years back is a mistake


def _invalid(field: str, problem: str) -> None:
    db.session.rollback()
    raise AppError("validation_error", 422, f"{field} {problem}", {"fields": {"json": {field: [problem]}}})


def _missing(field: str, event: str) -> None:
    db.session.rollback()
    raise AppError("validation_error", 422, f"{field} is required for {event}", {"fields": {"json": {field: ["required"]}}})


def _recover_replaced(rt: Runtime, old_id: int, actor: str) -> None:
    """The old card is taken back when its replacement is issued (if not reported recovered already)."""
    old = db.session.get(PhysicalCard, old_id)
    if old is not None and old.state == "replaced":
        transition_physical(rt, old, "recovered", actor, "recovered when its replacement was issued")


def _change_information(rt: Runtime, physical: PhysicalCard, body: dict[str, Any], actor: str, reason: str) -> str:
    phone = body.get("contact_phone")
    if not phone or not MOBILE_PATTERN.fullmatch(phone):
        _missing("contact_phone", "information_changed (an 11-digit mobile number)")
    db.session.execute(update(Card).where(Card.id == physical.card_id)
                       .values(contact_phone_enc=rt.keyring.encrypt(phone, CONTACT_PHONE)))
    state = physical.state
    record_event(rt, physical.card_id, Transition("card", "information_changed", state, state), actor, reason, physical.id)
    return state


def applications(rt: Runtime, bank: PartnerView, state: str, limit: int) -> list[dict[str, Any]]:
    """The bank's physical cards in ``state``, oldest first: what it needs to produce and issue
    them (application id, card number, holder's name to print, the serial number replaced) and
    the fee the city decided (``fee``: ``rule``, ``fee_fen``, ``payer``; M-24): what to charge."""
    rows = db.session.execute(
        select(PhysicalCard, Card.card_number, Citizen.name_enc).join(Card, Card.id == PhysicalCard.card_id)
        .join(Citizen, Citizen.id == Card.citizen_id)
        .where(PhysicalCard.bank_partner_id == bank.id, PhysicalCard.state == state).order_by(PhysicalCard.id).limit(limit)).all()
    return [{"application_id": p.application_id, "card_number": number, "holder_name": rt.keyring.decrypt(name_enc, NAME),
             "state": p.state, "technology": p.technology, "serial_number": p.serial_number,
             "replaces_serial_number": _serial(p.replaces_id), "applied_at": p.created_at, "fee": fee_of(p)}
            for p, number, name_enc in rows]


def _serial(physical_id: int | None) -> str | None:
    return None if physical_id is None else db.session.scalar(select(PhysicalCard.serial_number).where(PhysicalCard.id == physical_id))


def today_in_shanghai(rt: Runtime) -> date:
    return rt.clock.now().astimezone(SHANGHAI).date()
