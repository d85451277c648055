"""Short-lived keys of the embedded store (nonces, replay marks, counters) when there is no Redis."""
from __future__ import annotations

from sqlalchemy import BigInteger, Float, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base


class KvEntry(Base):
    """``expires_at`` is Unix seconds; an expired row counts as absent."""

    __tablename__ = "kv_entries"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    value: Mapped[str | None] = mapped_column(Text)
    counter: Mapped[int | None] = mapped_column(BigInteger)
    expires_at: Mapped[float] = mapped_column(Float, index=True)
