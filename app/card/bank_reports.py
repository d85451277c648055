"""The partner banks' reports on the physical cards they issued (M-10(8); docs/card-lifecycle.md).

A bank (a partner with the ``bank`` role) reports ``produced`` (with the serial number),
``issued`` (with the issue date), ``activated`` (at its counter), ``recovered`` (the old card
of a replacement is back), ``cancelled``, and ``information_changed`` (the holder's contact
phone), each for a card it issues and only those (404 ``card_not_found`` otherwise).

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

from app.card.lifecycle import Transition, record_event, transition_physical
from app.card.models import BankReport, Card, PhysicalCard
from app.identity.models import Citizen
from app.identity.people import CONTACT_PHONE, MOBILE_PATTERN, NAME
from app.partners.partners import PartnerView
from app.platform.db import db
from app.platform.errors import AppError
from app.runtime import Runtime

BANK_EVENTS = ("produced", "issued", "activated", "recovered", "cancelled", "information_changed")
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
    physical = db.session.scalar(select(PhysicalCard).where(PhysicalCard.application_id == body["application_id"],
                                                            PhysicalCard.bank_partner_id == bank.id))
    if physical is None:
        db.session.rollback()
        raise AppError("card_not_found", 404, "no card with this application_id issued by this bank")
    actor, event = f"bank:{bank.partner_id}", body["event"]
    reason = body.get("reason") or f"reported by {bank.name}"
    if event == "information_changed":
        state = _change_information(rt, physical, body, actor, reason)
    else:
        state = transition_physical(rt, physical, event, actor, reason, _values(rt, event, body)).to_state
        if event == "issued" and physical.replaces_id is not None:
            _recover_replaced(rt, physical.replaces_id, actor)
    return {"request_id": body["request_id"], "application_id": physical.application_id, "event": event, "state": state}


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
    them (application id, card number, holder's name to print, the serial number replaced)."""
    rows = db.session.execute(
        select(PhysicalCard, Card.card_number, Citizen.name_enc).join(Card, Card.id == PhysicalCard.card_id)
        .join(Citizen, Citizen.id == Card.citizen_id)
        .where(PhysicalCard.bank_partner_id == bank.id, PhysicalCard.state == state).order_by(PhysicalCard.id).limit(limit)).all()
    return [{"application_id": p.application_id, "card_number": number, "holder_name": rt.keyring.decrypt(name_enc, NAME),
             "state": p.state, "technology": p.technology, "serial_number": p.serial_number,
             "replaces_serial_number": _serial(p.replaces_id), "applied_at": p.created_at}
            for p, number, name_enc in rows]


def _serial(physical_id: int | None) -> str | None:
    return None if physical_id is None else db.session.scalar(select(PhysicalCard.serial_number).where(PhysicalCard.id == physical_id))


def today_in_shanghai(rt: Runtime) -> date:
    return rt.clock.now().astimezone(SHANGHAI).date()
