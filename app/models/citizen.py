"""The resident roster: people who may hold a card (M-5, M-17).

Personal fields are stored encrypted (see app.crypto); ``id_number_index`` is the blind index
used for look-ups and uniqueness.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, false
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base


class Citizen(Base):
    """One roster entry. ``insured`` = enrolled in city social security, so entitled to the
    physical card (M-5); others may hold the e-card only. ``disability``: holds a disability
    certificate (the roster's optional ``disability`` column), for fare concessions."""

    __tablename__ = "citizens"

    id: Mapped[int] = mapped_column(primary_key=True)
    id_number_index: Mapped[str] = mapped_column(String(64), unique=True)
    id_number_enc: Mapped[str] = mapped_column(String(200))
    name_enc: Mapped[str] = mapped_column(String(300))
    phone_enc: Mapped[str] = mapped_column(String(200))
    insured: Mapped[bool]
    disability: Mapped[bool] = mapped_column(default=False, server_default=false())
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
