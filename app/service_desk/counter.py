"""Help at the counter (M-15, issue 18 item 4; docs/family.md "At the counter").

A ``counter`` staff member serves a resident who stands at the counter with their ID document:
binds them (their card, created if they never had one; their app accounts' assurance raised to
``counter``), adds, confirms and removes family members, issues, prints and revokes printed
codes, reports the card lost (the e-card suspended, the printed code revoked, the physical card's
loss reported). Every action is recorded in the audit trail first (record_staff_access: actor,
action, resident, fields) and so appears in the resident's access log (M-25).
"""
from __future__ import annotations

import hmac
from dataclasses import dataclass

from sqlalchemy import select, update

from app.card import family, printed
from app.card.binding import validated_id_number
from app.card.lifecycle import current_physical, transition_ecard, transition_physical
from app.card.models import Card, PrintedCode
from app.identity import idnumber
from app.identity.models import Citizen, MpAccount
from app.identity.people import ID_NUMBER, citizen_by_id_number, citizen_name, normalize_name
from app.identity.real_person import COUNTER
from app.platform.db import db
from app.platform.errors import AppError
from app.runtime import Runtime
from app.service_desk.audit import StaffActor, record_staff_access
from app.service_desk.complaints import require_role

ROLE = "counter"


@dataclass(frozen=True)
class Resident:
    """The resident being served, as the counter page shows them (masked)."""

    citizen_id: int
    masked_name: str
    masked_id_number: str
    card_status: str
    printed: PrintedCode | None


def _audit(rt: Runtime, actor: StaffActor, action: str, citizen_id: int, fields: list[str], reason: str) -> None:
    record_staff_access(rt, actor, action, citizen_id, None, fields, reason)


def counter_bind(rt: Runtime, actor: StaffActor, name: str, id_number: str, document_seen: bool) -> int:
    """Bind the resident whose ID document the staff member holds (assurance ``counter``): the
    name and ID number must be a roster resident; the card is created if missing. Returns the
    citizen id. 403 ``forbidden``; 422 ``document_required`` (the box "document checked" not
    ticked), ``identity_mismatch``, ``validation_error``."""
    require_role(actor, ROLE)
    if not document_seen:
        raise AppError("document_required", 422, "check the resident's ID document first")
    citizen = citizen_by_id_number(rt, validated_id_number(id_number))
    if citizen is None or not hmac.compare_digest(citizen_name(rt, citizen).encode(), normalize_name(name).encode()):
        raise AppError("identity_mismatch", 422, "the name and ID number do not match a resident on the roster")
    _audit(rt, actor, "counter_bind", citizen.id, ["name", "id_number"], "bound at the counter with the ID document")
    family.card_of(rt, citizen)
    db.session.execute(update(MpAccount).where(MpAccount.citizen_id == citizen.id).values(assurance=COUNTER)
                       .execution_options(synchronize_session=False))
    db.session.commit()
    return citizen.id


def resident(rt: Runtime, actor: StaffActor, citizen_id: int) -> Resident:
    """The resident's masked identity, card state and live printed code (recorded as a ``view``)."""
    require_role(actor, ROLE)
    citizen, card = db.session.get_one(Citizen, citizen_id), _card(citizen_id)
    _audit(rt, actor, "view", citizen_id, ["name", "id_number", "card_status", "family"], "counter service")
    return Resident(citizen_id, family.mask_name(citizen_name(rt, citizen)),
                    idnumber.mask(rt.keyring.decrypt(citizen.id_number_enc, ID_NUMBER)), card.status,
                    printed.live_printed(card.id))


def _card(citizen_id: int) -> Card:
    card = db.session.scalar(select(Card).where(Card.citizen_id == citizen_id))
    if card is None:
        raise AppError("not_bound", 403, "the resident has no card: bind them first")
    return card


