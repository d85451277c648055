"""Purpose-bound look-ups of citizens' data by staff (M-19, M-25).

Every function takes a ticket: staff reach a citizen's data only through an open ticket they
may handle (app.service_desk.complaints.staff_ticket), and every access is written to the audit
trail before the data is returned. Personal fields come masked; :func:`unmask` shows one field
in full and needs a reason. :func:`find_in_ticket` (the caller check) is no oracle (issue 15
item 3): it needs a reason, and is counted before it is answered, per ticket, per citizen a day
and per staff member a day; running into a limit raises a supervisor alert. :func:`card_overview` is the one place that gathers what a card
has (status, devices, the physical card and its recent transitions, recent verifications): add
carriers there as they appear.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select, update

from app.card.lifecycle import events_of_card, latest_physical, loss_reported_at, physical_view
from app.card.models import Card, Device
from app.identity import documents, idnumber
from app.identity.models import Citizen
from app.identity.people import ID_NUMBER, NAME, PHONE, id_index
from app.partners.models import Partner
from app.platform.clock import DISPLAY_ZONE
from app.platform.db import db
from app.platform.errors import AppError
from app.runtime import Runtime
from app.scanning.models import Verification
from app.service_desk.audit import StaffActor, record_staff_access
from app.service_desk.complaints import FRONT_LINE, require_role, staff_ticket
from app.service_desk.models import Complaint, Staff, StaffAlert

RECENT_VERIFICATIONS = 10
RECENT_CARRIER_EVENTS = 10
UNMASKABLE = {"name": NAME, "phone": PHONE, "id_number": ID_NUMBER}
MIN_REASON = 4
# The caller check: a phone has 10,000 candidates behind its mask and an ID number's hidden birth
# date a few thousand; these limits make recovering either take years, and are far above what a
# conversation with a caller needs (one or two checks).
CHECKS_PER_TICKET = 3
CHECKS_PER_CITIZEN = 5  # a local calendar day, whoever checks, over all the citizen's tickets
CHECKS_PER_AGENT = 20  # a local calendar day, over all citizens
DAY = 24 * 3600
TICKET_WINDOW = 90 * DAY  # a ticket's allowance does not come back


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


def find_in_ticket(rt: Runtime, actor: StaffActor, ticket_number: str, query: str, reason: str) -> bool:
    """Does the phone or ID number a caller gives belong to the ticket's citizen? Answers only
    yes or no (a check never reveals another citizen), with a reason (the ticket's purpose:
    422 ``reason_required``), recorded as a ``lookup`` before the answer.

    Counted first (atomic store counters: per ticket, per citizen a day, per staff member a
    day), decided on the count: over any limit, 429 ``caller_check_limit`` and no comparison at
    all, and a supervisor alert (one per staff member and limit window)."""
    if len(reason.strip()) < MIN_REASON:
        raise AppError("reason_required", 422, "say why you check the caller")
    complaint = ticket_in_work(actor, ticket_number)
    citizen_id = complaint.citizen_id
    today = rt.clock.now().astimezone(DISPLAY_ZONE).date().isoformat()  # daily limits: the local calendar day
    keys = {"ticket": (f"caller-check:ticket:{complaint.id}", CHECKS_PER_TICKET, TICKET_WINDOW),
            "citizen": (f"caller-check:citizen:{citizen_id}:{today}", CHECKS_PER_CITIZEN, 2 * DAY),
            "agent": (f"caller-check:staff:{actor.staff_id}:{today}", CHECKS_PER_AGENT, 2 * DAY)}
    exceeded = [name for name, (key, limit, ttl) in keys.items() if rt.store.incr(key, ttl) > limit]
    if exceeded:
        key, limit, ttl = keys[exceeded[0]]
        _alert_misuse(rt, actor, complaint, exceeded[0], key, limit, ttl)
        raise AppError("caller_check_limit", 429, "too many caller checks: a supervisor has been told",
                       {"limit": exceeded[0]})
    citizen = db.session.get_one(Citizen, citizen_id)
    text = query.strip().replace(" ", "")
    field = "phone" if len(text) == 11 and text.isdigit() else "id_number"
    record_staff_access(rt, actor, "lookup", citizen.id, complaint.ticket_number, [field], reason.strip()[:200])
    if field == "phone":
        return rt.keyring.decrypt(citizen.phone_enc, PHONE) == text
    try:
        return id_index(rt, idnumber.validate(text)) == citizen.id_number_index
    except idnumber.IdNumberError:
        return False


def _alert_misuse(rt: Runtime, actor: StaffActor, complaint: Complaint, limit: str, counter_key: str, allowed: int,
                  window: int) -> None:
    """One alert per staff member and exhausted counter (a claimed store key), not one per
    refused check; the detail names the limit, never a value tried."""
    if not rt.store.claim(f"caller-check-alert:{actor.staff_id}:{counter_key}", window):
        return
    db.session.add(StaffAlert(at=rt.clock.now(), kind="caller_check_limit", staff_id=actor.staff_id,
                              ticket_number=complaint.ticket_number, citizen_id=complaint.citizen_id,
                              detail=f"{limit}: more than {allowed} caller checks"))
    db.session.commit()


@dataclass(frozen=True)
class AlertLine:
    id: int
    at: datetime
    kind: str
    username: str
    ticket_number: str | None
    detail: str
    acknowledged_at: datetime | None


ALERTS_SHOWN = 100


def alerts(actor: StaffActor) -> list[AlertLine]:
    """Supervisors: the newest alerts, unacknowledged first; 403 for anyone else."""
    require_role(actor, "supervisor")
    query = (select(StaffAlert, Staff.username).join(Staff, Staff.id == StaffAlert.staff_id)
             .order_by(StaffAlert.acknowledged_at.is_not(None), StaffAlert.at.desc(), StaffAlert.id.desc())
             .limit(ALERTS_SHOWN))
    return [AlertLine(a.id, a.at, a.kind, username, a.ticket_number, a.detail, a.acknowledged_at)
            for a, username in db.session.execute(query)]


def open_alert_count(actor: StaffActor) -> int:
    """Unacknowledged alerts, for the supervisor's navigation (0 for other roles)."""
    if actor.role != "supervisor":
        return 0
    return len(db.session.scalars(select(StaffAlert.id).where(StaffAlert.acknowledged_at.is_(None)).limit(ALERTS_SHOWN)).all())


def acknowledge_alert(rt: Runtime, actor: StaffActor, alert_id: int) -> None:
    """Supervisors: mark an alert as seen (once; a second acknowledgement changes nothing)."""
    require_role(actor, "supervisor")
    db.session.execute(update(StaffAlert).where(StaffAlert.id == alert_id, StaffAlert.acknowledged_at.is_(None))
                       .values(acknowledged_at=rt.clock.now(), acknowledged_by=actor.staff_id))
    db.session.commit()


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
        documents.mask(rt.keyring.decrypt(citizen.id_number_enc, ID_NUMBER)), citizen.insured,
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
