"""Writing the console's exports as Excel workbooks (.xlsx, issue 21): the CSV exports' rows, one
sheet, a header row of the caller's choosing (the console's are Chinese).

openpyxl's write-only mode keeps memory flat (rows go to a temporary file as they come), so the
exports' 100,000-row limit fits. Every cell is written as **text**: the rows are the CSV's strings,
and a string starting with ``=`` stays a string, never a formula a spreadsheet would run. XML 1.0
cannot hold most control characters: they are dropped (the CSV keeps them).
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence

from openpyxl import Workbook
from openpyxl.cell import Cell, WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def workbook(sheet_title: str, header: Sequence[str], rows: Iterable[Sequence[str]]) -> bytes:
    """The .xlsx file (bytes) of one sheet named ``sheet_title`` (at most 31 characters):
    ``header`` as its first row, frozen, then ``rows``; every cell a text cell."""
    book = Workbook(write_only=True)
    sheet = book.create_sheet(sheet_title[:31])
    sheet.freeze_panes = "A2"
    sheet.append([_text(sheet, value) for value in header])
    for row in rows:
        sheet.append([_text(sheet, value) for value in row])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _text(sheet: object, value: str) -> str | Cell:
    value = ILLEGAL_CHARACTERS_RE.sub("", value)
    if not value.startswith("="):
        return value  # openpyxl types a plain string as text
    cell = WriteOnlyCell(sheet, value)
    cell.data_type = "s"  # text, not a formula
    return cell
