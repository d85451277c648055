"""Consistency checks a supervisor runs (``citizencard catalogue check``, M-16): every enabled
scene has at least one open item; every partner granted a scene appears in some item (as its
maintainer, or through a terminal at one of its locations); items not reviewed for a year."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import select

from app.catalogue.models import ServiceItem
from app.partners.models import Partner, Terminal
from app.platform.db import db

REVIEW_DAYS = 365


@dataclass
class Findings:
    """Each list names what fails one check; ``ok`` when all are empty."""

    scenes_without_items: list[str] = field(default_factory=list)
    partners_without_items: list[str] = field(default_factory=list)
    items_not_reviewed: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.scenes_without_items or self.partners_without_items or self.items_not_reviewed)


def check(enabled_scenes: list[str], today: date) -> Findings:
    """Run the three checks against the catalogue as it is now."""
    items = list(db.session.scalars(select(ServiceItem)))
    findings = Findings()
    open_scenes = {scene for item in items if item.status == "open" for scene in item.scenes.split(",") if scene}
    findings.scenes_without_items = [scene for scene in enabled_scenes if scene not in open_scenes]
    findings.partners_without_items = _partners_without_items(items)
    cutoff = today - timedelta(days=REVIEW_DAYS)
    findings.items_not_reviewed = sorted(item.code for item in items if item.status != "withdrawn" and item.last_reviewed < cutoff)
    return findings


def _partners_without_items(items: list[ServiceItem]) -> list[str]:
    appearing = {item.owner_partner_id for item in items if item.status != "withdrawn"}
    terminal_ids = {place.get("terminal_id") for item in items if item.status != "withdrawn"
                    for place in json.loads(item.locations)} - {None}
    if terminal_ids:
        appearing |= set(db.session.scalars(select(Terminal.partner_id).where(Terminal.terminal_id.in_(terminal_ids))))
    partners = db.session.scalars(select(Partner).where(Partner.scenes != "", Partner.disabled_at.is_(None)).order_by(Partner.partner_id))
    return [partner.partner_id for partner in partners if partner.id not in appearing]
