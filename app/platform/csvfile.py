"""Reading the operator's CSV files (roster, member rosters, terminals, disbursement batches): one
reader, one set of errors.

Files are UTF-8 text with an exact header; :func:`open_csv` opens one (a byte-order mark is
skipped) and names the line and byte where a file is not UTF-8 (a spreadsheet's GBK export). Line
numbers count the header as line 1, as a spreadsheet does; a repeated entry is reported as
``... (first at line N)`` with the same numbering (:func:`first_at`). A row without the header's
number of cells is ``wrong_column_count``: a rejected row where rows are rejected one by one (roster,
disbursement batches), the whole file refused where one bad row imports nothing (terminals, member
rosters: :func:`whole_records`). Writing: :func:`csv_chunks` (the console's exports).
"""
from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import IO


class CsvFileError(ValueError):
    """The file as a whole cannot be used: not UTF-8 text, not CSV, or not the expected header."""


@contextmanager
def open_csv(path: str) -> Iterator[Iterator[str]]:
    """The lines of the file at ``path`` as text for :func:`records`; reading them raises
    CsvFileError naming the line and byte where the file is not UTF-8."""
    with open(path, "rb") as binary:
        yield _utf8_lines(binary)


def _utf8_lines(binary: IO[bytes]) -> Iterator[str]:
    """Lines split as text mode with ``newline=""`` splits them (at \\n, \\r\\n and \\r, kept)."""
    number = 0
    for chunk in binary:  # a UTF-8 line never holds a \n or \r byte inside a character
        for raw in chunk.splitlines(keepends=True):
            number += 1
            if number == 1 and raw.startswith(codecs.BOM_UTF8):
                raw = raw[len(codecs.BOM_UTF8):]
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise CsvFileError(f"line {number}: not UTF-8 text (byte {exc.start + 1} of the line is 0x{raw[exc.start]:02x}); "
                                   "save the file as UTF-8 (a spreadsheet's \"CSV UTF-8\")") from None


def records(stream: Iterable[str], headers: Sequence[Sequence[str]], header_help: str) -> Iterator[tuple[int, dict[str, str | None]]]:
    """``(line, record)`` for each row after a header equal to one of ``headers``; CsvFileError
    (whose text is ``header_help`` for a wrong header) when the file cannot be read. A row with too
    many cells has the key None; a row with too few has None values (see :func:`column_count_ok`).
    ``stream``: :func:`open_csv`'s lines, or any text (a text file opened with ``newline=""``)."""
    reader = csv.DictReader(stream)
    try:
        if reader.fieldnames not in [list(header) for header in headers]:
            raise CsvFileError(header_help)
        for record in reader:
            yield reader.line_num, record
    except (UnicodeDecodeError, csv.Error) as exc:
        raise CsvFileError(f"line {reader.line_num}: not a readable UTF-8 CSV file") from exc


def whole_records(stream: Iterable[str], headers: Sequence[Sequence[str]], header_help: str) -> Iterator[tuple[int, dict[str, str]]]:
    """:func:`records` for an all-or-nothing import (terminals, member rosters): a row with the
    wrong number of cells refuses the whole file (CsvFileError, :func:`wrong_column_count`)."""
    for line, record in records(stream, headers, header_help):
        if not column_count_ok(record):
            raise CsvFileError(wrong_column_count(line, record))
        yield line, {key: value or "" for key, value in record.items()}


def column_count_ok(record: dict[str, str | None]) -> bool:
    """Whether the row has exactly the header's number of cells."""
    return None not in record and all(value is not None for value in record.values())


def wrong_column_count(line: int, record: dict[str, str | None]) -> str:
    """Why a row without the header's number of cells is refused, e.g. ``line 2: wrong_column_count
    (4 cells, the header has 3: terminal_id,name,location; quote a cell that holds a comma)``."""
    header = [key for key in record if key is not None]
    extra: list[str] = record.get(None) or []  # type: ignore[call-overload,assignment]  # csv.DictReader's restkey
    cells = sum(value is not None for key, value in record.items() if key is not None) + len(extra)
    found = f"{cells} cell" if cells == 1 else f"{cells} cells"
    hint = "; quote a cell that holds a comma" if cells > len(header) else ""
    return f"line {line}: wrong_column_count ({found}, the header has {len(header)}: {','.join(header)}{hint})"


def first_at(line: int) -> str:
    """How a repeated entry names the first one: ``(first at line N)``."""
    return f"(first at line {line})"


def csv_chunks(header: Sequence[str], rows: Iterable[Sequence[str]], chunk: int = 1000) -> Iterator[str]:
    """``header`` then ``rows`` as CSV text (CRLF, a byte-order mark first), ``chunk`` rows at a time."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    out.write("\ufeff")
    writer.writerow(header)
    for number, row in enumerate(rows, start=1):
        writer.writerow(row)
        if number % chunk == 0:
            yield out.getvalue()
            out.seek(0)
            out.truncate()
    yield out.getvalue()
