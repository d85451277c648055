"""The templates a citizen accepted in the mini-program (one acceptance allows one message)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.platform.models import Base


class Subscription(Base):
    """A WeChat subscribe-message or Alipay template-message template the citizen accepted in the
    mini-program (``POST /api/mp/v1/subscriptions``): each acceptance allows one message (``remaining``)."""

    __tablename__ = "notification_subscriptions"
    __table_args__ = (UniqueConstraint("account_id", "template_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("mp_accounts.id"))
    template_id: Mapped[str] = mapped_column(String(64))
    remaining: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime]
