"""Family members (M-15, issue 18; docs/family.md): a relative shows a code for an elder or a child.

A guardian (a bound resident) adds a member by name, ID number and relation. The member must be
on the roster with that name. A child under 16 (age from the ID number, Beijing date) added as
``child`` is on the list at once; anyone else is ``pending`` until the member confirms, in
their own app (:func:`confirm`: a passed real-person check of the member where their app's
platform has a provider, else the assurance of their binding is recorded) or at a counter
(``confirmed_by`` ``counter:<staff>``, assurance ``counter``). When the roster carries household
data (its optional ``household`` column) for both the parent and the child, a child added in the
app must be in the parent's household (``household_mismatch``); a counter, which sees the household
register, may add the child anyway (recorded ``household_checked`` false).

Quotas (like the national e-social-security card's 亲情服务): at most 4 elders, 3 children and
1 spouse per guardian (so 8 members), and at most 2 guardians per member. Each quota is a slot
under a unique partial index (app.card.models.FamilyMember): :func:`_claim_slot` is one
conditional INSERT, so 32 simultaneous additions cannot pass a limit.

The member, the guardian, or (for a child) another guardian who is also the child's parent
removes an entry at any time; the proxy device's codes end at once (its pseudonym is revoked,
its DGC2 certificates go to the next deny list).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, exists, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from app.card.binding import new_card_number, validated_id_number
from app.card.devices import new_device
from app.card.models import FAMILY_ACTIVE, FAMILY_PENDING, Card, Device, FamilyMember
from app.card.offline_lists import revoke_card_certificates
from app.identity import idnumber
from app.identity.models import Citizen, MpAccount
from app.identity.people import CONTACT_PHONE, ID_NUMBER, PHONE, citizen_by_id_number, citizen_name, normalize_name
from app.identity.real_person import COUNTER, REAL_PERSON, available, confirm_holder
from app.platform.clock import DISPLAY_ZONE
from app.platform.db import db
from app.platform.errors import AppError
from app.platform.sql import upsert_insert
from app.runtime import Runtime

CATEGORY_OF = {"spouse": "spouse", "parent": "elder", "parent_in_law": "elder", "grandparent": "elder",
               "child": "child", "grandchild": "child"}
RELATIONS = tuple(CATEGORY_OF)
QUOTAS = {"elder": 4, "child": 3, "spouse": 1}
MAX_MEMBERS = sum(QUOTAS.values())  # 8
MAX_GUARDIANS = 2
CHILD_AGE = 16
ADDS_PER_HOUR, WINDOW_SECONDS = 10, 3600
MAX_ID = 2**31 - 1  # the column's range: a larger id is no entry (not a database error)
PROXY_PLATFORM = "fm"  # a proxy device's platform: "fm<family member id>" (one live device per entry)


@dataclass(frozen=True)
class MemberView:
    """One entry as its guardian or its member sees it: never the full ID number (M-19)."""

    id: int
    relation: str
    status: str
    minor: bool
    masked_name: str
    masked_id_number: str
    share_benefits: bool
    share_history: bool
    created_at: datetime
    confirmed_at: datetime | None
    confirmed_assurance: str | None = None


def age_on(id_number: str, day: datetime) -> int:
    """Whole years from the ID number's birth date to ``day``'s date."""
    born, today = idnumber.birth_date(id_number), day.date()
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def mask_name(name: str) -> str:
    """The surname and one ``*`` per other character (陈小明 -> 陈**)."""
    return name[:1] + "*" * max(len(name) - 1, 1)


def add_member(rt: Runtime, guardian_id: int, name: str, id_number: str, relation: str, actor: str,
               commit: bool = True) -> FamilyMember:
    """Put the roster resident with this name and ID number on ``guardian_id``'s list as ``relation``.

    ``actor``: ``citizen`` (the guardian's app) or ``counter:<staff>``. Errors: 429
    ``too_many_attempts`` (10 additions per guardian per hour, counted first: the name check
    must not become a roster oracle); 422 ``validation_error`` (ID number or relation),
    ``identity_mismatch`` (name and ID number are not a roster resident), ``family_self``,
    ``relation_mismatch`` (a spouse or elder under 16), ``minor_needs_parent`` (a grandchild
    under 16: a parent adds the child), ``household_mismatch`` (a child under 16 whom the roster's
    household data puts in another household than the parent's: added in the app only; a counter
    may add them); 409 ``family_member_exists``, ``family_quota_exceeded`` (details ``category``,
    ``limit``), ``member_guardian_limit`` (2 guardians already). ``commit=False``: the caller
    commits (after recording the action in the same transaction)."""
    if rt.store.incr(f"family:add:{guardian_id}", WINDOW_SECONDS) > ADDS_PER_HOUR:
        raise AppError("too_many_attempts", 429, "too many family-member additions; try again later",
                       headers={"Retry-After": str(WINDOW_SECONDS)})
    category = _category(relation)
    id_number = validated_id_number(id_number)
    member = citizen_by_id_number(rt, id_number)
    if member is None or citizen_name(rt, member) != normalize_name(name):
        raise AppError("identity_mismatch", 422, "the name and ID number do not match a resident on the roster")
    if member.id == guardian_id:
        raise AppError("family_self", 422, "you cannot add yourself")
    now = rt.clock.now()
    minor = age_on(id_number, now.astimezone(DISPLAY_ZONE)) < CHILD_AGE
    _check_age(relation, category, minor)
    household = _household(guardian_id, member, relation, minor, actor)
    card_of(rt, member)
    entry = _claim_slot(rt, guardian_id, member.id, relation, category, minor, actor, household)
    if minor:
        _activate(rt, entry)
    if commit:
        db.session.commit()
    return entry


def _household(guardian_id: int, member: Citizen, relation: str, minor: bool, actor: str) -> bool | None:
    """A child under 16 added as ``child``, when the roster has household data for both: True if
    the parent's and the child's households are the same; else 422 ``household_mismatch`` in the
    app, False at a counter (whose staff saw the household register or birth certificate). None:
    not a minor child, or no household data for one of them (recorded as stated)."""
    guardian_key = db.session.scalar(select(Citizen.household_key).where(Citizen.id == guardian_id))
    if relation != "child" or not minor or guardian_key is None or member.household_key is None:
        return None
    if guardian_key == member.household_key:
        return True
    if not actor.startswith("counter:"):
        raise AppError("household_mismatch", 422, "the roster's household data does not show this child in your "
                       "household: add the child at a counter with the household register (户口簿) or birth certificate")
    return False


def _category(relation: str) -> str:
    if relation not in CATEGORY_OF:
        raise AppError("validation_error", 422, f"relation must be one of {', '.join(RELATIONS)}",
                       {"fields": {"json": {"relation": ["unknown_relation"]}}})
    return CATEGORY_OF[relation]


def _check_age(relation: str, category: str, minor: bool) -> None:
    if minor and category != "child":
        raise AppError("relation_mismatch", 422, "a spouse, parent or grandparent cannot be under 16")
    if minor and relation != "child":
        raise AppError("minor_needs_parent", 422, "a child under 16 is added by a parent")


def card_of(rt: Runtime, member: Citizen) -> Card:
    """The member's card; created (contact phone: the roster's) when the member never bound one.
    A concurrent creation wins: its card is used."""
    card = db.session.scalar(select(Card).where(Card.citizen_id == member.id))
    if card is not None:
        return card
    phone = rt.keyring.decrypt(member.phone_enc, PHONE)
    try:
        with db.session.begin_nested():
            card = Card(card_number=new_card_number(), citizen_id=member.id, status="active",
                        contact_phone_enc=rt.keyring.encrypt(phone, CONTACT_PHONE), created_at=rt.clock.now())
            db.session.add(card)
    except IntegrityError:
        card = db.session.scalar(select(Card).where(Card.citizen_id == member.id))
    assert card is not None
    return card


def _claim_slot(rt: Runtime, guardian_id: int, member_id: int, relation: str, category: str, minor: bool,
                actor: str, household: bool | None = None) -> FamilyMember:
    """Claim a free guardian slot and member slot in one conditional INSERT (ON CONFLICT DO
    NOTHING on the three unique partial indexes); a slot taken meanwhile means trying the next
    free one, so each round either inserts or sees one more slot taken: bounded."""
    for _round in range(QUOTAS[category] + MAX_GUARDIANS + 1):
        guardian_free, member_free = _free_slots(guardian_id, category, member_id)
        if not guardian_free or not member_free:
            break
        row = {"guardian_citizen_id": guardian_id, "member_citizen_id": member_id, "relation": relation,
               "category": category, "guardian_slot": guardian_free[0], "member_slot": member_free[0], "minor": minor,
               "status": FAMILY_PENDING, "added_by": actor, "share_benefits": minor, "share_history": minor,
               "household_checked": household, "created_at": rt.clock.now()}
        stmt = upsert_insert(db.engine.dialect.name, FamilyMember).values(row).on_conflict_do_nothing()
        new_id = db.session.execute(stmt.returning(FamilyMember.id)).scalar()
        if new_id is not None:
            return db.session.get_one(FamilyMember, new_id)
    raise _full(guardian_id, category, member_id)


def _live(*conditions: object) -> list[FamilyMember]:
    return list(db.session.scalars(select(FamilyMember).where(FamilyMember.removed_at.is_(None), *conditions)))


def _free_slots(guardian_id: int, category: str, member_id: int) -> tuple[list[int], list[int]]:
    taken = {row.guardian_slot for row in _live(FamilyMember.guardian_citizen_id == guardian_id,
                                                FamilyMember.category == category)}
    held = {row.member_slot for row in _live(FamilyMember.member_citizen_id == member_id)}
    return ([slot for slot in range(QUOTAS[category]) if slot not in taken],
            [slot for slot in range(MAX_GUARDIANS) if slot not in held])


def _full(guardian_id: int, category: str, member_id: int) -> AppError:
    db.session.rollback()
    if _live(FamilyMember.guardian_citizen_id == guardian_id, FamilyMember.member_citizen_id == member_id):
        return AppError("family_member_exists", 409, "this resident is already on your list")
    guardian_free, _ = _free_slots(guardian_id, category, member_id)
    if not guardian_free:
        return AppError("family_quota_exceeded", 409, f"at most {QUOTAS[category]} members of this kind",
                        {"category": category, "limit": QUOTAS[category]})
    return AppError("member_guardian_limit", 409, f"this resident is already on {MAX_GUARDIANS} guardians' lists",
                    {"limit": MAX_GUARDIANS})


def _activate(rt: Runtime, entry: FamilyMember) -> None:
    """The entry is active: give it its proxy device (its own seed and pseudonym) in the
    caller's transaction."""
    card = db.session.scalar(select(Card).where(Card.citizen_id == entry.member_citizen_id))
    assert card is not None
    device = new_device(rt, card.id, None, f"{PROXY_PLATFORM}{entry.id}")
    db.session.add(device)
    db.session.flush()
    entry.device_id, entry.status = device.id, FAMILY_ACTIVE
    db.session.flush()


