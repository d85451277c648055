"""Signed feeds out (docs/data-hub.md "Feeds out"): departments and banks subscribe to the events
they are entitled to, with the minimum fields each needs.

Feeds, who may read them (partner roles) and their fields:

- ``card_issued`` (disburse, medical_insurance, data_hub, bank): ``card_number``, ``carrier``
  (``ecard``: bound; ``physical``: handed over by the bank, with ``application_id``), ``at``.
- ``card_cancelled`` (bank, disburse, medical_insurance, data_hub): ``card_number``, ``carrier``,
  ``application_id`` (physical), ``reason`` (``death``, ``left_city``, ``uninsured``, ``holder``,
  ``bank``, ``operator``), ``at``.
- ``loss_reported`` (bank, disburse): ``card_number``, ``application_id``, ``at``.
- ``insured_status`` (bank, medical_insurance): ``card_number``, ``insured``, ``effective_at``.

A partner holding only the ``bank`` role sees only events about cards whose physical card it
issued (``FeedEvent.bank_partner_id``). Events are made by :func:`collect` from the card tables
(each source row once: a unique ``source``) or published directly (:func:`publish`, in the
caller's transaction). A subscription with a webhook ``url`` gets each event POSTed by
:func:`deliver_due`, signed exactly like a partner's request to us (scenes/signing.py, with the
subscriber's own secret, ``partner_id`` = the subscriber), retried with exponential backoff (30 s,
60 s, ... at most 1 h) up to ``CARD_HUB_WEBHOOK_MAX_ATTEMPTS``; whatever the webhook missed is
pulled with ``GET /api/partner/v1/feeds/{name}?after=<id>``.
"""
from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import requests
from sqlalchemy import select, update

from app.card.models import Card, CarrierEvent, PhysicalCard
from app.hub.models import FeedDelivery, FeedEvent, FeedSubscription, HubCursor
from app.partners.models import Partner
from app.partners.partners import PartnerView, require_partner
from app.platform.city_time import city_isoformat
from app.platform.db import db
from app.platform.errors import AppError
from app.platform.request_signing import authorization_header
from app.platform.sql import upsert_insert
from app.runtime import Runtime

FEEDS: dict[str, tuple[str, ...]] = {
    "card_issued": ("disburse", "medical_insurance", "data_hub", "bank"),
    "card_cancelled": ("bank", "disburse", "medical_insurance", "data_hub"),
    "loss_reported": ("bank", "disburse"),
    "insured_status": ("bank", "medical_insurance"),
}
PENDING, SENT, FAILED = "pending", "sent", "failed"
FIRST_RETRY_SECONDS, MAX_RETRY_SECONDS, LEASE_SECONDS = 30, 3600, 60
COLLECT_BATCH = 1000
SETTLE_SECONDS = 5  # rows younger than this are collected next time (a slower transaction may still commit a lower id)


def entitled(partner: PartnerView, feed: str) -> bool:
    """Whether ``partner`` may read ``feed`` (one of its roles is listed for it)."""
    return bool(partner.roles & set(FEEDS.get(feed, ())))


def require_entitled(partner: PartnerView, feed: str) -> None:
    """404 ``feed_unknown``; 403 ``feed_not_entitled`` (details: the roles that may read it)."""
    if feed not in FEEDS:
        raise AppError("feed_unknown", 404, f"no feed named {feed}", {"feeds": sorted(FEEDS)})
    if not entitled(partner, feed):
        raise AppError("feed_not_entitled", 403, f"the feed {feed} is for the roles {', '.join(FEEDS[feed])}",
                       {"roles": list(FEEDS[feed])})


def _bank_only(partner: PartnerView) -> bool:
    return partner.roles == frozenset({"bank"})


def subscribe(rt: Runtime, partner_id: str, feed: str, url: str | None) -> None:
    """Subscribe the partner to ``feed`` (replacing its webhook ``url``; None: pull only).
    ValueError when it is not entitled or the url is not https (http only to 127.0.0.1/localhost)."""
    partner = require_partner(rt, partner_id)
    if feed not in FEEDS or not entitled(partner, feed):
        raise ValueError(f"{partner_id} is not entitled to the feed {feed}")
    if url is not None and not _acceptable_url(url):
        raise ValueError("the webhook url must be https:// (http:// only for localhost)")
    table = FeedSubscription.__table__
    statement = upsert_insert(db.engine.dialect.name, table).values(
        partner_id=partner.id, feed=feed, url=url, created_at=rt.clock.now())
    db.session.execute(statement.on_conflict_do_update(index_elements=[table.c.partner_id, table.c.feed], set_={"url": url}))
    db.session.commit()


def _acceptable_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost"))


