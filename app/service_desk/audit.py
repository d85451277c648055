"""The audit trail of access to personal data (M-25): append-only and hash-chained.

Each sealed record carries ``seq`` (its place in the one chain), ``prev_hash`` (the previous
record's ``hash``; the first has 64 zeros) and ``hash`` = SHA-256 of the canonical JSON of
``[seq, prev_hash, at, actor_kind, actor_id, actor_role, department, action, citizen_id,
ticket_number, reference, fields, reason]``. The chain head row holds the last ``seq`` and
``hash``, so a deleted tail is detected too. :func:`verify_chain` names the first bad record.

Staff access is sealed as it is written (under the head's row lock; staff actions are few).
Partner verifications are recorded first where they happen, in the verification records (one
INSERT that also serves as the durable one-time ledger); :func:`seal_pending` (``citizencard
audit seal``, run every minute) copies settled verification records into the chain in
``(created_at, id)`` order, after the last one the chain already holds. The verification hot path
therefore writes nothing more and takes no chain lock.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, tuple_, update

from app.card.models import Card
from app.partners.models import Partner
from app.platform.db import db
from app.platform.sql import upsert_insert
from app.runtime import Runtime
from app.scanning.models import Verification
from app.service_desk.models import AuditChainHead, AuditRecord

GENESIS = "0" * 64
HEAD_ID = 1
HASHED = ("at", "actor_kind", "actor_id", "actor_role", "department", "action", "citizen_id",
          "ticket_number", "reference", "fields", "reason")
SEAL_BATCH = 1000


@dataclass(frozen=True)
class StaffActor:
    """The staff member acting: their username goes into the trail, never to citizens."""

    staff_id: int
    username: str
    role: str
    department: str | None


def record_hash(seq: int, prev_hash: str, record: AuditRecord) -> str:
    """The SHA-256 hex of one record's canonical form."""
    material = [seq, prev_hash, *(_canonical(getattr(record, name)) for name in HASHED)]
    return hashlib.sha256(json.dumps(material, ensure_ascii=False, separators=(",", ":")).encode()).hexdigest()


def _canonical(value: Any) -> Any:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ") if isinstance(value, datetime) else value


def record_staff_access(rt: Runtime, actor: StaffActor, action: str, citizen_id: int, ticket_number: str | None,
                        fields: Iterable[str], reason: str | None = None) -> None:
    """Append a sealed record of staff ``action`` (``view``, ``unmask``, ``lookup``) on a
    citizen's ``fields`` for the ticket; commits. Call it before showing the data."""
    record = AuditRecord(at=rt.clock.now(), actor_kind="staff", actor_id=actor.username, actor_role=actor.role,
                         department=actor.department, action=action, citizen_id=citizen_id,
                         ticket_number=ticket_number, reference=None, fields=",".join(fields), reason=reason)
    head = _lock_head()
    _chain([record], head.seq, head.hash)
    db.session.add(record)
    db.session.commit()


# A verification record commits within this many seconds of its ``created_at`` (its INSERT is
# the last statement of the request, and requests time out after 30 s): older records are settled.
SETTLE_SECONDS = 60


def seal_pending(rt: Runtime, batch: int = SEAL_BATCH) -> int:
    """Copy settled partner verifications into the chain, ``batch`` per transaction, and return
    how many. A government partner's verification that disclosed fields is a ``disclosure``
    (M-23.1); any other a ``verification``; ``reference`` is the verification id."""
    cutoff, sealed = rt.clock.now() - timedelta(seconds=SETTLE_SECONDS), 0
    while True:
        head = _lock_head()
        records = [_from_verification(row) for row in db.session.execute(_settled(cutoff).limit(batch))]
        if records:
            _chain(records, head.seq, head.hash)
            db.session.add_all(records)
        db.session.commit()
        sealed += len(records)
        if len(records) < batch:
            return sealed


def _settled(cutoff: datetime) -> Any:
    """Verification records not yet in the chain and before ``cutoff``, oldest first."""
    query = (select(Verification.id, Verification.created_at, Verification.accepted, Verification.reason,
                    Verification.scene, Verification.disclosed, Card.citizen_id, Partner.partner_id, Partner.kind)
             .join(Partner, Partner.id == Verification.partner_id).outerjoin(Card, Card.id == Verification.card_id)
             .where(Verification.created_at < cutoff).order_by(Verification.created_at, Verification.id))
    return _after_last_copied(query)


