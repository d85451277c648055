"""Ride now, pay later (M-23.2; docs/payments.md "Transit"): joins the scanning domain's rides
(app.scanning.trips) to the fare computation and charges (app.money.fares, app.money.charges),
with the fare class the transit scene discloses (scenes/policies/base.concession)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import select

from app.card.proxy_charges import proxy_charge_allowed
from app.money.charges import ChargeRequest, Verified, create_charge
from app.money.fares import Ride
from app.money.models import FareTable
from app.partners.models import Partner
from app.partners.partners import PartnerView, partner_view
from app.platform.db import db
from app.platform.errors import AppError
from app.runtime import Runtime
from app.scanning.models import Verification
from app.scanning.trips import LinkedRide, holder_of, ride_ending_at, unfinished_entries
from app.scanning.verification import SceneContext

from .policies.base import concession

UNFINISHED_LOOKBACK = timedelta(days=2)


def _ride(rt: Runtime, partner: PartnerView, linked: LinkedRide, terminal_id: str) -> Ride:
    context = SceneContext(rt, partner, terminal_id, "exit", holder_of(rt, linked.card_id))
    return Ride(linked.card_id, linked.entry_verification_id, linked.entry_at, linked.exit_at, linked.entry_point,
                linked.exit_point, concession(context))


def verified_of(row: Verification) -> Verified:
    """The verification as the money domain charges it, with, for a code a relative showed
    (``proxy`` disclosed, or an offline certificate's use), the family entry's switch
    (app.card.proxy_charges)."""
    maybe_proxy = "proxy" in (row.disclosed or "").split(",") or (row.use_key or "").startswith("dgc2:")
    allowed = proxy_charge_allowed(row.use_key) if maybe_proxy else None
    return Verified(row.id, row.scene, row.card_id, row.accepted, row.created_at, allowed)


def ride_for(rt: Runtime, partner: PartnerView, row: Verification) -> Ride | None:
    """The ride an accepted transit exit ends (for its fare), or None."""
    linked = ride_ending_at(row)
    return _ride(rt, partner, linked, row.terminal_id) if linked is not None else None


@dataclass
class UnfinishedReport:
    charged: list[int] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)


def charge_unfinished_rides(rt: Runtime) -> UnfinishedReport:
    """Charge the maximum fare (with the fare class's concession) for every entry at an operator
    with a fare table whose exit never came within the entry's 4 hours (the last 2 days). Once per
    ride (the charge's idempotency key ``unfinished-<entry>`` and its unique ride entry); a ride
    charged meanwhile by its exit, or a card owing a debt, is skipped (counted by reason)."""
    report = UnfinishedReport()
    now = rt.clock.now()
    operators = db.session.scalars(select(Partner.partner_id).join(FareTable, FareTable.partner_id == Partner.id)).all()
    for public_id in operators:
        partner = partner_view(rt, public_id)
        if partner is None or "merchant" not in partner.roles:
            continue
        for entry, linked in unfinished_entries([partner.id], now, now - UNFINISHED_LOOKBACK):
            verified = verified_of(entry)
            request = ChargeRequest(f"unfinished-{entry.id}", "未出站，按最高票价 (entry without exit: maximum fare)", None)
            try:
                charge, replayed = create_charge(rt, partner, request, verified, _ride(rt, partner, linked, entry.terminal_id))
            except AppError as exc:
                db.session.rollback()
                report.skipped[exc.code] = report.skipped.get(exc.code, 0) + 1
                continue
            if not replayed:
                report.charged.append(charge.id)
    return report
