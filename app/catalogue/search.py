"""What citizens and the open-data export read: search (Chinese substrings, scene, department,
distance from a point) and the whole catalogue as JSON or CSV."""
from __future__ import annotations

import csv
import io
import json
import math
from typing import Any

from sqlalchemy import literal, or_, select

from app.catalogue.models import ServiceItem
from app.platform.db import db

MAX_RESULTS = 50
EXPORT_COLUMNS = ("code", "department", "title", "scenes", "channels", "conditions", "steps", "time_limit_days",
                  "fee_fen", "locations", "status", "last_reviewed", "version")
EARTH_RADIUS_M = 6_371_000


def item_dict(item: ServiceItem) -> dict[str, Any]:
    """The public form of an item (lists decoded; ``last_reviewed`` an ISO date)."""
    return {"code": item.code, "department": item.department, "title": item.title,
            "scenes": item.scenes.split(",") if item.scenes else [], "channels": item.channels.split(","),
            "conditions": item.conditions, "steps": json.loads(item.steps), "time_limit_days": item.time_limit_days,
            "fee_fen": item.fee_fen, "locations": json.loads(item.locations), "status": item.status,
            "last_reviewed": item.last_reviewed.isoformat(), "version": item.version}


def search(q: str | None, scene: str | None, department: str | None, near: tuple[float, float] | None,
           limit: int = MAX_RESULTS) -> list[dict[str, Any]]:
    """Open and planned items matching every whitespace-separated term of ``q`` (a substring of
    the title, department or conditions: Chinese needs no word splitting for that), in ``scene``,
    of ``department``; nearest first with ``distance_m`` when ``near`` (lat, lon) is given, else by title."""
    query = select(ServiceItem).where(ServiceItem.status != "withdrawn")
    for term in (q or "").split()[:5]:
        pattern = f"%{_escaped(term)}%"
        query = query.where(or_(*(column.like(pattern, escape="\\") for column in
                                  (ServiceItem.title, ServiceItem.department, ServiceItem.conditions))))
    if scene:
        query = query.where((literal(",") + ServiceItem.scenes + ",").like(f"%,{_escaped(scene)},%", escape="\\"))
    if department:
        query = query.where(ServiceItem.department == department)
    items = [item_dict(item) for item in db.session.scalars(query.order_by(ServiceItem.title, ServiceItem.code).limit(500))]
    if near is not None:
        for item in items:
            item["distance_m"] = _nearest(item["locations"], near)
        items.sort(key=lambda item: (item["distance_m"] is None, item["distance_m"] or 0))
    return items[:limit]


def _escaped(text: str) -> str:
    """``text`` for a LIKE pattern with ``\\`` as the escape: its own % and _ match only themselves."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _nearest(locations: list[dict[str, Any]], point: tuple[float, float]) -> int | None:
    distances = [_haversine(point, (place["latitude"], place["longitude"])) for place in locations
                 if place.get("latitude") is not None and place.get("longitude") is not None]
    return round(min(distances)) if distances else None


def _haversine(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(h))


def export_items() -> list[dict[str, Any]]:
    """Every item, withdrawn ones included (open data: what was offered and is no more), by code."""
    return [item_dict(item) for item in db.session.scalars(select(ServiceItem).order_by(ServiceItem.code))]


def export_csv(items: list[dict[str, Any]]) -> str:
    """``items`` as CSV (UTF-8, header row; lists as JSON text). A cell a spreadsheet would take as a
    formula (starting with = + - @ or a tab) is prefixed with ``'`` (OWASP CSV injection)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(EXPORT_COLUMNS)
    for item in items:
        writer.writerow([_cell(item[column]) for column in EXPORT_COLUMNS])
    return out.getvalue()


def _cell(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False) if isinstance(value, list) else ("" if value is None else str(value))
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
