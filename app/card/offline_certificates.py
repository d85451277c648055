"""Device certificates for DGC2 offline codes (issue 16; docs/offline-codes.md §1, §6; M-7, M-19, M-23).

The phone asks for a challenge from the installation that holds the card's current device (the
DGC1 rule of ``POST /card/seed``: the installation id the mini-program keeps), generates a fresh
device key, signs ``b"DGC2/pop\\0" + nonce + dpk`` with it, and gets a 24-hour certificate for
that key: bytes 0-118 of every code it then shows offline. The server never sees the private key.

Rules, in this order: both calls are rate limited per account (counted first); the nonce is the
account's and this installation's, and used once; the proof verifies; the card is active (403
``card_inactive``) and its current device is this installation's (403 ``installation_not_current``);
at most :data:`MAX_UNEXPIRED` unexpired, unrevoked certificates per device (409
``too_many_certificates``), counted in one conditional INSERT while the card and device rows are
locked, so concurrent requests cannot exceed it and a concurrent suspension or device move revokes
what was issued. Each certificate is a card event the holder sees (``offline_certificate``).

Scenes: the offline scenes (transit, culture, public_venue) that are open (``CARD_SCENES_ENABLED``);
fare class from the holder's facts: disability certificate 3, else the ``CARD_CONCESSION_AGES``
category reached (``elder`` 1, ``senior`` 2; another category name 0), else 0 (standard). No flag
is set (anti-passback is the gate's choice of scene for now).
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Integer, String, func, insert, literal, select

from app.card.devices import bound_card
from app.card.lifecycle import CITIZEN, Transition, record_event
from app.card.models import CARD_ACTIVE, Card, Device, OfflineCertificate
from app.card.offline_keys import CERTIFICATE_LIFETIME, issuing_key
from app.identity import documents
from app.identity.models import Citizen, MpAccount
from app.identity.people import ID_NUMBER
from app.platform.clock import DISPLAY_ZONE
from app.platform.db import db
from app.platform.errors import AppError
from app.platform.models import UTCDateTime
from app.runtime import Runtime
from qr import offline

MAX_UNEXPIRED = 2
NONCE_TTL = 120
CHALLENGES_PER_HOUR = 60
REQUESTS_PER_HOUR = 40
REFRESH_BEFORE_EXPIRY = 4 * 3600
OFFLINE_SCENES = tuple(offline.SCENE_BITS)  # transit, culture, public_venue
FARE_CLASS_OF = {"elder": 1, "senior": 2}
DISABLED_FARE_CLASS = 3


@dataclass(frozen=True)
class Challenge:
    nonce: str
    server_time: int


@dataclass(frozen=True)
class IssuedCertificate:
    certificate: str
    serial: str
    not_before: int
    expires: int


@dataclass(frozen=True)
class Issued:
    certificates: list[IssuedCertificate]
    server_time: int
    refresh_after: int


def _limit(rt: Runtime, key: str, limit: int) -> None:
    if rt.store.incr(key, 3600) > limit:
        raise AppError("too_many_requests", 429, "too many offline-code requests; try again later",
                       headers={"Retry-After": "3600"})


def _nonce_key(nonce: str) -> str:
    return f"dgc2:nonce:{nonce}"


def challenge(rt: Runtime, account: MpAccount, installation_id: str) -> Challenge:
    """A fresh 16-byte nonce for this account and installation, valid :data:`NONCE_TTL` s, once."""
    _limit(rt, f"dgc2:challenges:{account.id}", CHALLENGES_PER_HOUR)
    bound_card(account)
    nonce = offline.b64url_encode(secrets.token_bytes(16))
    rt.store.put(_nonce_key(nonce), f"{account.id}:{installation_id}", NONCE_TTL)
    return Challenge(nonce, int(rt.clock.time()))


def _installation_of_nonce(rt: Runtime, account: MpAccount, nonce: str) -> str:
    """The installation the nonce was given to; 422 ``challenge_invalid`` when it is unknown,
    expired, another account's, or used (the claim makes it single-use)."""
    bound = rt.store.get(_nonce_key(nonce))
    owner, _, installation_id = (bound or "").partition(":")
    if bound is None or owner != str(account.id) or not rt.store.claim(f"{_nonce_key(nonce)}:used", NONCE_TTL):
        raise AppError("challenge_invalid", 422, "the nonce is unknown, expired or used: ask for a new challenge")
    return installation_id


def _device_key(alg: str, device_public_key: str, nonce: str, proof: str) -> offline.VerifyingKey:
    if alg == offline.SM2 and not offline.sm2_available():
        raise AppError("alg_unsupported", 422, "this server issues ed25519 certificates only", {"algs": [offline.ED25519]})
    try:
        key = offline.VerifyingKey(alg, offline.b64url_decode(device_public_key))
        signature = offline.b64url_decode(proof)
    except ValueError:  # KeyFormatError, or not base64url
        raise AppError("validation_error", 422, "device_public_key or proof is not a valid key or signature",
                       {"fields": {"json": {"device_public_key": ["invalid key or encoding"]}}}) from None
    if not offline.verify_proof_of_possession(key, offline.b64url_decode(nonce), signature):
        raise AppError("proof_invalid", 422, "the proof of possession does not verify for this nonce and key")
    return key


