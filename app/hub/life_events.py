"""Life events from the city data hub (M-18; docs/data-hub.md "Life events in").

``POST /api/partner/v1/citizen-events`` (partner role ``data_hub``) hands each event here. It is
kept by its ``event_id`` (a unique constraint: a second delivery, even a concurrent one, gets the
first answer back and changes nothing) and ordered per person by ``(occurred_at, event_id)``: an
event older than the last one applied to that person is recorded as ``stale`` and changes
nothing. Claiming the id, the order check and the effects are one transaction.

Effects per type (the rules of docs/data-hub.md):

- ``death``: the card is cancelled with every carrier (e-card, devices, offline certificates, the
  live physical card), every mini-program binding ends and every token is deleted; new
  disbursement lines are refused (``card_cancelled``); the bank hears of it on the
  ``card_cancelled`` feed. The roster entry and the records stay (retention, docs/operations.md).
- ``left_city``: the card ends after ``CARD_HUB_LEAVING_GRACE_DAYS`` (:func:`end_departed`, run by
  ``citizencard hub run``); until then it works.
- ``insured_changed`` (``insured``): insured residents may hold the physical card (M-5); one who
  is no longer insured keeps the e-card only (the live physical card is cancelled).
- ``disability_granted`` / ``disability_withdrawn``: the concession flag; the card's offline
  certificates are revoked so the next one carries the new fare class.
- ``name_corrected`` (``name``) / ``id_number_corrected`` (``new_id_number``): the old value is
  kept encrypted in :class:`CitizenCorrection`; partners' member rosters follow the new number.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.exc import IntegrityError

from app.card.lifecycle import cancel_carriers, current_physical, transition_physical
from app.card.models import CARD_CANCELLED, Card
from app.card.offline_lists import revoke_card_certificates
from app.card.unbinding import end_binding
from app.hub.feeds import publish
from app.hub.models import LIFE_DECEASED, LIFE_LEAVING, LIFE_LEFT, CitizenCorrection, CitizenEvent, CitizenLife
from app.identity import idnumber
from app.identity.models import AuthToken, Citizen, MpAccount
from app.identity.people import ID_NUMBER, NAME, citizen_by_id_number, id_index, normalize_name
from app.partners.models import Membership
from app.partners.partners import PartnerView
from app.platform.city_time import city_isoformat
from app.platform.db import db
from app.platform.errors import AppError
from app.platform.sql import upsert_insert
from app.runtime import Runtime

EVENT_TYPES = ("death", "left_city", "insured_changed", "disability_granted", "disability_withdrawn",
               "name_corrected", "id_number_corrected")
APPLIED, STALE, PENDING = "applied", "stale", "pending"
# The hub's clock may run a little ahead of ours, no more: an event dated later would be the
# person's last one and make every real event after it ``stale`` until that date (a trial found it).
MAX_CLOCK_AHEAD = timedelta(minutes=5)


@dataclass(frozen=True)
class EventAnswer:
    """What ``POST /citizen-events`` answers: the outcome, the effects, and whether this was a replay."""

    event_id: str
    outcome: str
    effects: list[str]
    replayed: bool


def receive_event(rt: Runtime, partner: PartnerView, event: dict[str, Any]) -> EventAnswer:
    """Apply one life event (fields as the request schema: ``event_id``, ``type``,
    ``occurred_at`` aware datetime, ``id_number`` and the type's own field) and commit.
    404 ``citizen_not_found``; 409 ``event_id_reused`` (same id, another person or type);
    409 ``id_number_in_use``; 422 ``validation_error`` for a missing or bad type field;
    422 ``occurred_at_in_future`` when ``occurred_at`` is over :data:`MAX_CLOCK_AHEAD` after our clock."""
    now = rt.clock.now()
    if event["occurred_at"] > now + MAX_CLOCK_AHEAD:
        raise AppError("occurred_at_in_future", 422, "occurred_at is more than 5 minutes after the server's clock",
                       {"server_time": city_isoformat(now)})
    citizen = citizen_by_id_number(rt, event["id_number"])
    if citizen is None:
        raise AppError("citizen_not_found", 404, "no resident on the roster has this ID number")
    checked = _checked_fields(rt, event)
    if not _claim(rt, partner, citizen.id, event):
        return _replay(citizen.id, event)
    if not _advance(rt, citizen.id, event):
        return _finish(event, STALE, [])
    effects = EFFECTS[event["type"]](rt, partner, citizen, event, checked)
    return _finish(event, APPLIED, effects)


# The one field each type carries; the others must be absent (a stray field is a sender's mistake).
TYPE_FIELDS = {"insured_changed": "insured", "name_corrected": "name", "id_number_corrected": "new_id_number"}


def _checked_fields(rt: Runtime, event: dict[str, Any]) -> Any:
    """The event's own field, checked (422 ``validation_error`` naming it); a field of another
    type present is refused too (``not for this event type``), rather than silently ignored."""
    kind = event["type"]
    for field in TYPE_FIELDS.values():
        if event.get(field) is not None and TYPE_FIELDS.get(kind) != field:
            raise _invalid(field, "not for this event type")
    if kind == "insured_changed":
        return _required(event, "insured", bool)
    if kind == "name_corrected":
        name = normalize_name(_required(event, "name", str))
        if not name or len(name) > 50 or not name.isprintable():
            raise _invalid("name", "bad_name")
        return name
    if kind == "id_number_corrected":
        try:
            return idnumber.validate(_required(event, "new_id_number", str), rt.clock.now().date())
        except idnumber.IdNumberError as exc:
            raise _invalid("new_id_number", f"id_number_{exc.reason}") from None
    return None


def _required(event: dict[str, Any], name: str, kind: type) -> Any:
    value = event.get(name)
    if not isinstance(value, kind):
        raise _invalid(name, "required for this event type")
    return value


def _invalid(name: str, reason: str) -> AppError:
    return AppError("validation_error", 422, f"{name}: {reason}", {"fields": {"json": {name: [reason]}}})


def _claim(rt: Runtime, partner: PartnerView, citizen_id: int, event: dict[str, Any]) -> bool:
    """INSERT ... ON CONFLICT (event_id) DO NOTHING: True for the first delivery."""
    table = CitizenEvent.__table__
    statement = upsert_insert(db.engine.dialect.name, table).values(
        event_id=event["event_id"], partner_id=partner.id, citizen_id=citizen_id, type=event["type"],
        occurred_at=event["occurred_at"], outcome=PENDING, effects="", received_at=rt.clock.now(),
    ).on_conflict_do_nothing(index_elements=[table.c.event_id]).returning(table.c.id)
    return db.session.execute(statement).first() is not None


def _replay(citizen_id: int, event: dict[str, Any]) -> EventAnswer:
    db.session.rollback()
    first = db.session.scalar(select(CitizenEvent).where(CitizenEvent.event_id == event["event_id"]))
    assert first is not None
    if first.citizen_id != citizen_id or first.type != event["type"]:
        raise AppError("event_id_reused", 409, "this event_id was used for another event")
    return EventAnswer(first.event_id, first.outcome, list(filter(None, first.effects.split(","))), True)


def _advance(rt: Runtime, citizen_id: int, event: dict[str, Any]) -> bool:
    """Move the person's order key to this event if it is newer (one upsert with a condition)."""
    table = CitizenLife.__table__
    statement = upsert_insert(db.engine.dialect.name, table).values(
        citizen_id=citizen_id, last_event_at=event["occurred_at"], last_event_id=event["event_id"],
        status="resident", updated_at=rt.clock.now())
    newer = or_(table.c.last_event_at < statement.excluded.last_event_at,
                (table.c.last_event_at == statement.excluded.last_event_at)
                & (table.c.last_event_id < statement.excluded.last_event_id))
    statement = statement.on_conflict_do_update(
        index_elements=[table.c.citizen_id], where=newer,
        set_={"last_event_at": statement.excluded.last_event_at, "last_event_id": statement.excluded.last_event_id,
              "updated_at": statement.excluded.updated_at},
    ).returning(table.c.citizen_id)
    return db.session.execute(statement).first() is not None


def _finish(event: dict[str, Any], outcome: str, effects: list[str]) -> EventAnswer:
    db.session.execute(update(CitizenEvent).where(CitizenEvent.event_id == event["event_id"])
                       .values(outcome=outcome, effects=",".join(effects)))
    db.session.commit()
    return EventAnswer(event["event_id"], outcome, effects, False)


def _actor(partner: PartnerView) -> str:
    return f"data_hub:{partner.partner_id}"


def _card(citizen_id: int) -> Card | None:
    return db.session.scalar(select(Card).where(Card.citizen_id == citizen_id))


def _set_life(citizen_id: int, **values: Any) -> None:
    db.session.execute(update(CitizenLife).where(CitizenLife.citizen_id == citizen_id).values(**values))


def _death(rt: Runtime, partner: PartnerView, citizen: Citizen, event: dict[str, Any], _checked: Any) -> list[str]:
    _set_life(citizen.id, status=LIFE_DECEASED, card_ends_at=None)
    return ["status_deceased", *end_card(rt, citizen.id, _actor(partner), "death reported by the data hub")]


def end_card(rt: Runtime, citizen_id: int, actor: str, reason: str) -> list[str]:
    """Cancel the citizen's card with every carrier, end every binding and delete every token
    (in the caller's transaction); the effects done, e.g. ``["card_cancelled", "tokens_revoked"]``."""
    effects: list[str] = []
    accounts = list(db.session.scalars(select(MpAccount.id).where(MpAccount.citizen_id == citizen_id)))
    if accounts and db.session.execute(delete(AuthToken).where(AuthToken.account_id.in_(accounts))).rowcount:
        effects.append("tokens_revoked")
    card = _card(citizen_id)
    if card is None:
        return effects
    if card.status != CARD_CANCELLED:
        carriers = cancel_carriers(rt, card, actor, reason)
        effects += ["card_cancelled"] + (["physical_cancelled"] if len(carriers) > 1 else [])
    for account_id in accounts:
        end_binding(rt, account_id, card, "closed", reason)
    return effects + (["bindings_ended"] if accounts else [])


def _left_city(rt: Runtime, partner: PartnerView, citizen: Citizen, event: dict[str, Any], _checked: Any) -> list[str]:
    ends = event["occurred_at"] + timedelta(days=rt.config["CARD_HUB_LEAVING_GRACE_DAYS"])
    _set_life(citizen.id, status=LIFE_LEAVING, card_ends_at=ends)
    return ["card_ends_after_grace"]


def end_departed(rt: Runtime) -> int:
    """Cancel the cards of citizens whose grace period after leaving the city has ended; each is
    claimed by one conditional UPDATE (two runners never cancel one twice). Returns how many."""
    now, ended = rt.clock.now(), 0
    due = db.session.scalars(select(CitizenLife.citizen_id).where(
        CitizenLife.status == LIFE_LEAVING, CitizenLife.card_ends_at <= now)).all()
    for citizen_id in due:
        claimed = db.session.execute(update(CitizenLife).where(
            CitizenLife.citizen_id == citizen_id, CitizenLife.status == LIFE_LEAVING, CitizenLife.card_ends_at <= now)
            .values(status=LIFE_LEFT, updated_at=now).returning(CitizenLife.citizen_id)).first()
        if claimed is not None:
            end_card(rt, citizen_id, "data_hub", "left the city (grace period over)")
            ended += 1
        db.session.commit()
    return ended


def _insured(rt: Runtime, partner: PartnerView, citizen: Citizen, event: dict[str, Any], insured: bool) -> list[str]:
    changed = db.session.execute(update(Citizen).where(Citizen.id == citizen.id, Citizen.insured.is_not(insured))
                                 .values(insured=insured, updated_at=rt.clock.now())).rowcount
    if not changed:
        return []
    effects = ["insured" if insured else "uninsured"]
    card = _card(citizen.id)
    physical = current_physical(card.id) if card is not None and not insured else None
    if physical is not None:
        transition_physical(rt, physical, "cancelled", _actor(partner), "no longer insured: e-card only (M-5)")
        effects.append("physical_cancelled")
    if card is not None:
        publish(rt, "insured_status", {"card_number": card.card_number, "insured": insured,
                                       "effective_at": city_isoformat(event["occurred_at"])})
    return effects


def _disability(value: bool) -> Any:
    def apply(rt: Runtime, partner: PartnerView, citizen: Citizen, event: dict[str, Any], _checked: Any) -> list[str]:
        changed = db.session.execute(update(Citizen).where(Citizen.id == citizen.id, Citizen.disability.is_not(value))
                                     .values(disability=value, updated_at=rt.clock.now())).rowcount
        if not changed:
            return []
        card = _card(citizen.id)
        if card is not None:
            revoke_card_certificates(rt, card.id)
        return ["disability_set" if value else "disability_cleared"] + (["certificates_revoked"] if card else [])

    return apply


def _name(rt: Runtime, partner: PartnerView, citizen: Citizen, event: dict[str, Any], name: str) -> list[str]:
    if rt.keyring.decrypt(citizen.name_enc, NAME) == name:
        return []
    _keep_history(rt, citizen, event, "name", citizen.name_enc, None)
    db.session.execute(update(Citizen).where(Citizen.id == citizen.id)
                       .values(name_enc=rt.keyring.encrypt(name, NAME), updated_at=rt.clock.now()))
    return ["name_corrected"]


def _id_number(rt: Runtime, partner: PartnerView, citizen: Citizen, event: dict[str, Any], number: str) -> list[str]:
    new_index = id_index(rt, number)
    if new_index == citizen.id_number_index:
        return []
    if db.session.scalar(select(Citizen.id).where(Citizen.id_number_index == new_index)) is not None:
        db.session.rollback()
        raise AppError("id_number_in_use", 409, "another resident holds the corrected ID number; correct that one first")
    old_index = citizen.id_number_index
    _keep_history(rt, citizen, event, "id_number", citizen.id_number_enc, old_index)
    try:
        db.session.execute(update(Citizen).where(Citizen.id == citizen.id).values(
            id_number_index=new_index, id_number_enc=rt.keyring.encrypt(number, ID_NUMBER), updated_at=rt.clock.now()))
    except IntegrityError:  # taken at the same moment
        db.session.rollback()
        raise AppError("id_number_in_use", 409, "another resident holds the corrected ID number") from None
    db.session.execute(update(Membership).where(Membership.id_number_index == old_index).values(id_number_index=new_index))
    return ["id_number_corrected"]


CORRECTION = "citizen_correction.old_value"  # the purpose of CitizenCorrection.old_value_enc (app.keys.ENCRYPTED_COLUMNS)
_FIELD_PURPOSES = {"name": NAME, "id_number": ID_NUMBER}


def _keep_history(rt: Runtime, citizen: Citizen, event: dict[str, Any], field: str, old_enc: str, old_index: str | None) -> None:
    """The value before the correction, encrypted again under one purpose of its own (so that key
    rotation and the start-up checks treat the column as one), and for an ID number its old blind index."""
    old_value = rt.keyring.decrypt(old_enc, _FIELD_PURPOSES[field])
    db.session.add(CitizenCorrection(citizen_id=citizen.id, event_id=event["event_id"], field=field,
                                     old_value_enc=rt.keyring.encrypt(old_value, CORRECTION), old_index=old_index,
                                     created_at=rt.clock.now()))


EFFECTS = {
    "death": _death, "left_city": _left_city, "insured_changed": _insured,
    "disability_granted": _disability(True), "disability_withdrawn": _disability(False),
    "name_corrected": _name, "id_number_corrected": _id_number,
}


def life_status(citizen_id: int) -> tuple[str, datetime | None]:
    """The citizen's status (resident when the hub never reported) and when a leaver's card ends."""
    row = db.session.execute(select(CitizenLife.status, CitizenLife.card_ends_at)
                             .where(CitizenLife.citizen_id == citizen_id)).first()
    return (row.status, row.card_ends_at) if row else ("resident", None)
