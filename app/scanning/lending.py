"""The card-lending signal (M-27): one card verified at two terminals whose registered
locations are implausibly far apart for the time between the scans is flagged for review.

Implausible: the great-circle distance (haversine, mean Earth radius 6,371,008.8 m) over the
time between the two accepted verifications is faster than ``CARD_LENDING_SPEED_KMH``. Only
physical-card verifications at terminals with coordinates are compared (a terminal without
coordinates is never flagged). A flag never blocks the citizen: the verification stands.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, select, update

from app.card.models import Card
from app.partners.models import Terminal
from app.platform.db import db
from app.runtime import Runtime
from app.scanning.models import LendingFlag, Verification

EARTH_RADIUS_M = 6_371_008.8


def great_circle_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Haversine distance in metres between two WGS 84 points given in degrees."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def implausible(distance_m: float, seconds: float, speed_kmh: int) -> bool:
    """True when covering ``distance_m`` in ``seconds`` needs more than ``speed_kmh``."""
    return distance_m > speed_kmh / 3.6 * max(seconds, 0.0)


_PLACED = (select(Verification.id, Verification.created_at, Terminal.latitude, Terminal.longitude)
           .join(Terminal, and_(Terminal.partner_id == Verification.partner_id, Terminal.terminal_id == Verification.terminal_id)))


def check_lending(rt: Runtime, card_id: int, verification_id: str) -> LendingFlag | None:
    """Compare this accepted physical verification with the card's previous one; flag if implausible."""
    rows = db.session.execute(_PLACED.where(Verification.card_id == card_id, Verification.accepted.is_(True),
                                            Verification.carrier == "physical")
                              .order_by(Verification.created_at.desc(), Verification.id.desc()).limit(2)).all()
    if len(rows) < 2 or rows[0].id != verification_id or None in (rows[0].latitude, rows[1].latitude):
        return None
    distance = great_circle_m(rows[1].latitude, rows[1].longitude, rows[0].latitude, rows[0].longitude)
    seconds = (rows[0].created_at - rows[1].created_at).total_seconds()
    if not implausible(distance, seconds, rt.config["CARD_LENDING_SPEED_KMH"]):
        return None
    flag = LendingFlag(card_id=card_id, first_verification_id=rows[1].id, second_verification_id=rows[0].id,
                       distance_m=round(distance), seconds=round(seconds), created_at=rt.clock.now())
    db.session.add(flag)
    db.session.commit()
    return flag


@dataclass(frozen=True)
class FlagView:
    flag_id: int
    card_number: str
    distance_m: int
    seconds: int
    first_verification_id: str
    second_verification_id: str
    created_at: datetime
    kind: str = "distance"  # or concession (app/hub/concessions.py)
    scans: int | None = None  # concession: the boardings counted


def open_flags() -> list[FlagView]:
    """Flags not yet closed, oldest first."""
    rows = db.session.execute(select(LendingFlag, Card.card_number).join(Card, Card.id == LendingFlag.card_id)
                              .where(LendingFlag.closed_at.is_(None)).order_by(LendingFlag.id)).all()
    return [FlagView(f.id, number, f.distance_m, f.seconds, f.first_verification_id, f.second_verification_id, f.created_at,
                     f.kind, f.scans) for f, number in rows]


def close_flag(rt: Runtime, flag_id: int) -> bool:
    """Mark a flag reviewed; False when there is no open flag with this id."""
    done = db.session.execute(update(LendingFlag).where(LendingFlag.id == flag_id, LendingFlag.closed_at.is_(None))
                              .values(closed_at=rt.clock.now())).rowcount
    db.session.commit()
    return bool(done)
