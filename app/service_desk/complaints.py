"""Complaints (M-14): citizens file and follow them from the mini-program; staff handle them.

Statuses (app.service_desk.models): ``new`` -> ``in_progress`` (claimed) -> ``transferred`` (to a
department of CARD_DEPARTMENTS, M-10 linkage) -> ``answered`` (the department's liaison replied)
-> ``closed``; a citizen rates a closed complaint once (1-5). Deadlines: the first staff reply
within CARD_FIRST_RESPONSE_DAYS working days, closing within CARD_RESOLUTION_DAYS working days
(Asia/Shanghai, on the State Council's calendar of holidays and make-up working days:
app.service_desk.working_days).

Who may do what (the console, docs/customer-service.md): an agent takes the queue, claims,
replies, transfers and closes; a supervisor also reassigns and sees deadline breaches; a liaison
sees and answers only tickets transferred to their department (others are 404 to them); an
auditor handles no tickets.

Limits (issue 15 item 8): a citizen files at most :data:`MAX_PER_DAY` complaints a local day and
has at most :data:`MAX_OPEN` open at once (429 ``complaint_daily_limit`` /
``complaint_open_limit``). Both are counted first, in one conditional upsert of the citizen's
:class:`~app.service_desk.models.ComplaintQuota` row in the filing's own transaction. The staff
queue (app.service_desk.queue) is fair: each citizen's oldest open ticket comes before anyone's
second (then the second ones, and so on), paged, so one citizen's tickets never push another
citizen's out of sight.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, func, or_, select, update

from app.card.devices import bound_card
from app.identity.models import MpAccount
from app.platform.clock import DISPLAY_ZONE
from app.platform.db import db
from app.platform.errors import AppError
from app.platform.sql import upsert_insert
from app.runtime import Runtime
from app.scanning.models import Verification
from app.service_desk import notices
from app.service_desk.audit import StaffActor
from app.service_desk.models import Complaint, ComplaintMessage, ComplaintQuota, Staff
from app.service_desk.working_days import deadline

FRONT_LINE = ("agent", "supervisor")
TICKET_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
QUEUE_LIMIT = 200
MAX_PER_DAY = 5
MAX_OPEN = 5


@dataclass(frozen=True)
class MessageView:
    """``author``: citizen, agent, department or system; staff are never named to citizens."""

    author: str
    body: str
    created_at: datetime


@dataclass(frozen=True)
class ComplaintView:
    """A complaint as its citizen sees it."""

    ticket_number: str
    category: str
    kind: str
    description: str
    verification_id: str | None
    status: str
    created_at: datetime
    first_response_due: datetime
    resolution_due: datetime
    closed_at: datetime | None
    rating: int | None
    messages: list[MessageView]


# --- citizens -------------------------------------------------------------------------------

def file_complaint(rt: Runtime, account: MpAccount, category: str, description: str,
                   verification_id: str | None, kind: str = "complaint") -> ComplaintView:
    """A new ticket from a bound citizen: a complaint (投诉) or, with ``kind`` ``consultation``,
    a question (咨询; same queue, deadlines and limits); 422 ``category_unknown`` / ``verification_unknown``
    (the verification must be one of the citizen's own), 403 ``not_bound``, 429
    ``complaint_daily_limit`` / ``complaint_open_limit``."""
    card = bound_card(account)
    if category not in rt.config["CARD_COMPLAINT_CATEGORIES"]:
        raise AppError("category_unknown", 422, "not a complaint category", {"categories": list(rt.config["CARD_COMPLAINT_CATEGORIES"])})
    if verification_id is not None and db.session.scalar(
            select(Verification.id).where(Verification.id == verification_id, Verification.card_id == card.id)) is None:
        raise AppError("verification_unknown", 422, "not one of your verifications")
    now = rt.clock.now()
    _count_filing(now, card.citizen_id)
    complaint = Complaint(ticket_number=_ticket_number(now), citizen_id=card.citizen_id, category=category, kind=kind,
                          description=description, verification_id=verification_id, status="new", created_at=now,
                          first_response_due=deadline(now, rt.config["CARD_FIRST_RESPONSE_DAYS"]),
                          resolution_due=deadline(now, rt.config["CARD_RESOLUTION_DAYS"]))
    db.session.add(complaint)
    db.session.commit()
    return _view(complaint)


def _count_filing(now: datetime, citizen_id: int) -> None:
    """Count the filing first: one ``INSERT ... ON CONFLICT DO UPDATE ... WHERE`` raises the
    day's and the open count only while both are under their limits; no row back means refused.
    The row stays locked until the filing commits (or rolls back, taking the count with it)."""
    today = now.astimezone(DISPLAY_ZONE).date()
    stmt = upsert_insert(db.session.get_bind().dialect.name, ComplaintQuota).values(
        citizen_id=citizen_id, day=today, filed_on_day=1, open_count=1)
    same_day = ComplaintQuota.day == stmt.excluded.day
    stmt = stmt.on_conflict_do_update(
        index_elements=[ComplaintQuota.citizen_id],
        set_={"filed_on_day": case((same_day, ComplaintQuota.filed_on_day + 1), else_=1), "day": stmt.excluded.day,
              "open_count": ComplaintQuota.open_count + 1},
        where=(ComplaintQuota.open_count < MAX_OPEN) & (~same_day | (ComplaintQuota.filed_on_day < MAX_PER_DAY)),
    )
    if db.session.execute(stmt.returning(ComplaintQuota.citizen_id)).first() is not None:
        return
    db.session.rollback()
    quota = db.session.get_one(ComplaintQuota, citizen_id)
    if quota.open_count >= MAX_OPEN:
        raise AppError("complaint_open_limit", 429, f"at most {MAX_OPEN} open complaints at once: add to an open one",
                       {"max_open": MAX_OPEN})
    tomorrow = datetime.combine(today + timedelta(days=1), datetime.min.time(), DISPLAY_ZONE)
    raise AppError("complaint_daily_limit", 429, f"at most {MAX_PER_DAY} complaints a day", {"max_per_day": MAX_PER_DAY},
                   headers={"Retry-After": str(max(1, int((tomorrow - now).total_seconds())))})


def _ticket_number(now: datetime) -> str:
    """``CS`` + the local date + 6 random characters, e.g. ``CS20261129-4F7K2Q``."""
    suffix = "".join(secrets.choice(TICKET_ALPHABET) for _ in range(6))
    return f"CS{now.astimezone(DISPLAY_ZONE):%Y%m%d}-{suffix}"


def own_complaints(account: MpAccount) -> list[ComplaintView]:
    """The citizen's complaints, newest first, with their messages; 403 ``not_bound``."""
    card = bound_card(account)
    query = select(Complaint).where(Complaint.citizen_id == card.citizen_id).order_by(Complaint.created_at.desc()).limit(QUEUE_LIMIT)
    return [_view(complaint) for complaint in db.session.scalars(query)]


def add_citizen_message(rt: Runtime, account: MpAccount, ticket_number: str, body: str) -> ComplaintView:
    """A follow-up message; 404 ``complaint_not_found``, 409 ``complaint_closed``."""
    complaint = _own(account, ticket_number)
    if complaint.status == "closed":
        raise AppError("complaint_closed", 409, "the complaint is closed; file a new one")
    _message(rt, complaint, "citizen", None, body)
    db.session.commit()
    return _view(complaint)


def rate(rt: Runtime, account: MpAccount, ticket_number: str, score: int, comment: str | None) -> ComplaintView:
    """Rate the resolution once (1-5); 409 ``complaint_open`` before closing, ``already_rated``.
    One conditional UPDATE: two concurrent ratings cannot both land."""
    complaint = _own(account, ticket_number)
    if complaint.status != "closed":
        raise AppError("complaint_open", 409, "a complaint can be rated once it is closed")
    rated = db.session.execute(update(Complaint).where(Complaint.id == complaint.id, Complaint.rating.is_(None))
                               .values(rating=score, rating_comment=comment))
    db.session.commit()
    if not rated.rowcount:  # type: ignore[attr-defined]
        raise AppError("already_rated", 409, "this complaint is already rated")
    db.session.refresh(complaint)
    return _view(complaint)


def _own(account: MpAccount, ticket_number: str) -> Complaint:
    card = bound_card(account)
    complaint = db.session.scalar(select(Complaint).where(Complaint.ticket_number == ticket_number,
                                                          Complaint.citizen_id == card.citizen_id))
    if complaint is None:
        raise AppError("complaint_not_found", 404, "no such complaint of yours")
    return complaint


def messages_of(complaint: Complaint, internal: bool = True) -> list[ComplaintMessage]:
    """The ticket's messages, oldest first; ``internal=False`` leaves out staff notes (the citizen's view)."""
    query = select(ComplaintMessage).where(ComplaintMessage.complaint_id == complaint.id).order_by(ComplaintMessage.id)
    if not internal:
        query = query.where(ComplaintMessage.internal.is_(False))
    return list(db.session.scalars(query))


def _view(complaint: Complaint) -> ComplaintView:
    messages = [MessageView(m.author, m.body, m.created_at) for m in messages_of(complaint, internal=False)]
    return ComplaintView(complaint.ticket_number, complaint.category, complaint.kind, complaint.description, complaint.verification_id,
                         complaint.status, complaint.created_at, complaint.first_response_due, complaint.resolution_due,
                         complaint.closed_at, complaint.rating, messages)


def _message(rt: Runtime, complaint: Complaint, author: str, staff_id: int | None, body: str,
             internal: bool = False) -> ComplaintMessage:
    message = ComplaintMessage(complaint_id=complaint.id, author=author, staff_id=staff_id, body=body,
                               created_at=rt.clock.now(), internal=internal)
    db.session.add(message)
    return message


def _notify(rt: Runtime, complaint: Complaint, message: ComplaintMessage, event: str) -> None:
    """Queue the citizen's notice of ``message`` (app.service_desk.notices) in this transaction."""
    db.session.flush()
    notices.enqueue(rt, complaint, message, event)


# --- staff ----------------------------------------------------------------------------------

def require_role(actor: StaffActor, *roles: str) -> None:
    """403 ``forbidden`` unless the actor has one of ``roles``."""
    if actor.role not in roles:
        raise AppError("forbidden", 403, "your role may not do this")


def staff_ticket(actor: StaffActor, ticket_number: str) -> Complaint:
    """The ticket if the actor may handle it; 404 ``complaint_not_found`` otherwise (a liaison
    learns nothing about other departments' tickets), 403 for an auditor."""
    require_role(actor, *FRONT_LINE, "liaison")
    query = select(Complaint).where(Complaint.ticket_number == ticket_number.strip().upper())
    if actor.role == "liaison":
        query = query.where(Complaint.department == actor.department)
    complaint = db.session.scalar(query)
    if complaint is None:
        raise AppError("complaint_not_found", 404, "no such ticket")
    return complaint


def claim(rt: Runtime, actor: StaffActor, ticket_number: str) -> Complaint:
    """Take a ticket nobody holds; 409 ``already_claimed`` if someone else has it. One
    conditional UPDATE: two agents claiming at once cannot both win."""
    complaint = _front_line_ticket(actor, ticket_number)
    mine_or_free = (Complaint.assignee_id.is_(None)) | (Complaint.assignee_id == actor.staff_id)
    taken = db.session.execute(update(Complaint).where(Complaint.id == complaint.id, mine_or_free).values(
        assignee_id=actor.staff_id, status=case((Complaint.status == "new", "in_progress"), else_=Complaint.status)))
    db.session.commit()
    if not taken.rowcount:  # type: ignore[attr-defined]
        raise AppError("already_claimed", 409, "another agent has this ticket")
    db.session.refresh(complaint)
    return complaint


def reply(rt: Runtime, actor: StaffActor, ticket_number: str, body: str) -> Complaint:
    """A reply the citizen sees. Front line: claims an unclaimed ticket. A liaison's reply is
    the department's answer (status ``answered``, back to the front line)."""
    complaint = staff_ticket(actor, ticket_number)
    _refuse_closed(complaint)
    if actor.role == "liaison":
        if complaint.status != "transferred":
            raise AppError("not_transferred", 409, "the ticket is not waiting for your department")
        complaint.status = "answered"
        message = _message(rt, complaint, "department", actor.staff_id, body)
    else:
        complaint.assignee_id = complaint.assignee_id or actor.staff_id
        complaint.status = "in_progress" if complaint.status == "new" else complaint.status
        message = _message(rt, complaint, "agent", actor.staff_id, body)
    complaint.first_responded_at = complaint.first_responded_at or rt.clock.now()
    _notify(rt, complaint, message, "reply")
    db.session.commit()
    return complaint


def add_internal_note(rt: Runtime, actor: StaffActor, ticket_number: str, body: str) -> Complaint:
    """A note for staff and the department only: the citizen never sees it (item 17). Front
    line and the ticket's liaison; 409 ``complaint_closed``."""
    complaint = staff_ticket(actor, ticket_number)
    _refuse_closed(complaint)
    _message(rt, complaint, "department" if actor.role == "liaison" else "agent", actor.staff_id, body, internal=True)
    db.session.commit()
    return complaint


def transfer(rt: Runtime, actor: StaffActor, ticket_number: str, department: str, note: str) -> Complaint:
    """Transfer to ``department`` (a key of CARD_DEPARTMENTS) with a note the liaison reads and
    the citizen sees too (a status change with its note; the form says so: internal remarks go
    in :func:`add_internal_note`); 422 ``department_unknown``."""
    complaint = _front_line_ticket(actor, ticket_number)
    departments = rt.config["CARD_DEPARTMENTS"]
    if department not in departments:
        raise AppError("department_unknown", 422, "not a department", {"departments": list(departments)})
    complaint.department, complaint.status = department, "transferred"
    complaint.assignee_id = complaint.assignee_id or actor.staff_id
    _message(rt, complaint, "system", actor.staff_id, f"转交 {departments[department]}: {note}".rstrip(": "))
    db.session.commit()
    return complaint


def close(rt: Runtime, actor: StaffActor, ticket_number: str, note: str) -> Complaint:
    """Close the ticket with a closing note the citizen sees. One conditional UPDATE: of two
    concurrent closes one wins (the other 409 ``complaint_closed``), and only it lowers the
    citizen's open count."""
    complaint = _front_line_ticket(actor, ticket_number)
    now = rt.clock.now()
    closed = db.session.execute(update(Complaint).where(Complaint.id == complaint.id, Complaint.status != "closed").values(
        status="closed", closed_at=now, assignee_id=func.coalesce(Complaint.assignee_id, actor.staff_id),
        first_responded_at=func.coalesce(Complaint.first_responded_at, now)))
    if not closed.rowcount:  # type: ignore[attr-defined]
        db.session.rollback()
        raise AppError("complaint_closed", 409, "the ticket is closed")
    if complaint.channel == "app":  # a caller ticket (app/service_desk/callers.py) was never counted
        db.session.execute(update(ComplaintQuota).where(ComplaintQuota.citizen_id == complaint.citizen_id,
                                                        ComplaintQuota.open_count > 0)
                           .values(open_count=ComplaintQuota.open_count - 1))
    _notify(rt, complaint, _message(rt, complaint, "agent", actor.staff_id, note), "closed")
    db.session.commit()
    db.session.refresh(complaint)
    return complaint


def reassign(rt: Runtime, actor: StaffActor, ticket_number: str, username: str) -> Complaint:
    """Supervisors: give the ticket to another front-line staff member; 422 ``staff_unknown``."""
    require_role(actor, "supervisor")
    complaint = _front_line_ticket(actor, ticket_number)
    target = db.session.scalar(select(Staff).where(Staff.username == username, Staff.role.in_(FRONT_LINE),
                                                   Staff.disabled_at.is_(None)))
    if target is None:
        raise AppError("staff_unknown", 422, "no active agent or supervisor with that username")
    complaint.assignee_id = target.id
    db.session.commit()
    return complaint


def breaches(rt: Runtime) -> tuple[list[Complaint], int]:
    """Tickets past a deadline: no first reply by ``first_response_due``, or not closed by
    ``resolution_due`` (including those that were answered or closed late): the
    :data:`QUEUE_LIMIT` due soonest, and how many there are in all (the page says when it shows
    only part; the open ones are all in the queue's 只看已超时 filter, paged)."""
    now = rt.clock.now()
    late_reply = or_(Complaint.first_responded_at > Complaint.first_response_due,
                     Complaint.first_responded_at.is_(None) & (Complaint.first_response_due < now))
    late_close = or_(Complaint.closed_at > Complaint.resolution_due,
                     Complaint.closed_at.is_(None) & (Complaint.resolution_due < now))
    query = select(Complaint).where(or_(late_reply, late_close))
    total = db.session.scalar(query.with_only_columns(func.count(Complaint.id))) or 0
    return list(db.session.scalars(query.order_by(Complaint.resolution_due).limit(QUEUE_LIMIT))), total


def assignee_names(complaints: list[Complaint]) -> dict[int, str]:
    """Staff id -> username for the assignees of ``complaints`` (for the queue)."""
    ids = {c.assignee_id for c in complaints if c.assignee_id}
    rows = db.session.execute(select(Staff.id, Staff.username).where(Staff.id.in_(ids))) if ids else []
    return {row.id: row.username for row in rows}


def _front_line_ticket(actor: StaffActor, ticket_number: str) -> Complaint:
    require_role(actor, *FRONT_LINE)
    complaint = staff_ticket(actor, ticket_number)
    _refuse_closed(complaint)
    return complaint


def _refuse_closed(complaint: Complaint) -> None:
    if complaint.status == "closed":
        raise AppError("complaint_closed", 409, "the ticket is closed")
