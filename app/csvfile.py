"""Reading the operator's CSV files (roster, member rosters, terminals): one reader, one set of errors.

Files are UTF-8 text (a byte-order mark is the caller's to strip: open with ``utf-8-sig``) with an
exact header. Line numbers count the header as line 1, as a spreadsheet does.
"""
from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from typing import IO


class CsvFileError(ValueError):
    """The file as a whole cannot be used: not UTF-8 text, not CSV, or not the expected header."""


def records(stream: IO[str], headers: Sequence[Sequence[str]], header_help: str) -> Iterator[tuple[int, dict[str, str | None]]]:
    """``(line, record)`` for each row after a header equal to one of ``headers``; CsvFileError
    (whose text is ``header_help`` for a wrong header) when the file cannot be read. A row with too
    many cells has the key None; a row with too few has None values (see :func:`column_count_ok`)."""
    reader = csv.DictReader(stream)
    try:
        if reader.fieldnames not in [list(header) for header in headers]:
            raise CsvFileError(header_help)
        for record in reader:
            yield reader.line_num, record
    except (UnicodeDecodeError, csv.Error) as exc:
        raise CsvFileError(f"line {reader.line_num}: not a readable UTF-8 CSV file") from exc


def column_count_ok(record: dict[str, str | None]) -> bool:
    """Whether the row has exactly the header's number of cells."""
    return None not in record and all(value is not None for value in record.values())