def confirm(rt: Runtime, member_id: int, entry_id: int, by: str, account: MpAccount | None = None,
            real_person_token: str | None = None, commit: bool = True) -> FamilyMember:
    """The member (``member_id``; ``by`` ``citizen`` with their ``account``, or ``counter:<staff>``)
    confirms a pending entry: one conditional UPDATE (pending, live, theirs), so two confirmations
    make one device. In the app, where the account's platform has a real-person provider
    (``CARD_REAL_PERSON_PROVIDERS``), a passed check of the member (M-17; single use, this account,
    the member's name and ID number) is required and the entry's ``confirmed_assurance`` is
    ``real_person``; elsewhere the assurance of the member's binding is recorded; at a counter
    ``counter``. 404 ``family_member_not_found`` (not theirs, removed, or not pending); 403
    ``real_person_required``; the errors of :func:`app.identity.real_person.confirm`."""
    checked_id(entry_id)
    if by == "citizen":
        assert account is not None
        if _pending(member_id, entry_id) is None:  # before the check: a token is not spent on nothing
            raise not_found()
        assurance = _proof(rt, account, member_id, real_person_token)
    else:
        assurance = COUNTER
    confirmed = db.session.execute(
        update(FamilyMember).where(FamilyMember.id == entry_id, FamilyMember.member_citizen_id == member_id,
                                   FamilyMember.status == FAMILY_PENDING, FamilyMember.removed_at.is_(None))
        .values(confirmed_at=rt.clock.now(), confirmed_by=by, confirmed_assurance=assurance)
        .returning(FamilyMember.id)).scalar()
    if confirmed is None:
        db.session.rollback()
        raise not_found()
    entry = db.session.get_one(FamilyMember, entry_id)
    _activate(rt, entry)
    if commit:
        db.session.commit()
    return entry


