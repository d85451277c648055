"""The e-card code a citizen shows (docs/qr-format.md), generated on the server.

Each call returns a fresh code: the sequence number within the current time step comes from a
per-device counter, so after a scan the next call yields a code that is valid at once. The counter
lives in the store (Redis); a counter that is new in this step starts after the highest sequence
the durable ledger (accepted verification records) already holds for the device and step, so a
Redis that lost its data does not hand out codes that are already used.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, func, select

from app.card.devices import not_bound
from app.card.models import Card, Device
from app.identity.auth import require_live_token
from app.identity.models import AuthToken, MpAccount
from app.identity.people import SEED
from app.platform.crypto import token_digest
from app.platform.errors import AppError
from app.platform.raw_sql import Statement, first_row
from app.runtime import Runtime
from app.scanning.models import Verification
from qr import payload, totp


@dataclass(frozen=True)
class IssuedCode:
    """``code``: the QR text; ``expires_at``: when verifiers stop accepting it (UTC);
    ``refresh_in``: seconds until the client should fetch the next one."""

    code: str
    expires_at: datetime
    refresh_in: int


def issue_code(rt: Runtime, token: str) -> IssuedCode:
    """A new code for the active device of the account holding the bearer ``token``: 401
    ``token_invalid`` (as app.identity.auth.account_for_token), 403 ``not_bound`` or
    ``card_inactive``, 429 ``too_many_codes`` after 100 codes in one time step (the sequence is
    two digits). The token, the account, the card and the device are one query."""
    return code_for_device(rt, _active_device(rt, token))


def code_for_device(rt: Runtime, device: Any) -> IssuedCode:
    """A new code of ``device`` (a row with ``card_status``, ``pseudonym``, ``seed_enc`` and
    ``last_use_key``): 403 ``card_inactive``, 429 ``too_many_codes`` as :func:`issue_code`."""
    if device.card_status != "active":
        raise AppError("card_inactive", 403, "the card is not active", {"status": device.card_status})
    now = rt.clock.time()
    step = totp.time_step(now)
    refresh_in = max(1, math.ceil((step + 1) * totp.STEP_SECONDS - now))
    first_free = _first_free_sequence(device.pseudonym, step, device.last_use_key)
    sequence = rt.store.incr(f"issued:{device.pseudonym}:{step}", 2 * totp.STEP_SECONDS, first_free + 1) - 1
    if sequence >= totp.SEQUENCES_PER_STEP:
        raise AppError("too_many_codes", 429, "100 codes were issued in this 30-second step; wait for the next",
                       headers={"Retry-After": str(refresh_in)})
    seed = rt.keyring.decrypt(device.seed_enc, SEED)
    code = payload.encode(payload.CodePayload(device.pseudonym, step, sequence, totp.otp(seed, step, sequence)))
    return IssuedCode(code, datetime.fromtimestamp(totp.valid_until(step), UTC), refresh_in)


# The highest use key the durable ledger holds for the device in the step (an index range on
# the card's recent records: ix_verifications_card_created, in the step's partition only: a DGC1
# use key's code_step is its step, app.scanning.partitions).
LAST_USE_KEY = (
    select(func.max(Verification.use_key))
    .where(Verification.card_id == Card.id, Verification.code_step == bindparam("step"),
           Verification.created_at >= bindparam("since"),
           Verification.use_key.between(Device.pseudonym + ":" + bindparam("low"), Device.pseudonym + ":" + bindparam("high")))
    .scalar_subquery()
)
# One query for the live token's account, its card's state, the card's active device on the
# account's app (issue 17 item 3: each app its own device) and that
# key (built once: this runs on every refresh). Outer joins tell an unbound account (no card)
# from a cancelled card (no active device); a row with a device sorts first.
_ACTIVE_DEVICE = Statement(
    select(AuthToken.expires_at, MpAccount.citizen_id, Card.status.label("card_status"), Device.pseudonym,
           Device.seed_enc, LAST_USE_KEY.label("last_use_key"))
    .join(MpAccount, MpAccount.id == AuthToken.account_id)
    .outerjoin(Card, Card.citizen_id == MpAccount.citizen_id)
    .outerjoin(Device, (Device.card_id == Card.id) & (Device.platform == MpAccount.platform) & Device.revoked_at.is_(None))
    .where(AuthToken.digest == bindparam("digest"), AuthToken.revoked_at.is_(None))
    .order_by(Device.pseudonym.is_(None))
    .limit(1)
)


def _active_device(rt: Runtime, token: str) -> Any:
    step = totp.time_step(rt.clock.time())
    params = {"digest": token_digest(token), "step": step, "since": datetime.fromtimestamp((step - 1) * totp.STEP_SECONDS, UTC),
              "low": str(totp.moving_factor(step, 0)), "high": str(totp.moving_factor(step, totp.SEQUENCES_PER_STEP - 1))}
    row = first_row(_ACTIVE_DEVICE, params)  # PostgreSQL: prepared, on the pool's psycopg connection (app.platform.raw_sql)
    require_live_token(rt, row.expires_at if row else None)
    if row.citizen_id is None:
        raise not_bound()
    if row.pseudonym is None:  # bound, but the card was cancelled (its device revoked)
        raise AppError("card_inactive", 403, "the card has no active e-card (it was cancelled)", {"status": "cancelled"})
    return row


def _first_free_sequence(pseudonym: str, step: int, last_use_key: str | None) -> int:
    """0, or one past the sequence of ``last_use_key`` (``pseudonym:moving factor``) in ``step``."""
    prefix, _, factor = (last_use_key or "").partition(":")
    if prefix != pseudonym or not factor.isdigit():
        return 0
    used_step, used_sequence = divmod(int(factor), totp.SEQUENCES_PER_STEP)
    return used_sequence + 1 if used_step == step else 0
