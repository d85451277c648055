"""The code a guardian shows for a family member (M-15, issue 18 item 2; docs/family.md).

It is a DGC1 code of the entry's proxy device (app.card.family): the member's card, a seed and a
pseudonym of its own, so the verification record's ``use_key`` tells the member's history that a
relative showed it, and removing the entry revokes the device (its codes stop at once). The
scene sees ``proxy: true`` and the ``relation``, and may refuse proxies (scenes/policies)."""
from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import bindparam, select

from app.card.family import checked_id, not_found
from app.card.models import FAMILY_ACTIVE, Card, Device, FamilyMember
from app.platform.errors import AppError
from app.platform.raw_sql import Statement, first_row
from app.runtime import Runtime
from app.scanning.card_code import LAST_USE_KEY, IssuedCode, code_for_device
from qr import totp

# The guardian's live entry, its proxy device (unrevoked) and the member's card (one query).
_PROXY_DEVICE = Statement(
    select(FamilyMember.status, Card.status.label("card_status"), Device.pseudonym, Device.seed_enc,
           LAST_USE_KEY.label("last_use_key"))
    .select_from(FamilyMember)
    .outerjoin(Device, (Device.id == FamilyMember.device_id) & Device.revoked_at.is_(None))
    .outerjoin(Card, Card.id == Device.card_id)
    .where(FamilyMember.id == bindparam("entry"), FamilyMember.guardian_citizen_id == bindparam("guardian"),
           FamilyMember.removed_at.is_(None))
)


def issue_proxy_code(rt: Runtime, guardian_id: int, entry_id: int) -> IssuedCode:
    """A fresh code of the member of ``entry_id`` for its guardian ``guardian_id``: 404
    ``family_member_not_found`` (not the guardian's, removed), 409 ``family_member_pending`` (the
    member has not confirmed yet), 403 ``card_inactive`` (the member's card suspended or
    cancelled), 429 ``too_many_codes``."""
    step = totp.time_step(rt.clock.time())
    params = {"entry": checked_id(entry_id), "guardian": guardian_id, "step": step,
              "since": datetime.fromtimestamp((step - 1) * totp.STEP_SECONDS, UTC),
              "low": str(totp.moving_factor(step, 0)), "high": str(totp.moving_factor(step, totp.SEQUENCES_PER_STEP - 1))}
    row = first_row(_PROXY_DEVICE, params)
    if row is None:
        raise not_found()
    if row.status != FAMILY_ACTIVE:
        raise AppError("family_member_pending", 409, "the member has not confirmed yet (in their app or at a counter)")
    if row.pseudonym is None:
        raise AppError("card_inactive", 403, "the member's card has no active e-card", {"status": "cancelled"})
    return code_for_device(rt, row)
