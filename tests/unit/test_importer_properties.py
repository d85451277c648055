"""Property tests (hypothesis) for the operator's CSV importers: the roster and member rosters
never crash on arbitrary text, never accept a row they should refuse, and never lose a row
(every data row is either taken or refused with its line)."""
from __future__ import annotations

import csv
import io
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.identity import idnumber
from app.identity.people import MOBILE_PATTERN
from app.identity.roster import HEADER, MAX_NAME_LENGTH, ImportReport, read_roster
from app.partners.memberships import MEMBER_HEADER, read_member_rows
from app.platform.csvfile import CsvFileError

TODAY = date(2026, 11, 29)
VALID_IDS = ["441900198506151235", "11010519491231002X", "440104200001010014"]
PLAUSIBLE = ["陈小明", "13800138000", "1", "0", "", " ", "X", "４４１９", "\x00", "a,b", '"', *VALID_IDS]

cells = st.one_of(st.sampled_from(PLAUSIBLE), st.text(max_size=24))
rows = st.lists(st.lists(cells, max_size=7), max_size=8)


def as_csv(header: list[str], body: list[list[str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(body)
    return out.getvalue()


roster_files = st.one_of(
    st.builds(as_csv, st.sampled_from([HEADER, [*HEADER, "disability"], ["name", "id_number"], []]), rows),
    st.text(max_size=300),
)


def data_rows(text: str) -> int:
    """How many data rows csv itself finds after the header (the reference count)."""
    return sum(1 for _ in csv.DictReader(io.StringIO(text)))


@given(roster_files)
def test_the_roster_reader_takes_only_valid_rows_and_accounts_for_every_row(text: str) -> None:
    report = ImportReport()
    try:
        taken = list(read_roster(io.StringIO(text), report, TODAY))
    except CsvFileError:
        return
    for row in taken:
        assert idnumber.validate(row.id_number, TODAY) == row.id_number
        assert MOBILE_PATTERN.fullmatch(row.phone)
        assert 0 < len(row.name) <= MAX_NAME_LENGTH
    assert len({row.id_number for row in taken}) == len(taken)
    assert len(taken) + len(report.rejected) == data_rows(text)
    assert all(reason and "\n" not in reason for _line, reason in report.rejected)


@pytest.mark.parametrize("name", ["陈\x01小明", "\u202e明小陈", "陈\x00小明"])
def test_a_name_with_control_or_direction_characters_is_refused(name: str) -> None:
    report = ImportReport()
    assert list(read_roster(io.StringIO(as_csv(HEADER, [[name, VALID_IDS[0], "13800138000", "1"]])), report, TODAY)) == []
    assert report.rejected == [(2, "bad_name")]


def test_a_valid_row_is_taken_and_an_invalid_one_refused_by_line() -> None:
    text = as_csv(HEADER, [["陈小明", VALID_IDS[0], "13800138000", "1"], ["陈小明", "441900198506151236", "13800138000", "1"]])
    report = ImportReport()
    taken = list(read_roster(io.StringIO(text), report, TODAY))
    assert [row.id_number for row in taken] == [VALID_IDS[0]]
    assert report.rejected == [(3, "id_number_bad_check_digit")]


member_files = st.one_of(
    st.builds(as_csv, st.sampled_from([list(MEMBER_HEADER), ["id_number"], ["member_id", "id_number"]]), rows),
    st.text(max_size=300),
)


@given(member_files)
def test_the_member_roster_reader_never_crashes_and_keeps_cells_as_written(text: str) -> None:
    try:
        taken = read_member_rows(io.StringIO(text))
    except CsvFileError:
        return
    reader = csv.DictReader(io.StringIO(text))
    reference = [(reader.line_num, (record["id_number"], record["member_id"])) for record in reader]
    assert taken == reference


@pytest.mark.parametrize("text", ["id_number,member_id\n441900198506151235\n", "id_number,member_id\na,b,c\n"])
def test_a_member_row_without_exactly_two_cells_refuses_the_file(text: str) -> None:
    with pytest.raises(CsvFileError, match="line 2: wrong_column_count"):
        read_member_rows(io.StringIO(text))


@pytest.mark.parametrize("body", ['"' + "x" * 200_000 + '"\n', "\x00,\x00,\x00,\x00\n", '"unterminated\n'])
def test_pathological_files_are_refused_or_read_never_crash(body: str) -> None:
    report = ImportReport()
    try:
        taken = list(read_roster(io.StringIO(",".join(HEADER) + "\n" + body), report, TODAY))
    except CsvFileError as refused:
        assert "not a readable UTF-8 CSV file" in str(refused)
        return
    assert taken == [] and len(report.rejected) == 1
