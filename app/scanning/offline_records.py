"""Settling uploaded offline scans (DGC2; issue 16; docs/offline-codes.md "Records for upload"; M-7, M-19, M-23.5).

A gate that accepted a ``DGC2:`` code with no network keeps a record ``{"record_id", "terminal_id",
"scene", "direction"?, "scanned_at", "code"}`` and uploads it later. For each record, in order:

1. ``duplicate_record``: this partner uploaded this ``record_id`` before: the stored answer
   again (its ``verification_id`` and ``subject``). The claim is one ``INSERT ... ON CONFLICT DO
   NOTHING`` for the whole batch, so concurrent uploads of one batch settle each record once.
2. ``invalid``: a malformed record, an unknown or not permitted scene, a code failing the gate's
   steps 1-9 at ``scanned_at`` (format, key, both signatures, times, the scene bit), a serial the
   platform never issued, or ``scanned_at`` in the future.
3. ``terminal_unknown``: the terminal is not registered for the partner.
4. ``revoked_at_scan``: the certificate was revoked before ``scanned_at`` (finding
   ``revoked_at_scan`` with the lag). Scanned before the revocation: settled, whenever uploaded.
5. The ledger: the use is INSERTed into ``verifications`` (the online ledger) with ``use_key``
   ``dgc2:<serial hex>:<ctr>`` under its unique index with ``code_step`` (the step of the
   certificate's ``nbf``, as online: app.scanning.partitions), the gate's terminal id, ``created_at`` the
   settlement time (the audit seal copies verifications in time order: a back-dated row would miss
   the chain; ``scanned_at`` stays on the offline record, and the holder's history shows it): ``settled``. When (serial, ctr) is
   already there: ``clone_suspect`` if any earlier record of it has different code bytes (a copied
   device key made another code with the same counter; the card's certificates are revoked and go on the next deny list at once), else
   ``double_use`` (the same code used online, or accepted at another gate: a replay).
"""
from __future__ import annotations

import json
import logging
import math
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, bindparam, insert, select, text, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from app.card.models import Card, FamilyMember, OfflineCertificate, OfflineKey
from app.card.offline_keys import OFFLINE_ISSUING
from app.card.offline_lists import revoke_card_certificates
from app.identity.models import Citizen
from app.partners.partners import PartnerView
from app.partners.terminals import registered_terminal
from app.platform.db import db
from app.platform.errors import AppError
from app.platform.sql import upsert_insert
from app.platform.store import StoreUnavailable
from app.runtime import Runtime
from app.scanning import partitions
from app.scanning.models import OfflineFinding, OfflineRecord, Verification
from app.scanning.verification import CardFacts, Holder, SceneContext, ScenePolicy, dgc2_code_hash, dgc2_use_key, proxy_refusal
from qr import offline

log = logging.getLogger(__name__)
MAX_RECORDS = 1000
INVALID_UPLOADS_PER_MINUTE = 10  # uploads holding an invalid record, per partner; then 429 for the rest of the minute
SUBJECT = "offline_record.subject"
FUTURE_GRACE = 20
SETTLED, DUPLICATE, INVALID, DOUBLE_USE, CLONE, REVOKED, TERMINAL_UNKNOWN = (
    "settled", "duplicate_record", "invalid", "double_use", "clone_suspect", "revoked_at_scan", "terminal_unknown")
STATUSES = (SETTLED, DUPLICATE, DOUBLE_USE, CLONE, REVOKED, INVALID, TERMINAL_UNKNOWN)
_RECORD_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:-")


@dataclass
class Item:
    """One record of the request, and what became of it."""

    position: int
    record_id: str | None
    terminal_id: str = ""
    scene: str = ""
    direction: str | None = None
    scanned_at: int = 0
    code: offline.Code | None = None
    status: str | None = None
    verification_id: str | None = None
    subject: dict[str, Any] | None = None
    card_id: int | None = None

    serial: str | None = None  # the certificate's serial (hex) and the code's SHA-256, set with the code
    code_hash: str | None = None

    def take(self, code: offline.Code | None) -> None:
        """Hold the parsed ``code`` (None: it did not parse), its serial and its hash (each computed once)."""
        self.code = code
        if code is not None:
            self.serial, self.code_hash = code.certificate.serial.hex(), dgc2_code_hash(code)

    @property
    def ctr(self) -> int | None:
        return self.code.ctr if self.code else None

    claimer: bool = False
    lag: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    code_text: str = ""

    def answer(self) -> dict[str, Any]:
        return {"record_id": self.record_id, "status": self.status, "verification_id": self.verification_id,
                "subject": self.subject}


