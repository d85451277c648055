"""Identity documents of residents off the roster (M-5; issue 17 item 1): each type validated by
its own rules, with the check digit where the number has one. Pure Python, no framework.

=========================  =====================================================  ==============
type                       number                                                 check
=========================  =====================================================  ==============
``residence_permit``       居住证: the holder's 18-character resident ID number     MOD 11-2
                           (GB 11643-1999; the permit carries it)
``hmt_residence_permit``   港澳台居民居住证: 18 characters as GB 11643, address      MOD 11-2
                           code 810000 (HK), 820000 (Macau) or 830000 (Taiwan)
``travel_permit_hkmo``     港澳居民来往内地通行证 (回乡证): ``H``/``M`` + 8 digits     none: format
                           (the card since 2013; the older form adds 2 digits)
``travel_permit_tw``       台湾居民来往大陆通行证 (台胞证): 8 digits (card since      none: format
                           2015)
``foreign_permanent_id``   外国人永久居留身份证: 2004 format, 15 characters: ISO      ICAO 9303
                           3166-1 alpha-3 nationality, 4-digit issuing place      7-3-1 (mod 10)
                           (GB/T 2260 province + city), birth ``YYMMDD``, a
                           digit, a check digit; 2023 format, 18 digits: ``9``,   MOD 11-2
                           2-digit province, ISO 3166-1 numeric nationality,
                           birth ``YYYYMMDD``, 3 digits, a check character
``passport_with_permit``   passport number (ICAO 9303 document number: 5-9 of     none printed:
                           A-Z0-9) + nationality (alpha-3) + a work or residence  format; checked
                           permit number (6-20 of A-Z0-9)                         at review
=========================  =====================================================  ==============

Sources: GB 11643-1999 (idnumber.py); the 2023 permanent residence ID follows its layout and
check character (announcement of the National Immigration Administration, 2023-12); the 2004
card's check digit is the ICAO 9303 machine-readable-zone digit (weights 7, 3, 1; A-Z = 10-35;
specimen vector ``L898902C3`` -> 6). The travel permits print no check digit: a number of the
right shape is accepted here and the document itself is checked by the reviewer.

Every rejection is a :class:`DocumentError` with a stable ``reason`` and the ``field`` it is
about; messages never contain the number.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from app.identity import idnumber

DOCUMENT_TYPES = ("residence_permit", "hmt_residence_permit", "travel_permit_hkmo", "travel_permit_tw",
                  "foreign_permanent_id", "passport_with_permit")
PERMIT_TYPES = ("work", "residence")
REASONS = ("unknown_type", "bad_format", "bad_region", "bad_birth_date", "bad_check_digit", "bad_nationality",
           "permit_required", "wrong_document_type")
HMT_REGIONS = {"810000": "HK", "820000": "MO", "830000": "TW"}
#: Types whose number is a GB 11643 resident ID number: identified on the platform by that number
#: itself, so its holder has one identity whether on the roster or not.
GB11643_TYPES = ("residence_permit", "hmt_residence_permit")

_HKMO = re.compile(r"[HM][0-9]{8}(?:[0-9]{2})?")
_TW = re.compile(r"[0-9]{8}")
_FPR_2004 = re.compile(r"[A-Z]{3}[0-9]{12}")
_FPR_2023 = re.compile(r"9[0-9]{16}[0-9X]")
_PASSPORT = re.compile(r"[A-Z0-9]{5,9}")
_ALPHA3 = re.compile(r"[A-Z]{3}")
_PERMIT = re.compile(r"[A-Z0-9]{6,20}")


class DocumentError(ValueError):
    """A document number refused: ``reason`` (one of :data:`REASONS`) and ``field``."""

    def __init__(self, reason: str, field: str = "document_number") -> None:
        assert reason in REASONS, reason
        self.reason, self.field = reason, field
        super().__init__(f"{field}: {reason.replace('_', ' ')}")


@dataclass(frozen=True)
class Document:
    """A validated document: ``number`` normalised (upper case, no spaces); ``checked``: a check
    digit was verified (False: format only, the reviewer checks the document)."""

    type: str
    number: str
    checked: bool
    nationality: str | None = None
    permit_type: str | None = None
    permit_number: str | None = None

    @property
    def identifier(self) -> str:
        """The holder's identifier on the platform (stored encrypted, looked up by its blind index
        as ``citizens.id_number``): a GB 11643 number as is; otherwise ``type:number``, a
        passport ``passport:NATIONALITY:number`` (numbers repeat between countries)."""
        if self.type in GB11643_TYPES:
            return self.number
        if self.type == "passport_with_permit":
            return f"passport:{self.nationality}:{self.number}"
        return f"{self.type}:{self.number}"


def is_resident_id(identifier: str) -> bool:
    """Whether a platform identifier is a GB 11643 resident ID number (roster, residence permits),
    which carries a sex and a birth date; other documents' identifiers carry a ``type:`` prefix."""
    return ":" not in identifier


def mask(identifier: str) -> str:
    """An identifier for display: a GB 11643 number as :func:`idnumber.mask`; otherwise its type
    prefix and the number's last 4 characters (``passport:GBR:****4567``)."""
    prefix, _, number = identifier.rpartition(":")
    if not prefix:
        return idnumber.mask(identifier)
    return f"{prefix}:{'*' * max(len(number) - 4, 4)}{number[-4:] if len(number) > 6 else ''}"


