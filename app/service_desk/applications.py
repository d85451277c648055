"""E-card applications of residents off the roster (M-5; issue 17 item 1): the applicant's side.

Someone who lives or works in Dongguan without local social insurance, and so is not on the
imported roster, applies from the mini-program with an identity document
(app/identity/documents.py: each type by its own rules), name, phone and an address or employer
in Dongguan. A reviewer decides in the console (app/service_desk/reviews.py); approval issues an
e-card-only card bound to the applying account (app/card/binding.py, ``issue_card``).

Statuses: ``pending`` (the reviewer's turn, due ``CARD_APPLICATION_REVIEW_DAYS`` working days
after submission or after the last answer) -> ``approved`` / ``refused``; or ``more_info`` (the
reviewer asked a question) -> ``pending`` once the applicant answers.

Every change is one conditional statement: submitting is one ``INSERT ... ON CONFLICT DO
NOTHING`` against partial unique indexes (one open application per account and per document:
32 submissions at once give one application), answering one ``UPDATE ... WHERE status =
'more_info' RETURNING``. Limits count first, then decide (store counters): submissions and
answers per account a day. Personal fields are encrypted; the document is shown masked.
"""
from __future__ import annotations

import re
import secrets
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from app.card.models import Card
from app.identity import documents
from app.identity.models import MpAccount
from app.identity.people import ID_NUMBER, checked_phone, id_index, normalize_name
from app.platform.db import db
from app.platform.errors import AppError
from app.platform.sql import upsert_insert
from app.runtime import Runtime
from app.service_desk.models import AuditRecord, CardApplication
from app.service_desk.working_days import deadline

NAME, PHONE, ADDRESS, EMPLOYER, PERMIT, ANSWER = (f"application.{purpose}" for purpose in (
    "name", "phone", "address", "employer", "permit", "answer"))
SUBMISSIONS_PER_DAY, ANSWERS_PER_DAY, DAY = 3, 10, 86400
REFERENCE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
IN_DONGGUAN = re.compile(r"东莞|東莞|dongguan", re.IGNORECASE)


@dataclass(frozen=True)
class AccessLine:
    """A staff read of or decision on the application: role, never the person (M-25)."""

    accessed_at: datetime
    role: str
    action: str
    fields: list[str]


@dataclass(frozen=True)
class ApplicationView:
    """An application as its applicant sees it (``document_masked``: never the full number)."""

    reference: str
    status: str
    document_type: str
    document_masked: str
    submitted_at: datetime
    due_at: datetime
    question: str | None
    answered_at: datetime | None
    decided_at: datetime | None
    refusal_reason: str | None
    assurance: str | None
    card_number: str | None
    access_log: list[AccessLine] = field(default_factory=list)


def submit(rt: Runtime, account: MpAccount, fields: dict[str, Any]) -> ApplicationView:
    """File an application for ``account`` (M-5). ``fields``: ``document_type``,
    ``document_number``, optional ``nationality`` / ``permit_type`` / ``permit_number``
    (passports), ``name``, ``phone``, ``address`` and/or ``employer`` (one naming 东莞).

    429 ``too_many_attempts`` (3 a day per account, counted before anything is checked); 409
    ``account_already_bound`` (the account holds a card: bind instead); 422 ``document_invalid``
    (details: ``document_type``, ``field``, ``reason`` of app/identity/documents.py REASONS),
    ``validation_error`` (phone, name) or ``dongguan_address_required``; 409 ``application_open``
    (this account or this document has an open application)."""
    _count(rt, f"apply:{account.id}", SUBMISSIONS_PER_DAY)
    if account.citizen_id is not None:
        raise AppError("account_already_bound", 409, "this account already holds a card")
    document = checked_document(rt, fields)
    values = _values(rt, account, document, fields)
    inserted = db.session.execute(upsert_insert(db.engine.dialect.name, CardApplication.__table__).values(**values)
                                  .on_conflict_do_nothing().returning(CardApplication.__table__.c.id)).first()
    if inserted is None:
        db.session.rollback()
        raise AppError("application_open", 409, "an application for this account or this document is already open")
    db.session.commit()
    return view(rt, db.session.get_one(CardApplication, inserted.id))


def checked_document(rt: Runtime, fields: dict[str, Any]) -> documents.Document:
    """The validated document of ``fields``; 422 ``document_invalid`` with the failing rule."""
    try:
        return documents.validate(fields["document_type"], fields["document_number"], fields.get("nationality"),
                                  fields.get("permit_type"), fields.get("permit_number"), rt.clock.now().date())
    except documents.DocumentError as exc:
        raise AppError("document_invalid", 422, f"the document was refused: {exc}",
                       {"document_type": fields["document_type"], "field": exc.field, "reason": exc.reason}) from None


