"""The signed trust list and deny list the gates hold (issue 16; docs/offline-codes.md §3).

Both are published as numbered versions (:class:`OfflineList`; versions only grow, one INSERT
per version on the (kind, version) key, so two publishers never both write one number):

- the **trust list**: the issuing keys still valid and the deny-list key, signed by the root key;
  a new version when the keys change or at ``next_update`` (hourly);
- the **deny list**: the serials of revoked, unexpired certificates, signed by the deny-list key;
  a new version when they change or when the last is :data:`DENY_CADENCE` s old (the gate refuses
  a list older than 15 minutes). ``?since=V`` answers a delta from a kept version
  (:data:`KEEP_DENY_VERSIONS`); an unknown one answers the full list.

Publishing happens on demand (a GET finds the latest too old), by ``citizencard offline publish``
(run it every minute) and, for a revocation, by the revoking request itself right after its
commit (:func:`revoke_card_certificates`): the next version lists the serials before it answers.
Publishing uses its own short transaction, never the caller's session: the session's transaction
is ended first (its connection back in the pool), so a request never holds two connections.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, delete, event, insert, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.card.models import OfflineCertificate, OfflineList
from app.card.offline_keys import deny_key, root_key, trusted_issuing_keys
from app.platform.db import db
from app.runtime import Runtime
from qr import offline

log = logging.getLogger(__name__)

TRUST, DENY = "trust", "deny"
DENY_CADENCE = 60
TRUST_CADENCE = 3600
KEEP_DENY_VERSIONS = 60  # an hour of minute-by-minute versions: a gate away longer fetches the full list
PUBLISH_ATTEMPTS = 5
_PUBLISH_AFTER_COMMIT, _PUBLISH_NOW = "dgc2_publish_deny_list", "dgc2_publish_deny_list_now"
ADVISORY_LOCK = {TRUST: 0x44474332_0001, DENY: 0x44474332_0002}


@dataclass(frozen=True)
class Published:
    """One version: ``body`` is the JSON text (trust list) or the signed bytes (deny list)."""

    kind: str
    version: int
    issued_at: int
    body: bytes

    @property
    def etag(self) -> str:
        return f"{self.kind}-{self.version}"


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


def _latest(conn: Connection, kind: str) -> Published | None:
    row = conn.execute(select(OfflineList.version, OfflineList.issued_at, OfflineList.body).where(OfflineList.kind == kind)
                       .order_by(OfflineList.version.desc()).limit(1)).first()
    return Published(kind, row.version, int(row.issued_at.timestamp()), bytes(row.body)) if row else None


def _version(conn: Connection, kind: str, version: int) -> Published | None:
    row = conn.execute(select(OfflineList.issued_at, OfflineList.body)
                       .where(OfflineList.kind == kind, OfflineList.version == version)).first()
    return Published(kind, version, int(row.issued_at.timestamp()), bytes(row.body)) if row else None


def _insert(conn: Connection, published: Published) -> None:
    """Insert the version (IntegrityError when another publisher took that number first)."""
    conn.execute(insert(OfflineList).values(kind=published.kind, version=published.version,
                                            issued_at=_utc(published.issued_at), body=published.body))


# --- the deny list ------------------------------------------------------------------------------


def _denied_serials(conn: Connection, now: int) -> list[bytes]:
    rows = conn.scalars(select(OfflineCertificate.serial).where(OfflineCertificate.revoked_at.is_not(None),
                                                                OfflineCertificate.expires_at > _utc(now)))
    return sorted(bytes.fromhex(serial) for serial in rows)


def _serials_of(body: bytes, key: offline.VerifyingKey) -> list[bytes]:
    serials = offline.read_deny_list(body, key).serials
    return [serials[i:i + 8] for i in range(0, len(serials), 8)]


def publish_deny_list(rt: Runtime, force: bool = False, signer: offline.SigningKey | None = None) -> Published:
    """The latest deny list, after publishing a new version if the denied serials changed, the
    latest is :data:`DENY_CADENCE` s old, or ``force``. Reads the latest version BEFORE the serials,
    so a version never leaves out a revocation committed before a version it follows. Uses its
    own connection only when ``signer`` (the deny-list key) is given."""
    if signer is None:
        signer = deny_key(rt).signer
        _release_session()
    for _attempt in range(PUBLISH_ATTEMPTS):
        try:
            with db.engine.begin() as conn:
                _serialise(conn, DENY)
                latest = _latest(conn, DENY)
                now = int(rt.clock.time())
                serials = _denied_serials(conn, now)
                if (latest is not None and not force and now - latest.issued_at < DENY_CADENCE
                        and _serials_of(latest.body, signer.verifying_key()) == serials):
                    return latest
                version = latest.version + 1 if latest else 1
                body = offline.write_deny_list(signer, version=version, issued_at=now, next_update=now + DENY_CADENCE,
                                               serials=serials)
                published = Published(DENY, version, now, body)
                _insert(conn, published)
                conn.execute(delete(OfflineList).where(OfflineList.kind == DENY,
                                                       OfflineList.version <= version - KEEP_DENY_VERSIONS))
            return published
        except IntegrityError:
            continue  # another publisher took this version number: read again
    raise RuntimeError("the deny list kept changing under concurrent publishers")


def deny_delta(rt: Runtime, since: int) -> tuple[Published, bytes | None]:
    """``(latest, delta)``: the signed delta from ``since`` to the latest version; ``delta`` None
    when ``since`` is the latest (304) or is not kept (answer the full list)."""
    latest = publish_deny_list(rt)
    if since >= latest.version:
        return latest, None
    with db.engine.connect() as conn:
        earlier = _version(conn, DENY, since)
    if earlier is None:
        return latest, None
    signer = deny_key(rt).signer
    before, after = set(_serials_of(earlier.body, signer.verifying_key())), set(_serials_of(latest.body, signer.verifying_key()))
    return latest, offline.write_deny_delta(signer, from_version=since, to_version=latest.version, issued_at=latest.issued_at,
                                            adds=after - before, removes=before - after)


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
    for _attempt in range(PUBLISH_ATTEMPTS):
        try:
            with db.engine.begin() as conn:
                _serialise(conn, TRUST)
                latest = _latest(conn, TRUST)
                now = int(rt.clock.time())
                if latest is not None and not force:
                    payload = offline.read_trust_list(latest.body, offline.RootKey(root.kid, root.signer.verifying_key()))
                    if sorted(payload.keys) == sorted(key.kid for key in keys) and now < payload.next_update - 300:
                        return latest
                version = latest.version + 1 if latest else 1
                document = offline.write_trust_list(root.signer, root.kid, version=version, issued_at=now,
                                                    next_update=now + TRUST_CADENCE, keys=keys,
                                                    deny_list_key=deny.signer.verifying_key())
                published = Published(TRUST, version, now, json.dumps(document, separators=(",", ":")).encode())
                _insert(conn, published)
            return published
        except IntegrityError:
            continue
    raise RuntimeError("the trust list kept changing under concurrent publishers")


def publish(rt: Runtime) -> tuple[Published, Published]:
    """Both lists (what ``citizencard offline publish`` runs every minute)."""
    return publish_trust_list(rt), publish_deny_list(rt)


# --- revocation ----------------------------------------------------------------------------------


def revoke_card_certificates(rt: Runtime, card_id: int, device_id: int | None = None) -> None:
    """Revoke every unexpired certificate of the card (only those of ``device_id`` when given: one
    app's device replaced leaves the other app's certificates), in the caller's transaction (e-card
    suspension and cancellation: lifecycle.transition_ecard; device move or a new installation:
    devices.replace_device; an unbinding operation, when one exists, must call it too; not a
    physical-card loss report). When that transaction commits, the new deny-list version is published before
    the request answers (a failure there is logged; the minute job publishes it)."""
    now = rt.clock.now()
    revoked = db.session.execute(
        update(OfflineCertificate)
        .where(OfflineCertificate.card_id == card_id, OfflineCertificate.revoked_at.is_(None),
               OfflineCertificate.expires_at > now,
               *([OfflineCertificate.device_id == device_id] if device_id is not None else []))
        .values(revoked_at=now).execution_options(synchronize_session=False)).rowcount
    if revoked:  # the key is read now: after the commit this session may not query
        db.session.info[_PUBLISH_AFTER_COMMIT] = (rt, deny_key(rt).signer)


@event.listens_for(Session, "after_commit")
def _publish_after_commit(session: Session) -> None:
    """The revocation is committed: publish once the session has released its connection."""
    pending = session.info.pop(_PUBLISH_AFTER_COMMIT, None)
    if pending is not None:
        session.info[_PUBLISH_NOW] = pending


@event.listens_for(Session, "after_transaction_end")
def _publish_after_release(session: Session, transaction: object) -> None:
    pending = session.info.pop(_PUBLISH_NOW, None)
    if pending is None:
        return
    try:
        publish_deny_list(pending[0], force=True, signer=pending[1])
    except Exception:  # the revocation is committed; the deny list follows within a minute
        log.exception("publishing the deny list after a revocation failed")


@event.listens_for(Session, "after_rollback")
def _forget_on_rollback(session: Session) -> None:
    session.info.pop(_PUBLISH_AFTER_COMMIT, None)
