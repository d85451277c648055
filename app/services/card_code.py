"""The e-card code a citizen shows (docs/qr-format.md), generated on the server.

Each call returns a fresh code: the sequence number within the current time step comes from a
per-device counter, so after a scan the next call yields a code that is valid at once.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, select

from qr import payload, totp

from ..errors import AppError
from ..extensions import db
from ..models import Card, Device, MpAccount
from ..runtime import Runtime
from .devices import not_bound
from .people import SEED


@dataclass(frozen=True)
class IssuedCode:
    """``code``: the QR text; ``expires_at``: when verifiers stop accepting it (UTC);
    ``refresh_in``: seconds until the client should fetch the next one."""

    code: str
    expires_at: datetime
    refresh_in: int


def issue_code(rt: Runtime, account: MpAccount) -> IssuedCode:
    """A new code for the account's active device; 403 ``not_bound`` or ``card_inactive``;
    429 ``too_many_codes`` after 100 codes in one time step (the sequence is two digits)."""
    device = _active_device(account)
    if device.card_status != "active":
        raise AppError("card_inactive", 403, "the card is not active", {"status": device.card_status})
    now = rt.clock.time()
    step = totp.time_step(now)
    refresh_in = max(1, math.ceil((step + 1) * totp.STEP_SECONDS - now))
    sequence = rt.store.incr(f"issued:{device.pseudonym}:{step}", 2 * totp.STEP_SECONDS) - 1
    if sequence >= totp.SEQUENCES_PER_STEP:
        raise AppError("too_many_codes", 429, "100 codes were issued in this 30-second step; wait for the next",
                       headers={"Retry-After": str(refresh_in)})
    seed = rt.keyring.decrypt(device.seed_enc, SEED)
    code = payload.encode(payload.CodePayload(device.pseudonym, step, sequence, totp.otp(seed, step, sequence)))
    return IssuedCode(code, datetime.fromtimestamp(totp.valid_until(step), UTC), refresh_in)


# One query for the card's state and its active device (built once: this runs on every refresh).
_ACTIVE_DEVICE = (
    select(Card.status.label("card_status"), Device.pseudonym, Device.seed_enc)
    .join(Device, Device.card_id == Card.id)
    .where(Card.citizen_id == bindparam("citizen_id"), Device.revoked_at.is_(None))
)


def _active_device(account: MpAccount) -> Any:
    row = db.session.connection().execute(_ACTIVE_DEVICE, {"citizen_id": account.citizen_id}).first()
    if account.citizen_id is None or row is None:
        raise not_bound()
    return row
