"""The city data hub's tables (docs/data-hub.md): life events in (M-18), signed feeds out,
daily figures (M-10(2), M-10(7)) and misuse cases for the credit platform (M-27, M-10(6))."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.card.models import Card, CarrierEvent
from app.money.models import Disbursement
from app.platform.models import Base
from app.service_desk.models import Complaint

LIFE_RESIDENT, LIFE_LEAVING, LIFE_LEFT, LIFE_DECEASED = "resident", "leaving", "left", "deceased"


class CitizenEvent(Base):
    """One life event received from the data hub (role ``data_hub``), kept by its ``event_id``:
    the unique constraint makes a second delivery change nothing. ``outcome`` is ``applied`` or
    ``stale`` (older than the person's last applied event: recorded, no effect). ``effects`` is
    the comma-separated list of what it did (``card_cancelled``, ``tokens_revoked``, ...)."""

    __tablename__ = "citizen_events"
    __table_args__ = (UniqueConstraint("event_id"),
                      Index("ix_citizen_events_citizen_occurred", "citizen_id", "occurred_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[str] = mapped_column(String(64))
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"))
    citizen_id: Mapped[int] = mapped_column(ForeignKey("citizens.id"))
    type: Mapped[str] = mapped_column(String(32))
    occurred_at: Mapped[datetime]
    outcome: Mapped[str] = mapped_column(String(16))
    effects: Mapped[str] = mapped_column(String(300), default="", server_default="")
    received_at: Mapped[datetime]


class CitizenLife(Base):
    """A citizen's life as the data hub reported it: the last applied event (its time and id,
    the order key), ``status`` (resident, leaving, left, deceased) and, while leaving, when the
    grace period ends (``card_ends_at``: the daily job cancels the card then)."""

    __tablename__ = "citizen_life"
    __table_args__ = (Index("ix_citizen_life_status_ends", "status", "card_ends_at"),)

    citizen_id: Mapped[int] = mapped_column(ForeignKey("citizens.id"), primary_key=True)
    last_event_at: Mapped[datetime]
    last_event_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default=LIFE_RESIDENT)
    card_ends_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]


class CitizenCorrection(Base):
    """History of a name or ID-number correction: the value before, encrypted (as the citizen's
    own field is), and for an ID number its old blind index (what partners' rosters may still hold)."""

    __tablename__ = "citizen_corrections"

    id: Mapped[int] = mapped_column(primary_key=True)
    citizen_id: Mapped[int] = mapped_column(ForeignKey("citizens.id"), index=True)
    event_id: Mapped[str] = mapped_column(String(64))
    field: Mapped[str] = mapped_column(String(16))
    old_value_enc: Mapped[str] = mapped_column(String(300))
    old_index: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]


class FeedEvent(Base):
    """One event on a named feed (``card_issued``, ``card_cancelled``, ``loss_reported``,
    ``insured_status``); ``id`` is the cursor of the pull fallback. ``payload`` is the JSON with
    the feed's minimum fields; ``bank_partner_id`` limits an event to that bank (None: every
    subscriber)."""

    __tablename__ = "feed_events"
    __table_args__ = (Index("ix_feed_events_feed_id", "feed", "id"), UniqueConstraint("source"))

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True)
    feed: Mapped[str] = mapped_column(String(32))
    # What it was made from (``card:<id>``, ``carrier_event:<id>``): collected once (unique)
    source: Mapped[str | None] = mapped_column(String(48))
    bank_partner_id: Mapped[int | None] = mapped_column(ForeignKey("partners.id"))
    payload: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]


