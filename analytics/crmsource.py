"""Reading a CRM export: its text table (any encoding keyfunnel detects), which CRM wrote it, and its dates and
amounts, in whatever order and form the CRM's locale wrote them."""

from __future__ import annotations

import csv
import os
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .csvsource import open_csv
from .exceptions import InputError
from .importer import AMOUNT_PATTERN, AMOUNT_PATTERN_DECIMAL_COMMA, RowIssue, cleaned_cell_warnings, clip_value
from .profiles import MappingProfile, header_key

_DATE_ENTERED = re.compile(r'^\s*date entered\s+"?(.+?)"?\s*$', re.IGNORECASE)


@dataclass
class SourceTable:
    """One uploaded file as text: `frame` has one column per header position, `rows` the spreadsheet rows."""

    name: str
    sha256: str
    encoding: str
    header: list[str]
    frame: pd.DataFrame
    rows: np.ndarray
    warnings: list[RowIssue] = field(default_factory=list)  # what reading it flagged (control characters removed)

    def find(self, headers: tuple[str, ...]) -> int | None:
        """Position of the first of `headers` present (matched without case, space or accent-form differences)."""
        normalised = [header_key(h) for h in self.header]
        for h in headers:
            key = header_key(h)
            if key in normalised:
                return normalised.index(key)
        return None

    def values(self, position: int) -> pd.Series:
        return self.frame[position]

    def cell(self, row: int, column: str) -> str | None:
        """The text at spreadsheet row `row` under the header `column`; None if the file has no such row or column."""
        i = int(np.searchsorted(self.rows, row))
        if column not in self.header or i >= len(self.rows) or self.rows[i] != row:
            return None
        return self.frame.iat[i, self.header.index(column)]




# Reading --------------------------------------------------------------------------------------------------------
def read_table(path: str | os.PathLike, name: str | None = None,
               sheet: str | None = None) -> tuple[SourceTable, list[RowIssue]]:
    """Read a CSV (any encoding keyfunnel detects) or a workbook's sheet as text; rows with the wrong number of
    fields are errors."""
    source = open_csv(path, name, sheet)
    try:
        with open(source.utf8_path, encoding="utf-8-sig", newline="") as f:
            reader = csv.reader(f, delimiter=source.delimiter)
            next(reader, None)
            records = list(reader)
    except csv.Error as exc:
        raise InputError(f"{source.name}: the file cannot be parsed as CSV ({exc})") from None
    finally:
        source.cleanup()
    n = len(source.header)
    errors, kept, rows = [], [], []
    for i, rec in enumerate(records):
        row = i + 2 + source.row_offset  # a workbook's table may start below a title
        if not any(v.strip() for v in rec):
            continue
        if len(rec) != n:
            errors.append(RowIssue(source.name, row, None, clip_value(source.delimiter.join(rec)),
                                   f"{'too many' if len(rec) > n else 'too few'} columns: expected {n}"))
            continue
        kept.append(rec)
        rows.append(row)
    frame = pd.DataFrame(kept, columns=range(n), dtype=object) if kept else pd.DataFrame(columns=range(n))
    frame = frame.fillna("").astype(str).apply(lambda s: s.str.strip())
    return SourceTable(source.name, source.sha256, source.encoding, source.header, frame,
                       np.array(rows, dtype=np.int64), cleaned_cell_warnings(source)), errors


# Detecting ------------------------------------------------------------------------------------------------------
def read_header(path: str | os.PathLike, sheet: str | None = None) -> list[str]:
    source = open_csv(path, sheet=sheet)
    source.cleanup()
    return source.header


def is_canonical(header: list[str]) -> bool:
    """The one router, for the CLI and the Import page alike: True when a file takes the canonical importer (no
    preset's columns, and a deal_id and outcome column, or a stage history's columns); False when it takes the CRM
    path, with a preset's mapping or, failing every preset, the generic one (an export without an ID column,
    or with its outcome in a stage column)."""
    from .importer import classify_header, canonical_deal_fields

    if detect_preset(header) is not None:
        return False
    return classify_header(header) == "history" or {"deal_id", "outcome"} <= canonical_deal_fields(header)


def detect_preset(header: list[str]) -> str | None:
    """The preset whose distinctive columns the header carries, or None (canonical or unknown)."""
    keys = {header_key(h) for h in header}
    if any(_DATE_ENTERED.match(h) for h in header) or {"deal stage", "pipeline"} <= keys:
        return "hubspot"
    if "sales stage" in keys or {"status reason", "est. revenue"} <= keys or "(do not modify) opportunity" in keys:
        return "dynamics365"
    if "stagename" in keys or ({"stage", "close date"} <= keys and keys & {"opportunity id", "opportunity name"}):
        return "salesforce"
    if keys & {"snapshot_date", "snapshot date", "快照日期", "as_of"}:
        return "snapshots"
    return None


def salesforce_role(table: SourceTable, profile: MappingProfile) -> str:
    deal_markers = ("account", "is_won", "is_closed")
    if any(table.find(profile.headers_for(f)) is not None for f in deal_markers):
        return "deals"
    if table.find(profile.columns["history_deal_id"]) is not None:
        return "history"
    return "deals"


