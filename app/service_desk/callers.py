"""Callers without the app (issue 21 item 3; M-14 service channels, M-19 and M-25 accountability).

A phone or walk-in caller who lost their phone, or cannot bind, is helped by an agent:

1. :func:`open_caller_ticket`: the agent types the ID number the caller gives. It is a caller
   check (app.service_desk.lookup): a stated reason, counted first against the agent's daily
   caller checks and, once a card is found, the citizen's, recorded as a ``lookup``. No match is
   404 ``caller_not_found`` and reveals nothing else. The ticket (``channel`` ``phone`` or
   ``walk_in``) is the agent's, ``in_progress``, outside the citizen's filing quota.
2. :func:`send_caller_code` / :func:`check_caller_code`: a 6-digit code by SMS to the card's
   contact phone (at most :data:`SENDS_PER_TICKET` sends, each recorded as ``caller_code``);
   checks are counted first (at most :data:`CODE_ATTEMPTS` per ticket, ever), each recorded as
   ``caller_verify``; the right code sets ``caller_verified_at`` once (a conditional UPDATE).
3. :func:`card_action`, under the verified ticket only: ``emergency_loss`` (the e-card
   suspended and the physical card reported lost, app.card.lifecycle), ``suspend_ecard``,
   ``end_device`` (one device revoked with its offline certificates). Each is a carrier event
   whose actor is ``staff:<username>``, and a ``card_action`` record in the audit trail (in the
   same transaction), so the citizen's access log shows it; the holder gets an SMS notice.
4. :func:`request_unbinding` (an agent) and :func:`decide_unbinding` (another staff member, a
   supervisor): a pending request, at most one per citizen, approved or refused by one
   conditional UPDATE; approval ends every mini-program binding of the citizen (app.card.unbinding).
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from app.card.devices import notify_holder
from app.card.lifecycle import Transition, current_physical, record_event, refuse_cancelled, transition_ecard, transition_physical
from app.card.models import Card, Device
from app.card.offline_lists import revoke_card_certificates
from app.card.unbinding import end_binding
from app.identity import idnumber
from app.identity.models import AuthToken, Citizen, MpAccount
from app.identity.people import CONTACT_PHONE, id_index
from app.integrations.sms import caller_check, mask_phone, notice, send_code
from app.platform.clock import DISPLAY_ZONE
from app.platform.db import db
from app.platform.errors import AppError
from app.runtime import Runtime
from app.service_desk.audit import StaffActor, record_staff_access
from app.service_desk.complaints import FRONT_LINE, _ticket_number, require_role
from app.service_desk.lookup import CHECKS_PER_AGENT, CHECKS_PER_CITIZEN, DAY, MIN_REASON, TICKET_WINDOW, ticket_in_work
from app.service_desk.models import Complaint, Staff, StaffAlert, UnbindingRequest
from app.service_desk.working_days import deadline

CHANNELS = ("phone", "walk_in")
CODE_TTL = 600  # seconds a code stays valid
SENDS_PER_TICKET = 3
CODE_ATTEMPTS = 5
CARD_ACTIONS = ("emergency_loss", "suspend_ecard", "end_device")
ACTION_WORDS = {"emergency_loss": "紧急挂失", "suspend_ecard": "暂停电子卡", "end_device": "停用一台设备"}


def staff_actor_name(actor: StaffActor) -> str:
    """The carrier-event actor for a staff member: ``staff:<username>``."""
    return f"staff:{actor.username}"


# --- 1. opening the ticket --------------------------------------------------------------------


def open_caller_ticket(rt: Runtime, actor: StaffActor, channel: str, id_number: str, category: str,
                       description: str, reason: str) -> Complaint:
    """A ticket for a caller who gives their ID number (front line only, 403). Counted before
    anything is looked up: 429 ``caller_check_limit`` (the agent's or the citizen's daily caller
    checks, shared with app.service_desk.lookup.find_in_ticket). 422 ``reason_required``,
    ``category_unknown``, ``channel_unknown``; 404 ``caller_not_found`` (no card for that ID
    number, or not a valid one: the same answer). Recorded as a ``lookup`` of ``id_number``."""
    require_role(actor, *FRONT_LINE)
    _check_form(rt, channel, category, reason)
    today = rt.clock.now().astimezone(DISPLAY_ZONE).date().isoformat()
    _count(rt, actor, f"caller-check:staff:{actor.staff_id}:{today}", CHECKS_PER_AGENT, "agent")
    card = _card_by_id_number(rt, id_number)
    if card is None:
        raise AppError("caller_not_found", 404, "no card matches the ID number the caller gave")
    _count(rt, actor, f"caller-check:citizen:{card.citizen_id}:{today}", CHECKS_PER_CITIZEN, "citizen")
    now = rt.clock.now()
    complaint = Complaint(ticket_number=_ticket_number(now), citizen_id=card.citizen_id, category=category,
                          kind="consultation", description=description, status="in_progress", assignee_id=actor.staff_id,
                          channel=channel, created_at=now, first_response_due=deadline(now, rt.config["CARD_FIRST_RESPONSE_DAYS"]),
                          resolution_due=deadline(now, rt.config["CARD_RESOLUTION_DAYS"]))
    db.session.add(complaint)
    db.session.flush()
    record_staff_access(rt, actor, "lookup", card.citizen_id, complaint.ticket_number, ["id_number"], reason.strip()[:200])
    return complaint


def _check_form(rt: Runtime, channel: str, category: str, reason: str) -> None:
    if channel not in CHANNELS:
        raise AppError("channel_unknown", 422, "a caller ticket is for a phone or a walk-in caller", {"channels": list(CHANNELS)})
    if category not in rt.config["CARD_COMPLAINT_CATEGORIES"]:
        raise AppError("category_unknown", 422, "not a complaint category")
    if len(reason.strip()) < MIN_REASON:
        raise AppError("reason_required", 422, "say why you look the caller up")


def _count(rt: Runtime, actor: StaffActor, key: str, limit: int, name: str) -> None:
    """Count first, then decide; the first refusal of a window alerts the supervisors once."""
    if rt.store.incr(key, 2 * DAY) <= limit:
        return
    if rt.store.claim(f"caller-check-alert:{actor.staff_id}:{key}", 2 * DAY):
        db.session.add(StaffAlert(at=rt.clock.now(), kind="caller_check_limit", staff_id=actor.staff_id,
                                  detail=f"{name}: more than {limit} caller checks (caller ticket)"))
        db.session.commit()
    raise AppError("caller_check_limit", 429, "too many caller checks: a supervisor has been told", {"limit": name})


def _card_by_id_number(rt: Runtime, id_number: str) -> Card | None:
    try:
        index = id_index(rt, idnumber.validate(id_number.strip().replace(" ", "")))
    except idnumber.IdNumberError:
        return None
    return db.session.scalar(select(Card).join(Citizen, Citizen.id == Card.citizen_id)
                             .where(Citizen.id_number_index == index))


# --- 2. verifying the caller ------------------------------------------------------------------


def caller_ticket(actor: StaffActor, ticket_number: str) -> Complaint:
    """An open caller ticket the actor may handle (errors of lookup.ticket_in_work); 409
    ``not_a_caller_ticket`` for a ticket filed in the app."""
    complaint = ticket_in_work(actor, ticket_number)
    if complaint.channel not in CHANNELS:
        raise AppError("not_a_caller_ticket", 409, "card actions are for phone and walk-in tickets")
    return complaint


def send_caller_code(rt: Runtime, actor: StaffActor, ticket_number: str) -> str:
    """Send a fresh code to the card's contact phone; returns the phone masked (138****8000).
    409 ``caller_verified`` (already), 429 ``caller_code_limit`` (counted first), 503
    ``sms_unavailable`` (the gateway did not take it: no code was sent; the send still counts)."""
    complaint = caller_ticket(actor, ticket_number)
    if complaint.caller_verified_at is not None:
        raise AppError("caller_verified", 409, "the caller is verified already")
    if rt.store.incr(f"caller-code:sent:{complaint.id}", TICKET_WINDOW) > SENDS_PER_TICKET:
        raise AppError("caller_code_limit", 429, f"at most {SENDS_PER_TICKET} codes per ticket")
    code = f"{secrets.randbelow(10**6):06d}"
    salt = secrets.token_hex(8)
    rt.store.put(f"caller-code:{complaint.id}", f"{salt}:{_digest(salt, code)}", CODE_TTL)
    card = _card_of(complaint)
    record_staff_access(rt, actor, "caller_code", complaint.citizen_id, complaint.ticket_number, ["phone"], "短信验证来电人")
    phone = rt.keyring.decrypt(card.contact_phone_enc, CONTACT_PHONE)
    send_code(rt.sms, phone, caller_check(code, CODE_TTL // 60))
    return mask_phone(phone)


def check_caller_code(rt: Runtime, actor: StaffActor, ticket_number: str, code: str) -> bool:
    """Check the code the caller reads out: counted first (429 ``caller_code_attempts`` past
    :data:`CODE_ATTEMPTS` for the ticket), recorded (``caller_verify``: ok / wrong), and the
    right code verifies the ticket once. True when verified now."""
    complaint = caller_ticket(actor, ticket_number)
    if rt.store.incr(f"caller-code:tried:{complaint.id}", TICKET_WINDOW) > CODE_ATTEMPTS:
        raise AppError("caller_code_attempts", 429, "too many wrong codes: verify the caller at a counter")
    stored = rt.store.get(f"caller-code:{complaint.id}")
    right = stored is not None and _matches(stored, code.strip())
    if right:
        db.session.execute(update(Complaint).where(Complaint.id == complaint.id, Complaint.caller_verified_at.is_(None))
                           .values(caller_verified_at=rt.clock.now(), caller_verified_by=actor.staff_id))
    record_staff_access(rt, actor, "caller_verify", complaint.citizen_id, complaint.ticket_number, ["phone"],
                        "ok" if right else "wrong")  # commits the verification with its record
    return right


def _digest(salt: str, code: str) -> str:
    return hashlib.sha256(f"{salt}:{code}".encode()).hexdigest()


def _matches(stored: str, code: str) -> bool:
    salt, _, digest = stored.partition(":")
    return hmac.compare_digest(digest, _digest(salt, code))


def verified_ticket(actor: StaffActor, ticket_number: str) -> Complaint:
    """A caller ticket whose caller is verified; 403 ``caller_not_verified`` before."""
    complaint = caller_ticket(actor, ticket_number)
    if complaint.caller_verified_at is None:
        raise AppError("caller_not_verified", 403, "verify the caller first (SMS code)")
    return complaint


def _card_of(complaint: Complaint) -> Card:
    return db.session.scalars(select(Card).where(Card.citizen_id == complaint.citizen_id)).one()


# --- 3. card actions ----------------------------------------------------------------------------


@dataclass(frozen=True)
class DeviceItem:
    id: int
    platform: str
    created_at: datetime


def live_devices(complaint: Complaint) -> list[DeviceItem]:
    """The card's unrevoked devices (to pick one to end; no personal data)."""
    query = (select(Device.id, Device.platform, Device.created_at).join(Card, Card.id == Device.card_id)
             .where(Card.citizen_id == complaint.citizen_id, Device.revoked_at.is_(None)).order_by(Device.id))
    return [DeviceItem(*row) for row in db.session.execute(query)]


