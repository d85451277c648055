"""Registered scanning terminals of partners (the PBoC barcode-payment rules require registration).

A removed terminal (stolen, retired) keeps its row, marked ``removed_at``: verification records name
terminals by id, and the citizen's history (its location) and the card-lending signal (its
coordinates) still read it. It verifies nothing (``terminal_unknown``); registering it again
restores it. Registering a terminal again without coordinates keeps its stored ones.
Verifications keep a found terminal 10 s per process, so a removal reaches every server within 10 s."""
from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, case, select, update

from app.partners.models import Partner, Terminal
from app.platform.csvfile import first_at, whole_records
from app.platform.db import db
from app.platform.raw_sql import Statement, first_row
from app.platform.sql import upsert_insert
from app.runtime import Runtime

TERMINAL_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
CACHE_SECONDS = 10


@dataclass(frozen=True)
class TerminalView:
    terminal_id: str
    name: str
    location: str


REGISTERED, UPDATED, RESTORED = "registered", "updated", "restored"


def register_terminal(rt: Runtime, partner_id: str, terminal_id: str, name: str, location: str,
                      latitude: float | None = None, longitude: float | None = None) -> str:
    """Add or update a terminal of ``partner_id``; ValueError for bad fields or an unknown partner.
    ``latitude``/``longitude`` (WGS 84 degrees, both or neither) place it for the lending signal (M-27);
    neither keeps the stored ones. Returns what happened: :data:`REGISTERED` (new), :data:`UPDATED`
    or :data:`RESTORED` (it had been removed)."""
    [outcome] = register_terminals(rt, partner_id, [(terminal_id, name, location, latitude, longitude)])
    return outcome


def register_terminals(rt: Runtime, partner_id: str, terminals: list[tuple[Any, ...]]) -> list[str]:
    """Add or update ``(terminal_id, name, location[, latitude, longitude])`` terminals of ``partner_id``
    in one transaction (a removed one is restored; a terminal given no coordinates keeps its stored
    ones); returns each one's outcome (:func:`register_terminal`)."""
    partner = _partner_key(partner_id)
    before = _states(partner)
    outcomes = []
    for terminal in terminals:
        _register(rt, partner, *terminal)
        outcomes.append(_outcome(before, terminal[0]))
        before[terminal[0]] = None
    db.session.commit()
    return outcomes


def _states(partner: int) -> dict[str, datetime | None]:
    """Every terminal id of ``partner`` on record, with its ``removed_at``. Read only to report what
    a registration did: the registration itself is one upsert."""
    rows = db.session.execute(select(Terminal.terminal_id, Terminal.removed_at).where(Terminal.partner_id == partner))
    return {terminal_id: removed_at for terminal_id, removed_at in rows}


def _outcome(before: dict[str, datetime | None], terminal_id: str) -> str:
    if terminal_id not in before:
        return REGISTERED
    return UPDATED if before[terminal_id] is None else RESTORED


def import_terminals(rt: Runtime, partner_id: str, stream: Iterable[str]) -> Counter[str]:
    """Register every row of a CSV with the header ``terminal_id,name,location`` (optionally
    ``,latitude,longitude``: decimal degrees, both or neither per row; neither keeps the stored
    ones); returns how many were registered, updated and restored (:func:`register_terminal`).
    The file is checked whole first: one bad row (ValueError naming its line; a row without the
    header's number of cells too) registers nothing.
    (Line numbers count the header as line 1.)"""
    rows = whole_records(stream, (HEADER, [*HEADER, "latitude", "longitude"]),
                         "the header must be exactly terminal_id,name,location or terminal_id,name,location,latitude,longitude")
    numbered = []
    for line, row in rows:
        where = f"line {line}: "
        numbered.append((line, (row["terminal_id"], row["name"], row["location"],
                                *_coordinates(row.get("latitude", ""), row.get("longitude", ""), where))))
    first: dict[str, int] = {}
    for line, terminal in numbered:
        _check(*terminal, line=line)
        if terminal[0] in first:
            raise ValueError(f"line {line}: duplicate terminal_id {terminal[0]} {first_at(first[terminal[0]])}")
        first[terminal[0]] = line
    return Counter(register_terminals(rt, partner_id, [terminal for _line, terminal in numbered]))


HEADER = ["terminal_id", "name", "location"]


def _coordinates(latitude: str, longitude: str, where: str = "") -> tuple[float | None, float | None]:
    """Parse decimal-degree text; both empty is (None, None); ValueError otherwise when invalid."""
    if not latitude.strip() and not longitude.strip():
        return None, None
    try:
        return float(latitude), float(longitude)
    except ValueError:
        raise ValueError(f"{where}latitude and longitude must be decimal degrees, both or neither") from None


