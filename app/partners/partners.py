"""Partners of the signed API (M-11, M-20): registration, scenes they verify in, roles they hold
(bank, disburse, medical_insurance), secret rotation with a grace period, disabling."""
from __future__ import annotations

import base64
import binascii
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select

from app.identity.people import PARTNER_SECRET
from app.partners.models import PARTNER_KINDS, PARTNER_ROLES, Partner
from app.partners.nonces import unauthorized
from app.platform.db import db
from app.platform.errors import AppError
from app.runtime import Runtime
from qr import offline


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
    kind: str
    secrets: tuple[str, ...]  # the current secret, then the previous one during its grace period
    scenes: frozenset[str]
    disabled: bool
    roles: frozenset[str] = frozenset()
    request_key: offline.VerifyingKey | None = None  # set: requests are signed with this key, not HMAC


def create_partner(rt: Runtime, name: str, scenes: Iterable[str], known_scenes: Iterable[str],
                   kind: str = "organisation", roles: Iterable[str] = ()) -> PartnerCredentials:
    """Register a partner allowed to verify in ``scenes`` and holding ``roles`` (at least one of
    the two); ValueError for an unknown scene, role or kind, or a bad name."""
    scenes, roles = _checked_scenes(scenes, known_scenes), _checked_roles(roles)
    if not scenes and not roles:
        raise ValueError("at least one scene or one role is required")
    if not name.strip() or len(name) > 100 or not name.isprintable():
        raise ValueError("the partner name must be 1-100 printable characters")
    if kind not in PARTNER_KINDS:
        raise ValueError(f"kind must be one of {', '.join(PARTNER_KINDS)}")
    credentials = PartnerCredentials("p_" + secrets.token_hex(8), secrets.token_urlsafe(32))
    db.session.add(Partner(
        partner_id=credentials.partner_id, name=name.strip(), scenes=",".join(scenes), kind=kind, roles=",".join(roles),
        secret_enc=rt.keyring.encrypt(credentials.secret, PARTNER_SECRET), created_at=rt.clock.now(),
    ))
    db.session.commit()
    return credentials


def _checked_scenes(scenes: Iterable[str], known_scenes: Iterable[str]) -> list[str]:
    chosen = sorted(set(filter(None, scenes)))
    unknown = set(chosen) - set(known_scenes)
    if unknown:
        raise ValueError(f"unknown scenes: {', '.join(sorted(unknown))}")
    return chosen


def _checked_roles(roles: Iterable[str]) -> list[str]:
    chosen = sorted(set(filter(None, roles)))
    unknown = set(chosen) - set(PARTNER_ROLES)
    if unknown:
        raise ValueError(f"unknown roles: {', '.join(sorted(unknown))} (roles: {', '.join(PARTNER_ROLES)})")
    return chosen


def _partner(partner_id: str) -> Partner:
    partner = db.session.scalar(select(Partner).where(Partner.partner_id == partner_id))
    if partner is None:
        raise ValueError(f"no partner {partner_id}")
    return partner


def change_scenes(partner_id: str, grant: Iterable[str], revoke: Iterable[str], known_scenes: Iterable[str]) -> list[str]:
    """Grant and revoke scenes; returns the partner's scenes after the change (ValueError if none left)."""
    partner = _partner(partner_id)
    unknown = (set(grant) | set(revoke)) - set(known_scenes)
    if unknown:
        raise ValueError(f"unknown scenes: {', '.join(sorted(unknown))}")
    scenes = _checked_scenes((partner.scene_set | set(grant)) - set(revoke), known_scenes)
    if not scenes and not partner.role_set:
        raise ValueError("a partner keeps at least one scene or role; disable the partner instead")
    partner.scenes = ",".join(scenes)
    db.session.commit()
    return scenes


def change_roles(partner_id: str, grant: Iterable[str], revoke: Iterable[str]) -> list[str]:
    """Grant and revoke roles; returns the partner's roles after the change (ValueError for an
    unknown role, or when neither a scene nor a role would be left). Takes effect within 10 s
    on every server (the view cache)."""
    partner = _partner(partner_id)
    _checked_roles([*grant, *revoke])
    if set(filter(None, grant)) & set(filter(None, revoke)):
        raise ValueError("a role cannot be granted and revoked in one change")
    roles = _checked_roles((partner.role_set | set(grant)) - set(revoke))
    if not roles and not partner.scene_set:
        raise ValueError("a partner keeps at least one scene or role; disable the partner instead")
    partner.roles = ",".join(roles)
    db.session.commit()
    return roles


