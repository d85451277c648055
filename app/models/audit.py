"""The audit trail (M-25): append-only, hash-chained records of access to personal data."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import DDL, BigInteger, Index, Integer, String, UniqueConstraint, event
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base


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
    """The one row holding the chain's last ``seq`` and ``hash``: appends lock it briefly."""

    __tablename__ = "audit_chain_head"

    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, default=0)
    hash: Mapped[str] = mapped_column(String(64))


# Append-only in the database, not only in the code: a sealed record can be neither updated nor
# deleted, an unsealed one not deleted (sealing sets seq/prev_hash/hash once). Someone who can
# drop the trigger can still tamper: the hash chain shows it (app.services.audit.verify_chain).
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
