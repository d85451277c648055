"""Customer-service staff: console accounts with a password and a TOTP second factor."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base

STAFF_ROLES = ("agent", "supervisor", "liaison", "auditor")


class Staff(Base):
    """``password_hash`` is argon2id; ``totp_seed_enc`` is encrypted at rest; ``last_totp_step``
    is the last accepted time step (a code is accepted once). ``department`` is set for
    liaisons only (a key of CARD_DEPARTMENTS). ``session_epoch`` is raised to end every console
    session of the account (log-out, disable): a session carries the epoch it began in."""

    __tablename__ = "staff"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    department: Mapped[str | None] = mapped_column(String(32))
    password_hash: Mapped[str] = mapped_column(String(200))
    totp_seed_enc: Mapped[str] = mapped_column(String(200))
    last_totp_step: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    session_epoch: Mapped[int] = mapped_column(default=0, server_default="0")
    created_at: Mapped[datetime]
    disabled_at: Mapped[datetime | None]
