"""E-card devices: each holds a TOTP seed and a pseudonym that appears in its codes."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base


class Device(Base):
    """One e-card carrier. At most one unrevoked device per card: provisioning a new device
    revokes the old one, whose codes then stop verifying (docs/qr-format.md)."""

    __tablename__ = "devices"
    __table_args__ = (
        Index(
            "uq_devices_active_card",
            "card_id",
            unique=True,
            postgresql_where=text("revoked_at IS NULL"),
            sqlite_where=text("revoked_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    card_id: Mapped[int] = mapped_column(ForeignKey("cards.id"))
    pseudonym: Mapped[str] = mapped_column(String(16), unique=True)
    seed_enc: Mapped[str] = mapped_column(String(200))
    installation_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
