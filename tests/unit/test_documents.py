"""Issue 17 item 1: the document types of residents off the roster, each by its own rules
(app/identity/documents.py): valid, invalid and edge formats, with check digits where they exist."""
from __future__ import annotations

from datetime import date

import pytest

from app.identity import documents
from app.identity.documents import DocumentError, icao_check_digit, validate

TODAY = date(2026, 12, 5)
RESIDENT = "441900198506151235"  # the sample roster's first resident (GB 11643, check 5)
HK_PERMIT = "810000199001010027"  # 810000 + 19900101 + 002 + check 7
TW_PERMIT = "830000199001010039"
FPR_2004 = "USA110080010111"  # USA, Beijing 1100, 1980-01-01, 1, ICAO 7-3-1 check 1
FPR_2023 = "944840198001011233"  # 9, Guangdong 44, USA 840, 1980-01-01, 123, MOD 11-2 check 3


def _reason(*args: object, **kwargs: object) -> tuple[str, str]:
    with pytest.raises(DocumentError) as caught:
        validate(*args, today=TODAY, **kwargs)  # type: ignore[arg-type]
    return caught.value.reason, caught.value.field


def test_the_icao_check_digit_matches_the_9303_specimen() -> None:
    assert icao_check_digit("L898902C3") == 6
    assert icao_check_digit("L898902C<") == icao_check_digit("L898902C0")


def test_a_residence_permit_carries_a_resident_id_number() -> None:
    document = validate("residence_permit", " 441900 198506151235 ", today=TODAY)
    assert (document.number, document.checked) == (RESIDENT, True)
    assert _reason("residence_permit", RESIDENT[:-1] + "6") == ("bad_check_digit", "document_number")
    assert _reason("residence_permit", RESIDENT[:-1]) == ("bad_format", "document_number")
    assert _reason("residence_permit", HK_PERMIT) == ("wrong_document_type", "document_number")


def test_hong_kong_macau_taiwan_residence_permits() -> None:
    assert validate("hmt_residence_permit", HK_PERMIT, today=TODAY).number == HK_PERMIT
    assert validate("hmt_residence_permit", TW_PERMIT, today=TODAY).checked is True
    assert _reason("hmt_residence_permit", HK_PERMIT[:-1] + "4") == ("bad_check_digit", "document_number")
    assert _reason("hmt_residence_permit", RESIDENT) == ("bad_region", "document_number")  # a mainland number
    assert _reason("hmt_residence_permit", "810000209901010020") == ("bad_birth_date", "document_number")


@pytest.mark.parametrize("number", ["H12345678", "M87654321", "h1234567801", "H 1234 5678"])
def test_mainland_travel_permits_for_hong_kong_and_macau(number: str) -> None:
    document = validate("travel_permit_hkmo", number, today=TODAY)
    assert document.checked is False and document.number[0] in "HM"


@pytest.mark.parametrize("number", ["K12345678", "H1234567", "H123456789", "12345678", "H1234567X"])
def test_malformed_hong_kong_macau_permits(number: str) -> None:
    assert _reason("travel_permit_hkmo", number) == ("bad_format", "document_number")


def test_mainland_travel_permits_for_taiwan_residents() -> None:
    assert validate("travel_permit_tw", "01234567", today=TODAY).number == "01234567"
    for number in ("1234567", "123456789", "T1234567"):
        assert _reason("travel_permit_tw", number) == ("bad_format", "document_number")


def test_the_2004_foreign_permanent_resident_id() -> None:
    document = validate("foreign_permanent_id", "usa110080010111", today=TODAY)
    assert (document.number, document.checked) == (FPR_2004, True)
    assert _reason("foreign_permanent_id", FPR_2004[:-1] + "2") == ("bad_check_digit", "document_number")
    assert _reason("foreign_permanent_id", "USA990080010111") == ("bad_region", "document_number")
    assert _reason("foreign_permanent_id", "USA110080130111") == ("bad_birth_date", "document_number")
    assert _reason("foreign_permanent_id", "US1110080010111") == ("bad_format", "document_number")


