"""The record of every verification (partner, terminal, scene, result, time; never the code), and
the card-lending flags (M-27) raised from those records."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.platform.models import Base


class Verification(Base):
    """``card_id`` is set when the code named a known card, accepted or not. ``use_key``
    (device pseudonym and moving factor, never the password) is the durable one-time ledger."""

    __tablename__ = "verifications"
    __table_args__ = (
        Index("ix_verifications_card_created", "card_id", "created_at"),
        Index("ix_verifications_created", "created_at", "id"),  # the audit seal job reads in this order
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"))
    terminal_id: Mapped[str] = mapped_column(String(64))
    scene: Mapped[str] = mapped_column(String(32))
    card_id: Mapped[int | None] = mapped_column(ForeignKey("cards.id"))
    accepted: Mapped[bool]
    reason: Mapped[str | None] = mapped_column(String(32))
    use_key: Mapped[str | None] = mapped_column(String(40), unique=True)  # accepted uses only: qr-format.md
    disclosed: Mapped[str | None] = mapped_column(String(300))  # the subject's field names, comma-separated
    direction: Mapped[str | None] = mapped_column(String(8))  # transit: entry / exit
    linked_verification_id: Mapped[str | None] = mapped_column(String(32))  # transit: an exit's entry
    carrier: Mapped[str] = mapped_column(String(8), default="ecard", server_default="ecard")  # ecard / physical
    created_at: Mapped[datetime]


class LendingFlag(Base):
    """M-27: one card verified at two terminals too far apart for the time between the scans.
    A flag never blocks the citizen; ``closed_at`` is set once reviewed."""

    __tablename__ = "lending_flags"

    id: Mapped[int] = mapped_column(primary_key=True)
    card_id: Mapped[int] = mapped_column(ForeignKey("cards.id"), index=True)
    first_verification_id: Mapped[str] = mapped_column(String(32))
    second_verification_id: Mapped[str] = mapped_column(String(32))
    distance_m: Mapped[int]
    seconds: Mapped[int]
    created_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]
