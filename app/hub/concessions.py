"""The concession-misuse signal (M-27, M-23.2; docs/data-hub.md "Misuse cases"): a concession
pass (elder, senior, disabled: half fare or free) used at a rate one holder cannot ride.

Rule: a card whose holder's fare class is a concession (app.card.offline_certificates.fare_class:
a disability certificate, or an age category of ``CARD_CONCESSION_AGES``) boards transit (scene
``transit``, accepted, not an exit; e-card or physical card) at ``CARD_HUB_CONCESSION_ENTRIES``
(4) or more distinct gates (partner and terminal) within ``CARD_HUB_CONCESSION_MINUTES`` (30)
minutes. One rider boards once per vehicle or station; a journey with two transfers is three
boardings; the fourth distinct gate within half an hour is the pattern of a pass handed round.
Repeated scans at one gate (a retry) never count twice.

``citizencard hub run`` sweeps the boardings since its last sweep: the window is claimed by one
conditional UPDATE of the cursor ``concession:transit`` (two sweeps never look at the same window)
and the flags are written in the same transaction. A burst makes one flag: a card's boardings up
to its last concession flag's last one are not counted again. The flag holds the card, the first
and last boarding's verification ids, how many boardings, the seconds between the first and last,
and the widest distance between their placed gates: nothing about the holder (the fare class is
read only to decide, never stored). A flag never blocks the holder.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import combinations
from typing import Any

from sqlalchemy import String, and_, cast, func, or_, select

from app.card.models import Card
from app.card.offline_certificates import fare_class
from app.hub.cases import SWEEP_SETTLE_SECONDS, as_aware, claim_window
from app.partners.models import Terminal
from app.platform.db import db
from app.runtime import Runtime
from app.scanning.lending import great_circle_m
from app.scanning.models import LendingFlag, Verification

CURSOR = "concession:transit"
KIND = "concession"


@dataclass(frozen=True)
class Boarding:
    verification_id: str
    at: datetime
    gate: tuple[int, str]  # partner, terminal
    point: tuple[float, float] | None


def _boardings() -> Any:
    return (
        Verification.scene == "transit",
        Verification.accepted.is_(True),
        Verification.card_id.is_not(None),
        or_(Verification.direction.is_(None), Verification.direction != "exit"),
    )


def _candidates(since: datetime, until: datetime, minutes: int, entries: int) -> list[int]:
    """Cards with a boarding after ``since`` and at least ``entries`` distinct gates in the
    ``minutes`` before it (a cheap superset: the exact window is checked per card)."""
    gate = cast(Verification.partner_id, String) + ":" + Verification.terminal_id
    query = (
        select(Verification.card_id)
        .where(*_boardings(), Verification.created_at > since - timedelta(minutes=minutes), Verification.created_at <= until)
        .group_by(Verification.card_id)
        .having(func.count(func.distinct(gate)) >= entries, func.max(Verification.created_at) > since)
    )
    return list(db.session.scalars(query))


def _counted_from(card_id: int, start: datetime) -> datetime:
    """``start``, or the last boarding of the card's latest concession flag when later."""
    last = db.session.scalar(
        select(func.max(Verification.created_at))
        .join(LendingFlag, LendingFlag.second_verification_id == Verification.id)
        .where(LendingFlag.card_id == card_id, LendingFlag.kind == KIND)
    )
    return max(start, as_aware(last)) if last is not None else start


def _card_boardings(card_id: int, after: datetime, until: datetime) -> list[Boarding]:
    rows = db.session.execute(
        select(
            Verification.id,
            Verification.created_at,
            Verification.partner_id,
            Verification.terminal_id,
            Terminal.latitude,
            Terminal.longitude,
        )
        .outerjoin(Terminal, and_(Terminal.partner_id == Verification.partner_id, Terminal.terminal_id == Verification.terminal_id))
        .where(*_boardings(), Verification.card_id == card_id, Verification.created_at > after, Verification.created_at <= until)
        .order_by(Verification.created_at, Verification.id)
    )
    return [
        Boarding(
            row.id,
            as_aware(row.created_at),
            (row.partner_id, row.terminal_id),
            (row.latitude, row.longitude) if row.latitude is not None else None,
        )
        for row in rows
    ]


def bursts(boardings: list[Boarding], since: datetime, minutes: int, entries: int) -> list[list[Boarding]]:
    """The bursts of ``boardings`` (oldest first): the shortest run ending after ``since`` that
    reaches ``entries`` distinct gates within ``minutes``; counting restarts after each burst."""
    found: list[list[Boarding]] = []
    start = 0
    for end, boarding in enumerate(boardings):
        while boarding.at - boardings[start].at > timedelta(minutes=minutes):
            start += 1
        run = boardings[start : end + 1]
        if boarding.at > since and len({b.gate for b in run}) >= entries:
            found.append(run)
            start = end + 1
    return found


def _widest_m(run: list[Boarding]) -> int:
    points = [b.point for b in run if b.point is not None]
    return round(max((great_circle_m(*a, *b) for a, b in combinations(points, 2)), default=0.0))


def sweep_concession_misuse(rt: Runtime) -> int:
    """Flag concession cards boarding at too many gates in a short window (module docstring);
    returns the number of flags made. Commits."""
    now = rt.clock.now()
    until = now - timedelta(seconds=SWEEP_SETTLE_SECONDS)
    since = claim_window(until, CURSOR)
    if since is None:
        return 0
    minutes, entries = rt.config["CARD_HUB_CONCESSION_MINUTES"], rt.config["CARD_HUB_CONCESSION_ENTRIES"]
    made = 0
    for card_id in _candidates(since, until, minutes, entries):
        card = db.session.get(Card, card_id)
        if card is None or fare_class(rt, card) == 0:
            continue
        boardings = _card_boardings(card_id, _counted_from(card_id, since - timedelta(minutes=minutes)), until)
        for run in bursts(boardings, since, minutes, entries):
            db.session.add(
                LendingFlag(
                    card_id=card_id,
                    kind=KIND,
                    scans=len(run),
                    first_verification_id=run[0].verification_id,
                    second_verification_id=run[-1].verification_id,
                    distance_m=_widest_m(run),
                    seconds=round((run[-1].at - run[0].at).total_seconds()),
                    created_at=now,
                )
            )
            made += 1
    db.session.commit()
    return made
