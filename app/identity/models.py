"""The resident roster: people who may hold a card (M-5, M-17).

Personal fields are stored encrypted (see app.platform.crypto); ``id_number_index`` is the blind index
used for look-ups and uniqueness.

Mini-program accounts (one per platform user) and our opaque bearer tokens."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from app.platform.models import Base


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
    # The town (street) of residence, from the roster's optional ``town`` column (figures: M-10(7))
    town: Mapped[str | None] = mapped_column(String(32))
    # The roster's optional ``household`` column (户号), as a keyed hash (blind index, never the
    # number): a child's relation is checked against it (issue 18, app/card/family.py)
    household_key: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class MpAccount(Base):
    """A WeChat or Alipay mini-program user; ``citizen_id`` is set once bound (M-17). A citizen
    has at most one bound account per platform (issue 17 item 3: WeChat and Alipay at once)."""

    __tablename__ = "mp_accounts"
    __table_args__ = (UniqueConstraint("platform", "openid"),
                      UniqueConstraint("citizen_id", "platform", name="uq_mp_accounts_citizen_platform"))

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    openid: Mapped[str] = mapped_column(String(128))
    unionid: Mapped[str | None] = mapped_column(String(128))
    citizen_id: Mapped[int | None] = mapped_column(ForeignKey("citizens.id"))
    created_at: Mapped[datetime]
    last_login_at: Mapped[datetime]
    # How the binding was proven (app/identity/real_person.py): knowledge, real_person or counter
    assurance: Mapped[str] = mapped_column(String(16), default="knowledge", server_default="knowledge")
    # The last binding this account lost, and why (unbound by itself, evicted by a real-person check)
    binding_ended_at: Mapped[datetime | None]
    binding_ended_reason: Mapped[str | None] = mapped_column(String(16))
    # Cancelled by its user (PIPL art. 47, app/card/closure.py): openid is then a tombstone
    cancelled_at: Mapped[datetime | None]


class AuthToken(Base):
    """A bearer token we issued, stored only as its SHA-256 digest; revocable."""

    __tablename__ = "auth_tokens"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("mp_accounts.id"), index=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