def issue(rt: Runtime, account: MpAccount, nonce: str, alg: str, device_public_key: str, proof: str,
          proxy: tuple[int, str] | None = None) -> Issued:
    """One 24-hour certificate for the device key; see the module docstring for the rules.

    ``proxy`` (issue 18): ``(the member's card id, the entry's proxy device platform)``: the
    certificate is the proxy device's, for the guardian's phone (any installation: the proxy
    device has none); removing the entry revokes it (deny list)."""
    _limit(rt, f"dgc2:certificates:{account.id}", REQUESTS_PER_HOUR)
    installation_id: str | None = _installation_of_nonce(rt, account, nonce)
    key = _device_key(alg, device_public_key, nonce, proof)
    card_id, platform = proxy if proxy is not None else (bound_card(account).id, account.platform)
    installation_id = None if proxy is not None else installation_id
    issuer = issuing_key(rt, alg)  # may create (and commit) a key: before the row locks below
    card, device = _locked(card_id, installation_id, platform)
    now = rt.clock.now()  # read after the key exists: nbf is never before its not_before
    expires = now + CERTIFICATE_LIFETIME
    serial = secrets.token_bytes(8)
    certificate = offline.issue_certificate(
        issuer.signer, kid=issuer.kid, serial=serial, nbf=int(now.timestamp()), exp=int(expires.timestamp()),
        scenes=offline.scene_mask(_scenes(rt)), fare_class=fare_class(rt, card), flags=0, device_public_key=key.raw)
    if not _insert_within_limit(card, device, issuer.kid, alg, device_public_key, certificate, now, expires):
        db.session.rollback()
        raise AppError("too_many_certificates", 409, f"this device holds {MAX_UNEXPIRED} unexpired certificates; "
                       "use one of them until it nears its end", {"max_unexpired": MAX_UNEXPIRED})
    record_event(rt, card.id, Transition("ecard", "offline_certificate", card.status, card.status), CITIZEN,
                 f"offline code certificate {serial.hex()} issued (24 h)")
    db.session.commit()
    nbf, exp = certificate.nbf, certificate.exp
    return Issued([IssuedCertificate(offline.b64url_encode(certificate.to_bytes()), serial.hex(), nbf, exp)],
                  int(now.timestamp()), exp - REFRESH_BEFORE_EXPIRY)


def _locked(card_id: int, installation_id: str | None, platform: str) -> tuple[Card, Device]:
    """The card and the ``platform`` app's current device, row-locked (FOR NO KEY UPDATE) until the commit: a
    suspension, cancellation or device move waits for this issuance (and then revokes it), or
    this issuance sees its result. 403 ``card_inactive`` / ``installation_not_current``."""
    card = db.session.scalars(select(Card).where(Card.id == card_id).with_for_update(key_share=True)
                              .execution_options(populate_existing=True)).one()
    if card.status != CARD_ACTIVE:
        db.session.rollback()
        raise AppError("card_inactive", 403, "the e-card is not active", {"status": card.status})
    device = db.session.scalars(select(Device).where(Device.card_id == card.id, Device.platform == platform, Device.revoked_at.is_(None))
                                .with_for_update(key_share=True).execution_options(populate_existing=True)).one_or_none()
    if device is None:
        db.session.rollback()
        raise AppError("card_inactive", 403, "the card has no active e-card", {"status": card.status})
    if device.installation_id != installation_id:
        db.session.rollback()
        raise AppError("installation_not_current", 403, "the e-card is on another installation: set it up here first "
                       "(POST /api/mp/v1/card/seed or /card/ecard/device), then ask for a new challenge")
    return card, device


def _insert_within_limit(card: Card, device: Device, kid: int, alg: str, device_public_key: str,
                         certificate: offline.Certificate, now: datetime, expires: datetime) -> bool:
    """INSERT ... SELECT ... WHERE (unexpired unrevoked certificates of the device) < 2: one conditional statement."""
    held = (select(func.count()).select_from(OfflineCertificate)
            .where(OfflineCertificate.device_id == device.id, OfflineCertificate.revoked_at.is_(None),
                   OfflineCertificate.expires_at > literal(now, UTCDateTime())).scalar_subquery())
    row = select(literal(certificate.serial.hex(), String()), literal(card.id, Integer()), literal(device.id, Integer()),
                 literal(kid, Integer()), literal(alg, String()), literal(device_public_key, String()),
                 literal(certificate.scenes, Integer()), literal(certificate.fare_class, Integer()),
                 literal(now, UTCDateTime()), literal(expires, UTCDateTime()), literal(now, UTCDateTime())
                 ).where(held < MAX_UNEXPIRED)
    columns = ["serial", "card_id", "device_id", "kid", "alg", "device_public_key", "scenes", "fare_class",
               "not_before", "expires_at", "created_at"]
    statement = insert(OfflineCertificate).from_select(columns, row).returning(OfflineCertificate.id)
    return db.session.execute(statement).first() is not None


def _scenes(rt: Runtime) -> list[str]:
    enabled = rt.config.get("CARD_SCENES_ENABLED")
    return [name for name in OFFLINE_SCENES if enabled is None or name in enabled]


def fare_class(rt: Runtime, card: Card) -> int:
    """3 with a disability certificate, else the age category's class (elder 1, senior 2), else 0."""
    citizen = db.session.get(Citizen, card.citizen_id)
    if citizen is None:
        return 0
    if citizen.disability:
        return DISABLED_FARE_CLASS
    today = datetime.fromtimestamp(rt.clock.time(), DISPLAY_ZONE).date()
    born = documents.birth_date_of(rt.keyring.decrypt(citizen.id_number_enc, ID_NUMBER), today)
    if born is None:  # a document without a birth date (issue 17 item 1): no age concession
        return 0
    age = _age(born, today)
    category = next((name for name, minimum in rt.config["CARD_CONCESSION_AGES"] if age >= minimum), "standard")
    return FARE_CLASS_OF.get(category, 0)


def _age(born: date, day: date) -> int:
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))