def card_action(rt: Runtime, actor: StaffActor, ticket_number: str, action: str, reason: str,
                device_id: int | None = None) -> list[Transition]:
    """Take ``action`` (:data:`CARD_ACTIONS`) on the verified caller's card; committed with its
    audit record, then the holder is told by SMS. 422 ``action_unknown`` / ``reason_required``;
    403 ``caller_not_verified``; 409 ``card_cancelled``, ``illegal_transition``
    (app.card.lifecycle), ``nothing_to_report`` (loss: no active e-card and no physical card in
    use); 404 ``device_not_found`` (not a live device of the card)."""
    if action not in CARD_ACTIONS:
        raise AppError("action_unknown", 422, "not a card action", {"actions": list(CARD_ACTIONS)})
    if len(reason.strip()) < MIN_REASON:
        raise AppError("reason_required", 422, "say why")
    complaint = verified_ticket(actor, ticket_number)
    card = _card_of(complaint)
    refuse_cancelled(card)
    note = f"{action} for a verified {complaint.channel} caller, ticket {complaint.ticket_number}"
    transitions = ACTIONS[action](rt, card, staff_actor_name(actor), note, device_id)
    record_staff_access(rt, actor, "card_action", complaint.citizen_id, complaint.ticket_number,
                        [action, *(t.carrier for t in transitions)], reason.strip()[:200])
    notify_holder(rt, card, notice("desk_action_notice", ACTION_WORDS[action], complaint.ticket_number))
    return transitions