def _text(raw: dict[str, Any], name: str, longest: int) -> str | None:
    value = raw.get(name)
    if not isinstance(value, str) or not 1 <= len(value) <= longest or not set(value) <= _RECORD_ID_CHARS:
        return None
    return value


def _read(position: int, raw: Any) -> Item:
    """The record's fields; ``status`` ``invalid`` when any is missing or malformed."""
    if not isinstance(raw, dict):
        return Item(position, None, status=INVALID)
    item = Item(position, _text(raw, "record_id", 64))
    terminal_id, scene = _text(raw, "terminal_id", 64), raw.get("scene")
    scanned_at, code, direction = raw.get("scanned_at"), raw.get("code"), raw.get("direction")
    well_formed = (item.record_id is not None and terminal_id is not None and isinstance(scene, str) and len(scene) <= 32
                   and isinstance(scanned_at, int) and not isinstance(scanned_at, bool) and 0 <= scanned_at <= 0xFFFFFFFF
                   and isinstance(code, str) and len(code) <= 512 and direction in (None, "entry", "exit")
                   and set(raw) <= {"record_id", "terminal_id", "scene", "direction", "scanned_at", "code"})
    if not well_formed:
        item.status = INVALID
        return item
    item.terminal_id, item.scene, item.scanned_at, item.direction = terminal_id, scene, scanned_at, direction
    item.code_text = code  # parsed once, by the gate's check (:func:`_judge`)
    return item


def _trust(rt: Runtime) -> offline.TrustList:
    """Every issuing key ever made (an old record may name a key that has left the trust list)."""
    keys = {row.id: offline.IssuingKey(row.id, offline.VerifyingKey(row.alg, offline.b64url_decode(row.public_key)),
                                       int(row.not_before.timestamp()), int(row.not_after.timestamp()))
            for row in db.session.scalars(select(OfflineKey).where(OfflineKey.role == OFFLINE_ISSUING))
            if row.not_after is not None and (row.alg != offline.SM2 or offline.sm2_available())}
    return offline.TrustList(0, 0, 0, keys, offline.generate(offline.ED25519).verifying_key())


def settle_records(rt: Runtime, partner: PartnerView, records: list[Any],
                   policy_of: Callable[[str], ScenePolicy | None]) -> list[dict[str, Any]]:
    """Settle ``records`` (at most :data:`MAX_RECORDS`) for ``partner``; one answer per record, in order.
    ``policy_of`` names the open scene's policy (None: unknown or closed). Commits.

    Round trips for a batch of good records: the certificates' SELECT, the claim's INSERT (each
    record stored with its outcome as if it settles), the ledger's INSERT, the commit; the uses
    already in the ledger (replays, clones), however many, add two SELECTs, the findings' INSERT
    and one UPDATE. Each certificate's issuer signature is verified once per batch
    (:class:`qr.offline.CertificateCache`, keyed by the certificate's whole bytes)."""
    _refuse_if_flooding(rt, partner)
    now = int(rt.clock.time())
    items = [_read(position, raw) for position, raw in enumerate(records)]
    _judge(rt, partner, [item for item in items if item.status is None], policy_of, now)
    claimed = _claim(rt, partner, items)
    _answer_duplicates(rt, partner, items, claimed)
    mine = [item for item in items if item.claimer]
    found = [_finding(rt, partner, REVOKED, item, [item.record_id], item.lag) for item in mine if item.status == REVOKED]
    changed = _use(rt, partner, [item for item in mine if item.status is None], found)
    _store_outcomes(rt, partner, changed)
    if found:
        db.session.execute(insert(OfflineFinding), found)  # Core: one executemany, in the order found
    for item in mine:
        item.status = item.status or SETTLED
    db.session.commit()
    if any(item.status == INVALID for item in items):
        _count_invalid_upload(rt, partner)
    return [item.answer() for item in items]


