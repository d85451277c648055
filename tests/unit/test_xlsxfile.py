"""app.platform.xlsxfile: the console's Excel exports are text cells, never formulas."""

from __future__ import annotations

import io

import openpyxl

from app.platform.xlsxfile import workbook


def test_cells_are_text_and_a_formula_stays_text() -> None:
    body = workbook("工单" * 20, ["工单号", "原因"], [["CS20261201-AAAAAA", "=1+1"], ["", "a\x01b"]])
    book = openpyxl.load_workbook(io.BytesIO(body))
    sheet = book.active
    assert sheet.title == ("工单" * 20)[:31]
    assert [[c.value for c in row] for row in sheet.iter_rows()] == [["工单号", "原因"], ["CS20261201-AAAAAA", "=1+1"], [None, "ab"]]
    assert sheet["B2"].data_type == "s"  # a string, not a formula a spreadsheet would run
    assert sheet.freeze_panes == "A2"
