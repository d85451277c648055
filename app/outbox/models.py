"""The templates a citizen accepted in the mini-program (one acceptance allows one message), and the
columns every domain's outbox table shares (app.outbox.outbox drives them)."""
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


class OutboxMessage:
    """The columns app.outbox.outbox drives, declared once for every domain's outbox table
    (app.money.models.Notification, PaymentNoticeMessage; app.service_desk.models.DeskNotice), which
    adds what its message is about. ``status`` pending -> sent, or failed (final); ``last_error`` a
    platform's code (``wechat:43101``), never message text."""

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("mp_accounts.id"))
    platform: Mapped[str] = mapped_column(String(16))  # "wechat" or "alipay"
    template_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(8))
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(String(64))
    next_attempt_at: Mapped[datetime]
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
