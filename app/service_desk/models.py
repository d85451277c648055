"""Complaints from the mini-program and their messages (M-14: consultation and complaint linkage).

Customer-service staff: console accounts with a password and a TOTP second factor.

The audit trail (M-25): append-only, hash-chained records of access to personal data."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import DDL, BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint, event, false, func, text
from sqlalchemy.orm import Mapped, mapped_column

from app.outbox.models import OutboxMessage
from app.platform.models import Base

COMPLAINT_STATUSES = ("new", "in_progress", "transferred", "answered", "closed")
TICKET_KINDS = ("complaint", "consultation")  # 投诉 / 咨询 (issue 21 item 4)
OPEN_TURN_INCLUDE = ("status", "category", "department", "assignee_id", "resolution_due", "first_response_due",
                     "first_responded_at")


class Complaint(Base):
    """A ticket. ``status``: ``new`` (nobody has claimed it), ``in_progress`` (an agent has it),
    ``transferred`` (waiting for ``department``), ``answered`` (the department answered),
    ``closed``. ``department`` stays set after the answer so the liaison keeps the history.
    Deadlines are computed at creation from the working-day settings."""

    __tablename__ = "complaints"
    __table_args__ = (
        Index("ix_complaints_status_created", "status", "created_at"),
        # the queue's search (app.service_desk.queue.search_clause): ILIKE '%...%' through trigrams
        Index("ix_complaints_description_trgm", "description", postgresql_using="gin",
              postgresql_ops={"description": "gin_trgm_ops"}),
        # the queue's fair order (each citizen's open tickets in filing order) without a sort
        # (PostgreSQL: with the filtered columns included, an index-only scan)
        Index("ix_complaints_open_turn", "citizen_id", "created_at", "id", postgresql_where=text("status <> 'closed'"),
              sqlite_where=text("status <> 'closed'"), postgresql_include=list(OPEN_TURN_INCLUDE)),
        # two-character searches: the description's bigrams (BIGRAMS_FUNCTION, PostgreSQL only)
        Index("ix_complaints_description_bigrams", func.desk_bigrams(text("description")),
              postgresql_using="gin").ddl_if(dialect="postgresql"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_number: Mapped[str] = mapped_column(String(24), unique=True)
    citizen_id: Mapped[int] = mapped_column(ForeignKey("citizens.id"), index=True)
    category: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16), default="complaint", server_default="complaint")
    description: Mapped[str] = mapped_column(Text)
    verification_id: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="new")
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), index=True)
    department: Mapped[str | None] = mapped_column(String(32), index=True)
    created_at: Mapped[datetime]
    first_response_due: Mapped[datetime]
    resolution_due: Mapped[datetime]
    first_responded_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    rating: Mapped[int | None]
    rating_comment: Mapped[str | None] = mapped_column(String(500))
    # callers without the app (issue 21 item 3, app/service_desk/callers.py): ``phone`` or
    # ``walk_in`` tickets an agent opened; the caller proved holding the card's phone at
    # ``caller_verified_at`` (an SMS code checked by ``caller_verified_by``)
    channel: Mapped[str] = mapped_column(String(8), default="app", server_default="app")
    caller_verified_at: Mapped[datetime | None]
    caller_verified_by: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))


# pg_trgm (a contrib extension shipped with PostgreSQL, trusted since 13) before the trigram index
event.listen(Complaint.__table__, "before_create",
             DDL("CREATE EXTENSION IF NOT EXISTS pg_trgm").execute_if(dialect="postgresql"))
# A text's distinct character bigrams, lower-cased: the two-character search's GIN index
# (app.service_desk.queue.search_clause; pg_trgm cannot use trigrams for two characters).
BIGRAMS_FUNCTION = """
CREATE OR REPLACE FUNCTION desk_bigrams(body text) RETURNS text[] LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT coalesce(array_agg(DISTINCT substr(folded, n, 2)), '{}'::text[])
    FROM lower(body) AS folded, generate_series(1, char_length(folded) - 1) AS n