def _check(terminal_id: str, name: str, location: str, latitude: float | None = None, longitude: float | None = None,
           line: int | None = None) -> None:
    where = f"line {line}: " if line else ""
    if (latitude is None) != (longitude is None):
        raise ValueError(f"{where}latitude and longitude go together: both or neither")
    if latitude is not None and longitude is not None and not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        raise ValueError(f"{where}latitude must be within -90..90 and longitude within -180..180")
    if not TERMINAL_ID.fullmatch(terminal_id):
        raise ValueError(f"{where}terminal_id must be 1-64 of A-Za-z0-9_.:-")
    for label, value, limit in (("name", name, 100), ("location", location, 200)):
        if not value.strip() or len(value) > limit or not value.isprintable():
            raise ValueError(f"{where}{label} must be 1-{limit} printable characters")


def _register(rt: Runtime, partner: int, terminal_id: str, name: str, location: str,
              latitude: float | None = None, longitude: float | None = None) -> None:
    _check(terminal_id, name, location, latitude, longitude)
    stmt = upsert_insert(db.engine.dialect.name, Terminal).values(
        partner_id=partner, terminal_id=terminal_id, name=name.strip(), location=location.strip(),
        latitude=latitude, longitude=longitude, created_at=rt.clock.now())
    db.session.execute(stmt.on_conflict_do_update(
        index_elements=[Terminal.partner_id, Terminal.terminal_id],
        set_={"name": stmt.excluded.name, "location": stmt.excluded.location, "removed_at": None,
              # no coordinates given: keep the stored ones (both together), so the lending signal stays on
              "latitude": _new_or_stored(stmt, Terminal.latitude), "longitude": _new_or_stored(stmt, Terminal.longitude)}))


def _new_or_stored(stmt: Any, column: Any) -> Any:
    """The upsert's value for a coordinate: the new one when the registration gives coordinates
    (latitude decides: both or neither are given), else the stored one."""
    return case((stmt.excluded.latitude.is_(None), column), else_=getattr(stmt.excluded, column.key))


def remove_terminal(rt: Runtime, partner_id: str, terminal_id: str) -> None:
    """Mark a registered terminal of ``partner_id`` removed (its row and history stay); ValueError
    for an unknown partner or a terminal that is not registered (or already removed). Verifications
    refuse it (``terminal_unknown``) within :data:`CACHE_SECONDS` on every server."""
    partner = _partner_key(partner_id)
    removed = db.session.execute(update(Terminal).where(
        Terminal.partner_id == partner, Terminal.terminal_id == terminal_id, Terminal.removed_at.is_(None),
    ).values(removed_at=rt.clock.now()))
    db.session.commit()
    if removed.rowcount != 1:  # type: ignore[attr-defined]
        raise ValueError(f"no registered terminal {terminal_id} of {partner_id}")


def _partner_key(partner_id: str) -> int:
    """The database id of the partner with public id ``partner_id``; ValueError if there is none."""
    partner = db.session.scalar(select(Partner.id).where(Partner.partner_id == partner_id))
    if partner is None:
        raise ValueError(f"no partner {partner_id}")
    return partner


# Built once: on a verification that misses the cache, building it cost more than running it; on
# PostgreSQL compiled once and prepared (app.platform.raw_sql: through SQLAlchemy's Connection a
# miss cost 0.2 ms more of server CPU, issue 25).
_TERMINAL = Statement(select(Terminal.terminal_id, Terminal.name, Terminal.location).where(
    Terminal.partner_id == bindparam("partner"), Terminal.terminal_id == bindparam("terminal_id"), Terminal.removed_at.is_(None)))


def registered_terminal(rt: Runtime, partner: int, terminal_id: str) -> TerminalView | None:
    """The terminal, or None when unregistered or removed. Found terminals are kept 10 s per process
    (so a removal takes effect within 10 s).

    A verification's look-up (app.platform.raw_sql.first_row, the session released first): one
    round trip on a miss, where the session's BEGIN, SELECT and COMMIT made three."""
    key = (partner, terminal_id)
    cached = rt.terminal_cache.get(key)
    if cached is not None and rt.clock.time() - cached[0] < CACHE_SECONDS:
        return cached[1]
    row = first_row(_TERMINAL, {"partner": partner, "terminal_id": terminal_id})
    if row is None:
        return None
    view = TerminalView(row.terminal_id, row.name, row.location)
    rt.terminal_cache[key] = (rt.clock.time(), view)
    return view


def list_terminals(partner_id: str) -> list[Terminal]:
    """The registered (not removed) terminals of ``partner_id`` by id; ValueError for an unknown partner."""
    partner = _partner_key(partner_id)
    return list(db.session.scalars(select(Terminal).where(Terminal.partner_id == partner, Terminal.removed_at.is_(None))
                                   .order_by(Terminal.terminal_id)))