def test_the_2023_foreign_permanent_resident_id_starts_with_9() -> None:
    document = validate("foreign_permanent_id", FPR_2023, today=TODAY)
    assert (document.number, document.checked) == (FPR_2023, True)
    assert _reason("foreign_permanent_id", FPR_2023[:-1] + "8") == ("bad_check_digit", "document_number")
    assert _reason("foreign_permanent_id", "8" + FPR_2023[1:]) == ("bad_format", "document_number")
    assert _reason("foreign_permanent_id", "900000198001011230") == ("bad_region", "document_number")
    zero_nationality = "94400019800101123"
    assert _reason("foreign_permanent_id", zero_nationality + documents.idnumber.check_digit(zero_nationality)) == (
        "bad_nationality", "document_number")
    future = "94484020300101123"
    assert _reason("foreign_permanent_id", future + documents.idnumber.check_digit(future)) == ("bad_birth_date", "document_number")


def test_a_passport_needs_a_work_or_residence_permit() -> None:
    document = validate("passport_with_permit", "e1234567", nationality="gbr", permit_type="work",
                        permit_number="WP20240001", today=TODAY)
    assert (document.number, document.nationality, document.permit_type, document.checked) == ("E1234567", "GBR", "work", False)
    assert _reason("passport_with_permit", "E1234567", nationality="GBR") == ("permit_required", "permit_type")
    assert _reason("passport_with_permit", "E1234567", nationality="GBR", permit_type="residence") == (
        "permit_required", "permit_number")
    assert _reason("passport_with_permit", "E1234567", nationality="CHN", permit_type="work", permit_number="WP20240001") == (
        "bad_nationality", "nationality")
    assert _reason("passport_with_permit", "E12", nationality="GBR", permit_type="work", permit_number="WP20240001") == (
        "bad_format", "document_number")
    assert _reason("passport_with_permit", "E1234567", nationality="GBR", permit_type="work", permit_number="WP-1") == (
        "bad_format", "permit_number")


def test_an_unknown_type_and_no_number_in_messages() -> None:
    assert _reason("driving_licence", RESIDENT) == ("unknown_type", "document_type")
    with pytest.raises(DocumentError) as caught:
        validate("residence_permit", RESIDENT[:-1] + "6", today=TODAY)
    assert RESIDENT[:10] not in str(caught.value)


def test_a_foreign_permanent_resident_is_not_a_chinese_national() -> None:
    assert _reason("foreign_permanent_id", "CHN110080010111") == ("bad_nationality", "document_number")
    chinese = "94415619800101123"
    assert _reason("foreign_permanent_id", chinese + documents.idnumber.check_digit(chinese)) == (
        "bad_nationality", "document_number")


def test_identifiers_mask_and_birth_dates() -> None:
    passport = validate("passport_with_permit", "E1234567", nationality="GBR", permit_type="work",
                        permit_number="WP20240001", today=TODAY)
    assert passport.identifier == "passport:GBR:E1234567" and validate("residence_permit", RESIDENT, today=TODAY).identifier == RESIDENT
    assert documents.mask(passport.identifier) == "passport:GBR:****4567"
    assert documents.mask(RESIDENT) == "441900********1235" and documents.mask("travel_permit_tw:01234567") == "travel_permit_tw:****4567"
    assert documents.is_resident_id(RESIDENT) and not documents.is_resident_id(passport.identifier)
    assert documents.birth_date_of(RESIDENT) == date(1985, 6, 15)
    assert documents.birth_date_of(f"foreign_permanent_id:{FPR_2023}") == date(1980, 1, 1)
    assert documents.birth_date_of(f"foreign_permanent_id:{FPR_2004}", TODAY) == date(1980, 1, 1)
    assert documents.birth_date_of(passport.identifier) is None and documents.birth_date_of("travel_permit_tw:01234567") is None