$$"""
event.listen(Complaint.__table__, "before_create", DDL(BIGRAMS_FUNCTION).execute_if(dialect="postgresql"))


class ComplaintMessage(Base):
    """One message on a ticket. ``author``: ``citizen``, ``agent`` (any front-line staff),
    ``department`` (a liaison's answer) or ``system`` (transfer, reassignment, closing: the
    citizen sees these as status changes). ``internal``: a staff note the citizen never sees
    (issue 15 item 17); every citizen-facing read filters on it."""

    __tablename__ = "complaint_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    complaint_id: Mapped[int] = mapped_column(ForeignKey("complaints.id"), index=True)
    author: Mapped[str] = mapped_column(String(16))
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    internal: Mapped[bool] = mapped_column(default=False, server_default=false())


class ComplaintQuota(Base):
    """Per citizen: complaints filed on ``day`` (local date, Asia/Shanghai) and complaints open
    now. Filing raises both in one conditional ``INSERT ... ON CONFLICT DO UPDATE ... WHERE``
    (count first, then decide, issue 15 item 8); closing a ticket lowers ``open_count``."""

    __tablename__ = "complaint_quotas"

    citizen_id: Mapped[int] = mapped_column(ForeignKey("citizens.id"), primary_key=True, autoincrement=False)
    day: Mapped[date]
    filed_on_day: Mapped[int] = mapped_column(default=0)
    open_count: Mapped[int] = mapped_column(default=0)


class OfficialDay(Base):
    """An exception to Monday-Friday in the State Council's yearly holiday notice (issue 21 item
    5): ``kind`` ``holiday`` (a day off) or ``workday`` (a weekend day worked, 调休上班); ``name``
    the holiday it belongs to (春节, 国庆节 ...). Imported per year by ``citizencard calendar
    import`` (app.service_desk.working_days)."""

    __tablename__ = "official_days"

    day: Mapped[date] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))
    name: Mapped[str] = mapped_column(String(32))


class HelpArticle(Base):
    """A help-centre article (FAQ, M-14 "intelligent customer service", issue 21 item 4), kept by
    supervisors in the console. ``category`` is a complaint category key (or None: general), so
    the mini-program can suggest articles before a complaint of that category is filed.
    ``version`` rises with every edit: an edit names the version it started from (one conditional
    UPDATE; a concurrent edit gets 409 ``article_changed``). Only ``published`` articles are public."""

    __tablename__ = "help_articles"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(100))
    body: Mapped[str] = mapped_column(Text)
    category: Mapped[str | None] = mapped_column(String(32), index=True)
    published: Mapped[bool] = mapped_column(default=False)
    version: Mapped[int] = mapped_column(default=1)
    updated_at: Mapped[datetime]
    updated_by: Mapped[str] = mapped_column(String(64))


# counter: issue 18 (app/service_desk/counter.py); reviewer: issue 17 (e-card applications); investigator: misuse cases
# (app/hub/cases.py, issue 24)
STAFF_ROLES = ("agent", "supervisor", "liaison", "auditor", "counter", "reviewer", "investigator",
               "catalogue_editor")  # catalogue_editor: a department's items (app/catalogue/editors.py)


class Staff(Base):
    """``password_hash`` is argon2id; ``totp_seed_enc`` is encrypted at rest; ``last_totp_step``
    is the last accepted time step (a code is accepted once). ``department`` is set for
    liaisons only (a key of CARD_DEPARTMENTS). ``session_epoch`` is raised to end every console
    session of the account (log-out, disable): a session carries the epoch it began in."""

    __tablename__ = "staff"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    department: Mapped[str | None] = mapped_column(String(32))
    password_hash: Mapped[str] = mapped_column(String(200))
    totp_seed_enc: Mapped[str] = mapped_column(String(200))
    last_totp_step: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    session_epoch: Mapped[int] = mapped_column(default=0, server_default="0")
    created_at: Mapped[datetime]
    disabled_at: Mapped[datetime | None]


class StaffAlert(Base):
    """Something supervisors must look at (issue 15 item 3): ``kind`` (``caller_check_limit``),
    which staff member (``staff_id``), on which ticket and citizen, ``detail`` (which limit, no
    personal data). Raised at most once per staff member, kind and limit window; a supervisor
    acknowledges it (``acknowledged_by``, ``acknowledged_at``)."""

    __tablename__ = "staff_alerts"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    kind: Mapped[str] = mapped_column(String(32))
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    ticket_number: Mapped[str | None] = mapped_column(String(24))
    citizen_id: Mapped[int | None]
    detail: Mapped[str] = mapped_column(String(200))
    acknowledged_by: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    acknowledged_at: Mapped[datetime | None]


class AuditRecord(Base):
    """Who (``actor_kind`` staff/partner, ``actor_id``, ``actor_role``, ``department``) did
    ``action`` (``view``, ``unmask``, ``lookup``, ``verification``, ``disclosure``) on whose data
    (``citizen_id``), for which purpose (``ticket_number``, or the verification id in
    ``reference``), touching which ``fields`` (names, never values), when (``at``).

    ``seq``/``prev_hash``/``hash`` are NULL until the record is sealed into the chain: staff
    records are sealed as they are written; partner verifications are copied in from their
    verification records by ``citizencard audit seal`` (the hot path writes nothing more)."""

    __tablename__ = "audit_records"
    __table_args__ = (
        UniqueConstraint("seq"),
        Index("ix_audit_records_citizen_at", "citizen_id", "at"),
        Index("ix_audit_records_ticket_number", "ticket_number"),  # an application's reads (issue 17)
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True)
    at: Mapped[datetime]
    actor_kind: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[str] = mapped_column(String(64))
    actor_role: Mapped[str] = mapped_column(String(16))
    department: Mapped[str | None] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(16))
    citizen_id: Mapped[int | None]
    ticket_number: Mapped[str | None] = mapped_column(String(24))
    reference: Mapped[str | None] = mapped_column(String(64))
    fields: Mapped[str | None] = mapped_column(String(300))
    reason: Mapped[str | None] = mapped_column(String(200))
    seq: Mapped[int | None] = mapped_column(BigInteger)
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    hash: Mapped[str | None] = mapped_column(String(64))


class AuditChainHead(Base):
    """The one row holding the chain's last ``seq`` and ``hash``: appends lock it briefly.

    ``signature`` is the Ed25519 signature (base64) by the ``CARD_AUDIT_KEYS`` key ``key_id`` of
    the head (app.service_desk.audit.head_message): the database role does not hold that key, so
    it can neither extend the chain nor move the head back without the signature showing it."""

    __tablename__ = "audit_chain_head"

    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, default=0)
    hash: Mapped[str] = mapped_column(String(64))
    key_id: Mapped[str | None] = mapped_column(String(32))
    signature: Mapped[str | None] = mapped_column(String(128))


# Append-only in the database, not only in the code: a sealed record can be neither updated nor
# deleted, an unsealed one not deleted (sealing sets seq/prev_hash/hash once). Someone who can
# drop the trigger can still tamper: the hash chain shows it (app.service_desk.audit.verify_chain).
# The migration issues the same statements.
APPEND_ONLY_DDL = {
    "postgresql": [
        """CREATE OR REPLACE FUNCTION audit_records_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' OR OLD.hash IS NOT NULL THEN
        RAISE EXCEPTION 'audit_records is append-only';
    END IF;
    RETURN NEW;