def _emergency_loss(rt: Runtime, card: Card, who: str, note: str, _device: int | None) -> list[Transition]:
    transitions = []
    if card.status == "active":
        transitions.append(transition_ecard(rt, card, "suspended", who, note))
    physical = current_physical(card.id)
    if physical is not None and physical.state in ("issued", "activated"):
        transitions.append(transition_physical(rt, physical, "loss_reported", who, note))
    if not transitions:
        raise AppError("nothing_to_report", 409, "the e-card is not active and no physical card is in use",
                       {"ecard": card.status, "physical": physical.state if physical else None})
    return transitions


def _suspend(rt: Runtime, card: Card, who: str, note: str, _device: int | None) -> list[Transition]:
    return [transition_ecard(rt, card, "suspended", who, note)]


def _end_device(rt: Runtime, card: Card, who: str, note: str, device_id: int | None) -> list[Transition]:
    ended = db.session.execute(update(Device).where(Device.id == (device_id or 0), Device.card_id == card.id,
                                                    Device.revoked_at.is_(None))
                               .values(revoked_at=rt.clock.now()).returning(Device.id)).first()
    if ended is None:
        db.session.rollback()
        raise AppError("device_not_found", 404, "not a device in use on this card")
    revoke_card_certificates(rt, card.id, device_id)
    transition = Transition("ecard", "device_ended", card.status, card.status)
    record_event(rt, card.id, transition, who, note)
    return [transition]


