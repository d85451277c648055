"""Charges on codes a relative shows (issue 22 item 1, issue 18; docs/payments.md "Proxies"): a
family entry's ``proxy_charges`` switch says whether a merchant may charge a verification made
with a code the guardian showed for the member (a *proxy* code: the member's money, the
relative's hand). Off by default.

Who sets it: the member, on or off (it is their money); the guardian may turn it off at any time,
and on only for a minor member (a parent decides for a child). One conditional UPDATE.
"""
from __future__ import annotations

from sqlalchemy import or_, select, update

from app.card.family import not_found
from app.card.models import FAMILY_ACTIVE, Device, FamilyMember, OfflineCertificate
from app.platform.db import db
from app.platform.errors import AppError
from app.runtime import Runtime


def set_proxy_charges(rt: Runtime, citizen_id: int, entry_id: int, allowed: bool) -> FamilyMember:
    """Set the entry's switch as its member, or as its guardian (on only for a minor member); one
    conditional UPDATE, committed. 404 ``family_member_not_found`` (not yours, or removed); 403
    ``proxy_charges_member_decides`` (a guardian turning it on for an adult member)."""
    if not 0 < entry_id < 2**31:  # the column's range: a larger id names no entry (and would overflow the query)
        raise not_found()
    changed = db.session.execute(
        update(FamilyMember).where(
            FamilyMember.id == entry_id, FamilyMember.removed_at.is_(None),
            or_(FamilyMember.member_citizen_id == citizen_id,
                (FamilyMember.guardian_citizen_id == citizen_id) & (FamilyMember.minor.is_(True) | (not allowed))))
        .values(proxy_charges=allowed).returning(FamilyMember.id)).scalar()
    if changed is None:
        db.session.rollback()
        entry = db.session.get(FamilyMember, entry_id)
        if entry is not None and entry.removed_at is None and entry.guardian_citizen_id == citizen_id:
            raise AppError("proxy_charges_member_decides", 403,
                           "an adult member decides whether codes you show for them may be charged")
        raise not_found()
    db.session.commit()
    return db.session.get_one(FamilyMember, entry_id)


def proxy_charge_allowed(use_key: str | None) -> bool | None:
    """For an accepted verification's ``use_key`` (``pseudonym:factor`` or ``dgc2:serial:ctr``):
    None when the code was not shown by a relative (not a proxy device), else whether the family
    entry is live, active and has ``proxy_charges`` on."""
    if not use_key:
        return None
    carrier = use_key.rpartition(":")[0]
    entry = select(FamilyMember.proxy_charges, FamilyMember.status, FamilyMember.removed_at)
    if carrier.startswith("dgc2:"):
        entry = entry.join(OfflineCertificate, OfflineCertificate.device_id == FamilyMember.device_id).where(
            OfflineCertificate.serial == carrier.removeprefix("dgc2:"))
    else:
        entry = entry.join(Device, Device.id == FamilyMember.device_id).where(Device.pseudonym == carrier)
    row = db.session.execute(entry).first()
    if row is None:
        return None
    return bool(row.proxy_charges) and row.status == FAMILY_ACTIVE and row.removed_at is None
