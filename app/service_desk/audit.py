"""The audit trail of access to personal data (M-25): append-only and hash-chained.

Each sealed record carries ``seq`` (its place in the one chain), ``prev_hash`` (the previous
record's ``hash``; the first has 64 zeros) and ``hash`` = SHA-256 of the canonical JSON of
``[seq, prev_hash, at, actor_kind, actor_id, actor_role, department, action, citizen_id,
ticket_number, reference, fields, reason]``. The chain head row holds the last ``seq`` and
``hash``, so a deleted tail is detected too. :func:`verify_chain` names the first bad record.

The chain cannot be shortened or extended silently (M-25; issue 15, item 14):

- **The head only moves forward** in the database (a trigger, like the records' append-only one).
- **The head is signed** (Ed25519, the first key of ``CARD_AUDIT_KEYS``; :func:`head_message`).
  The app holds the key, the database role does not: a record appended with a correct hash by
  anyone who can only write to the database leaves the head unsigned, ``audit verify`` says so,
  and the app refuses to chain onto a head it did not sign (503 ``audit_head_unsigned``) until an
  operator has looked and run ``citizencard audit resign --by --reason`` (itself a record).
- **A checkpoint outside the database** (``citizencard audit checkpoint FILE``, run periodically
  and shipped off the database host) holds a signed (seq, hash); ``audit verify --checkpoint FILE``
  fails if the chain is shorter than it or differs at its seq. Only this catches a head and tail
  restored together from an older backup (a consistent, validly signed, shorter chain).

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
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import func, select, tuple_, update

from app.card.models import Card
from app.partners.models import Partner
from app.platform.crypto import KeyringError, SigningKeys
from app.platform.db import db
from app.platform.errors import AppError
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


HEAD_DOMAIN = b"citizencard audit chain head v1\x00"
CHECKPOINT_DOMAIN = b"citizencard audit checkpoint v1\x00"
CHECKPOINT_FORMAT = "citizencard-audit-checkpoint/1"


def head_message(seq: int, head_hash: str) -> bytes:
    """What the head's signature covers: the chain's length and last hash."""
    return HEAD_DOMAIN + f"{seq}:{head_hash}".encode()


def signing_keys(rt: Runtime) -> SigningKeys:
    """``CARD_AUDIT_KEYS`` (checked at start-up by app.config)."""
    return _signing_keys(rt.config["CARD_AUDIT_KEYS"])


@lru_cache(maxsize=4)
def _signing_keys(setting: str) -> SigningKeys:
    return SigningKeys.from_setting(setting)


def _unsigned_head_problem(rt: Runtime, head: AuditChainHead) -> str:
    """Why the head's signature does not verify: a key id no longer listed (a configuration
    mistake) reads differently from a bad signature under a listed key (tampering)."""
    if head.key_id and not signing_keys(rt).has(head.key_id):
        return (f"head (seq {head.seq}) is signed by key '{head.key_id}', which CARD_AUDIT_KEYS does not list: "
                "restore that key to the list (keep old keys listed after the first) and verify again")
    return (f"head (seq {head.seq}) is not signed by a CARD_AUDIT_KEYS key: records were appended or the head was "
            "moved back outside the app (recovery, once checked: citizencard audit resign)")


def _head_signed(rt: Runtime, head: Any) -> bool:
    """Whether ``head`` carries our signature (the empty chain's head needs none)."""
    if (head.seq, head.hash) == (0, GENESIS):
        return True
    return signing_keys(rt).verify(head.key_id, head.signature, head_message(head.seq, head.hash))


def record_staff_access(rt: Runtime, actor: StaffActor, action: str, citizen_id: int | None, ticket_number: str | None,
                        fields: Iterable[str], reason: str | None = None) -> None:
    """Append a sealed record of staff ``action`` (``view``, ``unmask``, ``lookup``; a reviewer's
    ``approve``, ``refuse``, ``ask``) on a citizen's ``fields`` for the ticket (or the e-card
    application, whose reference is then ``ticket_number`` and ``citizen_id`` None until it is
    approved); commits. Call it before showing the data."""
    record = AuditRecord(at=rt.clock.now(), actor_kind="staff", actor_id=actor.username, actor_role=actor.role,
                         department=actor.department, action=action, citizen_id=citizen_id,
                         ticket_number=ticket_number, reference=None, fields=",".join(fields), reason=reason)
    head = _lock_head(rt)
    _chain(rt, [record], head.seq, head.hash)
    db.session.add(record)
    db.session.commit()


def record_account_event(rt: Runtime, action: str, account_id: int, citizen_id: int, reason: str) -> None:
    """Append a sealed record of an event on a citizen's binding that no staff member did (e.g.
    ``binding_evicted``: a knowledge-only binding ended by the holder's real-person check, issue
    17 item 4); ``actor_kind`` ``system``, ``reference`` the account that lost it. Commits."""
    record = AuditRecord(at=rt.clock.now(), actor_kind="system", actor_id="binding", actor_role="system",
                         department=None, action=action, citizen_id=citizen_id, ticket_number=None,
                         reference=f"account:{account_id}", fields="binding", reason=reason)
    head = _lock_head(rt)
    _chain(rt, [record], head.seq, head.hash)
    db.session.add(record)
    db.session.commit()


def record_family_action(rt: Runtime, actor_citizen_id: int, role: str, relation: str, entry_id: int, action: str,
                         citizen_id: int, fields: Iterable[str], reason: str, commit: bool = True) -> None:
    """Append a sealed record of a family-list action by a resident (issue 18, docs/family.md): the
    guardian (``role`` ``relative``) adding a member, issuing or revoking a printed code, taking an
    offline certificate, reading the member's history or benefits (``view``); the member (``self``)
    confirming, switching consents or removing. ``actor_kind`` ``family``, ``actor_id`` the
    acting citizen's internal id (never shown), ``department`` the entry's relation, the purpose
    (``ticket_number``) ``family:<entry id>``; ``citizen_id`` the member, in whose access log it
    shows. ``commit=False``: in the caller's transaction (the action's own)."""
    record = AuditRecord(at=rt.clock.now(), actor_kind="family", actor_id=f"citizen:{actor_citizen_id}", actor_role=role,
                         department=relation, action=action[:16], citizen_id=citizen_id, ticket_number=f"family:{entry_id}",
                         reference=None, fields=",".join(fields) or None, reason=reason[:200])
    head = _lock_head(rt)
    _chain(rt, [record], head.seq, head.hash)
    db.session.add(record)
    if commit:
        db.session.commit()


def record_release(rt: Runtime, client_id: str, kind: str, rp_name: str, citizen_id: int, consent_id: int,
                   fields: Iterable[str]) -> None:
    """Append a sealed record of claims released to a relying party at the citizen's confirmation
    (``citizencard`` log-in, M-20; app/oidc/login.py): ``actor_kind`` ``relying_party``, its kind as the
    role, its name as the department, ``reference`` the consent. Does not commit (the caller's
    transaction also holds the consent)."""
    record = AuditRecord(at=rt.clock.now(), actor_kind="relying_party", actor_id=client_id, actor_role=kind,
                         department=rp_name[:32], action="release", citizen_id=citizen_id, ticket_number=None,
                         reference=f"consent:{consent_id}", fields=",".join(fields), reason="log in with the citizen card")
    head = _lock_head(rt)
    _chain(rt, [record], head.seq, head.hash)
    db.session.add(record)
def record_operator_action(rt: Runtime, operator: str, action: str, reference: str | None, outcome: str,
                           citizen_id: int | None = None, fields: Iterable[str] = ()) -> None:
    """Append a sealed record of an operator's command-line action (issue 21 item 7, M-25):
    ``actor_kind`` and ``actor_role`` ``operator``, ``actor_id`` the operator (CARD_OPERATOR or
    the OS user: app.cli.operators), ``action`` (e.g. ``roster_import``, ``card_cancel``), the
    object in ``reference`` (a partner id, a batch, a file name: never personal data), the
    outcome in ``reason``. Rolls back whatever the command left uncommitted first; commits."""
    db.session.rollback()
    record = AuditRecord(at=rt.clock.now(), actor_kind="operator", actor_id=operator[:64], actor_role="operator",
                         department=None, action=action[:16], citizen_id=citizen_id, ticket_number=None,
                         reference=reference[:64] if reference else None, fields=",".join(fields) or None,
                         reason=outcome[:200])
    head = _lock_head(rt)
    _chain(rt, [record], head.seq, head.hash)
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
        head = _lock_head(rt)
        records = [_from_verification(row) for row in db.session.execute(_settled(cutoff).limit(batch))]
        if records:
            _chain(rt, records, head.seq, head.hash)
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


def sealed_through() -> tuple[datetime, str] | None:
    """``(created_at, id)`` of the newest verification record copied into the chain (None: none
    yet). Every record up to it in that order is in the chain (the seal copies in (created_at, id)
    order); the retention job (app/service_desk/retention.py) deletes none after it."""
    last = db.session.execute(_LAST_COPIED).first()
    return (last.at, last.reference) if last else None


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


def _lock_head(rt: Runtime, signed: bool = True) -> Any:
    """Lock the chain head (a no-op UPDATE: a row lock on PostgreSQL, the write lock on SQLite)
    and return it as last committed. ``signed``: refuse (503 ``audit_head_unsigned``, after a
    rollback) a head that does not carry our signature: nothing is chained onto it."""
    stmt = (update(AuditChainHead).where(AuditChainHead.id == HEAD_ID).values(seq=AuditChainHead.seq)
            .returning(AuditChainHead.seq, AuditChainHead.hash, AuditChainHead.key_id, AuditChainHead.signature))
    row = db.session.execute(stmt).first()
    if row is None:
        first = upsert_insert(db.engine.dialect.name, AuditChainHead).values(id=HEAD_ID, seq=0, hash=GENESIS)
        db.session.execute(first.on_conflict_do_nothing(index_elements=[AuditChainHead.id]))
        row = db.session.execute(stmt).one()
    if signed and not _head_signed(rt, row):
        db.session.rollback()
        raise AppError("audit_head_unsigned", 503, "the audit trail's head is not signed by a CARD_AUDIT_KEYS key: "
                       "nothing is recorded until an operator has checked it (citizencard audit verify, audit resign)")
    return row


def _chain(rt: Runtime, records: list[AuditRecord], head_seq: int, head_hash: str) -> None:
    """Give ``records`` the next places in the chain and move the locked head past them, signed."""
    for record in records:
        head_seq += 1
        record.seq, record.prev_hash = head_seq, head_hash
        record.hash = head_hash = record_hash(head_seq, record.prev_hash, record)
    key_id, signature = signing_keys(rt).sign(head_message(head_seq, head_hash))
    db.session.execute(update(AuditChainHead).where(AuditChainHead.id == HEAD_ID)
                       .values(seq=head_seq, hash=head_hash, key_id=key_id, signature=signature))


def resign_head(rt: Runtime, by: str, reason: str) -> int:
    """The recovery step for a head that is not signed by our key: append a ``resign`` record
    (``actor_kind`` operator, ``actor_id`` ``by``, ``reason``, the old head in ``reference``) and
    sign the new head; returns its seq. ValueError if the head is signed already, or if the chain
    has another problem (edited, deleted or reordered records: those are evidence, not re-signed).
    Whoever runs it vouches for every record up to the old head: compare them with the last
    checkpoint first (docs/operations.md)."""
    report = verify_chain(rt)
    if report.ok:
        raise ValueError("the chain head is signed: there is nothing to re-sign")
    if not report.first_bad or not report.first_bad.startswith("head ") or "not signed" not in report.first_bad:
        raise ValueError(f"the chain has another problem, not re-signed: {report.first_bad}")
    head = _lock_head(rt, signed=False)
    record = AuditRecord(at=rt.clock.now(), actor_kind="operator", actor_id=by[:64], actor_role="operator", department=None,
                         action="resign", citizen_id=None, ticket_number=None,
                         reference=f"unsigned head at seq {head.seq}", fields=None, reason=reason[:200])
    _chain(rt, [record], head.seq, head.hash)
    db.session.add(record)
    db.session.commit()
    return head.seq + 1


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


def verify_chain(rt: Runtime, checkpoint: Checkpoint | None = None) -> ChainReport:
    """Walk the sealed records in ``seq`` order: a record edited (hash mismatch), deleted
    (a gap in ``seq``, or the head past the last record) or moved (its ``prev_hash`` is not its
    predecessor's hash) is reported, the first one only; then a head that does not match the last
    record or is not signed by our key (records appended, or the head moved back, outside the app);
    then, given a ``checkpoint``, a chain shorter than it or differing at its seq."""
    expected, previous = 1, GENESIS
    at_checkpoint = GENESIS if checkpoint is not None and checkpoint.seq == 0 else None
    query = select(AuditRecord).where(AuditRecord.seq.is_not(None)).order_by(AuditRecord.seq)
    for record in db.session.scalars(query.execution_options(yield_per=SEAL_BATCH)):
        problem = _problem(record, expected, previous)
        if problem:
            return ChainReport(expected - 1, _pending(), previous, f"seq {record.seq} (id {record.id}): {problem}")
        if checkpoint is not None and record.seq == checkpoint.seq:
            at_checkpoint = record.hash
        expected, previous = expected + 1, record.hash or ""
    head = db.session.get(AuditChainHead, HEAD_ID)
    bad = None
    if head is not None and (head.seq, head.hash) != (expected - 1, previous):
        bad = f"seq {expected}: missing (the chain head records {head.seq} records); the tail was deleted"
    elif head is not None and not _head_signed(rt, head):
        bad = _unsigned_head_problem(rt, head)
    elif checkpoint is not None:
        bad = _against_checkpoint(checkpoint, expected - 1, at_checkpoint)
    return ChainReport(expected - 1, _pending(), previous, bad)


def _against_checkpoint(checkpoint: Checkpoint, length: int, hash_at_checkpoint: str | None) -> str | None:
    if length < checkpoint.seq:
        return (f"the chain (seq 1-{length}) is shorter than the checkpoint of {checkpoint.at} (seq {checkpoint.seq}): "
                "its tail was cut off, or it was restored from an older backup")
    if hash_at_checkpoint != checkpoint.hash:
        return f"seq {checkpoint.seq} differs from the checkpoint of {checkpoint.at}: the chain up to it was rewritten"
    return None


@dataclass(frozen=True)
class Checkpoint:
    """A signed statement that the chain had ``seq`` records ending in ``hash`` at ``at``
    (``citizencard audit checkpoint``), kept outside the database."""

    seq: int
    hash: str
    at: str
    key_id: str
    signature: str

    def message(self) -> bytes:
        return CHECKPOINT_DOMAIN + f"{self.seq}:{self.hash}:{self.at}".encode()


def make_checkpoint(rt: Runtime) -> str:
    """The checkpoint file's text (JSON) for the current head; ValueError if the chain does not
    verify (a checkpoint of a tampered chain would vouch for it)."""
    report = verify_chain(rt)
    if not report.ok:
        raise ValueError(f"the chain does not verify, no checkpoint written: {report.first_bad}")
    at = rt.clock.now().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    unsigned = Checkpoint(report.checked, report.head_hash, at, "", "")
    key_id, signature = signing_keys(rt).sign(unsigned.message())
    return json.dumps({"format": CHECKPOINT_FORMAT, **asdict(unsigned), "key_id": key_id, "signature": signature}, indent=2) + "\n"


def load_checkpoint(rt: Runtime, text: str) -> Checkpoint:
    """A checkpoint file's content, its signature checked; ValueError if it is not one of ours."""
    try:
        data = json.loads(text)
        if data.get("format") != CHECKPOINT_FORMAT:
            raise ValueError
        checkpoint = Checkpoint(int(data["seq"]), str(data["hash"]), str(data["at"]), str(data["key_id"]), str(data["signature"]))
    except (ValueError, KeyError, TypeError, AttributeError):
        raise ValueError(f"not a checkpoint file ({CHECKPOINT_FORMAT})") from None
    try:
        signed = signing_keys(rt).verify(checkpoint.key_id, checkpoint.signature, checkpoint.message())
    except KeyringError:
        signed = False
    if not signed:
        raise ValueError("the checkpoint's signature does not verify with CARD_AUDIT_KEYS: it was altered, or made with another key")
    return checkpoint


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