# Parsing values -------------------------------------------------------------------------------------------------
_YMD = re.compile(r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?"
                  r"(?:[ T]+(\d{1,2}):(\d{2})(?::(\d{2}))?(?:\.\d+)?\s*([AaPp][Mm])?)?\s*(?:Z|[+-]\d{2}:?\d{2})?$")
_NUMERIC = re.compile(r"^(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4}|\d{2})"
                      r"(?:[ T,]+(\d{1,2}):(\d{2})(?::(\d{2}))?\s*([AaPp][Mm])?)?$")


@dataclass(frozen=True)
class DateColumn:
    table: SourceTable
    position: int

    @property
    def header(self) -> str:
        return self.table.header[self.position]


def infer_date_order(columns: list[DateColumn], requested: str) -> tuple[str | None, RowIssue | None]:
    """MDY or DMY from the values when one of the first two numbers exceeds 12; else the profile must say."""
    if requested != "auto":
        return requested, None
    first_over, second_over, example = False, False, None
    for col in columns:
        parts = col.table.values(col.position).str.extract(_NUMERIC.pattern)
        if parts[0].notna().any():
            a, b = pd.to_numeric(parts[0]), pd.to_numeric(parts[1])
            first_over |= bool((a > 12).any())
            second_over |= bool((b > 12).any())
            if example is None:
                i = int(np.flatnonzero(parts[0].notna().to_numpy())[0])
                example = (col, i)
    if example is None:
        return None, None
    if first_over and second_over:
        col, i = example
        return None, RowIssue(col.table.name, None, col.header, None,
                              "dates are written both day-first and month-first: set date_order in the profile")
    if first_over or second_over:
        return ("DMY" if first_over else "MDY"), None
    col, i = example
    return None, RowIssue(col.table.name, int(col.table.rows[i]), col.header, col.table.values(col.position).iloc[i],
                          "this date can be read as month/day or day/month: set date_order to MDY or DMY "
                          "in the profile")


def parse_dates(values: pd.Series, order: str | None) -> tuple[pd.Series, pd.Series]:
    """Timestamps (NaT where empty or unreadable) and a mask of the non-empty values that are not dates."""
    ymd = values.str.extract(_YMD.pattern)
    num = values.str.extract(_NUMERIC.pattern)
    year, month, day = ymd[0].copy(), ymd[1].copy(), ymd[2].copy()
    if order in ("MDY", "DMY"):
        use = year.isna() & num[0].notna()
        first, second = (num[0], num[1]) if order == "MDY" else (num[1], num[0])
        month[use], day[use] = first[use], second[use]
        yy = pd.to_numeric(num[2][use])
        year[use] = np.where(yy < 100, np.where(yy < 70, 2000 + yy, 1900 + yy), yy).astype(int).astype(str)
    hour = ymd[3].fillna(num[3] if order in ("MDY", "DMY") else ymd[3])
    minute = ymd[4].fillna(num[4] if order in ("MDY", "DMY") else ymd[4])
    second = ymd[5].fillna(num[5] if order in ("MDY", "DMY") else ymd[5])
    ampm = ymd[6].fillna(num[6] if order in ("MDY", "DMY") else ymd[6]).str.lower()
    h = pd.to_numeric(hour).fillna(0)
    h = np.where((ampm == "pm") & (h < 12), h + 12, np.where((ampm == "am") & (h == 12), 0, h))
    parts = pd.DataFrame({"year": pd.to_numeric(year), "month": pd.to_numeric(month), "day": pd.to_numeric(day),
                          "hour": h, "minute": pd.to_numeric(minute).fillna(0),
                          "second": pd.to_numeric(second).fillna(0)})
    ok = parts["year"].notna() & parts["month"].between(1, 12) & parts["day"].between(1, 31)
    stamps = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns]")
    if ok.any():
        stamps[ok] = pd.to_datetime(parts[ok].astype(int), errors="coerce")
    bad = (values != "") & stamps.isna()
    return stamps, bad


_CODE = re.compile(r"^([A-Za-z]{3})\s+(.+)$|^(.+?)\s+([A-Za-z]{3})$")


def parse_amount(text: str, decimal_mark: str) -> tuple[float | None, str | None]:
    """(amount, inline ISO currency code or None); amount None when the text is not an amount."""
    code = None
    m = _CODE.match(text)
    if m and (m.group(1) or m.group(4)).upper() not in ("RMB",):
        code = (m.group(1) or m.group(4)).upper()
        text = m.group(2) or m.group(3)
    pattern = AMOUNT_PATTERN_DECIMAL_COMMA if decimal_mark == "," else AMOUNT_PATTERN
    if not re.fullmatch(pattern, text.strip()):
        return None, code
    digits = re.sub(r"[^0-9,\-]", "", text).replace(",", ".") if decimal_mark == "," \
        else re.sub(r"[^0-9.\-]", "", text)
    try:
        return float(digits), code
    except ValueError:
        return None, code
