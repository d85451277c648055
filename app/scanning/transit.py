"""Linking a metro exit to its entry (M-23.2): same partner, same card, within 4 hours."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import aliased

from app.platform.db import db
from app.scanning.models import Verification

ENTRY_VALID_FOR = timedelta(hours=4)


def open_entry(context: Any) -> str | None:
    """The id of the holder's latest accepted entry at this partner with no exit linked yet, or None."""
    exit_ = aliased(Verification)
    linked = select(exit_.id).where(exit_.linked_verification_id == Verification.id).exists()
    return db.session.scalar(
        select(Verification.id)
        .where(Verification.partner_id == context.partner.id, Verification.card_id == context.holder.facts.card_id,
               Verification.scene == "transit", Verification.direction == "entry", Verification.accepted.is_(True),
               Verification.created_at >= context.rt.clock.now() - ENTRY_VALID_FOR, ~linked)
        .order_by(Verification.created_at.desc()).limit(1))
