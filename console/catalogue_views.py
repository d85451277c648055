"""Supervisors' page /console/catalogue: the service catalogue with its consistency findings (M-16)
and the websites that let citizens log in with the card (M-20). Read-only: departments keep their
items through the signed API, the operator registers websites with ``citizencard rp create``."""
from __future__ import annotations

from typing import Any

from flask import g, render_template
from sqlalchemy import select

from app.catalogue.checks import check
from app.catalogue.items import today
from app.catalogue.models import ServiceItem
from app.oidc.parties import list_rps
from app.platform.db import db
from app.runtime import runtime
from app.service_desk import complaints
from scenes.registry import SCENE_NAMES

from .views import blp


@blp.route("/catalogue")
def catalogue() -> Any:
    """Supervisors: every service item (newest change first), the three consistency checks, the relying parties."""
    complaints.require_role(g.actor, "supervisor")
    rt = runtime()
    chosen = rt.config["CARD_SCENES_ENABLED"]
    findings = check([name for name in SCENE_NAMES if chosen is None or name in chosen], today(rt))
    items = db.session.scalars(select(ServiceItem).order_by(ServiceItem.updated_at.desc()).limit(500)).all()
    return render_template("console/catalogue.html", items=items, findings=findings, parties=list_rps())
