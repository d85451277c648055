"""Family-list actions recorded for the member (M-15, M-25; issue 18; docs/family.md "What is recorded").

Each action a resident takes on a family entry (the guardian adding a member, issuing or revoking
a printed code, taking an offline certificate, reading the member's history or benefits; the
member confirming, switching consents, removing) is a sealed record of the audit trail on the
member (``actor_kind`` ``family``: app.service_desk.audit.record_family_action) and so an item of
the member's access log (``GET /api/mp/v1/me/access-log``). Adding, confirming, removing and
switching consents commit with their record in one transaction (the record exists exactly when
the change does); a printed code or an offline certificate is recorded right after it is issued
(those commit on their own), and a read before the data is shown. (A counter's actions are
recorded as staff actions: app/service_desk/counter.py.)
"""
from __future__ import annotations

from collections.abc import Iterable

from app.card import family
from app.card.models import FamilyMember
from app.identity.models import MpAccount
from app.platform.db import db
from app.runtime import Runtime
from app.service_desk.audit import record_family_action

RELATIVE, SELF = "relative", "self"


def record(rt: Runtime, actor_id: int, entry: FamilyMember, action: str, fields: Iterable[str], reason: str,
           commit: bool = True) -> None:
    """Record ``action`` by citizen ``actor_id`` on ``entry`` in the member's access log: role
    ``self`` when the member acts, else ``relative``."""
    role = SELF if actor_id == entry.member_citizen_id else RELATIVE
    record_family_action(rt, actor_id, role, entry.relation, entry.id, action, entry.member_citizen_id, fields, reason,
                         commit)


def add_member(rt: Runtime, guardian_id: int, name: str, id_number: str, relation: str) -> FamilyMember:
    """:func:`app.card.family.add_member` from the guardian's app, recorded as ``family_add``."""
    entry = family.add_member(rt, guardian_id, name, id_number, relation, "citizen", commit=False)
    record(rt, guardian_id, entry, "family_add", ["name", "id_number"], f"added to a relative's list as {relation}", False)
    db.session.commit()
    return entry


def confirm(rt: Runtime, account: MpAccount, entry_id: int, real_person_token: str | None) -> FamilyMember:
    """:func:`app.card.family.confirm` by the member in their app, recorded as ``family_confirm``
    with the assurance of the agreement."""
    assert account.citizen_id is not None
    entry = family.confirm(rt, account.citizen_id, entry_id, "citizen", account, real_person_token, commit=False)
    record(rt, account.citizen_id, entry, "family_confirm", ["family"], f"confirmed ({entry.confirmed_assurance})", False)
    db.session.commit()
    return entry


def remove(rt: Runtime, citizen_id: int, entry_id: int) -> None:
    """:func:`app.card.family.remove` from an app (guardian, member or the child's other
    parent), recorded as ``family_remove``."""
    entry = family.remove(rt, citizen_id, entry_id, "citizen", commit=False)
    record(rt, citizen_id, entry, "family_remove", ["family"], "removed from a relative's list", False)
    db.session.commit()


def set_consent(rt: Runtime, member_id: int, entry_id: int, share_benefits: bool | None,
                share_history: bool | None) -> FamilyMember:
    """:func:`app.card.family.set_consent`, recorded as ``family_consent`` (the switches set)."""
    entry = family.set_consent(rt, member_id, entry_id, share_benefits, share_history, commit=False)
    switched = [f"{name}={'on' if value else 'off'}" for name, value in
                (("share_benefits", share_benefits), ("share_history", share_history)) if value is not None]
    if switched:
        record(rt, member_id, entry, "family_consent", ["consent"], ", ".join(switched), False)
    db.session.commit()
    return entry