def _refuse_if_flooding(rt: Runtime, partner: PartnerView) -> None:
    """429 ``too_many_invalid_records`` while the partner is blocked (this process's memory, as
    app.scanning.guessing does for invalid codes): each invalid record may have cost two signature
    verifications, and a gate uploads only what it accepted, so invalid records are rare."""
    until = rt.throttle_cache.get(("offline-invalid", partner.id), 0.0)
    now = rt.clock.time()
    if until > now:
        raise AppError("too_many_invalid_records", 429, "too many uploads with invalid records from this partner; wait "
                       "(the records are kept by the gate: send them again after Retry-After)",
                       headers={"Retry-After": str(max(1, math.ceil(until - now)))})


def _count_invalid_upload(rt: Runtime, partner: PartnerView) -> None:
    """Count an upload that held an invalid record (the store's atomic counter, a minute's
    window); over :data:`INVALID_UPLOADS_PER_MINUTE` the partner's uploads are refused until the
    minute is over (this process learns it now; another one at its next such upload)."""
    count = rt.store.incr(f"offline-invalid:{partner.id}", 60)
    if count > INVALID_UPLOADS_PER_MINUTE:
        rt.throttle_cache[("offline-invalid", partner.id)] = rt.clock.time() + 60
        log.warning("offline uploads throttled: partner %s after %d uploads with invalid records in 60 s", partner.id, count)


def _claim(rt: Runtime, partner: PartnerView, items: list[Item]) -> set[str]:
    """One ``INSERT ... ON CONFLICT DO NOTHING RETURNING record_id``: the record ids this request
    settles, each stored with its outcome (``settled`` until the ledger says otherwise)."""
    now = rt.clock.now()
    rows, seen = [], set()
    for item in items:
        if item.record_id is None or item.record_id in seen:
            continue
        seen.add(item.record_id)
        item.claimer = True
        if item.status is None:
            item.verification_id = "vf_" + secrets.token_hex(12)
        rows.append({"partner_id": partner.id, "record_id": item.record_id, "terminal_id": item.terminal_id or "-",
                     "scene": item.scene[:32] or "-", "serial": item.serial, "ctr": item.ctr, "code_hash": item.code_hash,
                     "scanned_at": datetime.fromtimestamp(item.scanned_at, UTC), "status": item.status or SETTLED,
                     "verification_id": item.verification_id, "subject_enc": _encrypted(rt, item.subject),
                     "created_at": now})
    if not rows:
        return set()
    rows.sort(key=lambda row: row["record_id"])  # one order for every upload: overlapping batches cannot deadlock
    claimed = _insert_new(OfflineRecord.__table__, rows, ("partner_id", "record_id"), "record_id")
    for item in items:
        item.claimer = item.claimer and item.record_id in claimed
    return claimed


def _insert_new(table: Table, rows: list[dict[str, Any]], conflict: tuple[str, ...], returning: str) -> set[Any]:
    """``INSERT ... ON CONFLICT (conflict) DO NOTHING RETURNING returning`` for ``rows``, one statement.

    On PostgreSQL the rows travel as one JSON document (``json_to_recordset``): a short statement
    text whatever the batch size (a 1,000-row VALUES list cost psycopg a third of the upload's
    time to parse, every time), and one C-encoded parameter (arrays of strings, one per column,
    cost psycopg a regular expression per value to quote: 2.5 times the client CPU). Elsewhere:
    SQLAlchemy's insertmanyvalues."""
    connection = db.session.connection()
    if db.engine.dialect.name != "postgresql":
        statement = upsert_insert(db.engine.dialect.name, table).on_conflict_do_nothing(
            index_elements=[table.c[name] for name in conflict]).returning(table.c[returning])
        return set(connection.execute(statement, rows).scalars())
    names = [f'"{name}"' for name in rows[0]]
    columns = ", ".join(f'"{name}" {table.c[name].type.compile(dialect=db.engine.dialect)}' for name in rows[0])
    statement = text(f"INSERT INTO {table.name} ({', '.join(names)}) SELECT {', '.join(names)} "
                     f"FROM json_to_recordset(CAST(:rows AS json)) AS given({columns}) "
                     f"ON CONFLICT ({', '.join(conflict)}) DO NOTHING RETURNING {returning}")
    return set(connection.execute(statement, {"rows": json.dumps(rows, default=_json_value)}).scalars())


