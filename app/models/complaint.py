"""Complaints from the mini-program and their messages (M-14: consultation and complaint linkage)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base

COMPLAINT_STATUSES = ("new", "in_progress", "transferred", "answered", "closed")


class Complaint(Base):
    """A ticket. ``status``: ``new`` (nobody has claimed it), ``in_progress`` (an agent has it),
    ``transferred`` (waiting for ``department``), ``answered`` (the department answered),
    ``closed``. ``department`` stays set after the answer so the liaison keeps the history.
    Deadlines are computed at creation from the working-day settings."""

    __tablename__ = "complaints"
    __table_args__ = (Index("ix_complaints_status_created", "status", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_number: Mapped[str] = mapped_column(String(24), unique=True)
    citizen_id: Mapped[int] = mapped_column(ForeignKey("citizens.id"), index=True)
    category: Mapped[str] = mapped_column(String(32))
    description: Mapped[str] = mapped_column(Text)
    verification_id: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="new")
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), index=True)
    department: Mapped[str | None] = mapped_column(String(32), index=True)
    created_at: Mapped[datetime]
    first_response_due: Mapped[datetime]
    resolution_due: Mapped[datetime]
    first_responded_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    rating: Mapped[int | None]
    rating_comment: Mapped[str | None] = mapped_column(String(500))


class ComplaintMessage(Base):
    """One message on a ticket. ``author``: ``citizen``, ``agent`` (any front-line staff),
    ``department`` (a liaison's answer) or ``system`` (transfer, reassignment, closing: the
    citizen sees these as status changes)."""

    __tablename__ = "complaint_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    complaint_id: Mapped[int] = mapped_column(ForeignKey("complaints.id"), index=True)
    author: Mapped[str] = mapped_column(String(16))
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
