"""Partners: organisations whose terminals verify codes through the signed API (M-11, M-20)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base


class Partner(Base):
    """``partner_id`` is public; ``secret_enc`` is the HMAC secret, encrypted at rest.
    ``scenes`` is the comma-separated list of scenes the partner may verify in."""

    __tablename__ = "partners"

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    secret_enc: Mapped[str] = mapped_column(String(200))
    scenes: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime]
    disabled_at: Mapped[datetime | None]

    @property
    def scene_set(self) -> frozenset[str]:
        return frozenset(filter(None, self.scenes.split(",")))