def _json_value(value: Any) -> str:
    """A datetime as ISO 8601 with its offset (PostgreSQL casts it to ``timestamptz`` exactly)."""
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


def _encrypted(rt: Runtime, subject: dict[str, Any] | None) -> str | None:
    return rt.keyring.encrypt(json.dumps(subject), SUBJECT) if subject is not None else None


def _answer_duplicates(rt: Runtime, partner: PartnerView, items: list[Item], claimed: set[str]) -> None:
    """A record id uploaded before (or twice in this request): the stored answer, as ``duplicate_record``."""
    repeated = [item for item in items if item.record_id is not None and not item.claimer]
    if not repeated:
        return
    stored = {row.record_id: row for row in db.session.execute(
        select(OfflineRecord.record_id, OfflineRecord.verification_id, OfflineRecord.subject_enc)
        .where(OfflineRecord.partner_id == partner.id,
               OfflineRecord.record_id.in_({item.record_id for item in repeated})))}
    for item in repeated:
        row = stored.get(item.record_id)
        item.status, item.verification_id, item.subject = DUPLICATE, None, None
        if row is not None:
            item.verification_id = row.verification_id
            item.subject = json.loads(rt.keyring.decrypt(row.subject_enc, SUBJECT)) if row.subject_enc else None


# A family member's proxy device (issue 18): the certificate's device is an entry's, so the
# settled record is marked ``proxy`` with the relation, as online (the DGC2 bytes cannot say it).
_FACTS = (select(OfflineCertificate.serial, OfflineCertificate.revoked_at, Card.id, Card.card_number, Card.status,
                 Citizen.insured, Citizen.disability, Citizen.name_enc, Citizen.id_number_enc, Citizen.id_number_index,
                 FamilyMember.relation.label("proxy_relation"))
          .join(Card, Card.id == OfflineCertificate.card_id).join(Citizen, Citizen.id == Card.citizen_id)
          .outerjoin(FamilyMember, FamilyMember.device_id == OfflineCertificate.device_id))


def _judge(rt: Runtime, partner: PartnerView, items: list[Item], policy_of: Callable[[str], ScenePolicy | None],
           now: int) -> None:
    """Steps 2-4 of the module docstring, and the scene's subject for the records that pass."""
    trust = _trust(rt) if items else None
    certificates = offline.CertificateCache(trust) if trust else None  # a phone's codes share one certificate
    terminals: dict[str, bool] = {}
    policies: dict[str, ScenePolicy | None] = {}  # a batch names a scene or two, a thousand times
    passed = []
    for item in items:
        if item.scene not in policies:
            policies[item.scene] = policy_of(item.scene)
        policy = policies[item.scene]
        if policy is None or not policy.permits(partner) or item.scene not in offline.SCENE_BITS \
                or (item.direction is not None and item.scene != "transit") or item.scanned_at > now + FUTURE_GRACE:
            item.status = INVALID
            continue
        if item.terminal_id not in terminals:
            terminals[item.terminal_id] = registered_terminal(rt, partner.id, item.terminal_id) is not None
        if not terminals[item.terminal_id]:
            item.status = TERMINAL_UNKNOWN
            continue
        checked = offline.check(item.code_text, trust, None, item.scene, item.scanned_at, certificates)
        item.take(checked.code)
        if checked.step < 10:  # steps 1-9 at scanned_at (10, the gate's own list, is not ours)
            item.status = INVALID
            continue
        passed.append((item, policy))
    serials = {item.serial for item, _policy in passed}
    found = {row.serial: row for row in db.session.execute(_FACTS.where(OfflineCertificate.serial.in_(serials)))} \
        if serials else {}
    holders: dict[tuple[int, str | None], Holder] = {}  # one per card (and proxy): decrypted once per batch
    for item, policy in passed:
        row = found.get(item.serial)
        if row is None:  # a serial the platform never issued
            item.status = INVALID
            continue
        item.card_id = row.id
        if row.revoked_at is not None and row.revoked_at.timestamp() <= item.scanned_at:
            item.status, item.lag = REVOKED, item.scanned_at - int(row.revoked_at.timestamp())
            continue
        key = (row.id, row.proxy_relation)
        if key not in holders:
            holders[key] = Holder(rt, CardFacts(row.id, row.card_number, row.status, row.insured, row.disability,
                                                row.name_enc, row.id_number_enc, row.id_number_index,
                                                proxy_relation=row.proxy_relation))
        _consult_scene(item, policy, SceneContext(rt, partner, item.terminal_id, item.direction, holders[key]))


