"""app.platform.csvfile: the operator's files as UTF-8 lines, with the line and byte where they are not; rows of the wrong width."""
from __future__ import annotations

import io
from typing import Any

import pytest

from app.platform.csvfile import CsvFileError, open_csv, records, whole_records


def read(tmp_path: Any, data: bytes) -> list[tuple[int, dict[str, str | None]]]:
    path = tmp_path / "f.csv"
    path.write_bytes(data)
    with open_csv(str(path)) as lines:
        return list(records(lines, [["a", "b"]], "the header must be exactly a,b"))


def test_a_byte_order_mark_is_skipped_and_every_line_ending_counts(tmp_path: Any) -> None:
    taken = read(tmp_path, b"\xef\xbb\xbfa,b\r\n1,\xe4\xb8\x9c\r2,3\n\n4,5")
    assert taken == [(2, {"a": "1", "b": "东"}), (3, {"a": "2", "b": "3"}), (5, {"a": "4", "b": "5"})]


def test_a_quoted_line_break_stays_in_its_cell(tmp_path: Any) -> None:
    assert read(tmp_path, b'a,b\n"x\r\ny",1\n2,3\n') == [(3, {"a": "x\r\ny", "b": "1"}), (4, {"a": "2", "b": "3"})]


@pytest.mark.parametrize(("data", "where"), [
    ("a,b\n1,2\n3,东莞\n".encode("gbk"), "line 3: not UTF-8 text (byte 3 of the line is 0xb6)"),
    (b"a,\xff\n", "line 1: not UTF-8 text (byte 3 of the line is 0xff)"),
    (b"\xef\xbb\xbf\xb6,b\n", "line 1: not UTF-8 text (byte 1 of the line is 0xb6)"),
])
def test_a_file_that_is_not_utf8_names_the_line_and_byte(tmp_path: Any, data: bytes, where: str) -> None:
    with pytest.raises(CsvFileError) as refused:
        read(tmp_path, data)
    assert str(refused.value).startswith(where)


@pytest.mark.parametrize(("data", "refusal"), [
    (b"a,b\n1,2\n3,4,5\n", "line 3: wrong_column_count (3 cells, the header has 2: a,b; quote a cell that holds a comma)"),
    (b"a,b\n1,2\n3\n", "line 3: wrong_column_count (1 cell, the header has 2: a,b)"),
    (b"a,b\n1,2\n3,4,\n", "line 3: wrong_column_count (3 cells, the header has 2: a,b; quote a cell that holds a comma)"),
])
def test_whole_records_refuses_a_file_with_a_row_of_the_wrong_width(data: bytes, refusal: str) -> None:
    with pytest.raises(CsvFileError) as refused:
        list(whole_records(io.StringIO(data.decode()), [["a", "b"]], "the header must be exactly a,b"))
    assert str(refused.value) == refusal


def test_whole_records_gives_every_cell_as_text() -> None:
    assert list(whole_records(io.StringIO("a,b\n1,\n"), [["a", "b"]], "")) == [(2, {"a": "1", "b": ""})]
