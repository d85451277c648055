"""Service items and their versions."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.platform.models import Base

STATUSES = ("open", "planned", "withdrawn")
CHANNELS = ("window", "terminal", "online")


class ServiceItem(Base):
    """One government-service item (``code``: the Guangdong government-service item code) of a
    department: where the card is accepted (``scenes``, ``channels``: comma-separated), on what
    ``conditions``, by which ``steps`` (JSON list), within ``time_limit_days`` (statutory, working
    days; None: on the spot), for ``fee_fen``, at which ``locations`` (JSON list of {name,
    address, terminal_id, latitude, longitude}), its ``status`` and ``last_reviewed`` date.
    ``owner_partner_id``: the department's partner account, the only one that may change it;
    ``version`` rises by one with each change (the versions table keeps every one)."""

    __tablename__ = "service_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    owner_partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"))
    department: Mapped[str] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(String(200))
    scenes: Mapped[str] = mapped_column(String(200))
    channels: Mapped[str] = mapped_column(String(100))
    conditions: Mapped[str] = mapped_column(Text)
    steps: Mapped[str] = mapped_column(Text)
    time_limit_days: Mapped[int | None]
    fee_fen: Mapped[int]
    locations: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    last_reviewed: Mapped[date] = mapped_column(Date)
    version: Mapped[int]
    updated_at: Mapped[datetime]


class ServiceItemVersion(Base):
    """Every version of an item as it was written (``data``: the item's fields as JSON), by whom
    (``changed_by``: the partner id) and when: the audit of catalogue changes."""

    __tablename__ = "service_item_versions"
    __table_args__ = (UniqueConstraint("item_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("service_items.id"))
    version: Mapped[int]
    data: Mapped[str] = mapped_column(Text)
    changed_by: Mapped[str] = mapped_column(String(32))
    changed_at: Mapped[datetime]