def _pending(member_id: int, entry_id: int) -> FamilyMember | None:
    entry = db.session.get(FamilyMember, entry_id)
    if entry is None or entry.member_citizen_id != member_id or entry.status != FAMILY_PENDING or entry.removed_at is not None:
        return None
    return entry


def _proof(rt: Runtime, account: MpAccount, member_id: int, token: str | None) -> str:
    """The assurance of the member's agreement in the app: ``real_person`` (required where the
    platform has a provider), else the assurance the account's binding was proven with."""
    if not available(rt, account):
        return account.assurance
    if not token:
        raise AppError("real_person_required", 403, "confirm it is you: pass a real-person check "
                       "(POST /real-person/checks with your name and ID number), then send real_person_token")
    confirm_holder(rt, account, db.session.get_one(Citizen, member_id), token)
    return REAL_PERSON


def not_found() -> AppError:
    return AppError("family_member_not_found", 404, "no such family member on a list of yours")


def checked_id(entry_id: int) -> int:
    """``entry_id`` if it can name an entry; else 404 ``family_member_not_found``."""
    if not 0 < entry_id <= MAX_ID:
        raise not_found()
    return entry_id


def remove(rt: Runtime, citizen_id: int, entry_id: int, by: str, commit: bool = True) -> FamilyMember:
    """End an entry at once, as its guardian, its member, or (a child's entry) another guardian
    of the child who is also its parent. One conditional UPDATE; then, in the same transaction,
    the proxy device is revoked (its codes stop verifying) and its DGC2 certificates revoked
    (the next deny list lists them). 404 ``family_member_not_found``."""
    checked_id(entry_id)
    other = aliased(FamilyMember)
    other_parent = exists().where(other.member_citizen_id == FamilyMember.member_citizen_id,
                                  other.guardian_citizen_id == citizen_id, other.relation == "child",
                                  other.removed_at.is_(None))
    now = rt.clock.now()
    removed = db.session.execute(
        update(FamilyMember).where(FamilyMember.id == entry_id, FamilyMember.removed_at.is_(None),
                                   or_(FamilyMember.guardian_citizen_id == citizen_id,
                                       FamilyMember.member_citizen_id == citizen_id,
                                       and_(FamilyMember.minor.is_(True), other_parent)))
        .values(removed_at=now, removed_by=by).returning(FamilyMember.device_id)).first()
    if removed is None:
        db.session.rollback()
        raise not_found()
    if removed.device_id is not None:
        card_id = db.session.execute(update(Device).where(Device.id == removed.device_id, Device.revoked_at.is_(None))
                                     .values(revoked_at=now).returning(Device.card_id)).scalar()
        if card_id is not None:
            revoke_card_certificates(rt, card_id, removed.device_id)
    if commit:
        db.session.commit()
    return db.session.get_one(FamilyMember, entry_id)


