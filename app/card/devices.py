"""E-card devices and their TOTP seeds (docs/qr-format.md); handing a seed out: app/card/seeds.py."""
from __future__ import annotations

import base64
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.card.models import Card, Device
from app.card.offline_lists import revoke_card_certificates
from app.identity.models import MpAccount
from app.identity.people import CONTACT_PHONE, SEED
from app.integrations.sms import SmsMessage, send_code, send_notice
from app.platform.db import db
from app.platform.errors import AppError
from app.runtime import Runtime
from qr import totp


def new_pseudonym() -> str:
    """16 base32 characters (80 random bits) naming a device inside its codes."""
    return base64.b32encode(secrets.token_bytes(10)).decode()


def new_device(rt: Runtime, card_id: int, installation_id: str | None, platform: str) -> Device:
    """A device of the ``platform`` app (``wechat``, ``alipay``) with a fresh 160-bit seed,
    encrypted at rest, and a fresh pseudonym (each app its own: issue 17 item 3)."""
    return Device(card_id=card_id, platform=platform, pseudonym=new_pseudonym(), installation_id=installation_id,
                  seed_enc=rt.keyring.encrypt(totp.new_seed(), SEED), created_at=rt.clock.now())


def not_bound() -> AppError:
    return AppError("not_bound", 403, "bind your identity first (POST /api/mp/v1/binding)")


def bound_card(account: MpAccount) -> Card:
    """The account's card; 403 ``not_bound`` before real-name binding."""
    card = db.session.scalar(select(Card).where(Card.citizen_id == account.citizen_id)) if account.citizen_id else None
    if card is None:
        raise not_bound()
    return card


def active_device(card: Card, platform: str) -> Device:
    """The card's one unrevoked device for the ``platform`` app (binding on that app creates the
    first); 403 ``card_inactive`` when there is none (the card was cancelled)."""
    device = db.session.scalars(select(Device).where(Device.card_id == card.id, Device.platform == platform,
                                                     Device.revoked_at.is_(None))).one_or_none()
    if device is None:
        raise AppError("card_inactive", 403, "the card has no active e-card (it was cancelled)", {"status": card.status})
    return device


@dataclass(frozen=True)
class SeedGrant:
    """What a device needs to generate codes offline (docs/qr-format.md §Offline generation)."""

    seed: str
    pseudonym: str
    format_version: int = 1
    algorithm: str = "SHA1"
    digits: int = totp.DIGITS
    step_seconds: int = totp.STEP_SECONDS


REPLACE_ATTEMPTS = 3
T = TypeVar("T")


def newest_wins(replacement: Callable[[], T]) -> T:
    """Run ``replacement`` (it replaces the card's device and commits). When another replacement
    of the same card commits first (the one-live-device index refuses ours), run it again on the
    new state: the newest request wins. 409 ``device_conflict`` if it keeps colliding."""
    for _attempt in range(REPLACE_ATTEMPTS):
        try:
            return replacement()
        except IntegrityError:
            db.session.rollback()
    raise AppError("device_conflict", 409, "the card's device changed at the same moment; try again")


def holder_phone(rt: Runtime, card: Card) -> str:
    """The card's contact phone, decrypted."""
    return rt.keyring.decrypt(card.contact_phone_enc, CONTACT_PHONE)


def notify_holder(rt: Runtime, card: Card, message: SmsMessage) -> bool:
    """An SMS notice to the card's contact phone after the change committed
    (app.integrations.sms.send_notice: retried once; False when not sent, logged; the change stands)."""
    return send_notice(rt.sms, holder_phone(rt, card), message)


def send_to_holder(rt: Runtime, card: Card, message: SmsMessage) -> None:
    """A code (or a notice that must go out) to the card's contact phone; 503 ``sms_unavailable``
    when the gateway did not accept it (app.integrations.sms.send_code)."""
    send_code(rt.sms, holder_phone(rt, card), message)


def replace_device(rt: Runtime, old: Device, installation_id: str | None) -> Device:
    """Revoke ``old`` and add a device of the same app with a fresh seed and pseudonym for ``installation_id``
    (not committed: the caller's transaction makes both happen at once)."""
    old.revoked_at = rt.clock.now()
    db.session.flush()  # the one-unrevoked-device index
    revoke_card_certificates(rt, old.card_id, old.id)  # the old device's offline certificates (DGC2, issue 16)
    device = new_device(rt, old.card_id, installation_id, old.platform)
    db.session.add(device)
    return device


def seed_grant(rt: Runtime, device: Device) -> SeedGrant:
    return SeedGrant(rt.keyring.decrypt(device.seed_enc, SEED), device.pseudonym)
