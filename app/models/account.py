"""Mini-program accounts (one per platform user) and our opaque bearer tokens."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base


class MpAccount(Base):
    """A WeChat or Alipay mini-program user; ``citizen_id`` is set once bound (M-17)."""

    __tablename__ = "mp_accounts"
    __table_args__ = (UniqueConstraint("platform", "openid"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    openid: Mapped[str] = mapped_column(String(128))
    unionid: Mapped[str | None] = mapped_column(String(128))
    citizen_id: Mapped[int | None] = mapped_column(ForeignKey("citizens.id"), unique=True)
    created_at: Mapped[datetime]
    last_login_at: Mapped[datetime]


class AuthToken(Base):
    """A bearer token we issued, stored only as its SHA-256 digest; revocable."""

    __tablename__ = "auth_tokens"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("mp_accounts.id"), index=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