END $$""",
        "CREATE TRIGGER audit_records_append_only BEFORE UPDATE OR DELETE ON audit_records "
        "FOR EACH ROW EXECUTE FUNCTION audit_records_append_only()",
    ],
    "sqlite": [
        "CREATE TRIGGER audit_records_no_delete BEFORE DELETE ON audit_records "
        "BEGIN SELECT RAISE(ABORT, 'audit_records is append-only'); END",
        "CREATE TRIGGER audit_records_sealed BEFORE UPDATE ON audit_records WHEN OLD.hash IS NOT NULL "
        "BEGIN SELECT RAISE(ABORT, 'audit_records is append-only'); END",
    ],
}
for _dialect, _statements in APPEND_ONLY_DDL.items():
    for _statement in _statements:
        event.listen(AuditRecord.__table__, "after_create", DDL(_statement).execute_if(dialect=_dialect))


# The head only moves forward, and cannot be deleted: the same seq may be re-signed (``audit
# resign``), never given another hash. The migration issues the same statements. (TRUNCATE is
# denied by privileges: docs/operations.md.)
HEAD_FORWARD_DDL = {
    "postgresql": [
        """CREATE OR REPLACE FUNCTION audit_chain_head_forward_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' OR NEW.id <> OLD.id OR NEW.seq < OLD.seq OR (NEW.seq = OLD.seq AND NEW.hash <> OLD.hash) THEN
        RAISE EXCEPTION 'audit_chain_head only moves forward';
    END IF;
    RETURN NEW;
