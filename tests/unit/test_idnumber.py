"""Unit and property tests for app.identity.idnumber (GB 11643-1999, ISO 7064 MOD 11-2).

Check digits are computed here from the formula written out independently of
the module under test: weights are 2**(17-i) mod 11 for positions i = 0..16,
and the check character is the value c with (sum + c) mod 11 == 1, written X
for 10.
"""
from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from app.identity import idnumber
from app.identity.idnumber import IdNumberError, birth_date, check_digit, mask, normalize, sex, validate

TODAY = date(2026, 6, 1)
SAMPLES = Path(__file__).resolve().parents[2] / "app" / "samples"
PROVINCES = sorted(
    [str(n) for n in [*range(11, 16), *range(21, 24), *range(31, 38), *range(41, 47)]]
    + [str(n) for n in [*range(50, 55), *range(61, 66), 71, 81, 82, 83]]
)
DEMO_ID = "441900198506151235"


def reference_check(first17: str) -> str:
    """ISO 7064 MOD 11-2 from first principles: find c with (S + c) % 11 == 1."""
    total = sum(int(d) * pow(2, 17 - i, 11) for i, d in enumerate(first17))
    c = (1 - total) % 11
    return "X" if c == 10 else str(c)


def mod11_2_ok(number: str) -> bool:
    """True if the 18-character number satisfies the MOD 11-2 checksum."""
    values = [int(ch) for ch in number[:17]] + [10 if number[17] == "X" else int(number[17])]
    return sum(v * pow(2, 17 - i, 11) for i, v in enumerate(values)) % 11 == 1


def make(first17: str) -> str:
    """A full number from 17 digits with the reference check character."""
    return first17 + reference_check(first17)


def reason_of(raw, today: date = TODAY) -> str:
    """The IdNumberError reason validate() raises for ``raw``."""
    with pytest.raises(IdNumberError) as info:
        validate(raw, today=today)
    return info.value.reason


# --- known values ---------------------------------------------------------


def test_reference_matches_published_weights():
    assert [pow(2, 17 - i, 11) for i in range(17)] == list(idnumber.WEIGHTS)


@pytest.mark.parametrize(
    "first17, expected",
    [
        ("11010519491231002", "X"),  # the worked example in GB 11643-1999
        ("44052418800101001", "4"),  # second example in the standard
        ("44190019850615123", "5"),  # demo person 陈小明
    ],
)
def test_check_digit_known(first17, expected):
    assert reference_check(first17) == expected
    assert check_digit(first17) == expected


def test_check_digit_covers_every_character():
    seen = {check_digit(f"4419001985061{n:04d}") for n in range(200)}
    assert seen == set("0123456789X")


@pytest.mark.parametrize("bad, reason", [("1234", "wrong_length"), ("1" * 18, "wrong_length"),
                                         ("4419001985061512a", "bad_characters")])
def test_check_digit_rejects_bad_input(bad, reason):
    with pytest.raises(IdNumberError) as info:
        check_digit(bad)
    assert info.value.reason == reason


@pytest.mark.parametrize(
    "first17",
    ["11010519491231002", "44190019850615123", "44190020000229002", "83000019900101001",
     "65010220101231999", "81000019700101004"],
)
def test_known_valid(first17):
    number = make(first17)
    assert validate(number, today=TODAY) == number


def test_demo_person():
    assert validate(DEMO_ID, today=TODAY) == DEMO_ID
    assert birth_date(DEMO_ID) == date(1985, 6, 15)
    assert sex(DEMO_ID) == "M"
    assert mask(DEMO_ID) == "441900********1235"


def test_standard_1880_example_rejected_by_year_floor():
    assert reason_of(make("44052418800101001")) == "bad_birth_date"


# --- normalisation --------------------------------------------------------


def test_lower_case_x_normalised():
    assert validate("11010519491231002x", today=TODAY) == "11010519491231002X"
    assert normalize("  11010519491231002x\n") == "11010519491231002X"


def test_normalize_only_touches_trailing_x_and_whitespace():
    assert normalize("\t x123x ") == "x123X"
    assert normalize("abc") == "abc"


def test_surrounding_whitespace_stripped():
    assert validate(f"  {DEMO_ID}\t\n", today=TODAY) == DEMO_ID