def publish(rt: Runtime, feed: str, payload: dict[str, Any], bank_partner_id: int | None = None,
            source: str | None = None) -> int | None:
    """Add an event to ``feed`` and queue a webhook delivery per subscription with a url that may
    see it (in the caller's transaction). None when ``source`` was already published."""
    table = FeedEvent.__table__
    now = rt.clock.now()
    statement = upsert_insert(db.engine.dialect.name, table).values(
        feed=feed, bank_partner_id=bank_partner_id, payload=json.dumps(payload, ensure_ascii=False), source=source,
        created_at=now)
    if source is not None:
        statement = statement.on_conflict_do_nothing(index_elements=[table.c.source])
    event_id = db.session.execute(statement.returning(table.c.id)).scalar()
    if event_id is None:
        return None
    for subscription_id, roles, partner_pk in db.session.execute(
            select(FeedSubscription.id, Partner.roles, Partner.id).join(Partner, Partner.id == FeedSubscription.partner_id)
            .where(FeedSubscription.feed == feed, FeedSubscription.url.is_not(None), Partner.disabled_at.is_(None))):
        if roles == "bank" and partner_pk != bank_partner_id:
            continue
        db.session.add(FeedDelivery(subscription_id=subscription_id, feed_event_id=event_id, status=PENDING,
                                    attempts=0, next_attempt_at=now))
    return int(event_id)


# --- collecting from the card tables ---------------------------------------------------------


def collect(rt: Runtime) -> int:
    """Publish the feed events of new cards and new carrier events (each source row once);
    returns how many were published. Commits."""
    published = _collect_cards(rt) + _collect_carrier_events(rt)
    db.session.commit()
    return published


def _cursor(name: str) -> int:
    position = db.session.scalar(select(HubCursor.position).where(HubCursor.name == name))
    if position is None:
        table = HubCursor.__table__
        db.session.execute(upsert_insert(db.engine.dialect.name, table).values(name=name, position=0)
                           .on_conflict_do_nothing(index_elements=[table.c.name]))
        return 0
    return int(position)


def _move_cursor(name: str, old: int, new: int) -> None:
    if new > old:
        db.session.execute(update(HubCursor).where(HubCursor.name == name, HubCursor.position == old).values(position=new))


def _settled(rt: Runtime) -> Any:
    return rt.clock.now() - timedelta(seconds=SETTLE_SECONDS)


def _collect_cards(rt: Runtime) -> int:
    start = _cursor("feeds:cards")
    rows = db.session.execute(select(Card.id, Card.card_number, Card.created_at).where(
        Card.id > start, Card.created_at <= _settled(rt)).order_by(Card.id).limit(COLLECT_BATCH)).all()
    published = sum(publish(rt, "card_issued", {"card_number": number, "carrier": "ecard", "at": city_isoformat(at)},
                            source=f"card:{card_id}") is not None for card_id, number, at in rows)
    _move_cursor("feeds:cards", start, rows[-1].id if rows else start)
    return published


def _collect_carrier_events(rt: Runtime) -> int:
    start = _cursor("feeds:carrier_events")
    rows = db.session.execute(
        select(CarrierEvent, Card.card_number, PhysicalCard.application_id, PhysicalCard.bank_partner_id)
        .join(Card, Card.id == CarrierEvent.card_id)
        .outerjoin(PhysicalCard, PhysicalCard.id == CarrierEvent.physical_card_id)
        .where(CarrierEvent.id > start, CarrierEvent.created_at <= _settled(rt))
        .order_by(CarrierEvent.id).limit(COLLECT_BATCH)).all()
    published = 0
    for event, number, application_id, bank_id in rows:
        mapped = _feed_of(event, number, application_id)
        if mapped is not None and publish(rt, mapped[0], mapped[1], bank_id or _card_bank(event.card_id),
                                          source=f"carrier_event:{event.id}") is not None:
            published += 1
    _move_cursor("feeds:carrier_events", start, rows[-1][0].id if rows else start)
    return published


def _card_bank(card_id: int) -> int | None:
    """The bank of the card's latest physical card (told of an e-card cancellation), if any."""
    return db.session.scalar(select(PhysicalCard.bank_partner_id).where(PhysicalCard.card_id == card_id)
                             .order_by(PhysicalCard.id.desc()).limit(1))


def _feed_of(event: CarrierEvent, number: str, application_id: str | None) -> tuple[str, dict[str, Any]] | None:
    at = city_isoformat(event.created_at)
    if event.carrier == "physical" and event.event == "issued":
        return "card_issued", {"card_number": number, "carrier": "physical", "application_id": application_id, "at": at}
    if event.carrier == "physical" and event.event == "loss_reported":
        return "loss_reported", {"card_number": number, "application_id": application_id, "at": at}
    if event.event == "cancelled" and event.carrier in ("ecard", "physical"):
        return "card_cancelled", {"card_number": number, "carrier": event.carrier, "application_id": application_id,
                                  "reason": cancel_reason(event.actor, event.reason), "at": at}
    return None


