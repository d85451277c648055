"""Console editors of the catalogue (M-16): a department's staff member with the role
``catalogue_editor`` keeps that department's items in the console, as its partner account does
through the signed API.

The editor's ``department`` (``citizencard staff create --role catalogue_editor --department
<partner id>``) is the partner id of the department's partner account holding the ``catalogue``
role: the editor writes exactly the items that account owns, through the same conditional
``INSERT ... ON CONFLICT ... WHERE`` (app/catalogue/items.py), so an editor cannot change another
department's item (403 ``item_not_yours``) and of two writers expecting the same version one wins
(409 ``version_conflict``). Each change is a new row of ``service_item_versions`` with
``changed_by`` ``staff:<username>``; the console also seals it in the audit trail.
"""
from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from app.catalogue.items import Written, checked_code, write_item
from app.catalogue.models import ServiceItem
from app.partners.models import Partner
from app.partners.partners import PartnerView, partner_view
from app.platform.db import db
from app.platform.errors import AppError
from app.runtime import Runtime

ROLE = "catalogue_editor"


def is_catalogue_department(partner_id: str) -> bool:
    """True when ``partner_id`` is an enabled partner account holding the ``catalogue`` role."""
    partner = db.session.scalar(select(Partner).where(Partner.partner_id == partner_id))
    return partner is not None and partner.disabled_at is None and "catalogue" in partner.role_set


def department_of(rt: Runtime, department: str | None) -> PartnerView:
    """The partner account an editor works for; 403 ``forbidden`` if it no longer holds the role."""
    view = partner_view(rt, department) if department else None
    if view is None or view.disabled or "catalogue" not in view.roles:
        raise AppError("forbidden", 403, "your department's account may no longer keep catalogue items")
    return view


def items_of(owner: PartnerView) -> list[ServiceItem]:
    """The department's items, by code."""
    return list(db.session.scalars(select(ServiceItem).where(ServiceItem.owner_partner_id == owner.id)
                                   .order_by(ServiceItem.code)))


def item_for_editing(owner: PartnerView, code: str) -> ServiceItem | None:
    """The item ``code`` if it is the department's; None if it does not exist yet (a new item);
    403 ``item_not_yours`` for another department's; 422 ``item_code_invalid``."""
    item = db.session.scalar(select(ServiceItem).where(ServiceItem.code == checked_code(code)))
    if item is not None and item.owner_partner_id != owner.id:
        raise AppError("item_not_yours", 403, "this item belongs to another department")
    return item


def save(rt: Runtime, owner: PartnerView, username: str, code: str, fields: dict[str, Any], expected_version: int,
         known_scenes: tuple[str, ...]) -> Written:
    """Write the item as the editor ``username`` of ``owner``; the existing locations are kept (the
    console does not edit them). Errors as :func:`app.catalogue.items.write_item`."""
    current = item_for_editing(owner, code)
    locations = json.loads(current.locations) if current is not None else []
    return write_item(rt, owner, code, {**fields, "locations": locations}, known_scenes, expected_version,
                      changed_by=f"staff:{username}"[:32])
