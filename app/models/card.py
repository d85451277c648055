"""The citizen card (M-3): one per citizen, identified by a random, non-identifying number."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base

CARD_ACTIVE = "active"
CARD_CANCELLED = "cancelled"


class Card(Base):
    """``status`` is the e-card's state: ``active`` <-> ``suspended``, or ``cancelled`` once the
    card itself is cancelled (app/services/lifecycle.py; docs/card-lifecycle.md)."""

    __tablename__ = "cards"

    id: Mapped[int] = mapped_column(primary_key=True)
    card_number: Mapped[str] = mapped_column(String(32), unique=True)
    citizen_id: Mapped[int] = mapped_column(ForeignKey("citizens.id"), unique=True)
    status: Mapped[str] = mapped_column(String(16), default=CARD_ACTIVE)
    contact_phone_enc: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]
    # Wrong passwords against this card's codes since ``failures_since`` (docs/qr-format.md, guessing)
    failed_attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    failures_since: Mapped[datetime | None]