class FeedSubscription(Base):
    """A partner's subscription to a feed, with the webhook ``url`` (None: pull only)."""

    __tablename__ = "feed_subscriptions"
    __table_args__ = (UniqueConstraint("partner_id", "feed"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"))
    feed: Mapped[str] = mapped_column(String(32))
    url: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime]


class FeedDelivery(Base):
    """The webhook outbox: one feed event to one subscription. ``status`` pending, sent or
    failed (gave up after CARD_HUB_WEBHOOK_MAX_ATTEMPTS: the partner pulls it)."""

    __tablename__ = "feed_deliveries"
    __table_args__ = (UniqueConstraint("subscription_id", "feed_event_id"),
                      Index("ix_feed_deliveries_status_next", "status", "next_attempt_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("feed_subscriptions.id"))
    feed_event_id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), ForeignKey("feed_events.id"))
    status: Mapped[str] = mapped_column(String(8))
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(String(100))
    next_attempt_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]


class DailyFigure(Base):
    """One aggregate of one day (Asia/Shanghai) for one town and department (``""``: all):
    ``metric`` (cards_issued, ecards_active, physical_cards, scans, disbursements_paid, ...) and
    ``key`` (a state, a scene, ``""``). Raw counts; suppression happens when they are shown."""

    __tablename__ = "daily_figures"
    __table_args__ = (UniqueConstraint("day", "town", "department", "metric", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(Date)
    town: Mapped[str] = mapped_column(String(32))
    department: Mapped[str] = mapped_column(String(64))
    metric: Mapped[str] = mapped_column(String(32))
    key: Mapped[str] = mapped_column(String(32))
    value: Mapped[int] = mapped_column(BigInteger)


class HubCursor(Base):
    """How far a hub job has read a source table (``feeds:cards``, ``feeds:carrier_events``):
    the last id it handled. Moved by one conditional UPDATE so two runners never both move it."""

    __tablename__ = "hub_cursors"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    position: Mapped[int] = mapped_column(BigInteger, default=0)



class MisuseCase(Base):
    """A card-misuse case (M-27) opened by an investigator from lending flags. ``status``:
    ``open`` -> ``notified`` (the holder told by SMS) -> ``answered`` (statement recorded) ->
    ``decided`` (a violation; appeal possible until ``appeal_until``) -> ``final`` (then exported
    to the public credit platform), or ``dismissed`` (no violation); a decided or final case may be
    ``appealed``, and the appeal makes it ``final`` (rejected) or ``overturned`` (upheld: an
    exported record is withdrawn). Each move is one conditional UPDATE on ``status``.
    ``statement_enc``/``appeal_enc``: the holder's words, encrypted."""

    __tablename__ = "misuse_cases"
    __table_args__ = (Index("ix_misuse_cases_status", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_number: Mapped[str] = mapped_column(String(24), unique=True)
    card_id: Mapped[int] = mapped_column(ForeignKey("cards.id"), index=True)
    citizen_id: Mapped[int] = mapped_column(ForeignKey("citizens.id"))
    kind: Mapped[str] = mapped_column(String(16))  # lending (physical or e-card scans)
    flag_ids: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16))
    opened_by: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    opened_at: Mapped[datetime]
    notified_at: Mapped[datetime | None]
    statement_enc: Mapped[str | None] = mapped_column(Text)
    decision_reason: Mapped[str | None] = mapped_column(String(500))
    decided_at: Mapped[datetime | None]
    appeal_until: Mapped[datetime | None]
    appeal_enc: Mapped[str | None] = mapped_column(Text)
    appeal_outcome: Mapped[str | None] = mapped_column(String(500))
    final_at: Mapped[datetime | None]
    repair_on: Mapped[date | None] = mapped_column(Date)
    exported_at: Mapped[datetime | None]
    withdrawal_exported_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]


# The time columns the daily figures read one day of rows by (app/hub/figures.py); declared here,
# on the other domains' tables, so that the hub's migration owns them
FIGURE_INDEXES = (Index("ix_cards_created_at", Card.created_at), Index("ix_carrier_events_created_at", CarrierEvent.created_at),
                  Index("ix_disbursements_settled_at", Disbursement.settled_at),
                  Index("ix_complaints_created_at", Complaint.created_at), Index("ix_complaints_closed_at", Complaint.closed_at))
