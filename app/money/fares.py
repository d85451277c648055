"""Ride now, pay later (M-23.2; docs/payments.md "Transit"): the fare of a ride from the
operator's fare table, computed when the exit is charged (online, or an offline record uploaded
later), and the maximum fare for an entry whose exit never came.

A fare table (JSON, set by the operator with ``PUT /api/partner/v1/fare-table``)::

    {"mode": "distance",                      # or "flat"
     "flat_fen": 200,                         # flat: every ride
     "bands": [{"up_to_km": 6, "fare_fen": 300}, {"up_to_km": 12, "fare_fen": 400}],
     "max_fare_fen": 900,                     # no ride costs more; an unknown distance or an entry without exit costs this
     "concessions": {"senior": 50, "elder": 0, "disabled": 0},   # percent of the fare paid per fare class (default 100)
     "transfer_window_minutes": 90, "transfer_discount_fen": 100}

The fare, in this order: the base (flat, or the first band whose ``up_to_km`` reaches the
great-circle distance between the entry and exit terminals' coordinates; beyond the last band or
without coordinates: the maximum), capped at ``max_fare_fen``, times the fare class's percent
(rounded down), less ``transfer_discount_fen`` when the card's previous ride with this operator
ended within the window before this one began (never below 0). Integer fen throughout.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, select

from app.money.models import CHARGE_VOIDED, Charge, FareTable
from app.platform.db import db
from app.platform.errors import AppError
from app.platform.sql import upsert_insert
from app.runtime import Runtime

EARTH_RADIUS_M = 6_371_008.8


@dataclass(frozen=True)
class FareRules:
    """A validated fare table (the HTTP schema checks ranges; :func:`rules_from` re-checks the shape)."""

    mode: str
    max_fare_fen: int
    flat_fen: int = 0
    bands: tuple[tuple[float, int], ...] = ()
    concessions: tuple[tuple[str, int], ...] = ()
    transfer_window_minutes: int = 0
    transfer_discount_fen: int = 0

    def as_json(self) -> dict[str, Any]:
        return {"mode": self.mode, "flat_fen": self.flat_fen, "max_fare_fen": self.max_fare_fen,
                "bands": [{"up_to_km": km, "fare_fen": fen} for km, fen in self.bands],
                "concessions": dict(self.concessions), "transfer_window_minutes": self.transfer_window_minutes,
                "transfer_discount_fen": self.transfer_discount_fen}


def rules_from(data: dict[str, Any]) -> FareRules:
    """FareRules from the table's JSON form; ValueError when the bands do not rise."""
    bands = tuple((float(band["up_to_km"]), int(band["fare_fen"])) for band in data.get("bands", []))
    if any(later[0] <= earlier[0] for earlier, later in zip(bands, bands[1:], strict=False)):
        raise ValueError("bands must rise in up_to_km")
    if data["mode"] == "distance" and not bands:
        raise ValueError("a distance table needs bands")
    return FareRules(data["mode"], int(data["max_fare_fen"]), int(data.get("flat_fen", 0)), bands,
                     tuple(sorted((str(k), int(v)) for k, v in data.get("concessions", {}).items())),
                     int(data.get("transfer_window_minutes", 0)), int(data.get("transfer_discount_fen", 0)))


def set_fare_table(rt: Runtime, partner_id: int, rules: FareRules) -> None:
    """Store (or replace) the operator's fare table, in one upsert; commits."""
    table = FareTable.__table__
    body = json.dumps(rules.as_json(), separators=(",", ":"))
    db.session.execute(upsert_insert(db.engine.dialect.name, table).values(
        partner_id=partner_id, rules=body, updated_at=rt.clock.now(),
    ).on_conflict_do_update(index_elements=[table.c.partner_id], set_={"rules": body, "updated_at": rt.clock.now()}))
    db.session.commit()


def fare_table(partner_id: int) -> FareRules | None:
    """The operator's fare table, or None."""
    body = db.session.scalar(select(FareTable.rules).where(FareTable.partner_id == partner_id))
    return rules_from(json.loads(body)) if body else None


@dataclass(frozen=True)
class Ride:
    """A ride as the scanning domain linked it: its entry (None: an entry whose exit never came is
    charged on the entry itself), the terminals' coordinates (None when not registered), the scan
    times and the holder's fare class."""

    card_id: int
    entry_verification_id: str
    entry_at: datetime
    exit_at: datetime | None
    entry_point: tuple[float, float] | None
    exit_point: tuple[float, float] | None
    fare_class: str


def distance_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance (haversine) between two WGS 84 points, in km."""
    p1, p2 = math.radians(a[0]), math.radians(b[0])
    dp, dl = p2 - p1, math.radians(b[1] - a[1])
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(h)) / 1000


def fare_for_ride(rules: FareRules, ride: Ride, merchant_id: int) -> tuple[int, str]:
    """(fare in fen, how it was made as JSON) of ``ride`` on ``rules``; an unfinished ride (no
    exit) pays the maximum (with its concession, without a transfer discount)."""
    km = None
    if ride.exit_at is None:
        base = rules.max_fare_fen
    elif rules.mode == "flat":
        base = rules.flat_fen
    elif ride.entry_point is None or ride.exit_point is None:
        base = rules.max_fare_fen
    else:
        km = round(distance_km(ride.entry_point, ride.exit_point), 2)
        base = next((fen for up_to, fen in rules.bands if km <= up_to), rules.max_fare_fen)
    capped = min(base, rules.max_fare_fen)
    paid_percent = dict(rules.concessions).get(ride.fare_class, 100)
    fare = capped * paid_percent // 100
    transfer = rules.transfer_discount_fen if ride.exit_at is not None and _transfer(rules, ride, merchant_id) else 0
    fare = max(0, fare - transfer)
    how = {"base_fen": base, "km": km, "fare_class": ride.fare_class, "paid_percent": paid_percent,
           "transfer_discount_fen": transfer, "max_fare_fen": rules.max_fare_fen, "unfinished": ride.exit_at is None,
           "entry_verification_id": ride.entry_verification_id}
    return fare, json.dumps(how, separators=(",", ":"))


def _transfer(rules: FareRules, ride: Ride, merchant_id: int) -> bool:
    """Whether the card's previous ride with this operator ended within the window before this one began."""
    if not rules.transfer_window_minutes or not rules.transfer_discount_fen:
        return False
    since = ride.entry_at - timedelta(minutes=rules.transfer_window_minutes)
    return bool(db.session.scalar(select(exists().where(
        Charge.card_id == ride.card_id, Charge.merchant_partner_id == merchant_id, Charge.status != CHARGE_VOIDED,
        Charge.ride_exit_at >= since, Charge.ride_exit_at <= ride.entry_at))))


def ride_fare(rt: Runtime, merchant_id: int, ride: Ride | None) -> tuple[int, str]:
    """The fare of ``ride`` on the operator's table; 422 ``fare_not_computable`` when the
    verification is no ride (not a transit exit linked to an entry) or the operator has no table."""
    rules = fare_table(merchant_id)
    if ride is None or rules is None:
        raise AppError("fare_not_computable", 422, "give amount_fen: a computed fare needs a transit exit linked to its entry "
                       "and your fare table (PUT /api/partner/v1/fare-table)", {"fare_table": rules is not None})
    return fare_for_ride(rules, ride, merchant_id)
