"""The DGC2 key hierarchy on the platform (issue 16; docs/offline-codes.md §3; M-7, M-19).

- the **root key** signs the trust list; its public key ships in gate firmware
  (``citizencard offline root-key`` prints it);
- the **deny-list key** signs the deny list and its deltas (the trust list names it);
- **issuing keys** (``kid`` = row id) sign device certificates: an Ed25519 one, and an SM2 one
  when the ``gm`` extra is installed. Each is valid for :data:`ISSUING_KEY_DAYS` days; a
  rotation adds new ones (the newest signs) and an old key stays in the trust list until its
  ``not_after``, after the last certificate it signed has expired.

Private keys are stored encrypted with ``CARD_DATA_KEYS`` (purpose :data:`PRIVATE_PURPOSE`) and
never logged. In development the keys are created on first use, so a signed trust list is served
right after migrating; in production ``citizencard offline keys init`` creates them once and
``citizencard offline keys rotate`` adds issuing keys (a missing key is 503 ``offline_unavailable``).
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.card.models import OFFLINE_DENY, OFFLINE_ISSUING, OFFLINE_ROOT, OfflineKey
from app.platform.db import db
from app.platform.errors import AppError
from app.runtime import Runtime
from qr import offline

PRIVATE_PURPOSE = "offline_key.private"
ISSUING_KEY_DAYS = 90
CERTIFICATE_LIFETIME = timedelta(hours=24)
# A key signs a certificate only when it outlives it by this much (clock reads, slow requests).
ISSUING_MARGIN = timedelta(hours=1)
ROOT_ALG = DENY_ALG = offline.ED25519


class KeysAlreadyInitialised(ValueError):
    """``offline keys init`` on an installation that has its root key."""


@dataclass(frozen=True)
class LoadedKey:
    """A key row and its private key (never printed: the dataclass hides it)."""

    row: OfflineKey
    signer: offline.SigningKey

    @property
    def kid(self) -> int:
        return self.row.id


def issuing_algs() -> tuple[str, ...]:
    """Ed25519 always; SM2 when the ``gm`` extra is importable."""
    return (offline.ED25519, offline.SM2) if offline.sm2_available() else (offline.ED25519,)


def development(rt: Runtime) -> bool:
    return rt.config.get("CARD_ENV", "development") != "production"


def _new_key(rt: Runtime, role: str, alg: str) -> OfflineKey:
    key = offline.generate(alg)
    now = rt.clock.now()
    not_after = now + timedelta(days=ISSUING_KEY_DAYS) if role == OFFLINE_ISSUING else None
    row = OfflineKey(role=role, alg=alg, public_key=offline.b64url_encode(key.public_key),
                     private_enc=rt.keyring.encrypt(offline.b64url_encode(key.raw), PRIVATE_PURPOSE),
                     not_before=now, not_after=not_after, created_at=now)
    db.session.add(row)
    return row


def load(rt: Runtime, row: OfflineKey) -> LoadedKey:
    """The row with its private key decrypted."""
    raw = offline.b64url_decode(rt.keyring.decrypt(row.private_enc, PRIVATE_PURPOSE))
    return LoadedKey(row, offline.SigningKey(row.alg, raw))


def _single(role: str) -> OfflineKey | None:
    return db.session.scalar(select(OfflineKey).where(OfflineKey.role == role))


def init_keys(rt: Runtime) -> list[OfflineKey]:
    """Create the root key, the deny-list key and an issuing key per algorithm, once (committed).

    :class:`KeysAlreadyInitialised` when a root key exists (also when another process created it
    at the same moment: the one-root index)."""
    if _single(OFFLINE_ROOT) is not None:
        raise KeysAlreadyInitialised("the offline keys exist already; use `citizencard offline keys rotate`")
    rows = [_new_key(rt, OFFLINE_ROOT, ROOT_ALG), _new_key(rt, OFFLINE_DENY, DENY_ALG)]
    rows += [_new_key(rt, OFFLINE_ISSUING, alg) for alg in issuing_algs()]
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise KeysAlreadyInitialised("the offline keys were created by another process at the same moment") from None
    return rows


def rotate(rt: Runtime) -> list[OfflineKey]:
    """Add a new issuing key per algorithm (committed); the newest signs from now on."""
    if _single(OFFLINE_ROOT) is None:
        raise ValueError("no offline keys yet: run `citizencard offline keys init` first")
    rows = [_new_key(rt, OFFLINE_ISSUING, alg) for alg in issuing_algs()]
    db.session.commit()
    return rows


def unavailable(what: str) -> AppError:
    return AppError("offline_unavailable", 503, f"offline codes are not set up: {what}")


def ensure_keys(rt: Runtime) -> None:
    """Development: create the keys on first use (committed). Production: 503 ``offline_unavailable``
    until ``citizencard offline keys init`` ran."""
    if _single(OFFLINE_ROOT) is not None:
        return
    if not development(rt):
        raise unavailable("run `citizencard offline keys init`")
    with contextlib.suppress(KeysAlreadyInitialised):  # another request created them at the same moment
        init_keys(rt)


def root_key(rt: Runtime) -> LoadedKey:
    ensure_keys(rt)
    return load(rt, _single(OFFLINE_ROOT))  # type: ignore[arg-type]


def deny_key(rt: Runtime) -> LoadedKey:
    ensure_keys(rt)
    return load(rt, _single(OFFLINE_DENY))  # type: ignore[arg-type]


def root_key_json(rt: Runtime) -> dict:
    """``{"root_kid", "alg", "public_key"}``: what gate firmware holds (docs/offline-codes.md §3)."""
    row = root_key(rt).row
    return {"root_kid": row.id, "alg": row.alg, "public_key": row.public_key}


def _usable_issuing(alg: str, now: datetime) -> OfflineKey | None:
    return db.session.scalar(
        select(OfflineKey).where(OfflineKey.role == OFFLINE_ISSUING, OfflineKey.alg == alg, OfflineKey.not_before <= now,
                                 OfflineKey.not_after >= now + CERTIFICATE_LIFETIME + ISSUING_MARGIN)
        .order_by(OfflineKey.not_before.desc(), OfflineKey.id.desc()).limit(1))


def issuing_key(rt: Runtime, alg: str) -> LoadedKey:
    """The newest issuing key of ``alg`` that outlives a certificate issued now.

    Development creates it when missing (committed). The caller reads the clock for the
    certificate's ``nbf`` only AFTER this returns: a key created here has ``not_before`` = the
    moment of its creation, which must not be later than the certificate's ``nbf`` (gate step 3).
    Production: 503 ``offline_unavailable`` (rotate the keys)."""
    row = _usable_issuing(alg, rt.clock.now())  # one look-up when it exists: an issuing key implies the others
    if row is None:
        ensure_keys(rt)
        row = _usable_issuing(alg, rt.clock.now())
    if row is None:
        if not development(rt):
            raise unavailable(f"no {alg} issuing key valid for another day: run `citizencard offline keys rotate`")
        row = _new_key(rt, OFFLINE_ISSUING, alg)
        db.session.commit()
    return load(rt, row)


def trusted_issuing_keys(now: datetime) -> list[OfflineKey]:
    """Issuing keys a gate must know: every one whose ``not_after`` is still ahead."""
    return list(db.session.scalars(select(OfflineKey).where(OfflineKey.role == OFFLINE_ISSUING, OfflineKey.not_after > now)
                                   .order_by(OfflineKey.id)))