END $$""",
        "CREATE TRIGGER audit_chain_head_forward_only BEFORE UPDATE OR DELETE ON audit_chain_head "
        "FOR EACH ROW EXECUTE FUNCTION audit_chain_head_forward_only()",
    ],
    "sqlite": [
        "CREATE TRIGGER audit_chain_head_no_delete BEFORE DELETE ON audit_chain_head "
        "BEGIN SELECT RAISE(ABORT, 'audit_chain_head only moves forward'); END",
        "CREATE TRIGGER audit_chain_head_forward_only BEFORE UPDATE ON audit_chain_head "
        "WHEN NEW.id <> OLD.id OR NEW.seq < OLD.seq OR (NEW.seq = OLD.seq AND NEW.hash <> OLD.hash) "
        "BEGIN SELECT RAISE(ABORT, 'audit_chain_head only moves forward'); END",
    ],
}
for _dialect, _statements in HEAD_FORWARD_DDL.items():
    for _statement in _statements:
        event.listen(AuditChainHead.__table__, "after_create", DDL(_statement).execute_if(dialect=_dialect))


# E-card applications of residents off the roster (issue 17 item 1, M-5; app/service_desk/applications.py)
APPLICATION_OPEN = ("pending", "more_info")
APPLICATION_STATUSES = (*APPLICATION_OPEN, "approved", "refused")
_OPEN_APPLICATION = text("status IN ('pending', 'more_info')")


class CardApplication(Base):
    """An application for an e-card-only card by someone without local social insurance.

    ``reference`` is public (the applicant's URL names it; random, not the row id).
    ``status``: ``pending`` (the reviewer's turn, due by ``due_at``) -> ``approved`` / ``refused``,
    or ``more_info`` (the applicant's turn: ``question``) -> ``pending`` once answered.
    ``document_index`` is the blind index of the document's identifier (the same index as
    ``citizens.id_number_index``, so an approved applicant becomes a citizen under it); every
    personal field is encrypted. At most one open application per account and per document
    (partial unique indexes: the INSERT decides)."""

    __tablename__ = "card_applications"
    __table_args__ = (
        Index("uq_card_applications_open_document", "document_index", unique=True,
              postgresql_where=_OPEN_APPLICATION, sqlite_where=_OPEN_APPLICATION),
        Index("uq_card_applications_open_account", "account_id", unique=True,
              postgresql_where=_OPEN_APPLICATION, sqlite_where=_OPEN_APPLICATION),
        Index("ix_card_applications_status_due", "status", "due_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(24), unique=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("mp_accounts.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    document_type: Mapped[str] = mapped_column(String(32))
    document_checked: Mapped[bool]
    document_index: Mapped[str] = mapped_column(String(64))
    document_enc: Mapped[str] = mapped_column(String(300))
    permit_enc: Mapped[str | None] = mapped_column(String(300))
    name_enc: Mapped[str] = mapped_column(String(300))
    phone_enc: Mapped[str] = mapped_column(String(200))
    address_enc: Mapped[str | None] = mapped_column(String(1000))
    employer_enc: Mapped[str | None] = mapped_column(String(1000))
    submitted_at: Mapped[datetime]
    due_at: Mapped[datetime]
    question: Mapped[str | None] = mapped_column(Text)
    answer_enc: Mapped[str | None] = mapped_column(Text)
    answered_at: Mapped[datetime | None]
    decided_at: Mapped[datetime | None]
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    refusal_reason: Mapped[str | None] = mapped_column(String(500))
    assurance: Mapped[str | None] = mapped_column(String(16))
    citizen_id: Mapped[int | None] = mapped_column(ForeignKey("citizens.id"))


# Unbinding asked for by an agent for a verified caller, decided by a supervisor (issue 21 item 3)
_PENDING_UNBINDING = text("status = 'pending'")


class UnbindingRequest(Base):
    """``status``: ``pending`` -> ``approved`` (the citizen's mini-program bindings ended) or
    ``refused``; one conditional UPDATE decides. At most one pending request per citizen (a
    partial unique index: the INSERT decides)."""

    __tablename__ = "unbinding_requests"
    __table_args__ = (
        Index("uq_unbinding_requests_pending", "citizen_id", unique=True,
              postgresql_where=_PENDING_UNBINDING, sqlite_where=_PENDING_UNBINDING),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    complaint_id: Mapped[int] = mapped_column(ForeignKey("complaints.id"), index=True)
    citizen_id: Mapped[int] = mapped_column(ForeignKey("citizens.id"))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    reason: Mapped[str] = mapped_column(String(200))
    requested_by: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    requested_at: Mapped[datetime]
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    decided_at: Mapped[datetime | None]
    accounts_ended: Mapped[int | None]


class DeskNotice(OutboxMessage, Base):
    """The service desk's outbox (issue 21 item 6): one WeChat subscribe message or Alipay
    template message telling a citizen's mini-program account of a reply or a closing
    (``event``) of a ticket. One row per message and account (the unique constraint: never
    twice); ``status`` pending -> sent, or failed (final); pending ones are retried from
    ``next_attempt_at`` with the retry rules of app.outbox.outbox."""

    __tablename__ = "desk_notices"
    __table_args__ = (UniqueConstraint("message_id", "account_id"),
                      Index("ix_desk_notices_status_next", "status", "next_attempt_at"))

    complaint_id: Mapped[int] = mapped_column(ForeignKey("complaints.id"))
    message_id: Mapped[int] = mapped_column(ForeignKey("complaint_messages.id"))
    event: Mapped[str] = mapped_column(String(8))
