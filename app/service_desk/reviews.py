"""Reviewing e-card applications in the console (M-5; issue 17 item 1): the ``reviewer`` role.

A reviewer lists applications (paged; by status, or only the overdue ones: still ``pending``
after ``due_at``), opens one (personal fields decrypted, the document masked; the read is
recorded in the audit trail first, with the application's reference as its purpose, so the
applicant sees it in the application's access log and, once approved, in GET /me/access-log),
and decides: approve, refuse with a reason, or ask for more information.

Each decision is one conditional ``UPDATE ... WHERE status = 'pending' RETURNING``: two
reviewers acting on one application at the same moment cannot both succeed; the other gets
409 ``application_decided``. Approval, in the same transaction, makes the applicant a citizen
(``insured`` false: the e-card only, M-5; one ``INSERT ... ON CONFLICT DO NOTHING`` on the
identifier's blind index) and issues the card to the applying account with
app/card/binding.py's ``issue_card``, at assurance ``knowledge`` (the document checked remotely)
or ``counter`` (the reviewer saw the original at a counter).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update

from app.card.binding import issue_card
from app.identity import documents
from app.identity.models import Citizen, MpAccount
from app.identity.people import ID_NUMBER, normalize_name
from app.identity.people import NAME as CITIZEN_NAME
from app.identity.people import PHONE as CITIZEN_PHONE
from app.identity.real_person import COUNTER, KNOWLEDGE
from app.platform.db import db
from app.platform.errors import AppError
from app.platform.sql import upsert_insert
from app.runtime import Runtime
from app.service_desk import applications as apps
from app.service_desk.audit import StaffActor, record_staff_access
from app.service_desk.complaints import require_role
from app.service_desk.models import APPLICATION_STATUSES, CardApplication

REVIEWER = "reviewer"
PAGE_SIZE = 50
MIN_REASON, MAX_TEXT = 4, 500
DETAIL_FIELDS = ("name", "phone_masked", "document_masked", "permit", "address", "employer", "answer")


@dataclass(frozen=True)
class QueueLine:
    """One application in the list: nothing personal (the list is not audited)."""

    reference: str
    status: str
    document_type: str
    document_checked: bool
    submitted_at: datetime
    due_at: datetime
    overdue: bool


@dataclass(frozen=True)
class Detail:
    """One application as a reviewer sees it: personal fields decrypted, phone and document masked."""

    line: QueueLine
    name: str
    phone_masked: str
    document_masked: str
    nationality_permit: str | None
    address: str | None
    employer: str | None
    question: str | None
    answer: str | None
    answered_at: datetime | None
    decided_at: datetime | None
    refusal_reason: str | None
    assurance: str | None


def queue(rt: Runtime, actor: StaffActor, status: str | None, overdue: bool, page: int) -> tuple[list[QueueLine], bool]:
    """Reviewers: applications oldest deadline first, ``PAGE_SIZE`` a page (1-based), and whether
    another page follows. ``status`` one of the statuses or None (all); ``overdue``: pending past
    the deadline only. 403 ``forbidden`` for other roles."""
    require_role(actor, REVIEWER)
    now = rt.clock.now()
    query = select(CardApplication)
    if status in APPLICATION_STATUSES:
        query = query.where(CardApplication.status == status)
    if overdue:
        query = query.where(CardApplication.status == "pending", CardApplication.due_at < now)
    rows = db.session.scalars(query.order_by(CardApplication.due_at, CardApplication.id)
                              .offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE + 1)).all()
    return [_line(row, now) for row in rows[:PAGE_SIZE]], len(rows) > PAGE_SIZE


def _line(row: CardApplication, now: datetime) -> QueueLine:
    return QueueLine(row.reference, row.status, row.document_type, row.document_checked, row.submitted_at, row.due_at,
                     row.status == "pending" and row.due_at < now)


def detail(rt: Runtime, actor: StaffActor, reference: str) -> Detail:
    """Reviewers: one application, recorded as a ``view`` (purpose: the reference) before it is
    decrypted. 404 ``application_not_found``."""
    require_role(actor, REVIEWER)
    row = _application(reference)
    record_staff_access(rt, actor, "view", row.citizen_id, reference, DETAIL_FIELDS)
    decrypt = rt.keyring.decrypt
    phone = decrypt(row.phone_enc, apps.PHONE)
    return Detail(_line(row, rt.clock.now()), decrypt(row.name_enc, apps.NAME), phone[:3] + "****" + phone[-4:],
                  documents.mask(decrypt(row.document_enc, ID_NUMBER)), _permit(rt, row),
                  row.address_enc and decrypt(row.address_enc, apps.ADDRESS),
                  row.employer_enc and decrypt(row.employer_enc, apps.EMPLOYER), row.question,
                  row.answer_enc and decrypt(row.answer_enc, apps.ANSWER), row.answered_at, row.decided_at,
                  row.refusal_reason, row.assurance)


def _permit(rt: Runtime, row: CardApplication) -> str | None:
    if row.permit_enc is None:
        return None
    kind, _, number = rt.keyring.decrypt(row.permit_enc, apps.PERMIT).partition(":")
    return f"{kind}:{'*' * max(len(number) - 4, 2)}{number[-4:]}"


def _application(reference: str) -> CardApplication:
    row = db.session.scalar(select(CardApplication).where(CardApplication.reference == reference[:24]))
    if row is None:
        raise AppError("application_not_found", 404, "no such application")
    return row


def ask(rt: Runtime, actor: StaffActor, reference: str, question: str) -> None:
    """Ask the applicant for more information (they answer with POST .../answers); 409
    ``application_decided`` unless pending (one conditional UPDATE)."""
    require_role(actor, REVIEWER)
    _decide(rt, actor, reference, "ask", status="more_info", question=_text(question, "question"))
    db.session.commit()


def refuse(rt: Runtime, actor: StaffActor, reference: str, reason: str) -> None:
    """Refuse, with a reason the applicant reads; 409 ``application_decided`` unless pending."""
    require_role(actor, REVIEWER)
    _decide(rt, actor, reference, "refuse", status="refused", refusal_reason=_text(reason, "reason"))
    db.session.commit()


def approve(rt: Runtime, actor: StaffActor, reference: str, seen_at_counter: bool = False) -> str:
    """Approve: the applicant becomes a citizen (not insured: the e-card only) and the applying
    account gets the card, in one transaction; returns the card number. 409
    ``application_decided`` (not pending), ``document_already_registered`` (someone holds a card
    under this document: refuse instead), ``account_already_bound``, ``account_cancelled``."""
    require_role(actor, REVIEWER)
    assurance = COUNTER if seen_at_counter else KNOWLEDGE
    row = _decide(rt, actor, reference, "approve", status="approved", assurance=assurance, record=False)
    try:
        citizen = _new_citizen(rt, row)
        account = db.session.get_one(MpAccount, row.account_id)
        if account.cancelled_at is not None:
            raise AppError("account_cancelled", 409, "the applicant cancelled their account: refuse")
        result = issue_card(rt, account, citizen, rt.keyring.decrypt(row.phone_enc, apps.PHONE), assurance)
    except AppError:
        db.session.rollback()
        raise
    record_staff_access(rt, actor, "approve", citizen.id, reference, ("decision",))
    return result.card_number


def _decide(rt: Runtime, actor: StaffActor, reference: str, action: str, record: bool = True, **values: str) -> CardApplication:
    """The one conditional UPDATE from ``pending``; the decision is recorded (``record``) in the
    same transaction's commit, the caller's."""
    now = rt.clock.now()
    decided = {} if values["status"] == "more_info" else {"decided_at": now, "decided_by": actor.staff_id}
    done = db.session.execute(
        update(CardApplication).where(CardApplication.reference == reference[:24], CardApplication.status == "pending")
        .values(**values, **decided).returning(CardApplication.id).execution_options(synchronize_session=False)).first()
    if done is None:
        db.session.rollback()
        _application(reference)
        raise AppError("application_decided", 409, "this application is not waiting for a review (decided or asked meanwhile)")
    row = db.session.get_one(CardApplication, done.id)
    db.session.refresh(row)
    if record:
        record_staff_access(rt, actor, action, None, reference, ("decision",))  # commits the change with it
    return row


def _new_citizen(rt: Runtime, row: CardApplication) -> Citizen:
    now, encrypt = rt.clock.now(), rt.keyring.encrypt
    identifier = rt.keyring.decrypt(row.document_enc, ID_NUMBER)
    values = {"id_number_index": row.document_index, "id_number_enc": encrypt(identifier, ID_NUMBER),
              "name_enc": encrypt(normalize_name(rt.keyring.decrypt(row.name_enc, apps.NAME)), CITIZEN_NAME),
              "phone_enc": encrypt(rt.keyring.decrypt(row.phone_enc, apps.PHONE), CITIZEN_PHONE),
              "insured": False, "disability": False, "created_at": now, "updated_at": now}
    inserted = db.session.execute(upsert_insert(db.engine.dialect.name, Citizen.__table__).values(**values)
                                  .on_conflict_do_nothing(index_elements=["id_number_index"])
                                  .returning(Citizen.__table__.c.id)).first()
    if inserted is None:
        raise AppError("document_already_registered", 409, "a card holder is already registered under this document: refuse")
    db.session.execute(update(CardApplication).where(CardApplication.id == row.id).values(citizen_id=inserted.id)
                       .execution_options(synchronize_session=False))
    return db.session.get_one(Citizen, inserted.id)


def _text(value: str, name: str) -> str:
    value = (value or "").strip()
    if not MIN_REASON <= len(value) <= MAX_TEXT:
        raise AppError("text_required", 422, f"{name}: {MIN_REASON}-{MAX_TEXT} characters")
    return value