def rotate_secret(rt: Runtime, partner_id: str, grace_seconds: int) -> str:
    """A new secret; the old one stays valid for ``grace_seconds`` (0: revoked at once)."""
    partner = _partner(partner_id)
    secret = secrets.token_urlsafe(32)
    partner.previous_secret_enc = partner.secret_enc
    partner.previous_secret_until = rt.clock.now() + timedelta(seconds=grace_seconds)
    partner.secret_enc = rt.keyring.encrypt(secret, PARTNER_SECRET)
    db.session.commit()
    return secret


def enable_partner(partner_id: str) -> None:
    """Undo :func:`disable_partner`."""
    _partner(partner_id).disabled_at = None
    db.session.commit()


def disable_partner(rt: Runtime, partner_id: str) -> None:
    """Refuse the partner's requests from now on (within 10 s on every server: the view cache)."""
    partner = _partner(partner_id)
    partner.disabled_at = partner.disabled_at or rt.clock.now()
    db.session.commit()


def partner_view(rt: Runtime, partner_id: str) -> PartnerView | None:
    """The partner with public id ``partner_id``, its secret decrypted; None if unknown."""
    partner = db.session.scalar(select(Partner).where(Partner.partner_id == partner_id))
    if partner is None:
        return None
    return PartnerView(partner.id, partner.partner_id, partner.name, partner.kind, _live_secrets(rt, partner),
                       partner.scene_set, partner.disabled_at is not None, partner.role_set, _request_key(partner))


def _request_key(partner: Partner) -> offline.VerifyingKey | None:
    if partner.request_key_alg is None or partner.request_public_key is None:
        return None
    return offline.VerifyingKey(partner.request_key_alg, base64.b64decode(partner.request_public_key))


def set_request_key(partner_id: str, alg: str | None, public_key_b64: str | None) -> None:
    """Register the partner's public key for asymmetric request signing (issue 20): ``alg``
    ``ed25519`` (RFC 8032, 32-byte key) or ``sm2`` (GB/T 32918 with SM3, 33-byte compressed point;
    needs the ``gm`` extra); both None removes it (HMAC again). From then on (within 10 s on every
    server: the view cache) its requests must carry that scheme. ValueError for a bad key or alg."""
    partner = _partner(partner_id)
    if alg is None and public_key_b64 is None:
        partner.request_key_alg = partner.request_public_key = None
    else:
        if alg == offline.SM2 and not offline.sm2_available():
            raise ValueError("SM2 needs the gm extra (pip install '.[gm]')")
        try:
            key = offline.VerifyingKey(alg or "", base64.b64decode(public_key_b64 or "", validate=True))
        except (binascii.Error, offline.KeyFormatError) as exc:
            raise ValueError(f"not a valid {alg} public key (raw bytes, base64): {exc}") from None
        partner.request_key_alg, partner.request_public_key = key.alg, base64.b64encode(key.raw).decode()
    db.session.commit()


def _live_secrets(rt: Runtime, partner: Partner) -> tuple[str, ...]:
    current = rt.keyring.decrypt(partner.secret_enc, PARTNER_SECRET)
    until = partner.previous_secret_until
    if partner.previous_secret_enc is None or until is None or until <= rt.clock.now():
        return (current,)
    return current, rt.keyring.decrypt(partner.previous_secret_enc, PARTNER_SECRET)


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
    """Like :func:`partner_view` (cached) but 401 ``partner_unknown``. Whether the partner is
    disabled is said by :func:`require_enabled`, once the request's signature has matched: only
    the holder of the secret learns it (scenes.signing.authenticate)."""
    partner = cached_partner_view(rt, partner_id)
    if partner is None:
        raise unauthorized("partner_unknown", "unknown partner_id")
    return partner


def require_enabled(partner: PartnerView) -> None:
    """401 ``partner_disabled`` for a disabled partner (``citizencard partner disable``)."""
    if partner.disabled:
        raise unauthorized("partner_disabled", "this partner is disabled")


def require_role(partner: PartnerView, role: str) -> None:
    """403 ``role_required`` unless the signed-in partner holds ``role`` (one of PARTNER_ROLES)."""
    if role not in partner.roles:
        raise AppError("role_required", 403, f"this operation needs the partner role {role}")