def set_consent(rt: Runtime, member_id: int, entry_id: int, share_benefits: bool | None,
                share_history: bool | None, commit: bool = True) -> FamilyMember:
    """The member's switches for what this guardian sees (item 5): one conditional UPDATE on the
    member's own live entry; 404 ``family_member_not_found``. ``commit=False``: the caller commits."""
    checked_id(entry_id)
    values = {key: value for key, value in (("share_benefits", share_benefits), ("share_history", share_history))
              if value is not None}
    changed = db.session.execute(
        update(FamilyMember).where(FamilyMember.id == entry_id, FamilyMember.member_citizen_id == member_id,
                                   FamilyMember.removed_at.is_(None))
        .values(**values).returning(FamilyMember.id)).scalar() if values else None
    if changed is None and values:
        db.session.rollback()
        raise not_found()
    if commit:
        db.session.commit()
    entry = db.session.get(FamilyMember, entry_id)
    if entry is None or entry.member_citizen_id != member_id or entry.removed_at is not None:
        raise not_found()
    return entry


def guardian_entry(guardian_id: int, entry_id: int) -> FamilyMember:
    """The guardian's live entry; 404 ``family_member_not_found``."""
    entry = db.session.get(FamilyMember, checked_id(entry_id))
    if entry is None or entry.guardian_citizen_id != guardian_id or entry.removed_at is not None:
        raise not_found()
    return entry


def require_consent(entry: FamilyMember, what: str) -> None:
    """403 ``consent_required`` unless the member shares ``what`` (``benefits``, ``history``)
    with this guardian, and the entry is active."""
    if entry.status != FAMILY_ACTIVE or not getattr(entry, f"share_{what}"):
        raise AppError("consent_required", 403, f"the member has not agreed to share their {what} with you",
                       {"share": what})


def views(rt: Runtime, entries: list[FamilyMember], show: str) -> list[MemberView]:
    """``show`` ``member`` (the guardian's list: who the members are) or ``guardian`` (the
    member's list: who holds them); names and ID numbers masked."""
    people = {c.id: c for c in db.session.scalars(select(Citizen).where(Citizen.id.in_(
        [getattr(entry, f"{show}_citizen_id") for entry in entries])))}
    return [_view(rt, entry, people[getattr(entry, f"{show}_citizen_id")]) for entry in entries]


def _view(rt: Runtime, entry: FamilyMember, person: Citizen) -> MemberView:
    id_number = rt.keyring.decrypt(person.id_number_enc, ID_NUMBER)
    return MemberView(entry.id, entry.relation, entry.status, entry.minor, mask_name(citizen_name(rt, person)),
                      idnumber.mask(id_number), entry.share_benefits, entry.share_history, entry.created_at,
                      entry.confirmed_at, entry.confirmed_assurance)


def lists_of(rt: Runtime, citizen_id: int) -> tuple[list[MemberView], list[MemberView]]:
    """(the members on ``citizen_id``'s list, the guardians whose lists hold ``citizen_id``), live
    entries, oldest first."""
    members = _live(FamilyMember.guardian_citizen_id == citizen_id)
    guardians = _live(FamilyMember.member_citizen_id == citizen_id)
    key = lambda entry: entry.id  # noqa: E731
    return views(rt, sorted(members, key=key), "member"), views(rt, sorted(guardians, key=key), "guardian")