# --- each rejection reason ------------------------------------------------


@pytest.mark.parametrize("raw", ["", "   ", DEMO_ID[:17], DEMO_ID + "0", "4419 00198506151235"])
def test_wrong_length(raw):
    assert reason_of(raw) == "wrong_length"


@pytest.mark.parametrize(
    "raw",
    ["44190019850615123Y", "4419001985061512X5", "X41900198506151235", "441900-98506151235",
     "４41900198506151235", "441900198506151２35", "4419001985061512x5"],
)
def test_bad_characters(raw):
    assert len(normalize(raw)) == 18
    assert reason_of(raw) == "bad_characters"


@pytest.mark.parametrize("raw", [None, 441900198506151235, b"441900198506151235"])
def test_non_text_is_bad_characters(raw):
    assert reason_of(raw) == "bad_characters"


@pytest.mark.parametrize("prefix", ["00", "10", "16", "20", "24", "30", "38", "40", "47", "49", "55",
                                    "60", "66", "70", "72", "80", "84", "90", "91", "99"])
def test_bad_region(prefix):
    assert reason_of(make(prefix + "190019850615123")) == "bad_region"


def test_region_only_checks_province_prefix():
    # Documented: no county table, positions 3-6 just need to be digits.
    assert validate(make("44000019850615123"), today=TODAY)
    assert validate(make("44999919850615123"), today=TODAY)


@pytest.mark.parametrize(
    "birth",
    ["19850230", "19850431", "19851301", "19850001", "19850100", "19000229", "18991231", "00000101"],
)
def test_bad_birth_date(birth):
    assert reason_of(make("441900" + birth + "123")) == "bad_birth_date"


def test_leap_years():
    assert validate(make("44190020000229123"), today=TODAY)
    assert validate(make("44190019960229123"), today=TODAY)
    assert reason_of(make("44190019000229123")) == "bad_birth_date"
    assert reason_of(make("44190020230229123")) == "bad_birth_date"


def test_year_1900_floor_inclusive():
    assert validate(make("44190019000101123"), today=TODAY)


def test_future_birth_date():
    assert validate(make("44190020260601123"), today=TODAY)  # born today is fine
    assert reason_of(make("44190020260602123")) == "bad_birth_date"
    assert reason_of(make("44190020991231123"), today=date(2099, 12, 30)) == "bad_birth_date"


def test_today_defaults_to_real_today():
    far_future = make("44190030000101123")
    with pytest.raises(IdNumberError) as info:
        validate(far_future)
    assert info.value.reason == "bad_birth_date"
    assert validate(DEMO_ID) == DEMO_ID


def test_bad_check_digit():
    for wrong in "0123456789X":
        if wrong != "5":
            assert reason_of(DEMO_ID[:17] + wrong) == "bad_check_digit"


def test_error_is_value_error_without_the_number():
    with pytest.raises(ValueError) as info:
        validate(DEMO_ID[:17] + "0", today=TODAY)
    assert DEMO_ID[:17] not in str(info.value)
    assert info.value.reason in idnumber.REASONS


def test_check_order_length_before_everything():
    assert reason_of("99" + "9" * 14) == "wrong_length"
    assert reason_of("99190019850230123A") == "bad_characters"
    assert reason_of("991900198502301230") == "bad_region"
    assert reason_of("441900198502301230") == "bad_birth_date"


# --- accessors ------------------------------------------------------------


def test_birth_date_and_sex():
    woman = make("44190020000229124")
    assert birth_date(woman) == date(2000, 2, 29)
    assert sex(woman) == "F"
    assert sex(make("44190020000229120")) == "F"
    assert sex(make("44190020000229129")) == "M"
    assert birth_date(" 11010519491231002x ") == date(1949, 12, 31)
    assert sex("11010519491231002x") == "F"


def test_accessors_reject_garbage():
    with pytest.raises(IdNumberError):
        birth_date("123")
    with pytest.raises(IdNumberError):
        birth_date("441900198502301235")
    with pytest.raises(IdNumberError):
        sex("abc")


