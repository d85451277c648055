"""Partners that verify codes through the signed API (M-11, M-20)."""
from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select

from ..errors import AppError
from ..extensions import db
from ..models import Partner
from ..runtime import Runtime
from .people import PARTNER_SECRET


@dataclass(frozen=True)
class PartnerCredentials:
    """Printed once at creation: the public ``partner_id`` and the HMAC ``secret``."""

    partner_id: str
    secret: str


@dataclass(frozen=True)
class PartnerView:
    """A partner as the signed-request check and the verification service see it."""

    id: int
    partner_id: str
    name: str
    secret: str
    scenes: frozenset[str]
    disabled: bool


def create_partner(rt: Runtime, name: str, scenes: Iterable[str], known_scenes: Iterable[str]) -> PartnerCredentials:
    """Register a partner allowed to verify in ``scenes``; ValueError for an unknown scene or empty name."""
    scenes = sorted(set(scenes))
    unknown = set(scenes) - set(known_scenes)
    if unknown or not scenes:
        raise ValueError(f"unknown scenes: {', '.join(sorted(unknown))}" if unknown else "at least one scene is required")
    if not name.strip() or len(name) > 100 or not name.isprintable():
        raise ValueError("the partner name must be 1-100 printable characters")
    credentials = PartnerCredentials("p_" + secrets.token_hex(8), secrets.token_urlsafe(32))
    db.session.add(Partner(
        partner_id=credentials.partner_id, name=name.strip(), scenes=",".join(scenes),
        secret_enc=rt.keyring.encrypt(credentials.secret, PARTNER_SECRET), created_at=rt.clock.now(),
    ))
    db.session.commit()
    return credentials


def partner_view(rt: Runtime, partner_id: str) -> PartnerView | None:
    """The partner with public id ``partner_id``, its secret decrypted; None if unknown."""
    partner = db.session.scalar(select(Partner).where(Partner.partner_id == partner_id))
    if partner is None:
        return None
    return PartnerView(partner.id, partner.partner_id, partner.name,
                       rt.keyring.decrypt(partner.secret_enc, PARTNER_SECRET),
                       partner.scene_set, partner.disabled_at is not None)


def list_partners() -> list[Partner]:
    return list(db.session.scalars(select(Partner).order_by(Partner.id)))


PARTNER_CACHE_SECONDS = 10


def cached_partner_view(rt: Runtime, partner_id: str) -> PartnerView | None:
    """:func:`partner_view` kept per process for 10 s: the signed-request check runs on every
    scan, and a database read plus a decryption per request dominated it. A disabled partner is
    therefore refused within 10 s (docs/operations.md)."""
    now = rt.clock.time()
    cached = rt.partner_cache.get(partner_id)
    if cached is not None and now - cached[0] < PARTNER_CACHE_SECONDS:
        return cached[1]
    partner = partner_view(rt, partner_id)
    if partner is not None:
        rt.partner_cache[partner_id] = (now, partner)
    return partner


def require_partner(rt: Runtime, partner_id: str) -> PartnerView:
    """Like :func:`partner_view` (cached) but 401 ``partner_unknown`` / ``partner_disabled``."""
    partner = cached_partner_view(rt, partner_id)
    if partner is None:
        raise AppError("partner_unknown", 401, "unknown partner_id")
    if partner.disabled:
        raise AppError("partner_disabled", 401, "this partner is disabled")
    return partner