def _consult_scene(item: Item, policy: ScenePolicy, context: SceneContext) -> None:
    """The scene's own rule for this partner and holder (as online: a library's non-member is
    refused; here ``invalid``; a scene that refuses a relative's code too), then its subject,
marked ``proxy`` and ``relation`` for a family member's proxy certificate. A policy that fails answers the whole upload 503
    ``scene_unavailable`` (nothing is stored yet: the same batch can be sent again, no record lost);
    a backing service that is down is the usual 503."""
    try:
        if proxy_refusal(policy, context) is not None or policy.refusal(context) is not None:
            item.status = INVALID
            return
        item.subject, item.extra = policy.accept(context)
        relation = context.holder.facts.proxy_relation
        if relation is not None:  # a relative's phone showed it (issue 18): marked as online
            item.subject = {**item.subject, "proxy": True, "relation": relation}
    except (OperationalError, PoolTimeout, StoreUnavailable):
        raise
    except Exception:
        log.exception("scene policy %s failed on an offline upload; answering 503", policy.name)
        db.session.rollback()
        raise AppError("scene_unavailable", 503, "a scene could not be consulted: send the same batch again later") from None


def _use(rt: Runtime, partner: PartnerView, items: list[Item], found: list[dict[str, Any]]) -> list[Item]:
    """INSERT the uses into the verification ledger (``ON CONFLICT (use_key, code_step) DO NOTHING``); a use
    already there is a replay or a clone. Returns the records that did not settle."""
    if not items:
        return []
    # The settlement time, not scanned_at: the audit seal copies verifications in created_at order
    # past a watermark, so a back-dated row would never enter the chain (scanned_at stays on the record).
    settled_at = rt.clock.now()
    rows = [{"id": item.verification_id, "partner_id": partner.id, "terminal_id": item.terminal_id,
             "scene": item.scene, "card_id": item.card_id, "accepted": True, "reason": None,
             "use_key": dgc2_use_key(bytes.fromhex(item.serial), item.ctr), "code_step": _code_step(item),
             "disclosed": ",".join(item.subject or {}) or None,
             "direction": item.extra.get("direction", item.direction),
             "linked_verification_id": item.extra.get("linked_verification_id"), "carrier": "ecard",
             "created_at": settled_at} for item in items]
    rows.sort(key=lambda row: row["use_key"])  # one order for every upload: overlapping batches cannot deadlock
    inserted = _insert_new(Verification.__table__, rows, ("use_key", "code_step"), "id")
    refused = [item for item in items if item.verification_id not in inserted]
    _conflicts(rt, partner, refused, found)
    return refused


def _code_step(item: Item) -> int:
    """The ledger's partition step of the item's code: its certificate's ``nbf`` (app.scanning.partitions)."""
    assert item.code is not None
    return partitions.dgc2_code_step(item.code.certificate.nbf)


