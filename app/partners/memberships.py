"""Member rosters of campus and library partners (M-23.4, M-23.6): who may pass, under which member id.

A partner uploads its whole roster (ID numbers and member ids) through the signed API or the CLI;
each upload replaces the previous one. ID numbers are kept only as blind indexes.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from sqlalchemy import delete, func, insert, select

from app.identity import idnumber
from app.identity.people import id_index
from app.partners.models import Membership, Partner
from app.platform.csvfile import first_at, whole_records
from app.platform.db import db
from app.runtime import Runtime

MAX_MEMBERS_PER_UPLOAD = 50_000
MEMBER_HEADER = ("id_number", "member_id")


@dataclass
class MemberReport:
    """``accepted``: members now on the roster; ``rejected``: (position from 1, or file line, reason)."""

    accepted: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)


def may_hold_members(scenes: Iterable[str], kind: str) -> bool:
    """Only campus partners and libraries keep member rosters (no one else needs ID-number hashes)."""
    return "campus" in scenes or kind == "library"


def replace_members(rt: Runtime, partner: int, members: Iterable[tuple[str, str]], replace: bool = True,
                    all_or_nothing: bool = False) -> MemberReport:
    """Replace (or, with ``replace=False``, extend) the roster of partner ``partner`` (primary key)
    with the valid ``(id_number, member_id)`` pairs; a citizen already listed gets the new member id.
    A repeated ID number or member id is rejected (its first occurrence stands). With
    ``all_or_nothing``, any rejection leaves the roster as it was. Rejections name 1-based positions."""
    rows, rejected = _valid_rows(rt, enumerate(members, start=1), _first_position)
    return _store(rt, partner, rows, MemberReport(rejected=rejected), replace, all_or_nothing)


def _store(rt: Runtime, partner: int, rows: dict[str, str], report: MemberReport, replace: bool,
           all_or_nothing: bool) -> MemberReport:
    """Write the valid ``rows`` (blind index -> member id) and commit; nothing with ``all_or_nothing``
    when ``report`` has a rejection."""
    if report.rejected and all_or_nothing:
        return report
    if replace:
        db.session.execute(delete(Membership).where(Membership.partner_id == partner))
    else:
        db.session.execute(delete(Membership).where(Membership.partner_id == partner, Membership.id_number_index.in_(rows)))
    if rows:
        db.session.execute(insert(Membership), [
            {"partner_id": partner, "id_number_index": index, "member_id": member, "created_at": rt.clock.now()}
            for index, member in rows.items()])
    db.session.commit()
    report.accepted = len(rows)
    return report


def _first_position(position: int) -> str:
    """How a repeat in a request names the first entry (the API's wording, unchanged)."""
    return f"(first at {position})"


def _valid_rows(rt: Runtime, members: Iterable[tuple[int, tuple[str, str]]],
                first: Callable[[int], str]) -> tuple[dict[str, str], list[tuple[int, str]]]:
    """Blind index -> member id for the valid ``(position, (id_number, member_id))`` entries, and the
    (position, reason) refusals; ``first`` names a repeat's first position in its reason."""
    rows: dict[str, str] = {}
    rejected: list[tuple[int, str]] = []
    first_id: dict[str, int] = {}
    first_member: dict[str, int] = {}
    for position, (raw_id, member_id) in members:
        reason = _problem(raw_id, member_id)
        index = "" if reason else id_index(rt, idnumber.validate(raw_id))
        if index in first_id:
            reason = f"duplicate_id_number {first(first_id[index])}"
        elif not reason and member_id.strip() in first_member:
            reason = f"duplicate_member_id {first(first_member[member_id.strip()])}"
        if reason:
            rejected.append((position, reason))
            continue
        first_id[index], first_member[member_id.strip()] = position, position
        rows[index] = member_id.strip()
    return rows, rejected


def _problem(raw_id: str, member_id: str) -> str | None:
    try:
        idnumber.validate(raw_id)
    except idnumber.IdNumberError as exc:
        return f"id_number_{exc.reason}"
    if not member_id.strip() or len(member_id) > 64 or not member_id.isprintable():
        return "bad_member_id"
    return None


def member_id(partner: int, id_number_index: str) -> str | None:
    """The member id of the citizen with this blind index on the partner's roster, or None."""
    return db.session.scalar(select(Membership.member_id).where(
        Membership.partner_id == partner, Membership.id_number_index == id_number_index))


def replace_members_of(rt: Runtime, partner_id: str, stream: Iterable[str]) -> MemberReport:
    """:func:`replace_members` from a CSV with the header ``id_number,member_id`` (the CLI): all or
    nothing, and rejections name file line numbers (the header is line 1)."""
    partner = db.session.execute(select(Partner).where(Partner.partner_id == partner_id)).scalar()
    if partner is None:
        raise ValueError(f"no partner {partner_id}")
    if not may_hold_members(partner.scene_set, partner.kind):
        raise ValueError("only campus partners and libraries keep member rosters")
    rows, rejected = _valid_rows(rt, read_member_rows(stream), first_at)
    return _store(rt, partner.id, rows, MemberReport(rejected=rejected), replace=True, all_or_nothing=True)


def read_member_rows(stream: Iterable[str]) -> list[tuple[int, tuple[str, str]]]:
    """``(line, (id_number, member_id))`` for each row of a CSV with the header ``id_number,member_id``;
    CsvFileError for an unreadable file, a wrong header or a row without exactly two cells."""
    return [(line, (record["id_number"], record["member_id"]))
            for line, record in whole_records(stream, [MEMBER_HEADER], "the header must be exactly id_number,member_id")]


def member_count(partner: int) -> int:
    """How many members are on the partner's roster."""
    return db.session.scalar(select(func.count()).select_from(Membership).where(Membership.partner_id == partner)) or 0
