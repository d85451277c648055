"""Importing the city's resident roster (M-5, M-17): ``citizencard roster import FILE.csv``.

The file is UTF-8 CSV with the header ``name,id_number,phone,insured`` and, optionally, a fifth
column ``disability`` (1 = holds a disability certificate, for fare concessions) and after it a
sixth, ``town`` (the town or street of residence, at most 32 characters, for the figures of
docs/data-hub.md), and after it a seventh, ``household`` (the household register number, 户号,
at most 32 printable characters; stored only as a keyed hash, ``Citizen.household_key``, against
which a child's relation to a parent is checked: app/card/family.py). Each row is validated
(GB 11643-1999 ID number, mobile number, ``insured`` 0/1, no duplicate in the file); rejected
rows are reported by line number and reason, never by content; the rest are inserted or updated.
Re-importing the same file changes nothing. With ``full=True`` the file is the complete roster:
residents absent from it are reported (by internal citizen id, for review), never deleted (M-18:
a death or a move away reaches the card through the data hub's life events instead).
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import select

from app.identity import idnumber
from app.identity.models import Citizen
from app.identity.people import ID_NUMBER, MOBILE_PATTERN, NAME, PHONE, id_index, normalize_name
from app.platform.csvfile import column_count_ok, first_at, records
from app.platform.db import db
from app.platform.sql import batched
from app.runtime import Runtime

HEADER = ["name", "id_number", "phone", "insured"]
HEADERS = (HEADER, [*HEADER, "disability"], [*HEADER, "disability", "town"], [*HEADER, "disability", "town", "household"])
HOUSEHOLD = "household"  # the blind index's purpose for household numbers
MAX_HOUSEHOLD_LENGTH = 32
MAX_TOWN_LENGTH = 32
MAX_NAME_LENGTH = 50
CHUNK = 1000


@dataclass(frozen=True)
class RosterRow:
    line: int
    name: str
    id_number: str
    phone: str
    insured: bool
    disability: bool = False
    town: str | None = None
    household: str | None = None


@dataclass
class ImportReport:
    """Counts of what happened, and ``rejected`` as ``(line number, reason)`` pairs."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)
    absent: list[int] | None = None  # full mode: citizen ids not in the file (never deleted)


def import_roster(rt: Runtime, stream: Iterable[str], full: bool = False) -> ImportReport:
    """Validate and import every row of ``stream``; commits per chunk of 1,000 rows. With
    ``full`` the report's ``absent`` lists, ascending, the ids of citizens whose ID number is in
    no row of the file (a rejected row's number does not count as present). CsvFileError
    (app.platform.csvfile) when the file as a whole cannot be read."""
    report = ImportReport()
    present: set[str] = set()
    rows = read_roster(stream, report, rt.clock.now().date())
    for chunk in batched(rows, CHUNK):
        present.update(_upsert(rt, chunk, report))
        db.session.commit()
    if full:
        report.absent = _absent(present)
    return report


def _absent(present: set[str]) -> list[int]:
    """Ids of citizens whose blind index is not in ``present`` (streamed, ascending)."""
    rows = db.session.execute(select(Citizen.id, Citizen.id_number_index).order_by(Citizen.id)
                              .execution_options(yield_per=10_000))
    return [citizen_id for citizen_id, index in rows if index not in present]


def read_roster(stream: Iterable[str], report: ImportReport, today: date) -> Iterator[RosterRow]:
    """The valid rows of a roster file, in file order; each refused row goes to ``report.rejected``
    as ``(line, reason)``. CsvFileError when the file as a whole cannot be read."""
    header_help = f"the header must be exactly {','.join(HEADER)}, optionally followed by ,disability[,town[,household]]"
    return _valid_rows(records(stream, HEADERS, header_help), report, today)


def _valid_rows(rows: Iterable[tuple[int, dict[str, str | None]]], report: ImportReport, today: date) -> Iterator[RosterRow]:
    first_line: dict[str, int] = {}
    for line, record in rows:
        try:
            row = parse_row(line, record, today)
        except ValueError as exc:
            report.rejected.append((line, str(exc)))
            continue
        if row.id_number in first_line:
            report.rejected.append((line, f"duplicate_in_file {first_at(first_line[row.id_number])}"))
            continue
        first_line[row.id_number] = line
        yield row