def cancel_reason(actor: str, reason: str) -> str:
    """The feed's reason code for a cancellation recorded by ``actor`` with ``reason``."""
    if actor.startswith("data_hub"):
        return "death" if reason.startswith("death") else "uninsured" if reason.startswith("no longer insured") else "left_city"
    if actor.startswith("bank:"):
        return "bank"
    return "holder" if actor == "citizen" else "operator"


# --- pulling -----------------------------------------------------------------------------------


def pull(partner: PartnerView, feed: str, after: int, limit: int) -> list[dict[str, Any]]:
    """The events of ``feed`` after the cursor ``after`` that ``partner`` may see, oldest first:
    ``{"id", "feed", "created_at", "event"}``. Errors as :func:`require_entitled`."""
    require_entitled(partner, feed)
    query = select(FeedEvent).where(FeedEvent.feed == feed, FeedEvent.id > after)
    if _bank_only(partner):
        query = query.where(FeedEvent.bank_partner_id == partner.id)
    return [envelope(event) for event in db.session.scalars(query.order_by(FeedEvent.id).limit(limit))]


def envelope(event: FeedEvent) -> dict[str, Any]:
    """What a webhook body and a pulled item hold."""
    return {"id": event.id, "feed": event.feed, "created_at": city_isoformat(event.created_at), "event": json.loads(event.payload)}


# --- webhooks ------------------------------------------------------------------------------------


@dataclass
class DeliveryReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0


Poster = Callable[[str, bytes, dict[str, str]], int]


def http_post(url: str, body: bytes, headers: dict[str, str]) -> int:
    """POST ``body`` to ``url`` (5 s timeout); the HTTP status, or 0 when no answer came."""
    try:
        return requests.post(url, data=body, headers=headers, timeout=5, allow_redirects=False).status_code
    except requests.RequestException:
        return 0


def deliver_due(rt: Runtime, post: Poster = http_post, limit: int = 100) -> DeliveryReport:
    """POST the due deliveries (each claimed first by a conditional UPDATE: a lease, so several
    runners never send one at once); a 2xx answer is delivered, anything else retried."""
    report = DeliveryReport()
    due = db.session.scalars(select(FeedDelivery.id).where(
        FeedDelivery.status == PENDING, FeedDelivery.next_attempt_at <= rt.clock.now())
        .order_by(FeedDelivery.next_attempt_at).limit(limit)).all()
    db.session.commit()
    for delivery_id in due:
        if _claim(rt, delivery_id):
            _deliver(rt, post, delivery_id, report)
    return report


def _claim(rt: Runtime, delivery_id: int) -> bool:
    now = rt.clock.now()
    claimed = db.session.execute(update(FeedDelivery).where(
        FeedDelivery.id == delivery_id, FeedDelivery.status == PENDING, FeedDelivery.next_attempt_at <= now)
        .values(next_attempt_at=now + timedelta(seconds=LEASE_SECONDS)).returning(FeedDelivery.id)).first() is not None
    db.session.commit()
    return claimed


def _deliver(rt: Runtime, post: Poster, delivery_id: int, report: DeliveryReport) -> None:
    delivery, event, url, partner_id = db.session.execute(
        select(FeedDelivery, FeedEvent, FeedSubscription.url, Partner.partner_id)
        .join(FeedEvent, FeedEvent.id == FeedDelivery.feed_event_id)
        .join(FeedSubscription, FeedSubscription.id == FeedDelivery.subscription_id)
        .join(Partner, Partner.id == FeedSubscription.partner_id).where(FeedDelivery.id == delivery_id)).one()
    body = json.dumps(envelope(event), ensure_ascii=False).encode()
    parts = urlsplit(url)
    path = parts.path + ("?" + parts.query if parts.query else "")
    secret = require_partner(rt, partner_id).secrets[0]
    header = authorization_header(partner_id, secret, "POST", path, body, int(rt.clock.time()), secrets.token_hex(12))
    status = post(url, body, {"Authorization": header, "Content-Type": "application/json", "X-CC-Feed-Event": str(event.id)})
    _record(rt, delivery, status, report)
    db.session.commit()


def _record(rt: Runtime, delivery: FeedDelivery, status: int, report: DeliveryReport) -> None:
    delivery.attempts += 1
    if 200 <= status < 300:
        delivery.status, delivery.sent_at, delivery.last_error = SENT, rt.clock.now(), None
        report.sent += 1
        return
    delivery.last_error = f"http {status}" if status else "no answer"
    if delivery.attempts >= rt.config["CARD_HUB_WEBHOOK_MAX_ATTEMPTS"]:
        delivery.status = FAILED
        report.failed += 1
        return
    delivery.next_attempt_at = rt.clock.now() + timedelta(seconds=min(FIRST_RETRY_SECONDS * 2 ** (delivery.attempts - 1),
                                                                      MAX_RETRY_SECONDS))
    report.retrying += 1

