"""Purpose-bound look-ups of citizens' data by staff (M-19, M-25).

Every function takes a ticket: staff reach a citizen's data only through an open ticket they
may handle (app.service_desk.complaints.staff_ticket), and every access is written to the audit
trail before the data is returned. Personal fields come masked; :func:`unmask` shows one field
in full and needs a reason. :func:`card_overview` is the one place that gathers what a card
has (status, devices, the physical card and its recent transitions, recent verifications): add
carriers there as they appear.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select

from app.card.lifecycle import events_of_card, latest_physical, loss_reported_at, physical_view
from app.card.models import Card, Device
from app.identity import idnumber
from app.identity.models import Citizen
from app.identity.people import ID_NUMBER, NAME, PHONE, id_index
from app.partners.models import Partner
from app.platform.db import db
from app.platform.errors import AppError
from app.runtime import Runtime
from app.scanning.models import Verification
from app.service_desk.audit import StaffActor, record_staff_access
from app.service_desk.complaints import FRONT_LINE, require_role, staff_ticket
from app.service_desk.models import Complaint

RECENT_VERIFICATIONS = 10
RECENT_CARRIER_EVENTS = 10
UNMASKABLE = {"name": NAME, "phone": PHONE, "id_number": ID_NUMBER}
MIN_REASON = 4


@dataclass(frozen=True)
class DeviceLine:
    created_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True)
class VerificationLine:
    verified_at: datetime
    partner_name: str
    scene: str
    accepted: bool
    reason: str | None


@dataclass(frozen=True)
class PhysicalLine:
    """The citizen's latest physical card (docs/card-lifecycle.md): the serial number masked to
    its last four characters (it is the proof of possession at activation)."""

    state: str
    serial_number: str | None
    bank_name: str
    issued_on: date | None
    loss_reported_at: datetime | None  # set while a loss report suspends the card


@dataclass(frozen=True)
class CarrierEventLine:
    """One transition of a carrier or of the card; its free-text reason is left out (a bank's
    report may carry anything)."""

    at: datetime
    carrier: str
    event: str
    from_state: str | None
    to_state: str
    actor: str


@dataclass(frozen=True)
class CardOverview:
    """A citizen as an agent sees them inside a ticket: personal fields masked."""

    citizen_id: int
    name: str
    phone: str
    id_number: str
    insured: bool
    card_number: str | None
    card_status: str | None
    devices: list[DeviceLine]
    physical: PhysicalLine | None
    carrier_events: list[CarrierEventLine]
    verifications: list[VerificationLine]


OVERVIEW_FIELDS = ("name_masked", "phone_masked", "id_number_masked", "card_status", "devices", "physical_card",
                   "carrier_events", "verifications")


def card_overview(rt: Runtime, actor: StaffActor, ticket_number: str) -> CardOverview:
    """The ticket's citizen: masked identity, card status, devices, the physical card and the
    card's recent transitions, recent verifications. Recorded as a ``view``. 403/404 as :func:`ticket_in_work`."""
    complaint = ticket_in_work(actor, ticket_number)
    record_staff_access(rt, actor, "view", complaint.citizen_id, complaint.ticket_number, OVERVIEW_FIELDS)
    return _overview(rt, db.session.get_one(Citizen, complaint.citizen_id))


def unmask(rt: Runtime, actor: StaffActor, ticket_number: str, field: str, reason: str) -> str:
    """One personal field of the ticket's citizen in full (``name``, ``phone``, ``id_number``);
    recorded as an ``unmask`` with the reason. 422 ``field_unknown`` / ``reason_required``."""
    if field not in UNMASKABLE:
        raise AppError("field_unknown", 422, "not a field that can be shown", {"fields": list(UNMASKABLE)})
    if len(reason.strip()) < MIN_REASON:
        raise AppError("reason_required", 422, "say why you need the full value")
    complaint = ticket_in_work(actor, ticket_number)
    citizen = db.session.get_one(Citizen, complaint.citizen_id)
    record_staff_access(rt, actor, "unmask", citizen.id, complaint.ticket_number, [field], reason.strip())
    return rt.keyring.decrypt(getattr(citizen, f"{field}_enc"), UNMASKABLE[field])


def find_in_ticket(rt: Runtime, actor: StaffActor, ticket_number: str, query: str) -> bool:
    """Does the phone or ID number a caller gives belong to the ticket's citizen? Recorded as a
    ``lookup``. Answers only yes or no: a look-up never reveals another citizen."""
    complaint = ticket_in_work(actor, ticket_number)
    citizen = db.session.get_one(Citizen, complaint.citizen_id)
    text = query.strip().replace(" ", "")
    field = "phone" if len(text) == 11 and text.isdigit() else "id_number"
    record_staff_access(rt, actor, "lookup", citizen.id, complaint.ticket_number, [field])
    if field == "phone":
        return rt.keyring.decrypt(citizen.phone_enc, PHONE) == text
    try:
        return id_index(rt, idnumber.validate(text)) == citizen.id_number_index
    except idnumber.IdNumberError:
        return False


def ticket_in_work(actor: StaffActor, ticket_number: str) -> Complaint:
    """The open ticket that is the purpose of a look-up: front-line staff only (403), a ticket
    they may see (404), not closed (409 ``complaint_closed``: the purpose has ended)."""
    require_role(actor, *FRONT_LINE)
    complaint = staff_ticket(actor, ticket_number)
    if complaint.status == "closed":
        raise AppError("complaint_closed", 409, "the ticket is closed: its purpose has ended")
    return complaint


def _overview(rt: Runtime, citizen: Citizen) -> CardOverview:
    card = db.session.scalar(select(Card).where(Card.citizen_id == citizen.id))
    name = rt.keyring.decrypt(citizen.name_enc, NAME)
    phone = rt.keyring.decrypt(citizen.phone_enc, PHONE)
    return CardOverview(
        citizen.id, name[:1] + "*" * (len(name) - 1), phone[:3] + "****" + phone[-4:],
        idnumber.mask(rt.keyring.decrypt(citizen.id_number_enc, ID_NUMBER)), citizen.insured,
        card.card_number if card else None, card.status if card else None,
        _devices(card) if card else [], _physical(card) if card else None,
        [CarrierEventLine(e.created_at, e.carrier, e.event, e.from_state, e.to_state, e.actor)
         for e in (events_of_card(card.id, RECENT_CARRIER_EVENTS) if card else [])],
        _verifications(card) if card else [],
    )


def _physical(card: Card) -> PhysicalLine | None:
    physical = latest_physical(card.id)
    if physical is None:
        return None
    view = physical_view(physical)  # the serial number masked as the citizen sees it
    return PhysicalLine(view.state, view.serial_number, view.bank_name, view.issued_on, loss_reported_at(physical))


def _devices(card: Card) -> list[DeviceLine]:
    query = select(Device.created_at, Device.revoked_at).where(Device.card_id == card.id).order_by(Device.created_at.desc())
    return [DeviceLine(*row) for row in db.session.execute(query)]


def _verifications(card: Card) -> list[VerificationLine]:
    query = (select(Verification.created_at, Partner.name, Verification.scene, Verification.accepted, Verification.reason)
             .join(Partner, Partner.id == Verification.partner_id).where(Verification.card_id == card.id)
             .order_by(Verification.created_at.desc()).limit(RECENT_VERIFICATIONS))
    return [VerificationLine(*row) for row in db.session.execute(query)]