def _values(rt: Runtime, account: MpAccount, document: documents.Document, fields: dict[str, Any]) -> dict[str, Any]:
    name, phone = display_name(fields["name"]), checked_phone(fields["phone"])
    if not normalize_name(name):
        raise AppError("validation_error", 422, "name is empty", {"fields": {"json": {"name": ["empty"]}}})
    address, employer = (fields.get(key) or None for key in ("address", "employer"))
    if not any(text and IN_DONGGUAN.search(text) for text in (address, employer)):
        raise AppError("dongguan_address_required", 422, "give a home address or an employer in Dongguan (东莞)")
    now, encrypt = rt.clock.now(), rt.keyring.encrypt
    permit = f"{document.permit_type}:{document.permit_number}" if document.permit_number else None
    return {"reference": new_reference(), "account_id": account.id, "status": "pending", "document_type": document.type,
            "document_checked": document.checked, "document_index": id_index(rt, document.identifier),
            "document_enc": encrypt(document.identifier, ID_NUMBER), "permit_enc": permit and encrypt(permit, PERMIT),
            "name_enc": encrypt(name, NAME), "phone_enc": encrypt(phone, PHONE),
            "address_enc": address and encrypt(address, ADDRESS), "employer_enc": employer and encrypt(employer, EMPLOYER),
            "submitted_at": now, "due_at": review_due(rt, now)}


def display_name(name: str) -> str:
    """The name as written on the document (NFKC, single spaces: "John Smith"); the citizen
    record made on approval holds its :func:`normalize_name` form, as the roster does."""
    return " ".join(unicodedata.normalize("NFKC", name).split())


def review_due(rt: Runtime, start: datetime) -> datetime:
    """The review deadline: ``CARD_APPLICATION_REVIEW_DAYS`` working days after ``start``."""
    return deadline(start, rt.config.get("CARD_APPLICATION_REVIEW_DAYS", 5))  # on the official calendar (issue 21)


def new_reference() -> str:
    """``AP`` and 14 random characters: public, unguessable, carries nothing personal."""
    return "AP" + "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(14))


def own_application(rt: Runtime, account: MpAccount, reference: str) -> ApplicationView:
    """The account's application ``reference``, with the staff reads of it; 404
    ``application_not_found`` (also for another account's)."""
    return view(rt, _owned(account, reference), with_access_log=True)


def answer(rt: Runtime, account: MpAccount, reference: str, text: str) -> ApplicationView:
    """Answer the reviewer's question: back to ``pending``, due again in
    ``CARD_APPLICATION_REVIEW_DAYS`` working days. 429 ``too_many_attempts`` (10 a day, counted
    first); 404 ``application_not_found``; 409 ``not_awaiting_answer`` (no question open: already
    answered, perhaps by a request at the same moment, or decided)."""
    _count(rt, f"apply-answer:{account.id}", ANSWERS_PER_DAY)
    now = rt.clock.now()
    done = db.session.execute(
        update(CardApplication).where(CardApplication.reference == reference, CardApplication.account_id == account.id,
                                      CardApplication.status == "more_info")
        .values(status="pending", answer_enc=rt.keyring.encrypt(text, ANSWER), answered_at=now, due_at=review_due(rt, now))
        .returning(CardApplication.id).execution_options(synchronize_session=False)).first()
    if done is None:
        db.session.rollback()
        _owned(account, reference)
        raise AppError("not_awaiting_answer", 409, "this application is not waiting for an answer")
    db.session.commit()
    return view(rt, db.session.get_one(CardApplication, done.id))


def _owned(account: MpAccount, reference: str) -> CardApplication:
    application = db.session.scalar(select(CardApplication).where(CardApplication.reference == reference,
                                                                  CardApplication.account_id == account.id))
    if application is None:
        raise AppError("application_not_found", 404, "no such application of this account")
    db.session.refresh(application)
    return application


def _count(rt: Runtime, key: str, limit: int) -> None:
    if rt.store.incr(key, DAY) > limit:
        raise AppError("too_many_attempts", 429, "too many application requests today; try again tomorrow",
                       headers={"Retry-After": str(DAY)})


def view(rt: Runtime, application: CardApplication, with_access_log: bool = False) -> ApplicationView:
    """The applicant's view of ``application``."""
    card = (db.session.scalar(select(Card.card_number).where(Card.citizen_id == application.citizen_id))
            if application.citizen_id is not None else None)
    return ApplicationView(
        application.reference, application.status, application.document_type,
        documents.mask(rt.keyring.decrypt(application.document_enc, ID_NUMBER)), application.submitted_at,
        application.due_at, application.question if application.status == "more_info" else None,
        application.answered_at, application.decided_at, application.refusal_reason, application.assurance, card,
        access_lines(application.reference) if with_access_log else [])


def access_lines(reference: str) -> list[AccessLine]:
    """Staff records of the trail about application ``reference`` (its purpose), newest first."""
    query = (select(AuditRecord).where(AuditRecord.ticket_number == reference, AuditRecord.actor_kind == "staff")
             .order_by(AuditRecord.at.desc(), AuditRecord.id.desc()).limit(100))
    return [AccessLine(r.at, r.actor_role, r.action, (r.fields or "").split(",")) for r in db.session.scalars(query)]