# The chain's newest partner record names the last verification copied in (its time and id): the
# chain itself says how far it reaches (a backward walk of the seq index past a few staff records).
_LAST_COPIED = (select(AuditRecord.at, AuditRecord.reference).where(AuditRecord.actor_kind == "partner")
                .order_by(AuditRecord.seq.desc()).limit(1))


def _after_last_copied(query: Any) -> Any:
    last = db.session.execute(_LAST_COPIED).first()
    if last is None:
        return query
    return query.where(tuple_(Verification.created_at, Verification.id) > tuple_(last.at, last.reference))


def _from_verification(row: Any) -> AuditRecord:
    action = "disclosure" if row.kind == "government" and row.disclosed else "verification"
    return AuditRecord(at=row.created_at, actor_kind="partner", actor_id=row.partner_id, actor_role=row.kind,
                       department=None, action=action, citizen_id=row.citizen_id, ticket_number=None,
                       reference=row.id, fields=row.disclosed, reason=f"{row.scene}:{'accepted' if row.accepted else row.reason}")


def _lock_head() -> Any:
    """Lock the chain head (a no-op UPDATE: a row lock on PostgreSQL, the write lock on SQLite)
    and return its ``seq`` and ``hash`` as last committed."""
    stmt = (update(AuditChainHead).where(AuditChainHead.id == HEAD_ID).values(seq=AuditChainHead.seq)
            .returning(AuditChainHead.seq, AuditChainHead.hash))
    row = db.session.execute(stmt).first()
    if row is None:
        first = upsert_insert(db.engine.dialect.name, AuditChainHead).values(id=HEAD_ID, seq=0, hash=GENESIS)
        db.session.execute(first.on_conflict_do_nothing(index_elements=[AuditChainHead.id]))
        row = db.session.execute(stmt).one()
    return row


def _chain(records: list[AuditRecord], head_seq: int, head_hash: str) -> None:
    """Give ``records`` the next places in the chain and move the locked head past them."""
    for record in records:
        head_seq += 1
        record.seq, record.prev_hash = head_seq, head_hash
        record.hash = head_hash = record_hash(head_seq, record.prev_hash, record)
    db.session.execute(update(AuditChainHead).where(AuditChainHead.id == HEAD_ID).values(seq=head_seq, hash=head_hash))


@dataclass(frozen=True)
class ChainReport:
    """``first_bad`` names the first record that fails (``"seq 7 (id 9): hash mismatch ..."``)."""

    checked: int
    pending: int
    head_hash: str
    first_bad: str | None

    @property
    def ok(self) -> bool:
        return self.first_bad is None


def verify_chain() -> ChainReport:
    """Walk the sealed records in ``seq`` order: a record edited (hash mismatch), deleted
    (a gap in ``seq``, or the head past the last record) or moved (its ``prev_hash`` is not its
    predecessor's hash) is reported, the first one only."""
    expected, previous = 1, GENESIS
    query = select(AuditRecord).where(AuditRecord.seq.is_not(None)).order_by(AuditRecord.seq)
    for record in db.session.scalars(query.execution_options(yield_per=SEAL_BATCH)):
        problem = _problem(record, expected, previous)
        if problem:
            return ChainReport(expected - 1, _pending(), previous, f"seq {record.seq} (id {record.id}): {problem}")
        expected, previous = expected + 1, record.hash or ""
    head = db.session.get(AuditChainHead, HEAD_ID)
    bad = None
    if head is not None and (head.seq, head.hash) != (expected - 1, previous):
        bad = f"seq {expected}: missing (the chain head records {head.seq} records); the tail was deleted"
    return ChainReport(expected - 1, _pending(), previous, bad)


def _problem(record: AuditRecord, expected: int, previous: str) -> str | None:
    if record.seq != expected:
        return f"expected seq {expected}: a record before it was deleted or moved"
    if record.prev_hash != previous:
        return "prev_hash is not the previous record's hash: records were deleted or reordered"
    if record.hash != record_hash(record.seq, previous, record):
        return "hash mismatch: the record was edited"
    return None


def _pending() -> int:
    """Verification records not yet copied into the chain."""
    return db.session.scalar(_after_last_copied(select(func.count()).select_from(Verification))) or 0


def recent_records(limit: int = 200) -> list[AuditRecord]:
    """The newest records, for the auditor's page (no personal data: ids and field names only)."""
    return list(db.session.scalars(select(AuditRecord).order_by(AuditRecord.id.desc()).limit(limit)))