def test_mask():
    assert mask("441900199001011234") == "441900********1234"
    assert mask("44190019900101123x") == "441900********123X"
    assert mask(DEMO_ID) == "441900********1235"
    assert mask("1234567890") == "**********"
    assert mask("") == ""
    assert mask("12345678901") == "123456*8901"


# --- sample files ---------------------------------------------------------


def read_rows(name: str) -> list[dict[str, str]]:
    with (SAMPLES / name).open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        assert reader.fieldnames == ["name", "id_number", "phone", "insured"]
        return list(reader)


def test_sample_roster_is_valid():
    rows = read_rows("roster.csv")
    assert len(rows) == 12
    assert rows[0] == {"name": "陈小明", "id_number": DEMO_ID, "phone": "13800138000", "insured": "1"}
    assert len({r["id_number"] for r in rows}) == 12
    for r in rows:
        assert validate(r["id_number"], today=TODAY) == r["id_number"]
        assert r["id_number"].startswith("441900")
        assert len(r["phone"]) == 11 and r["phone"].startswith("13800138")
        assert r["insured"] in {"0", "1"}
    assert {r["insured"] for r in rows} == {"0", "1"}
    years = [birth_date(r["id_number"]).year for r in rows]
    assert min(years) >= 1950 and max(years) <= 2010
    assert sum(1 for y in years if y <= 1960) >= 2  # seniors, >65 from 2026 on


def test_sample_roster_with_errors():
    rows = read_rows("roster-with-errors.csv")
    ids = [r["id_number"] for r in rows]
    validate(ids[0], today=TODAY)
    validate(ids[1], today=TODAY)
    assert [reason_of(i) for i in ids[2:6]] == [
        "bad_check_digit", "bad_birth_date", "bad_region", "wrong_length"]
    assert ids[6] == ids[0]
    assert rows[7]["name"] == "" and validate(ids[7], today=TODAY)
    assert rows[8]["insured"] == "yes" and validate(ids[8], today=TODAY)


# --- properties -----------------------------------------------------------

near_ids = st.text(alphabet="0123456789Xx \t", min_size=15, max_size=21)


@given(st.one_of(st.text(), near_ids, st.text(alphabet=st.characters(categories=["Nd"]), max_size=20)))
@settings(max_examples=500)
def test_validate_only_raises_id_number_error(raw):
    try:
        result = validate(raw, today=TODAY)
    except IdNumberError as exc:
        assert exc.reason in idnumber.REASONS
    else:
        assert len(result) == 18 and mod11_2_ok(result)


valid_first17 = st.builds(
    lambda p, rest, born, seq: p + rest + born.strftime("%Y%m%d") + seq,
    st.sampled_from(PROVINCES),
    st.text(alphabet="0123456789", min_size=4, max_size=4),
    st.dates(min_value=date(1900, 1, 1), max_value=TODAY),
    st.text(alphabet="0123456789", min_size=3, max_size=3),
)


@given(valid_first17)
@settings(max_examples=500)
def test_constructed_numbers_validate(first17):
    number = make(first17)
    assert check_digit(first17) == number[17]
    assert validate(number, today=TODAY) == number
    assert validate(number.lower(), today=TODAY) == number
    assert birth_date(number).strftime("%Y%m%d") == first17[6:14]
    assert sex(number) == ("M" if int(first17[16]) % 2 else "F")


@given(valid_first17, st.integers(0, 17), st.sampled_from("0123456789X"))
@settings(max_examples=1000)
def test_single_character_change_is_detected(first17, position, replacement):
    number = make(first17)
    assume(replacement != number[position])
    assume(position == 17 or replacement != "X")  # only the check slot may hold X
    changed = number[:position] + replacement + number[position + 1:]
    # MOD 11-2 alone detects every single substitution...
    assert not mod11_2_ok(changed)
    # ...so validate always rejects it (possibly for an earlier reason).
    with pytest.raises(IdNumberError):
        validate(changed, today=TODAY)


def test_single_digit_changes_exhaustive_for_demo():
    for position in range(18):
        for replacement in "0123456789X" if position == 17 else "0123456789":
            if replacement == DEMO_ID[position]:
                continue
            changed = DEMO_ID[:position] + replacement + DEMO_ID[position + 1:]
            assert not mod11_2_ok(changed)
            with pytest.raises(IdNumberError):
                validate(changed, today=TODAY)
