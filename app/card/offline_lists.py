"""The signed trust list and deny list the gates hold (issue 16; docs/offline-codes.md §3).

Both are published as numbered versions (:class:`OfflineList`; versions only grow, one INSERT
per version on the (kind, version) key, so two publishers never both write one number; one
publishing loop, :func:`_publish`, for both kinds):

- the **trust list**: the issuing keys still valid and the deny-list key, signed by the root key;
  a new version when the keys change or at ``next_update`` (hourly);
- the **deny list**: the serials of revoked, unexpired certificates, signed by the deny-list key.
  A version is built and signed **once**, by its publisher, with the signed **step delta** from
  the version before it (kind :data:`STEP`, stored under the new version's number). A new version
  when the last is :data:`DENY_CADENCE` s old (the gate refuses a list older than 15 minutes), or
  when revocations are pending and the last is :data:`DENY_MIN_INTERVAL` s old: revocations are
  **batched** into the next version, never one full build per revocation.

A revocation (:func:`revoke_card_certificates`) only counts itself in the store
(:data:`PENDING_KEY`, after its commit); ``citizencard offline publish --every 5`` publishes the
pending ones, and so does a poll that finds them pending and the last version old enough (on
demand, at most one version per :data:`DENY_MIN_INTERVAL` s). So a revocation is in the deny list
within about DENY_MIN_INTERVAL s plus one build after the revoking request answers.

Serving (:func:`deny_answer`) never reads the serials nor parses a full list: it reads the latest
version's number, then the bytes from the process's cache (``Runtime.deny_lists``, one load or
build per version for all concurrent requests): the full list as stored, the stored step delta,
or a delta over several versions composed from the stored steps and signed once. ``?since=V``
answers a delta while V's step is kept (:data:`KEEP_DENY_SECONDS`); an unknown V answers the full
list. Publishing uses its own short transaction, never the caller's session: the session's
transaction is ended first (its connection back in the pool), so a request never holds two
connections.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, delete, event, insert, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.card.models import Card, OfflineCertificate, OfflineList, PrintedCode
from app.card.offline_keys import deny_key, root_key, trusted_issuing_keys
from app.platform.db import db
from app.runtime import Runtime
from qr import offline

log = logging.getLogger(__name__)

TRUST, DENY, STEP = "trust", "deny", "ddelta"
DENY_CADENCE = 60  # a version at least every minute (next_update)
DENY_MIN_INTERVAL = 5  # pending revocations wait at most this long after the last version
DENY_MAX_AGE = 5  # Cache-Control max-age of a deny-list answer (seconds a cache may serve it)
TRUST_CADENCE = 3600
KEEP_DENY_SECONDS = 3600  # step deltas kept an hour: a gate away longer fetches the full list
KEEP_FULL_VERSIONS = 3  # full lists kept: only the latest is served, the two before for readers in flight
PUBLISH_ATTEMPTS = 5
PENDING_KEY, PUBLISHED_KEY = "dgc2:deny:revocations", "dgc2:deny:published"
COUNTER_TTL = 30 * 86400
_PENDING_AFTER_COMMIT, _PENDING_NOW = "dgc2_deny_pending", "dgc2_deny_pending_now"
ADVISORY_LOCK = {TRUST: 0x44474332_0001, DENY: 0x44474332_0002}
_FULL_HEAD, _SIGNATURE = 21, 64  # b"DGCD" header and signature lengths (dgc2.denylist)


@dataclass(frozen=True)
class Published:
    """One version: ``body`` is the JSON text (trust list) or the signed bytes (deny list; None
    when only the version's number and time were read)."""

    kind: str
    version: int
    issued_at: int
    body: bytes | None = None

    @property
    def etag(self) -> str:
        return f"{self.kind}-{self.version}"


@dataclass(frozen=True)
class DenyAnswer:
    """What ``GET /offline/deny-list`` answers: ``body`` None means 304 (the gate holds it)."""

    etag: str
    body: bytes | None


def _utc(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _serialise(conn: Connection, kind: str) -> None:
    """PostgreSQL: one publisher of a kind at a time (a transaction-scoped advisory lock), so each
    reads the version the previous one wrote instead of colliding on its number. SQLite has one
    writer at a time anyway; there a collision is retried."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK[kind]})


def _release_session() -> None:
    """End the session's (read) transaction, so its connection goes back to the pool before the
    publishing connection is taken: a request never holds two connections (no pool deadlock)."""
    db.session.commit()


def _latest(conn: Connection, kind: str, body: bool = True) -> Published | None:
    columns = [OfflineList.version, OfflineList.issued_at] + ([OfflineList.body] if body else [])
    row = conn.execute(select(*columns).where(OfflineList.kind == kind).order_by(OfflineList.version.desc()).limit(1)).first()
    if row is None:
        return None
    return Published(kind, row.version, int(row.issued_at.timestamp()), bytes(row.body) if body else None)


def _insert(conn: Connection, published: Published) -> None:
    """Insert the version (IntegrityError when another publisher took that number first)."""
    conn.execute(insert(OfflineList).values(kind=published.kind, version=published.version,
                                            issued_at=_utc(published.issued_at), body=published.body))


def _publish(kind: str, clock: Callable[[], float],
             build: Callable[[Connection, Published | None, int], Published | None]) -> Published:
    """The one publishing loop: under the kind's lock, ``build(conn, latest, now)`` returns the new
    version to insert (with anything else it writes on ``conn``) or None to keep ``latest``;
    retried when another publisher took the number first."""
    for _attempt in range(PUBLISH_ATTEMPTS):
        try:
            with db.engine.begin() as conn:
                _serialise(conn, kind)
                latest = _latest(conn, kind, body=kind != DENY)
                published = build(conn, latest, int(clock()))
                if published is None:
                    assert latest is not None
                    return latest
                _insert(conn, published)
            return published
        except IntegrityError:
            continue  # another publisher took this version number: read again
    raise RuntimeError(f"the {kind} list kept changing under concurrent publishers")


# --- the deny list ------------------------------------------------------------------------------


def _denied_serials(conn: Connection, now: int) -> list[bytes]:
    """Every unexpired serial a gate must refuse: revoked certificates and printed codes, and the
    live certificates of cards owing a declined charge (the payment deny list, issue 22: the format
    has no reason field, so a gate refuses them as ``card_inactive`` until the debt is paid off
    and the next version removes them)."""
    rows = conn.scalars(select(OfflineCertificate.serial).where(OfflineCertificate.revoked_at.is_not(None),
                                                                OfflineCertificate.expires_at > _utc(now)))
    printed = conn.scalars(select(PrintedCode.serial).where(PrintedCode.revoked_at.is_not(None),  # DGP1 (issue 18)
                                                            PrintedCode.expires_at > _utc(now)))
    owing = conn.scalars(select(OfflineCertificate.serial).join(Card, Card.id == OfflineCertificate.card_id).where(
        Card.payment_debt_fen > 0, OfflineCertificate.revoked_at.is_(None), OfflineCertificate.expires_at > _utc(now)))
    return sorted({bytes.fromhex(serial) for serial in [*rows, *printed, *owing]})


def _block_serials(body: bytes) -> set[bytes]:
    """The serials of a full list we published (no signature check: it is our own stored copy)."""
    block = body[_FULL_HEAD:-_SIGNATURE]
    return {block[i:i + 8] for i in range(0, len(block), 8)}


def _stored(conn: Connection, kind: str, version: int) -> bytes | None:
    body = conn.scalar(select(OfflineList.body).where(OfflineList.kind == kind, OfflineList.version == version))
    return bytes(body) if body is not None else None


def _full_body(rt: Runtime, head: Published, conn: Connection | None = None) -> bytes | None:
    """The stored full list of ``head`` (from the process's cache; None when no longer kept), read
    on ``conn`` or on a connection of its own."""
    def load() -> bytes | None:
        if conn is not None:
            return _stored(conn, DENY, head.version)
        with db.engine.connect() as own:
            return _stored(own, DENY, head.version)
    return rt.deny_lists.get((DENY, head.version, head.issued_at), load)


def _counter(rt: Runtime, key: str) -> str | None:
    return rt.store.get(key)


def _deny_due(rt: Runtime, latest: Published | None, now: int) -> bool:
    if latest is None or now - latest.issued_at >= DENY_CADENCE:
        return True
    pending = _counter(rt, PENDING_KEY) not in (None, _counter(rt, PUBLISHED_KEY))
    return pending and now - latest.issued_at >= DENY_MIN_INTERVAL


def publish_deny_list(rt: Runtime, force: bool = False) -> Published:
    """The latest deny-list version (number and time; ``body`` only when this call published it),
    after publishing a new one if due (:func:`_deny_due`) or ``force``. The new version's full
    list and the step delta from the one before are built and signed here, once. Reads the
    revocation counter BEFORE the serials, so the counter it marks as published never claims a
    revocation the version left out."""
    signer = deny_key(rt).signer
    _release_session()
    seen: list[str | None] = []

    def build(conn: Connection, latest: Published | None, now: int) -> Published | None:
        if latest is not None and not force and not _deny_due(rt, latest, now):
            return None
        seen[:] = [_counter(rt, PENDING_KEY)]
        serials = _denied_serials(conn, now)
        version = latest.version + 1 if latest else 1
        body = offline.write_deny_list(signer, version=version, issued_at=now, next_update=now + DENY_CADENCE,
                                       serials=serials)
        previous = _full_body(rt, latest, conn) if latest is not None else None
        if previous is not None:
            before, after = _block_serials(previous), set(serials)
            step = offline.write_deny_delta(signer, from_version=latest.version, to_version=version, issued_at=now,
                                            adds=after - before, removes=before - after)
            _insert(conn, Published(STEP, version, now, step))
        conn.execute(delete(OfflineList).where(OfflineList.kind == DENY, OfflineList.version <= version - KEEP_FULL_VERSIONS))
        conn.execute(delete(OfflineList).where(OfflineList.kind == STEP,
                                               OfflineList.issued_at < _utc(now) - timedelta(seconds=KEEP_DENY_SECONDS)))
        return Published(DENY, version, now, body)

    with rt.deny_lists.publishing:  # one builder per process; the advisory lock orders processes
        published = _publish(DENY, rt.clock.time, build)
    if published.body is not None:
        rt.deny_lists.put((DENY, published.version, published.issued_at), published.body)
        if seen and seen[0] is not None:
            rt.store.put(PUBLISHED_KEY, seen[0], COUNTER_TTL)
    return published


def current_deny_list(rt: Runtime) -> Published:
    """The latest version's number and time, publishing first when one is due (a cheap check: the
    latest version's row and two store reads; the build runs only when due)."""
    _release_session()
    with db.engine.connect() as conn:
        latest = _latest(conn, DENY, body=False)
    if latest is not None and not _deny_due(rt, latest, int(rt.clock.time())):
        return latest
    return publish_deny_list(rt)


def _compose(steps: list[offline.DenyDelta]) -> tuple[set[bytes], set[bytes]]:
    """Adds and removes from the first step's ``from`` to the last's ``to``."""
    adds: set[bytes] = set()
    removes: set[bytes] = set()
    for step in steps:
        new_adds = {step.adds[i:i + 8] for i in range(0, len(step.adds), 8)}
        new_removes = {step.removes[i:i + 8] for i in range(0, len(step.removes), 8)}
        adds, removes = (adds - new_removes) | (new_adds - removes), (removes - new_adds) | (new_removes - adds)
    return adds, removes


def _delta(rt: Runtime, since: int, head: Published) -> bytes | None:
    """The signed delta from ``since`` to ``head``: the stored step when ``since`` is the version
    before, else composed from the kept steps and signed; None when a step is no longer kept."""
    with db.engine.connect() as conn:
        rows = conn.scalars(select(OfflineList.body).where(OfflineList.kind == STEP, OfflineList.version > since,
                                                           OfflineList.version <= head.version)
                            .order_by(OfflineList.version)).all()
    if len(rows) != head.version - since:
        return None
    if len(rows) == 1:
        return bytes(rows[0])
    signer = deny_key(rt).signer
    _release_session()
    key = signer.verifying_key()
    adds, removes = _compose([offline.read_deny_delta(bytes(row), key) for row in rows])
    return offline.write_deny_delta(signer, from_version=since, to_version=head.version, issued_at=head.issued_at,
                                    adds=adds, removes=removes)


def deny_answer(rt: Runtime, since: int | None = None) -> DenyAnswer:
    """The answer to a poll: the latest full list (ETag ``deny-N``), or with ``since`` the signed
    delta to the latest (ETag ``deny-V-N``), None body (304) when ``since`` is the latest, the full
    list when ``since`` is no longer kept. Bytes come from the process's per-version cache."""
    head = current_deny_list(rt)
    if since is not None and since == head.version:
        return DenyAnswer(head.etag, None)
    if since is not None and since < head.version:
        delta = rt.deny_lists.get((STEP, since, head.version, head.issued_at), lambda: _delta(rt, since, head))
        if delta is not None:
            return DenyAnswer(f"deny-{since}-{head.version}", delta)
    body = _full_body(rt, head)
    if body is None:  # pruned between the two reads: a newer version exists
        return deny_answer(rt, since)
    return DenyAnswer(head.etag, body)


# --- the trust list -----------------------------------------------------------------------------


def _trust_keys(rt: Runtime) -> list[offline.IssuingKey]:
    return [offline.IssuingKey(row.id, offline.VerifyingKey(row.alg, offline.b64url_decode(row.public_key)),
                               int(row.not_before.timestamp()), int(row.not_after.timestamp()))
            for row in trusted_issuing_keys(rt.clock.now())]


def publish_trust_list(rt: Runtime, force: bool = False) -> Published:
    """The latest trust list, after publishing a new version if the keys changed, ``next_update``
    is near (5 minutes), or ``force``."""
    root, deny = root_key(rt), deny_key(rt)
    keys = _trust_keys(rt)
    _release_session()

    def build(conn: Connection, latest: Published | None, now: int) -> Published | None:
        if latest is not None and not force:
            payload = offline.read_trust_list(latest.body, offline.RootKey(root.kid, root.signer.verifying_key()))
            if sorted(payload.keys) == sorted(key.kid for key in keys) and now < payload.next_update - 300:
                return None
        version = latest.version + 1 if latest else 1
        document = offline.write_trust_list(root.signer, root.kid, version=version, issued_at=now,
                                            next_update=now + TRUST_CADENCE, keys=keys,
                                            deny_list_key=deny.signer.verifying_key())
        return Published(TRUST, version, now, json.dumps(document, separators=(",", ":")).encode())

    return _publish(TRUST, rt.clock.time, build)


def publish(rt: Runtime) -> tuple[Published, Published]:
    """Both lists, when due (what ``citizencard offline publish --every 5`` runs)."""
    return publish_trust_list(rt), current_deny_list(rt)


# --- revocation ----------------------------------------------------------------------------------


def revoke_card_certificates(rt: Runtime, card_id: int, device_id: int | None = None) -> None:
    """Revoke every unexpired certificate of the card (only those of ``device_id`` when given: one
    app's device replaced leaves the other app's certificates), in the caller's transaction (e-card
    suspension and cancellation: lifecycle.transition_ecard; device move or a new installation:
    devices.replace_device; an unbinding operation, when one exists, must call it too; not a
    physical-card loss report). When that transaction commits, the revocation is counted as
    pending (:data:`PENDING_KEY`): the next deny-list version, at most DENY_MIN_INTERVAL s after the
    last one, lists the serials (a failure to count is logged; the minute's version lists them)."""
    now = rt.clock.now()
    revoked = db.session.execute(
        update(OfflineCertificate)
        .where(OfflineCertificate.card_id == card_id, OfflineCertificate.revoked_at.is_(None),
               OfflineCertificate.expires_at > now,
               *([OfflineCertificate.device_id == device_id] if device_id is not None else []))
        .values(revoked_at=now).execution_options(synchronize_session=False)).rowcount
    if revoked:
        note_revocation(rt)


def note_revocation(rt: Runtime) -> None:
    """Count a revocation (a certificate's or a printed code's) as pending once the session's
    transaction commits: the next deny-list version follows within DENY_MIN_INTERVAL s."""
    db.session.info[_PENDING_AFTER_COMMIT] = rt


@event.listens_for(Session, "after_commit")
def _pending_after_commit(session: Session) -> None:
    """The revocation is committed: count it once the session has released its connection."""
    rt = session.info.pop(_PENDING_AFTER_COMMIT, None)
    if rt is not None:
        session.info[_PENDING_NOW] = rt


@event.listens_for(Session, "after_transaction_end")
def _pending_after_release(session: Session, transaction: object) -> None:
    rt = session.info.pop(_PENDING_NOW, None)
    if rt is None:
        return
    try:
        rt.store.incr(PENDING_KEY, COUNTER_TTL)
    except Exception:  # the revocation is committed; the minute's version lists it
        log.exception("counting a pending deny-list revocation failed")


@event.listens_for(Session, "after_rollback")
def _forget_on_rollback(session: Session) -> None:
    session.info.pop(_PENDING_AFTER_COMMIT, None)