def add_member(rt: Runtime, actor: StaffActor, guardian_id: int, name: str, id_number: str, relation: str,
               confirmed_here: bool) -> None:
    """Add a member to the resident's list; ``confirmed_here``: the member is at the counter too
    with their document, so the entry is confirmed at once (``counter:<staff>``). Recorded on the
    resident and on the member (both access logs)."""
    require_role(actor, ROLE)
    _audit(rt, actor, "family_add", guardian_id, ["family"], f"family member added ({relation})")
    entry = family.add_member(rt, guardian_id, name, id_number, relation, f"counter:{actor.username}")
    _audit(rt, actor, "family_add", entry.member_citizen_id, ["name", "id_number", "family"],
           f"added to a relative's list at the counter as {relation}")
    if confirmed_here and entry.status != "active":
        _audit(rt, actor, "family_confirm", entry.member_citizen_id, ["family"], "confirmed at the counter with the ID document")
        family.confirm(rt, entry.member_citizen_id, entry.id, f"counter:{actor.username}")


def remove_member(rt: Runtime, actor: StaffActor, citizen_id: int, entry_id: int) -> None:
    """End an entry of the resident (as guardian or member)."""
    require_role(actor, ROLE)
    _audit(rt, actor, "family_remove", citizen_id, ["family"], "family entry removed at the counter")
    family.remove(rt, citizen_id, entry_id, f"counter:{actor.username}")


def issue_printed(rt: Runtime, actor: StaffActor, citizen_id: int, scenes: list[str], days: int) -> PrintedCode:
    """A printed code of the resident's card (replacing the live one)."""
    require_role(actor, ROLE)
    _audit(rt, actor, "printed_issue", citizen_id, ["printed_code"], f"printed code for {', '.join(scenes)}, {days} days")
    return printed.issue_printed(rt, _card(citizen_id), scenes, days, f"counter:{actor.username}")


def printed_pdf(rt: Runtime, actor: StaffActor, citizen_id: int) -> bytes:
    """The A6 PDF of the resident's live printed code; 404 ``printed_code_not_found``."""
    require_role(actor, ROLE)
    row = printed.live_printed(_card(citizen_id).id)
    if row is None:
        raise AppError("printed_code_not_found", 404, "the resident has no live printed code")
    _audit(rt, actor, "printed_print", citizen_id, ["printed_code", "name"], "printed code printed")
    return printed.pdf(rt, row, family.mask_name(citizen_name(rt, db.session.get_one(Citizen, citizen_id))))


def revoke_printed(rt: Runtime, actor: StaffActor, citizen_id: int) -> int:
    """Revoke the resident's printed code at once."""
    require_role(actor, ROLE)
    _audit(rt, actor, "printed_revoke", citizen_id, ["printed_code"], "printed code revoked at the counter")
    return printed.revoke_printed(rt, _card(citizen_id).id, f"counter:{actor.username}")


def report_loss(rt: Runtime, actor: StaffActor, citizen_id: int) -> None:
    """Loss reported at the counter: the e-card suspended (codes and DGC2 certificates end), the
    printed code revoked, the physical card's loss reported if it has a live one; one transaction."""
    require_role(actor, ROLE)
    _audit(rt, actor, "loss_report", citizen_id, ["card_status"], "loss reported at the counter")
    card, by = _card(citizen_id), f"counter:{actor.username}"
    if card.status == "active":
        transition_ecard(rt, card, "suspended", by, "loss reported at the counter")
    physical = current_physical(card.id)
    if physical is not None and physical.state in ("issued", "activated"):
        transition_physical(rt, physical, "loss_reported", by, "loss reported at the counter")
    printed.revoke_printed(rt, card.id, by, commit=False)
    db.session.commit()


def family_lists(rt: Runtime, citizen_id: int) -> tuple[list[family.MemberView], list[family.MemberView]]:
    """The resident's members and guardians (masked)."""
    return family.lists_of(rt, citizen_id)
