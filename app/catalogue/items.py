"""Departments write their own items (``PUT /api/partner/v1/service-items/{code}``, role ``catalogue``).

A write is one ``INSERT ... ON CONFLICT (code) DO UPDATE ... WHERE`` the item is the partner's
own (and, with ``expected_version``, still at that version) ``RETURNING`` its new version: two
departments cannot overwrite each other, and of two writers expecting the same version one wins
(409 ``version_conflict`` for the other). The new version's full text goes into
``service_item_versions`` in the same transaction.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select

from app.catalogue.models import CHANNELS, STATUSES, ServiceItem, ServiceItemVersion
from app.partners.models import Terminal
from app.partners.partners import PartnerView
from app.platform.db import db
from app.platform.errors import AppError
from app.platform.sql import upsert_insert
from app.runtime import Runtime

CODE = re.compile(r"[0-9A-Za-z_-]{4,64}\Z")
FIELDS = ("department", "title", "scenes", "channels", "conditions", "steps", "time_limit_days", "fee_fen",
          "locations", "status", "last_reviewed")


@dataclass(frozen=True)
class Written:
    """``code`` now at ``version`` (1: created)."""

    code: str
    version: int


def checked_code(code: str) -> str:
    """An item code: 4-64 of ``0-9A-Za-z_-``; 422 ``item_code_invalid``."""
    if not CODE.match(code):
        raise AppError("item_code_invalid", 422, "an item code is 4-64 letters, digits, '_' or '-'")
    return code


def write_item(rt: Runtime, partner: PartnerView, code: str, item: dict[str, Any], known_scenes: tuple[str, ...],
               expected_version: int | None = None, changed_by: str | None = None) -> Written:
    """Create or change the partner's item ``code`` (fields :data:`FIELDS`, validated by the HTTP
    schema; scenes, channels and terminal ids checked here). ``changed_by`` goes into the version
    row (default: the partner id; a console editor: ``staff:<username>``). 422 ``scene_unknown``,
    ``channel_unknown``, ``terminal_unknown``; 403 ``item_not_yours``; 409 ``version_conflict``."""
    values = _values(item, known_scenes)
    now = rt.clock.now()
    insert = upsert_insert(db.engine.dialect.name, ServiceItem).values(
        code=checked_code(code), owner_partner_id=partner.id, version=1, updated_at=now, **values)
    condition = ServiceItem.owner_partner_id == partner.id
    if expected_version is not None:
        condition = condition & (ServiceItem.version == expected_version)
    stmt = insert.on_conflict_do_update(index_elements=[ServiceItem.code], where=condition,
                                        set_={**values, "version": ServiceItem.version + 1, "updated_at": now}
                                        ).returning(ServiceItem.id, ServiceItem.version)
    row = db.session.execute(stmt).first()
    if row is None:
        db.session.rollback()
        raise _refusal(partner, code)
    if expected_version is not None and row.version == 1 and expected_version != 0:
        db.session.rollback()
        raise AppError("version_conflict", 409, "the item does not exist yet: send expected_version 0 or none")
    snapshot = json.dumps({"code": code, **values}, ensure_ascii=False, default=str)
    db.session.add(ServiceItemVersion(item_id=row.id, version=row.version, data=snapshot, changed_by=changed_by or partner.partner_id,
                                      changed_at=now))
    db.session.commit()
    return Written(code, row.version)


def _refusal(partner: PartnerView, code: str) -> AppError:
    owner = db.session.scalar(select(ServiceItem.owner_partner_id).where(ServiceItem.code == code))
    if owner is not None and owner != partner.id:
        return AppError("item_not_yours", 403, "this item belongs to another department")
    return AppError("version_conflict", 409, "the item changed since expected_version: read it again")


def _values(item: dict[str, Any], known_scenes: tuple[str, ...]) -> dict[str, Any]:
    scenes, channels = item["scenes"], item["channels"]
    unknown = sorted(set(scenes) - set(known_scenes))
    if unknown:
        raise AppError("scene_unknown", 422, "no such scene", {"scenes": list(known_scenes), "unknown": unknown})
    if set(channels) - set(CHANNELS) or not channels:
        raise AppError("channel_unknown", 422, f"channels are some of {', '.join(CHANNELS)}")
    if item["status"] not in STATUSES:
        raise AppError("status_unknown", 422, f"status is one of {', '.join(STATUSES)}")
    _check_terminals(item["locations"])
    return {"department": item["department"], "title": item["title"], "scenes": ",".join(sorted(set(scenes))),
            "channels": ",".join(name for name in CHANNELS if name in channels), "conditions": item["conditions"],
            "steps": json.dumps(item["steps"], ensure_ascii=False), "time_limit_days": item["time_limit_days"],
            "fee_fen": item["fee_fen"], "locations": json.dumps(item["locations"], ensure_ascii=False),
            "status": item["status"], "last_reviewed": item["last_reviewed"]}


def _check_terminals(locations: list[dict[str, Any]]) -> None:
    wanted = {place["terminal_id"] for place in locations if place.get("terminal_id")}
    if not wanted:
        return
    known = set(db.session.scalars(select(Terminal.terminal_id).where(Terminal.terminal_id.in_(wanted),
                                                                      Terminal.removed_at.is_(None))))
    if wanted - known:
        raise AppError("terminal_unknown", 422, "a location names a terminal that is not registered",
                       {"terminal_ids": sorted(wanted - known)})


def history(code: str) -> list[ServiceItemVersion]:
    """Every version of item ``code``, oldest first (empty if unknown)."""
    return list(db.session.scalars(select(ServiceItemVersion).join(ServiceItem, ServiceItem.id == ServiceItemVersion.item_id)
                                   .where(ServiceItem.code == code).order_by(ServiceItemVersion.version)))


def today(rt: Runtime) -> date:
    from app.platform.clock import DISPLAY_ZONE

    return rt.clock.now().astimezone(DISPLAY_ZONE).date()