ACTIONS = {"emergency_loss": _emergency_loss, "suspend_ecard": _suspend, "end_device": _end_device}


# --- 4. unbinding with a supervisor's approval --------------------------------------------------


def request_unbinding(rt: Runtime, actor: StaffActor, ticket_number: str, reason: str) -> UnbindingRequest:
    """Ask a supervisor to end the verified caller's mini-program bindings. 422
    ``reason_required``; 403 ``caller_not_verified``; 409 ``unbinding_pending`` (one is open)."""
    if len(reason.strip()) < MIN_REASON:
        raise AppError("reason_required", 422, "say why")
    complaint = verified_ticket(actor, ticket_number)
    request = UnbindingRequest(complaint_id=complaint.id, citizen_id=complaint.citizen_id, status="pending",
                               reason=reason.strip()[:200], requested_by=actor.staff_id, requested_at=rt.clock.now())
    db.session.add(request)
    try:
        db.session.flush()  # the partial unique index: one pending request per citizen
    except IntegrityError:
        db.session.rollback()
        raise AppError("unbinding_pending", 409, "an unbinding request for this citizen is waiting for a supervisor") from None
    record_staff_access(rt, actor, "unbind_request", complaint.citizen_id, complaint.ticket_number, ["binding"],
                        request.reason)
    return request