def _conflicts(rt: Runtime, partner: PartnerView, items: list[Item], found: list[dict[str, Any]]) -> None:
    """Each (serial, ctr) of ``items`` is in the ledger already: the records that hold it decide
    clone or replay (a finding each, appended to ``found``). Two look-ups for the whole batch (the ledger's unique ``use_key``, the
    records' ``ix_offline_records_verification``), whatever the number of conflicts."""
    if not items:
        return
    use_keys = {dgc2_use_key(bytes.fromhex(item.serial), item.ctr) for item in items}
    holders = {row.use_key: row for row in db.session.execute(
        select(Verification.id, Verification.use_key, Verification.code_hash)
        .where(Verification.use_key.in_(use_keys), Verification.code_step.in_({_code_step(item) for item in items})))}
    earlier: dict[str, list[Any]] = {}
    if holders:
        for row in db.session.execute(select(OfflineRecord.partner_id, OfflineRecord.record_id, OfflineRecord.code_hash,
                                             OfflineRecord.verification_id)
                                      .where(OfflineRecord.verification_id.in_({row.id for row in holders.values()}))
                                      .order_by(OfflineRecord.id)):
            earlier.setdefault(row.verification_id, []).append(row)
    cloned: dict[str, int | None] = {}
    for item in items:
        holder = holders.get(dgc2_use_key(bytes.fromhex(item.serial), item.ctr))
        rows = earlier.get(holder.id, []) if holder is not None else []
        record_ids = [row.record_id for row in rows if row.partner_id == partner.id] + [item.record_id]
        item.verification_id, item.subject = None, None
        used_online_with_other_bytes = holder is not None and holder.code_hash not in (None, item.code_hash)
        if used_online_with_other_bytes or any(row.code_hash != item.code_hash for row in rows):
            item.status = CLONE
            cloned[item.serial] = item.card_id
            found.append(_finding(rt, partner, "clone", item, record_ids))
        else:
            item.status = DOUBLE_USE
            found.append(_finding(rt, partner, "replay", item, record_ids))
    for card_id in set(cloned.values()):
        revoke_card_certificates(rt, card_id)
    if cloned:
        _revoke_serials(rt, set(cloned))


def _revoke_serials(rt: Runtime, serials: set[str]) -> None:
    """The cloned serials themselves, even when expired meanwhile (they leave the list at expiry anyway)."""
    db.session.execute(update(OfflineCertificate).where(OfflineCertificate.serial.in_(serials),
                                                        OfflineCertificate.revoked_at.is_(None))
                       .values(revoked_at=rt.clock.now()).execution_options(synchronize_session=False))


def _finding(rt: Runtime, partner: PartnerView, kind: str, item: Item, record_ids: list[str | None],
             lag: int | None = None) -> dict[str, Any]:
    """The ``offline_findings`` row of one finding."""
    return {"partner_id": partner.id, "kind": kind, "serial": item.serial, "ctr": item.ctr,
            "record_ids": ",".join(r for r in record_ids if r)[:200], "lag_seconds": lag, "created_at": rt.clock.now()}


def _store_outcomes(rt: Runtime, partner: PartnerView, items: list[Item]) -> None:
    """The records the ledger refused (replays, clones): their status, no verification, no subject.
    One UPDATE on PostgreSQL (the record ids and statuses as two arrays); elsewhere one per record."""
    if not items:
        return
    db.session.flush()
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text(
            "UPDATE offline_records SET status = refused.status, verification_id = NULL, subject_enc = NULL "
            "FROM unnest(CAST(:record_ids AS VARCHAR[]), CAST(:statuses AS VARCHAR[])) AS refused(record_id, status) "
            "WHERE offline_records.partner_id = :partner_id AND offline_records.record_id = refused.record_id"),
            {"record_ids": [item.record_id for item in items], "statuses": [item.status for item in items],
             "partner_id": partner.id})
        return
    statement = (update(OfflineRecord).where(OfflineRecord.partner_id == bindparam("p"),
                                             OfflineRecord.record_id == bindparam("r"))
                 .values(status=bindparam("s"), verification_id=None, subject_enc=None))
    db.session.connection().execute(statement, [{"p": partner.id, "r": item.record_id, "s": item.status} for item in items])


@dataclass(frozen=True)
class Finding:
    id: int
    kind: str
    serial: str
    ctr: int
    record_ids: list[str]
    lag_seconds: int | None
    detected_at: int


def findings(partner: PartnerView, after: int, limit: int) -> list[Finding]:
    """The partner's findings with ``id > after``, oldest first."""
    rows = db.session.scalars(select(OfflineFinding).where(OfflineFinding.partner_id == partner.id,
                                                           OfflineFinding.id > after)
                              .order_by(OfflineFinding.id).limit(limit))
    return [Finding(row.id, row.kind, row.serial, row.ctr, row.record_ids.split(",") if row.record_ids else [],
                    row.lag_seconds, int(row.created_at.timestamp())) for row in rows]