def parse_row(line: int, record: dict[str, str | None], today=None) -> RosterRow:  # type: ignore[no-untyped-def]
    """One validated row; raises ValueError whose text is the rejection reason."""
    if not column_count_ok(record):
        raise ValueError("wrong_column_count")
    name = normalize_name(record["name"] or "")
    if not name or len(name) > MAX_NAME_LENGTH or not name.isprintable():  # no control or direction-override characters
        raise ValueError("bad_name")
    try:
        id_number = idnumber.validate(record["id_number"] or "", today)
    except idnumber.IdNumberError as exc:
        raise ValueError(f"id_number_{exc.reason}") from None
    phone = (record["phone"] or "").strip()
    if not MOBILE_PATTERN.fullmatch(phone):
        raise ValueError("bad_phone")
    insured = (record["insured"] or "").strip()
    if insured not in ("0", "1"):
        raise ValueError("bad_insured (must be 0 or 1)")
    disability = (record.get("disability") or "0").strip()
    if disability not in ("0", "1"):
        raise ValueError("bad_disability (must be 0 or 1)")
    town = (record.get("town") or "").strip() or None
    if town is not None and (len(town) > MAX_TOWN_LENGTH or not town.isprintable()):
        raise ValueError("bad_town")
    household = (record.get("household") or "").strip() or None
    if household is not None and (len(household) > MAX_HOUSEHOLD_LENGTH or not household.isprintable()):
        raise ValueError("bad_household")
    return RosterRow(line, name, id_number, phone, insured == "1", disability == "1", town, household)


def _upsert(rt: Runtime, rows: list[RosterRow], report: ImportReport) -> set[str]:
    indexed = {id_index(rt, row.id_number): row for row in rows}
    existing = db.session.scalars(select(Citizen).where(Citizen.id_number_index.in_(indexed))).all()
    by_index = {citizen.id_number_index: citizen for citizen in existing}
    now = rt.clock.now()
    for index, row in indexed.items():
        citizen = by_index.get(index)
        if citizen is None:
            db.session.add(_new_citizen(rt, index, row, now))
            report.inserted += 1
        elif _update(rt, citizen, row, now):
            report.updated += 1
        else:
            report.unchanged += 1
    return set(indexed)


def _new_citizen(rt: Runtime, index: str, row: RosterRow, now) -> Citizen:  # type: ignore[no-untyped-def]
    encrypt = rt.keyring.encrypt
    return Citizen(
        id_number_index=index, id_number_enc=encrypt(row.id_number, ID_NUMBER),
        name_enc=encrypt(row.name, NAME), phone_enc=encrypt(row.phone, PHONE),
        insured=row.insured, disability=row.disability, town=row.town, household_key=household_key(rt, row.household),
        created_at=now, updated_at=now,
    )


def household_key(rt: Runtime, household: str | None) -> str | None:
    """The keyed hash stored for a household register number (None: no household data)."""
    return rt.blind_index(household, HOUSEHOLD) if household is not None else None


def _update(rt: Runtime, citizen: Citizen, row: RosterRow, now) -> bool:  # type: ignore[no-untyped-def]
    """Apply changed fields; True if anything changed. Unchanged values keep their ciphertext."""
    decrypt, encrypt = rt.keyring.decrypt, rt.keyring.encrypt
    changed = False
    if decrypt(citizen.name_enc, NAME) != row.name:
        citizen.name_enc, changed = encrypt(row.name, NAME), True
    if decrypt(citizen.phone_enc, PHONE) != row.phone:
        citizen.phone_enc, changed = encrypt(row.phone, PHONE), True
    if citizen.insured != row.insured:
        citizen.insured, changed = row.insured, True
    if citizen.disability != row.disability:
        citizen.disability, changed = row.disability, True
    if row.town is not None and citizen.town != row.town:  # a file without the column keeps the town
        citizen.town, changed = row.town, True
    key = household_key(rt, row.household)
    if key is not None and citizen.household_key != key:  # a file without the column keeps the household
        citizen.household_key, changed = key, True
    if changed:
        citizen.updated_at = now
    return changed