@dataclass(frozen=True)
class UnbindingLine:
    id: int
    ticket_number: str
    status: str
    reason: str
    requested_by: str
    requested_at: datetime
    decided_at: datetime | None
    accounts_ended: int | None


def unbinding_requests(actor: StaffActor, limit: int = 100) -> list[UnbindingLine]:
    """Supervisors (403 otherwise): pending requests first, then the newest decided ones."""
    require_role(actor, "supervisor")
    query = (select(UnbindingRequest, Complaint.ticket_number, Staff.username)
             .join(Complaint, Complaint.id == UnbindingRequest.complaint_id)
             .join(Staff, Staff.id == UnbindingRequest.requested_by)
             .order_by(UnbindingRequest.status != "pending", UnbindingRequest.requested_at.desc()).limit(limit))
    return [UnbindingLine(r.id, number, r.status, r.reason, username, r.requested_at, r.decided_at, r.accounts_ended)
            for r, number, username in db.session.execute(query)]


def decide_unbinding(rt: Runtime, actor: StaffActor, request_id: int, approve: bool) -> str:
    """A supervisor approves or refuses a pending request; one conditional UPDATE decides, so of
    concurrent decisions exactly one applies (the others 409 ``unbinding_decided``). 403
    ``forbidden`` (not a supervisor, or the supervisor asked for it themselves). Approval ends
    each binding of the citizen (app.card.unbinding.end_binding, actor ``staff:<username>``) and
    revokes those accounts' tokens, in the same transaction. Returns the new status."""
    require_role(actor, "supervisor")
    status = "approved" if approve else "refused"
    decided = db.session.execute(
        update(UnbindingRequest).where(UnbindingRequest.id == request_id, UnbindingRequest.status == "pending",
                                       UnbindingRequest.requested_by != actor.staff_id)
        .values(status=status, decided_by=actor.staff_id, decided_at=rt.clock.now())
        .returning(UnbindingRequest.citizen_id, UnbindingRequest.complaint_id)).first()
    if decided is None:
        db.session.rollback()
        _refusal(actor, request_id)
    citizen_id, complaint_id = decided
    ended = _end_bindings(rt, actor, citizen_id) if approve else 0
    db.session.execute(update(UnbindingRequest).where(UnbindingRequest.id == request_id).values(accounts_ended=ended))
    number = db.session.scalar(select(Complaint.ticket_number).where(Complaint.id == complaint_id))
    record_staff_access(rt, actor, "unbind_decision", citizen_id, number, ["binding"], status)
    return status


def _refusal(actor: StaffActor, request_id: int) -> None:
    request = db.session.get(UnbindingRequest, request_id)
    if request is None:
        raise AppError("unbinding_not_found", 404, "no such unbinding request")
    if request.requested_by == actor.staff_id:
        raise AppError("forbidden", 403, "another supervisor decides on a request you made")
    raise AppError("unbinding_decided", 409, "the request has been decided", {"status": request.status})


def _end_bindings(rt: Runtime, actor: StaffActor, citizen_id: int) -> int:
    card = db.session.scalars(select(Card).where(Card.citizen_id == citizen_id)).one()
    accounts = db.session.scalars(select(MpAccount.id).where(MpAccount.citizen_id == citizen_id)).all()
    for account_id in accounts:
        end_binding(rt, account_id, card, "unbound", "unbound by a supervisor for a verified caller",
                    actor=staff_actor_name(actor))
    if accounts:
        db.session.execute(update(AuthToken).where(AuthToken.account_id.in_(accounts), AuthToken.revoked_at.is_(None))
                           .values(revoked_at=rt.clock.now()).execution_options(synchronize_session=False))
    return len(accounts)