def birth_date_of(identifier: str, today: date | None = None) -> date | None:
    """The birth date a platform identifier carries (GB 11643 numbers, Foreign Permanent Resident
    IDs), or None when the document has none (travel permits, passports)."""
    prefix, _, number = identifier.rpartition(":")
    try:
        if not prefix:
            return idnumber.birth_date(identifier)
        if prefix == "foreign_permanent_id":
            two_digit = len(number) == 15
            return _birth(number[7:13] if two_digit else number[6:14], today or date.today(), two_digit)
    except (idnumber.IdNumberError, DocumentError):
        return None
    return None


def validate(doc_type: str, number: str, nationality: str | None = None, permit_type: str | None = None,
             permit_number: str | None = None, today: date | None = None) -> Document:
    """The :class:`Document` for these fields, or :class:`DocumentError` (first failing rule)."""
    today = today or date.today()
    number = _normal(number)
    if doc_type == "residence_permit":
        return Document(doc_type, _gb11643(number, today, hmt=False), True)
    if doc_type == "hmt_residence_permit":
        return Document(doc_type, _gb11643(number, today, hmt=True), True)
    if doc_type == "travel_permit_hkmo":
        return Document(doc_type, _shaped(_HKMO, number), False)
    if doc_type == "travel_permit_tw":
        return Document(doc_type, _shaped(_TW, number), False)
    if doc_type == "foreign_permanent_id":
        return Document(doc_type, foreign_permanent_id(number, today), True)
    if doc_type == "passport_with_permit":
        return _passport(number, nationality, permit_type, permit_number)
    raise DocumentError("unknown_type", "document_type")


def _normal(raw: str) -> str:
    return re.sub(r"\s+", "", raw or "").upper()


def _shaped(pattern: re.Pattern[str], number: str, field: str = "document_number") -> str:
    if not pattern.fullmatch(number):
        raise DocumentError("bad_format", field)
    return number


def _gb11643(number: str, today: date, hmt: bool) -> str:
    """A GB 11643 number; HK/Macau/Taiwan residence permits (address 810000/820000/830000) only
    when ``hmt``, never otherwise (``wrong_document_type``)."""
    try:
        number = idnumber.validate(number, today)
    except idnumber.IdNumberError as exc:
        raise DocumentError(_GB_REASONS.get(exc.reason, "bad_format")) from None
    if (number[:6] in HMT_REGIONS) != hmt:
        raise DocumentError("bad_region" if hmt else "wrong_document_type")
    return number


_GB_REASONS = {"bad_region": "bad_region", "bad_birth_date": "bad_birth_date", "bad_check_digit": "bad_check_digit"}


def foreign_permanent_id(number: str, today: date) -> str:
    """A Foreign Permanent Resident ID number, 2004 (15) or 2023 (18, first digit 9) format."""
    if _FPR_2004.fullmatch(number):
        if number[:3] == "CHN":
            raise DocumentError("bad_nationality")
        _province(number[3:5])
        _birth(number[7:13], today, two_digit_year=True)
        if str(icao_check_digit(number[:14])) != number[14]:
            raise DocumentError("bad_check_digit")
        return number
    if _FPR_2023.fullmatch(number):
        _province(number[1:3])
        if number[3:6] in ("000", "156"):  # none, or China (ISO 3166-1 numeric 156)
            raise DocumentError("bad_nationality")
        _birth(number[6:14], today, two_digit_year=False)
        if idnumber.check_digit(number[:17]) != number[17]:
            raise DocumentError("bad_check_digit")
        return number
    raise DocumentError("bad_format")


def icao_check_digit(text: str) -> int:
    """The ICAO 9303 check digit: weights 7, 3, 1 repeating; 0-9 as is, A-Z = 10-35, ``<`` = 0."""
    values = (int(c) if c.isdigit() else 0 if c == "<" else ord(c) - ord("A") + 10 for c in text)
    return sum(v * w for v, w in zip(values, (7, 3, 1) * len(text), strict=False)) % 10


def _province(code: str) -> None:
    if code not in idnumber.PROVINCE_CODES or code in ("71", "81", "82", "83"):
        raise DocumentError("bad_region")


def _birth(text: str, today: date, two_digit_year: bool) -> date:
    """``YYMMDD`` (the latest century that is not in the future) or ``YYYYMMDD``, not in the future."""
    try:
        if two_digit_year:
            born = date(2000 + int(text[:2]), int(text[2:4]), int(text[4:6]))
            born = born if born <= today else date(1900 + int(text[:2]), int(text[2:4]), int(text[4:6]))
        else:
            born = date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        raise DocumentError("bad_birth_date") from None
    if born > today or born.year < idnumber.MIN_BIRTH_YEAR:
        raise DocumentError("bad_birth_date")
    return born


def _passport(number: str, nationality: str | None, permit_type: str | None, permit_number: str | None) -> Document:
    number = _shaped(_PASSPORT, number)
    nationality = _shaped(_ALPHA3, _normal(nationality or ""), "nationality")
    if nationality == "CHN":
        raise DocumentError("bad_nationality", "nationality")
    if permit_type not in PERMIT_TYPES:
        raise DocumentError("permit_required", "permit_type")
    if not permit_number:
        raise DocumentError("permit_required", "permit_number")
    permit = _shaped(_PERMIT, _normal(permit_number), "permit_number")
    return Document("passport_with_permit", number, False, nationality, permit_type, permit)
