"""Excel workbooks (.xlsx, .xlsm, .xls) and OpenDocument sheets read as the text table a CSV export would be.

Dynamics 365's "Export to Excel" writes only .xlsx, and Salesforce reports and HubSpot offer .xlsx first. A sheet
is read with python-calamine (Rust's calamine: it reads .xlsx, .xls and .ods alike, about ten times faster than
openpyxl, and keeps Excel's dates as dates) and written out as UTF-8 CSV text, so that every check, preset and row
number of the CSV import applies unchanged. Rows are numbered as Excel shows them: when a sheet's table starts
below row 1 (a title above it), `header_row` says where, and the importer numbers from there.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path

from analytics.exceptions import InputError
from analytics.messages import say

WORKBOOK_MAGIC = (b"PK\x03\x04", b"\xd0\xcf\x11\xe0")  # a ZIP (.xlsx, .ods) or an OLE2 file (.xls)


@dataclass(frozen=True)
class SheetText:
    """One sheet as CSV text: `header_row` is the Excel row of its header (1 when the table starts at the top)."""

    sheet: str
    text: str
    header_row: int


def is_workbook(data: bytes) -> bool:
    return data.startswith(WORKBOOK_MAGIC)


def cell_text(value) -> str:
    """A cell as an export would write it: dates as YYYY-MM-DD (with the time when it has one), whole numbers
    without '.0', booleans as true / false."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d" if value.time() == time(0) else "%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return str(value)
    return str(value)


def read_sheet(path: str | Path, name: str, sheet: str | None = None) -> SheetText:
    """The named sheet, else the first with anything in it, as CSV text. Raises InputError naming the file."""
    from python_calamine import CalamineWorkbook

    try:
        workbook = CalamineWorkbook.from_path(str(path))
    except Exception as exc:  # calamine raises its own error types for every kind of broken workbook
        detail = str(exc).splitlines()[0] if str(exc) else repr(exc)
        raise InputError(say("workbook_unreadable", detail=detail), name) from None
    names = list(workbook.sheet_names)
    if sheet is not None and sheet not in names:
        raise InputError(say("no_such_sheet", sheet=sheet, sheets=", ".join(map(repr, names))), name)
    for candidate in ([sheet] if sheet is not None else names):
        content = workbook.get_sheet_by_name(candidate)
        rows = content.to_python()  # from the table's first non-empty cell: empty rows above it are left out
        header = _header_index(rows)
        if header is not None:
            buf = io.StringIO()
            writer = csv.writer(buf, lineterminator="\n")
            for row in rows[header:]:
                writer.writerow([cell_text(cell) for cell in row])
            return SheetText(candidate, buf.getvalue(), content.start[0] + header + 1)
    raise InputError(say("workbook_empty") if sheet is None else say("sheet_empty", sheet=sheet), name)


def _header_index(rows: list[list]) -> int | None:
    """The header's position: the first row filled at least half as wide as the table's widest row. A report
    exported to Excel puts its title and filters in rows of one or two cells above the table."""
    filled = [sum(cell not in ("", None) for cell in row) for row in rows[:200]]
    if not filled or max(filled) == 0:
        return None
    need = max(1, (max(filled) + 1) // 2)
    return next(i for i, n in enumerate(filled) if n >= need)
