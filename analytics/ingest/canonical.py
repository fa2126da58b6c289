"""Import canonical CSV files into the deal store, losing nothing.

Each file is parsed by DuckDB into an all-VARCHAR staging table whose columns we name c0, c1, … ourselves, so that
no header text from a user's file is ever formatted into SQL. Every check then runs as SQL over the whole file and
all failures are collected at once: file, spreadsheet row (header = row 1), column, value, reason. A batch lands in
one transaction, or not at all.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

from analytics import formatting
from analytics.domain import FACTOR_KEYS, OUTCOME_ALIASES, STAGE_ALIASES, STAGE_NUMBERS
from analytics.exceptions import InputError, StoreError, UndoError
from analytics.ingest.csvsource import CsvSource, open_csv
from analytics.store.connection import DEAL_COLUMNS, Store

Progress = Callable[[float, str], None]

# Canonical headers and the Chinese ones accepted for them -------------------------------------------------------
DEAL_HEADERS_ZH = {
    "商机编号": "deal_id", "商机名称": "name", "客户": "account", "客户级别": "tier", "负责人": "owner", "区域": "region",
    "行业": "industry", "金额": "amount", "币种": "currency", "创建日期": "created_at",
    "预计成交日期": "expected_close", "关闭日期": "closed_at", "结果": "outcome", "丢单原因": "lost_reason",
    "项目等级": "project_level", "资金状况": "funding", "技术要求": "tech_fit", "客情关系": "relationship",
    "客户信誉": "credit", "产品": "product", "价格": "price", "技术方案": "solution", "售后服务": "service",
}
HISTORY_HEADERS_ZH = {"商机编号": "deal_id", "阶段": "stage", "进入日期": "entered_at"}
HISTORY_COLUMNS = ("deal_id", "stage", "entered_at")
WIDE_STAGE_COLUMNS = tuple(f"stage_{n}_at" for n in STAGE_NUMBERS)
WIDE_STAGE_HEADERS_ZH = {f"阶段{n}进入日期": f"stage_{n}_at" for n in STAGE_NUMBERS}
# history_truncated (optional): true when the recorded history starts mid-way, so earlier stages are unobserved
IMPORTED_DEAL_COLUMNS = (*DEAL_COLUMNS, "history_truncated")
# Only what no analysis can exist without: the deal's identity and its outcome (the stages come from the history).
REQUIRED_DEAL_COLUMNS = ("deal_id", "outcome")
# What a real export may leave blank, in a row or as a whole column, and what that costs (docs/data-format.md).
# Each is warned about once per file, with the count of deals it leaves out.
OPTIONAL_VALUE_COSTS = {
    "amount": "counted in every count-based figure, left out of amount sums; the forecast counts an open one at "
              "its stage's median amount",
    "account": "each such deal stands alone: no account groups it with others",
    "created_at": "dated by its first stage event where it has one, else left out of cohorts, created-date filters "
                  "and cycle time",
}

MAX_TEXT_LENGTH = 1000
MAX_AMOUNT = 1e12
DATE_RANGE = ("1970-01-01", "2100-12-31")
FORMATS = ("deals", "deals+history", "wide")

_CURRENCY_MARKS = r"(?:¥|￥|\$|€|£|RMB|CNY|USD|EUR|GBP)?"
AMOUNT_PATTERN = rf"^[-+]?\s*{_CURRENCY_MARKS}\s*[-+]?[0-9]{{1,3}}(?:,?[0-9]{{3}})*(?:\.[0-9]+)?\s*{_CURRENCY_MARKS}$"
AMOUNT_PATTERN_DECIMAL_COMMA = (
    rf"^[-+]?\s*{_CURRENCY_MARKS}\s*[-+]?[0-9]{{1,3}}(?:[. ]?[0-9]{{3}})*(?:,[0-9]+)?\s*{_CURRENCY_MARKS}$")


@dataclass(frozen=True)
class RowIssue:
    """One problem with one cell: an error rejects the row, a warning only flags it."""

    file: str
    row: int | None
    column: str | None
    value: str | None
    reason: str


@dataclass
class ImportResult:
    status: str  # imported | unchanged | rejected
    batch_id: int | None
    format: str | None
    files: list[str]
    deals_inserted: int = 0
    deals_updated: int = 0
    stage_events: int = 0
    rejected_rows: int = 0
    warnings: list[RowIssue] = field(default_factory=list)
    errors: list[RowIssue] = field(default_factory=list)
    message: str = ""

    @classmethod
    def rejected(cls, files: list[str], fmt: str | None, errors: list[RowIssue], warnings: list[RowIssue] = (),
                 message: str | None = None) -> ImportResult:
        """Nothing written: every error, the rows they are on, and why."""
        rows = len({(e.file, e.row) for e in errors if e.row is not None})  # not a missing file's "row"
        where = f" in {counted(rows, 'row')}" if rows else ""
        return cls("rejected", None, fmt, files, rejected_rows=rows, warnings=list(warnings), errors=errors,
                   message=message or f"rejected: {counted(len(errors), 'problem')}{where}; the database is unchanged")

    @property
    def deals(self) -> int:
        return self.deals_inserted + self.deals_updated

    def to_json(self) -> dict:
        return {
            "batch_id": self.batch_id, "status": self.status, "format": self.format, "files": self.files,
            "deals": self.deals, "deals_inserted": self.deals_inserted, "deals_updated": self.deals_updated,
            "stage_events": self.stage_events, "rejected_rows": self.rejected_rows,
            "warnings": [asdict(w) for w in self.warnings], "errors": [asdict(e) for e in self.errors],
            "message": self.message,
        }


def canonical_deal_fields(header: list[str]) -> set[str]:
    """The canonical deal fields (wide stage columns included) a header names."""
    return set(map_header(header, {**DEAL_HEADERS_ZH, **WIDE_STAGE_HEADERS_ZH},
                          IMPORTED_DEAL_COLUMNS + WIDE_STAGE_COLUMNS)[0])


def classify_header(header: list[str]) -> str:
    """'history' for a long stage history, 'wide' for deals with stage_N_at columns, else 'deals'."""
    fields, _ = map_header(header, {**DEAL_HEADERS_ZH, **WIDE_STAGE_HEADERS_ZH}, DEAL_COLUMNS + WIDE_STAGE_COLUMNS)
    history, _ = map_header(header, HISTORY_HEADERS_ZH, HISTORY_COLUMNS)
    if set(HISTORY_COLUMNS) <= set(history) and "account" not in fields:
        return "history"
    return "wide" if any(f in fields for f in WIDE_STAGE_COLUMNS) else "deals"


def normalise_header(name: str) -> str:
    name = name.strip().lstrip("\ufeff").strip().strip('"').strip()
    return re.sub(r"[\s\-]+", "_", name.casefold())


def map_header(header: list[str], zh: dict[str, str], canonical: tuple[str, ...]) -> tuple[dict[str, int], list[int]]:
    """Canonical field → column index, and the indexes of columns we do not recognise."""
    fields: dict[str, int] = {}
    unknown: list[int] = []
    for i, raw in enumerate(header):
        key = normalise_header(raw)
        canonical_name = zh.get(raw.strip().lstrip("\ufeff")) or (key if key in canonical else None)
        if canonical_name and canonical_name not in fields:
            fields[canonical_name] = i
        else:
            unknown.append(i)
    return fields, unknown


# SQL expressions over a raw VARCHAR column. `x` is always one of our generated identifiers (c0, c1, …). ----------
_WHITE = "[\\s\\pZ]"  # white space, tabs and full-width or no-break spaces (U+3000, U+00A0) included


def _stripped(x: str) -> str:
    """x without white space of any kind at either end (DuckDB's trim() removes only the plain space); the pattern
    runs only on the values that start or end with white space."""
    return (f"CASE WHEN regexp_matches({x}, '^{_WHITE}|{_WHITE}$') "
            f"THEN regexp_replace({x}, '^{_WHITE}+|{_WHITE}+$', '', 'g') ELSE {x} END")


def _text(x: str) -> str:
    """x stripped, or NULL when nothing is left."""
    return f"nullif({_stripped(x)}, '')"


def _spaced(x: str) -> str:
    """x trimmed, each run of white space (of any kind, as in _text) one space. For labels, after their fast path."""
    return f"trim(regexp_replace({x}, '{_WHITE}+', ' ', 'g'))"


def _label(x: str) -> str:
    return f"lower({_spaced(x)})"


def _date(x: str) -> str:
    # 2026-06-09 and 2026-6-9 11:00:27 (or 11:00:27.123: some exports write fractions of a second) take DuckDB's
    # fast cast; 2026/6/9, 2026.6.9 and 2026年6月9日 have their date rewritten to that form first. The pattern keeps
    # the cast from accepting anything else (a bare number, say). The canonical shapes (what the generator and most
    # exports write) skip the patterns: a LIKE is far cheaper.
    cleaned = (f"regexp_replace({_stripped(x)}, '^([0-9]{{4}})[/.年]([0-9]{{1,2}})[/.月]([0-9]{{1,2}})日?', "
               f"'\\1-\\2-\\3')")
    return (f"CASE WHEN {x} LIKE '____-__-__' OR {x} LIKE '____-__-__ __:__:__' THEN try_cast({x} AS TIMESTAMP) "
            f"WHEN regexp_full_match({_stripped(x)}, '[0-9]{{4}}-[0-9]{{1,2}}-[0-9]{{1,2}}"
            f"([ T][0-9]{{1,2}}:[0-9]{{2}}(:[0-9]{{2}}(\\.[0-9]{{1,6}})?)?)?') THEN try_cast({_stripped(x)} AS TIMESTAMP) "
            f"WHEN regexp_full_match({_stripped(x)}, '[0-9]{{4}}[/.年][0-9]{{1,2}}[/.月][0-9]{{1,2}}日?"
            f"([ T][0-9]{{1,2}}:[0-9]{{2}}(:[0-9]{{2}}(\\.[0-9]{{1,6}})?)?)?') THEN try_cast({cleaned} AS TIMESTAMP) END")


def _amount(x: str, decimal_comma: bool) -> str:
    """The pattern itself is bound as $amount_pattern (Importer.params)."""
    digits = (f"replace(regexp_replace({x}, '[^0-9,\\-]', '', 'g'), ',', '.')" if decimal_comma
              else f"regexp_replace({x}, '[^0-9.\\-]', '', 'g')")
    # the plain form (-1234.5) skips the pattern; with a decimal comma declared, a dot groups thousands (1.234 is
    # 1234), so only whole numbers are plain there
    plain_form = "-?[0-9]+" if decimal_comma else "-?[0-9]+(\\.[0-9]+)?"
    plain = f"CASE WHEN regexp_full_match({x}, '{plain_form}') THEN CAST({x} AS DOUBLE) END"
    return (f"coalesce({plain}, CASE WHEN regexp_full_match({_stripped(x)}, $amount_pattern) "
            f"THEN try_cast({digits} AS DOUBLE) END)")


def _case_map(x: str, mapping: dict[str, object], prefix: str, params: dict) -> str:
    """CASE over bound parameters: every label and value is a parameter, never SQL text. A value written exactly
    as its canonical form (won, 3) passes straight through; only the others are normalised (a regex per row)."""
    whens = []
    for i, (label, value) in enumerate(mapping.items()):
        params[f"{prefix}_k{i}"] = label
        params[f"{prefix}_v{i}"] = value
        whens.append(f"WHEN ${prefix}_k{i} THEN ${prefix}_v{i}")
    canonical = [i for i, (label, value) in enumerate(mapping.items()) if str(value) == label]
    normalised = f"CASE {_label(x)} {' '.join(whens)} END"
    if not canonical:
        return normalised
    exact = ", ".join(f"${prefix}_k{i}" for i in canonical)
    as_is = x if all(isinstance(v, str) for v in mapping.values()) else f"CAST({x} AS INTEGER)"
    return f"CASE WHEN {x} IN ({exact}) THEN {as_is} ELSE {normalised} END"


_in_range = "BETWEEN CAST($date_min AS TIMESTAMP) AND CAST($date_max AS TIMESTAMP)"


_STAGING_VIEWS = ("kf_raw_deals_rows", "kf_raw_history_rows")
_STAGING_TABLES = ("kf_raw_deals", "kf_raw_history", "kf_deals_typed", "kf_history_typed", "kf_bad_rows",
                   "kf_in_deals", "kf_in_events", "kf_changes", "kf_new_events", "kf_rejects", "kf_reject_scans",
                   "kf_rownum", "kf_affected")


class _Staged:
    """A file parsed into a temp table `table` with columns src_row, c0 … c{n-1}."""

    def __init__(self, source: CsvSource, table: str, fields: dict[str, int], unknown: list[int]):
        self.source, self.table, self.fields, self.unknown = source, table, fields, unknown
        self.rows = 0  # records parsed (rejected ones aside), counted by _stage

    def col(self, name: str) -> str:
        return f"c{self.fields[name]}"


class Importer:
    def __init__(self, store: Store, *, skip_invalid: bool = False, decimal_comma: bool = False,
                 progress: Progress | None = None, locate: Callable[[RowIssue], RowIssue] | None = None,
                 provenance: tuple[list[str], list[str], str] | None = None,
                 prior_errors: list[RowIssue] = (), prior_warnings: list[RowIssue] = ()):
        """When the files imported were converted from others (analytics.crm): `locate` maps an issue back to where
        it came from, `provenance` gives the (files, sha256s, format) to record, and `prior_errors` are the rows the
        conversion already left out (under skip_invalid), to keep in rejected_rows with this batch's; and
        `prior_warnings` what the conversion flagged, kept in import_warnings with this batch's."""
        self.store = store
        self.prior_errors = list(prior_errors)
        self.prior_warnings = list(prior_warnings)
        self.locate = locate
        self.provenance = provenance
        self.history_name: str | None = None
        self.skip_invalid = skip_invalid
        self.decimal_comma = decimal_comma
        self.progress = progress or (lambda fraction, message: None)
        self.params: dict[str, object] = {
            "amount_pattern": AMOUNT_PATTERN_DECIMAL_COMMA if decimal_comma else AMOUNT_PATTERN,
            "date_min": DATE_RANGE[0], "date_max": DATE_RANGE[1],
            "max_text": MAX_TEXT_LENGTH, "max_amount": MAX_AMOUNT,
        }
        self.errors: list[RowIssue] = []
        self.warnings: list[RowIssue] = []

    # Staging ---------------------------------------------------------------------------------------------------
    def _stage(self, st: _Staged) -> None:
        """Parse the body of st's file into st.table and count its records (st.rows); structural errors (wrong
        column counts) become errors with their row."""
        source, table = st.source, st.table
        n = len(source.header)
        columns = "{" + ", ".join(f"'c{i}': 'VARCHAR'" for i in range(n)) + "}"
        s = self.store
        s.execute("DROP TABLE IF EXISTS kf_rejects")
        s.execute("DROP TABLE IF EXISTS kf_reject_scans")
        s.execute(f"DROP TABLE IF EXISTS {table}")
        try:
            s.execute(
                f"""CREATE TEMP TABLE {table} AS SELECT * FROM read_csv($path, header = false, skip = 1,
                    delim = $delim, quote = '"', escape = '"', columns = {columns}, auto_detect = false,
                    store_rejects = true, rejects_table = 'kf_rejects', rejects_scan = 'kf_reject_scans',
                    max_line_size = 2000000, parallel = true)""",
                {"path": str(source.utf8_path), "delim": source.delimiter})
        except StoreError as exc:
            detail = str(exc).split(": ", 1)[-1].splitlines()[0]
            raise InputError(f"{source.name}: the file cannot be parsed as CSV ({detail})") from None
        # DuckDB may list one problem with a line twice (a line of spaces was "missing columns", twice)
        rejects = s.fetchall("SELECT line, error_type, min(csv_line) FROM kf_rejects GROUP BY ALL "
                             "ORDER BY line, error_type")
        # src_row: the spreadsheet row. DuckDB numbers records as a spreadsheet does (header = 1, an empty line is
        # a row) in its reject table, but skips empty lines without a word. When the file has more lines than
        # records (empty lines, or line breaks inside quoted values), the empty ones are found; good rows keep
        # their order, so they take the row numbers that neither the rejected rows nor the empty lines hold.
        good = st.rows = s.scalar(f"SELECT count(*) FROM {table}")
        rejected_lines = sorted({r[0] for r in rejects})
        blank = [] if source.lines == 1 + good + len(rejected_lines) else source.blank_rows()
        offset = source.row_offset  # a workbook's table may start below a title: rows as Excel numbers them
        if not rejected_lines and not blank:
            # (a view takes no bound parameter: the offset is an int, formatted as one)
            s.execute(f"CREATE OR REPLACE TEMP VIEW {table}_rows AS SELECT rowid + {2 + int(offset)} AS src_row, * "
                      f"FROM {table}")
        else:
            s.execute(f"ALTER TABLE {table} ADD COLUMN src_row BIGINT")
            import numpy as np

            taken = np.union1d(np.array(rejected_lines, dtype=np.int64), np.array(blank, dtype=np.int64))
            free = np.setdiff1d(np.arange(2, good + len(taken) + 2), taken)[:good] + offset
            s.execute("CREATE OR REPLACE TEMP TABLE kf_rownum AS SELECT unnest($rows) AS src_row, "
                      "generate_subscripts($rows, 1) - 1 AS rid", {"rows": free.tolist()})
            s.execute(f"UPDATE {table} SET src_row = r.src_row FROM kf_rownum r WHERE {table}.rowid = r.rid")
            s.execute(f"CREATE OR REPLACE TEMP VIEW {table}_rows AS SELECT * FROM {table}")
            for line, error_type, csv_line in rejects:
                if not csv_line.replace(source.delimiter, "").strip():  # spaces (and delimiters) only: blank too
                    continue
                reason = {"TOO MANY COLUMNS": f"too many columns: expected {n}",
                          "MISSING COLUMNS": f"too few columns: expected {n}",
                          "UNQUOTED VALUE": "badly quoted value",
                          "INVALID UNICODE": "invalid characters"}.get(error_type, error_type.lower())
                self.errors.append(RowIssue(source.name, int(line) + offset, None, clip_value(csv_line.strip("\r\n")),
                                            reason))

    @staticmethod
    def _blank_row(st: _Staged) -> str:
        """A typed column: the record has nothing in any cell but white space. Excel exports rows of ",,,," where
        cells were once formatted; like an empty line, such a row is no row of data, and _drop_blank_rows drops
        it. Only a row without a deal_id can be blank, and the typed deal_id is the same expression, computed
        once (DuckDB shares it), so the pattern runs on those rows only."""
        cells = ", ".join(f"c{i}" for i in range(len(st.source.header)))
        return (f"CASE WHEN {_text(st.col('deal_id'))} IS NULL "
                f"THEN coalesce(regexp_full_match(concat_ws('', {cells}), '{_WHITE}*'), true) ELSE false END "
                f"AS blank_row")

    def _drop_blank_rows(self, typed: str) -> None:
        self.store.execute(f"DELETE FROM {typed} WHERE blank_row")

    def _release(self, st: _Staged) -> None:
        """The parsed copy of a file, once typed (the typed table keeps each raw value): freed, so that DuckDB's
        memory goes to the steps that follow."""
        self.store.execute(f"DROP VIEW IF EXISTS {st.table}_rows")
        self.store.execute(f"DROP TABLE {st.table}")

    def _file_issue(self, source: CsvSource, column: str | None, reason: str, row: int | None = 1) -> None:
        """A problem with the file as a whole, or (row 1) with its header: the header's row in a workbook."""
        self.errors.append(RowIssue(source.name, row and row + source.row_offset, column, None, reason))

    def _collect(self, source: CsvSource, checks: list[tuple[str, str, str, str]], table: str) -> None:
        """Run (column, value_sql, condition_sql, reason_sql) checks over `table`, appending errors."""
        if not checks:
            return
        # One scan answers whether any check fails; a clean file (the usual case) skips the per-check scans.
        failing = " OR ".join(f"coalesce({condition}, false)" for _, _, condition, _ in checks)
        if not self.store.scalar(f"SELECT EXISTS (SELECT 1 FROM {table} WHERE {failing})", self.params):
            return
        # ordered by row, column, then the order the checks are listed in (two problems with one cell: both, always
        # in the same order)
        union = " UNION ALL ".join(
            f"SELECT src_row, '{column}' AS col, CAST({value} AS VARCHAR) AS value, {reason} AS reason, {k} AS k "
            f"FROM {table} WHERE {condition}"
            for k, (column, value, condition, reason) in enumerate(checks))
        rows = self.store.fetchall(f"SELECT src_row, col, value, reason FROM ({union}) ORDER BY src_row, col, k",
                                   self.params)
        self.errors.extend(RowIssue(source.name, int(r), c, clip_value(v), reason) for r, c, v, reason in rows)

    # Deals -----------------------------------------------------------------------------------------------------
    def _type_deals(self, st: _Staged) -> None:
        """kf_deals_typed: src_row, raw_<field> and typed <field> for every canonical column present."""
        p = self.params
        outcome_map = dict(OUTCOME_ALIASES)
        select = ["src_row"]
        for f, i in st.fields.items():
            x = f"c{i}"
            select.append(f"{x} AS raw_{f}")
            if f in ("amount",):
                expr = _amount(x, self.decimal_comma)
            elif f in ("created_at", "expected_close", "closed_at") or f in WIDE_STAGE_COLUMNS:
                expr = _date(x)
            elif f == "outcome":
                expr = _case_map(x, outcome_map, "oc", p)
            elif f == "tier":
                expr = f"CASE WHEN {x} IN ('A', 'B', 'C', 'D') THEN {x} " \
                       f"WHEN upper(regexp_replace({_spaced(x)}, '(级|級|-?tier)$', '', 'i')) IN ('A','B','C','D') "\
                       f"THEN upper(left({_spaced(x)}, 1)) END"
            elif f in FACTOR_KEYS:
                expr = (f"CASE WHEN {x} IN ('1', '2', '3', '4', '5') THEN CAST({x} AS TINYINT) "
                        f"WHEN {_spaced(x)} IN ('1', '2', '3', '4', '5') THEN CAST({_spaced(x)} AS TINYINT) END")
            elif f == "history_truncated":
                # optional: an empty cell is false
                expr = (f"CASE WHEN {_label(x)} IN ('true', '1', 'yes') THEN true "
                        f"WHEN {x} IS NULL OR {_label(x)} IN ('false', '0', 'no', '') THEN false END")
            else:
                expr = _text(x)
            select.append(f"{expr} AS {f}")
        if st.unknown:
            pairs = []
            for j, i in enumerate(st.unknown):
                p[f"extra_k{j}"] = st.source.header[i].strip() or f"column {i + 1}"
                pairs.append(f"$extra_k{j}, c{i}")
            select.append(f"json_object({', '.join(pairs)}) AS extra")
        else:
            select.append("CAST(NULL AS JSON) AS extra")
        select.append(self._blank_row(st))
        self.store.execute(
            f"CREATE OR REPLACE TEMP TABLE kf_deals_typed AS SELECT {', '.join(select)} FROM {st.table}_rows", p)

    def _deal_checks(self, st: _Staged) -> list[tuple[str, str, str, str]]:
        checks = []
        for f in st.fields:
            raw, typed = f"raw_{f}", f
            present = f"{_text(raw)} IS NOT NULL"
            # typed value first: DuckDB then trims only the rows whose value did not convert
            if f in REQUIRED_DEAL_COLUMNS:
                checks.append((f, raw, f"{typed} IS NULL AND NOT ({present})", "'required value missing'"))
            if f == "amount":
                checks += [
                    (f, raw, f"{typed} IS NULL AND {present}",
                     "'not an amount' || CASE WHEN NOT $amount_pattern LIKE '%,[0-9]+)?%' "
                     "AND contains(" + raw + ", ',') THEN ' (a decimal comma must be declared)' ELSE '' END"),
                    (f, raw, f"{typed} < 0", "'amount must not be negative'"),
                    (f, raw, f"{typed} > $max_amount", "'amount implausibly large'"),
                ]
            elif f in ("created_at", "expected_close", "closed_at") or f in WIDE_STAGE_COLUMNS:
                checks += [
                    (f, raw, f"{typed} IS NULL AND {present}",
                     "'not a date: use YYYY-MM-DD, YYYY/M/D or YYYY年M月D日'"),
                    (f, raw, f"{typed} IS NOT NULL AND NOT ({typed} {_in_range})",
                     "'date out of range (1970–2100)'"),
                ]
            elif f == "outcome":
                checks.append((f, raw, f"{typed} IS NULL AND {present}",
                               "'outcome must be won, lost or open (赢单, 丢单, 进行中)'"))
            elif f == "tier":
                checks.append((f, raw, f"{typed} IS NULL AND {present}", "'tier must be A, B, C or D'"))
            elif f in FACTOR_KEYS:
                checks.append((f, raw, f"{typed} IS NULL AND {present}", "'score must be a whole number 1–5'"))
            elif f == "history_truncated":
                checks.append((f, raw, f"{typed} IS NULL", "'must be true or false'"))
            if f not in FACTOR_KEYS and f != "amount":
                checks.append((f, f"left({raw}, 60) || '…'", f"length({raw}) > $max_text",
                               "'value longer than ' || $max_text || ' characters'"))
        return checks

    def _deal_duplicates(self, st: _Staged) -> None:
        """A deal_id on several rows: identical rows are kept once (warning); conflicting ones are all errors."""
        if not self.store.scalar("SELECT count(deal_id) > count(DISTINCT deal_id) FROM kf_deals_typed"):
            return
        cols = ", ".join(f"raw_{f}" for f in st.fields if f != "deal_id")
        rows = self.store.fetchall(f"""
            WITH g AS (
                SELECT deal_id, list(src_row ORDER BY src_row) AS rows_, count(DISTINCT ({cols})) AS versions
                FROM kf_deals_typed WHERE deal_id IS NOT NULL GROUP BY deal_id HAVING count(*) > 1)
            SELECT deal_id, rows_, versions FROM g ORDER BY rows_[1]""")
        conflicting: set[int] = set()
        for deal_id, rows_, versions in rows:
            listed = ", ".join(str(r) for r in rows_[:10]) + (" …" if len(rows_) > 10 else "")
            if versions > 1:
                for r in rows_:
                    conflicting.add(r)
                    self.errors.append(RowIssue(st.source.name, int(r), "deal_id", clip_value(deal_id),
                                                f"deal_id appears on rows {listed} with different values"))
            else:
                for r in rows_[1:]:
                    self.warnings.append(RowIssue(st.source.name, int(r), "deal_id", clip_value(deal_id),
                                                  f"duplicate of row {rows_[0]}: kept once"))
        # Keep one row per deal_id (the first); conflicting ones are errors and will not land.
        self.store.execute("""DELETE FROM kf_deals_typed t WHERE deal_id IS NOT NULL AND src_row <> (
            SELECT min(src_row) FROM kf_deals_typed u WHERE u.deal_id = t.deal_id)""")

    # History ---------------------------------------------------------------------------------------------------
    def _type_history(self, st: _Staged) -> None:
        p = self.params
        stage_map = {label: number for label, number in STAGE_ALIASES.items()}
        self.store.execute(f"""CREATE OR REPLACE TEMP TABLE kf_history_typed AS
            SELECT src_row, {st.col('deal_id')} AS raw_deal_id, {st.col('stage')} AS raw_stage,
                   {st.col('entered_at')} AS raw_entered_at,
                   {_text(st.col('deal_id'))} AS deal_id,
                   CAST({_case_map(st.col('stage'), stage_map, 'st', p)} AS TINYINT) AS stage,
                   {_date(st.col('entered_at'))} AS entered_at, {self._blank_row(st)}
            FROM {st.table}_rows""", p)

    def _history_checks(self) -> list[tuple[str, str, str, str]]:
        # typed value first: DuckDB then trims only the rows whose value did not convert
        present = _text("{0}") + " IS NOT NULL"
        return [
            ("deal_id", "raw_deal_id", f"deal_id IS NULL AND NOT ({present.format('raw_deal_id')})",
             "'required value missing'"),
            ("stage", "raw_stage", f"stage IS NULL AND NOT ({present.format('raw_stage')})",
             "'required value missing'"),
            ("stage", "raw_stage", f"stage IS NULL AND {present.format('raw_stage')}",
             "'unknown stage: use 1–8, the stage key, or its English or Chinese name'"),
            ("entered_at", "raw_entered_at", f"entered_at IS NULL AND NOT ({present.format('raw_entered_at')})",
             "'required value missing'"),
            ("entered_at", "raw_entered_at", f"entered_at IS NULL AND {present.format('raw_entered_at')}",
             "'not a date: use YYYY-MM-DD, YYYY/M/D or YYYY年M月D日'"),
            ("entered_at", "raw_entered_at", f"entered_at IS NOT NULL AND NOT (entered_at {_in_range})",
             "'date out of range (1970–2100)'"),
            ("deal_id", "raw_deal_id",
             "deal_id IS NOT NULL AND deal_id NOT IN (SELECT deal_id FROM kf_in_deals) "
             "AND deal_id NOT IN (SELECT deal_id FROM deals)",
             "CASE WHEN deal_id IN (SELECT deal_id FROM kf_deals_typed) "
             "THEN 'the deal''s own row was rejected' ELSE 'deal_id not found among the deals' END"),
        ]

    # The whole import ------------------------------------------------------------------------------------------
    def run(self, deals_path: str | Path, history_path: str | Path | None = None,
            names: tuple[str | None, str | None] = (None, None), sheet: str | None = None) -> ImportResult:
        """`sheet`: the sheet to read in each workbook given (else each one's first sheet with data)."""
        sources: list[CsvSource] = []
        files = [names[0] or Path(deals_path).name] + ([names[1] or Path(history_path).name] if history_path else [])
        self.history_name = files[1] if history_path else None
        try:
            self.progress(0.05, f"reading {files[0]}")
            sources.append(open_csv(deals_path, names[0], sheet))
            if history_path:
                self.progress(0.10, f"reading {files[1]}")
                sources.append(open_csv(history_path, names[1], sheet))
            return self._run(sources, files)
        except InputError as exc:  # a file cannot be read or parsed as CSV at all: nothing was written
            name, _, reason = str(exc).partition(": ")
            self.errors.append(RowIssue(name, None, None, None, reason))
            return self._rejected(files, None)
        finally:
            for source in sources:
                source.cleanup()
            self._drop_staging()

    def _drop_staging(self, keep: tuple[str, ...] = ()) -> None:
        for view in _STAGING_VIEWS:
            self.store.execute(f"DROP VIEW IF EXISTS {view}")
        for table in _STAGING_TABLES:  # some hold millions of rows: never keep them past the import
            if table not in keep:
                self.store.execute(f"DROP TABLE IF EXISTS {table}")

    def _run(self, sources: list[CsvSource], files: list[str]) -> ImportResult:
        deals_src = sources[0]
        for source in sources:
            self.warnings += cleaned_cell_warnings(source)
        wide_zh = {**DEAL_HEADERS_ZH, **WIDE_STAGE_HEADERS_ZH}
        fields, unknown = map_header(deals_src.header, wide_zh, IMPORTED_DEAL_COLUMNS + WIDE_STAGE_COLUMNS)
        wide = any(f in fields for f in WIDE_STAGE_COLUMNS)
        fmt = "wide" if wide else ("deals+history" if len(sources) > 1 else "deals")
        history_like = {"deal_id", "stage", "entered_at"} <= set(
            map_header(deals_src.header, HISTORY_HEADERS_ZH, HISTORY_COLUMNS)[0])
        if history_like and "account" not in fields:
            self._file_issue(deals_src, None, "this looks like a stage history: pass it with --history, "
                                              "after the deals file")
            return self._rejected(files, fmt)
        for f in REQUIRED_DEAL_COLUMNS:
            if f not in fields:
                self._file_issue(deals_src, f, "required column missing")
        if wide and len(sources) > 1:
            self._file_issue(sources[1], None, "a wide deals file already holds the stage dates; "
                                               "do not pass --history as well", row=None)
        hist_st = None
        if len(sources) > 1 and not wide:
            h_fields, h_unknown = map_header(sources[1].header, HISTORY_HEADERS_ZH, HISTORY_COLUMNS)
            for f in HISTORY_COLUMNS:
                if f not in h_fields:
                    self._file_issue(sources[1], f, "required column missing")
            hist_st = _Staged(sources[1], "kf_raw_history", h_fields, h_unknown)
        if self.errors:
            return self._rejected(files, fmt)

        self.progress(0.2, f"parsing {deals_src.name}")
        st = _Staged(deals_src, "kf_raw_deals", fields, unknown)
        self._stage(st)
        for i in unknown:
            self.warnings.append(RowIssue(deals_src.name, 1, deals_src.header[i], None,
                                          "column not recognised: kept with the deal as extra data"))
        self.progress(0.35, f"checking {deals_src.name}")
        self._type_deals(st)
        self._release(st)
        self._drop_blank_rows("kf_deals_typed")
        self._collect(deals_src, self._deal_checks(st), "kf_deals_typed")
        self._deal_duplicates(st)
        bad_deal_rows = {e.row for e in self.errors if e.file == deals_src.name}
        self.store.execute("CREATE OR REPLACE TEMP TABLE kf_bad_rows (src_row BIGINT)")
        if bad_deal_rows:
            self.store.execute("INSERT INTO kf_bad_rows SELECT unnest($rows)",
                               {"rows": sorted(r for r in bad_deal_rows if r is not None)})
        self._build_incoming_deals(st)

        # Stage events: from the history file, or unpivoted from a wide file's stage_N_at columns.
        if hist_st is not None:
            self.progress(0.5, f"parsing {hist_st.source.name}")
            self._stage(hist_st)
            self._type_history(hist_st)
            self._release(hist_st)
            self._drop_blank_rows("kf_history_typed")
            n_before = len(self.errors)
            self._collect(hist_st.source, self._history_checks(), "kf_history_typed")
            bad_hist = sorted({e.row for e in self.errors[n_before:] if e.row is not None})
            self.store.execute("""CREATE OR REPLACE TEMP TABLE kf_in_events AS
                SELECT deal_id, stage, entered_at, min(src_row) AS src_row FROM kf_history_typed
                WHERE src_row NOT IN (SELECT unnest($bad)) GROUP BY ALL""", {"bad": bad_hist})
        else:
            wide_cols = [c for c in WIDE_STAGE_COLUMNS if c in fields]
            union = " UNION ALL ".join(
                f"SELECT deal_id, CAST({c[6]} AS TINYINT) AS stage, {c} AS entered_at, src_row FROM kf_deals_typed "
                f"WHERE {c} IS NOT NULL AND deal_id IN (SELECT deal_id FROM kf_in_deals)" for c in wide_cols)
            self.store.execute("CREATE OR REPLACE TEMP TABLE kf_in_events AS "
                               + (union or "SELECT NULL::VARCHAR deal_id, NULL::TINYINT stage, "
                                           "NULL::TIMESTAMP entered_at, NULL::BIGINT src_row WHERE false"))

        # What is left to do reads the valid deals and events only: the typed copies of the files go.
        self._drop_staging(keep=("kf_in_deals", "kf_in_events"))
        if self.errors and not self.skip_invalid:
            return self._rejected(files, fmt)
        self.progress(0.65, "comparing with the database")
        return self._write(sources, files, fmt, st, hist_st)

    def _build_incoming_deals(self, st: _Staged) -> None:
        """kf_in_deals: the valid rows as full deal records; columns absent from the file keep stored values."""
        cols = []
        for c in DEAL_COLUMNS:
            if c in st.fields:
                cols.append(f"t.{c}" if c != "deal_id" else "t.deal_id")
            else:
                cols.append(f"d.{c}")
        extra = "t.extra" if st.unknown else "d.extra"
        truncated = ("t.history_truncated" if "history_truncated" in st.fields
                     else "coalesce(d.history_truncated, false)")
        self.store.execute(f"""CREATE OR REPLACE TEMP TABLE kf_in_deals AS
            SELECT {', '.join(f'{e} AS {c}' for e, c in zip(cols, DEAL_COLUMNS))}, {extra} AS extra,
                   {truncated} AS history_truncated, t.src_row
            FROM kf_deals_typed t LEFT JOIN deals d ON d.deal_id = t.deal_id
            WHERE t.src_row NOT IN (SELECT src_row FROM kf_bad_rows) AND t.deal_id IS NOT NULL""")

    def _write(self, sources, files, fmt, st: _Staged, hist_st) -> ImportResult:
        s = self.store
        sha256 = [src.sha256 for src in sources]
        if self.provenance:
            files, sha256, fmt = self.provenance
        compare = " OR ".join(f"i.{c} IS DISTINCT FROM d.{c}" for c in (*DEAL_COLUMNS, "extra", "history_truncated"))
        s.execute(f"""CREATE OR REPLACE TEMP TABLE kf_changes AS
            SELECT i.deal_id, CASE WHEN d.deal_id IS NULL THEN 'insert' ELSE 'update' END AS action
            FROM kf_in_deals i LEFT JOIN deals d ON d.deal_id = i.deal_id
            WHERE d.deal_id IS NULL OR {compare}""")
        s.execute("""CREATE OR REPLACE TEMP TABLE kf_new_events AS
            SELECT e.* FROM kf_in_events e ANTI JOIN stage_events s
                ON s.deal_id = e.deal_id AND s.stage = e.stage AND s.entered_at = e.entered_at""")
        n_insert, n_update = s.fetchone("SELECT count(*) FILTER (WHERE action = 'insert'), "
                                        "count(*) FILTER (WHERE action = 'update') FROM kf_changes")
        n_events = s.scalar("SELECT count(*) FROM kf_new_events")
        self._warnings(st)
        self._locate_issues()
        if n_insert == 0 and n_update == 0 and n_events == 0 and not self.errors:
            earlier = s.scalar("SELECT max(batch_id) FROM import_batches WHERE status = 'imported' "
                               "AND file_sha256 = $sha", {"sha": sha256})
            if earlier:
                message = f"already imported as batch {earlier}: nothing changed"
            elif not s.scalar("SELECT count(*) FROM kf_in_deals"):  # a header, perhaps blank rows: no deal at all
                message = f"{files[0]}: no rows of data: nothing changed"
            else:
                message = "every deal and stage event is already in the database: nothing changed"
            return ImportResult("unchanged", earlier, fmt, files, warnings=self.warnings, message=message)

        kept = s.scalar("SELECT count(*) FROM kf_in_deals")  # the valid deal rows
        if self.errors and n_insert == 0 and n_update == 0 and n_events == 0 and not kept:
            # --skip-invalid left no valid deal: an empty batch would read as an import
            rows = len({(e.file, e.row) for e in self.errors if e.row is not None})
            return ImportResult.rejected(files, fmt, self.errors, self.warnings, message=(
                f"rejected: every row has a problem ({counted(len(self.errors), 'problem')} in "
                f"{counted(rows, 'row')}): nothing to import; the database is unchanged"))
        rows_read = st.rows + (hist_st.rows if hist_st else 0)
        # The incoming events (millions of rows at a million deals) are no longer needed once the new ones are
        # known: freed before the batch is written, they leave DuckDB's memory to the inserts and the facts.
        self._drop_staging(keep=("kf_in_deals", "kf_changes", "kf_new_events"))
        started = datetime.now()
        with s.transaction():
            batch_id = s.scalar("SELECT nextval('batch_id_seq')")
            self.progress(0.75, f"writing batch {batch_id}")
            b = {"b": batch_id}
            deal_cols = ", ".join((*DEAL_COLUMNS, "extra", "history_truncated"))
            s.execute("""INSERT INTO deal_previous SELECT $b, d.* FROM deals d
                WHERE d.deal_id IN (SELECT deal_id FROM kf_changes WHERE action = 'update')""", b)
            s.execute("DELETE FROM deals WHERE deal_id IN (SELECT deal_id FROM kf_changes WHERE action = 'update')")
            s.execute(f"""INSERT INTO deals ({deal_cols}, batch_id) SELECT {deal_cols}, $b FROM kf_in_deals
                WHERE deal_id IN (SELECT deal_id FROM kf_changes)""", b)
            s.execute("INSERT INTO batch_deals SELECT $b, deal_id, action FROM kf_changes", b)
            s.execute("INSERT INTO stage_events SELECT deal_id, stage, entered_at, $b FROM kf_new_events", b)
            for table, issues in (("rejected_rows", self.errors), ("import_warnings", self.warnings)):
                if issues:
                    s.cursor.executemany(
                        f'INSERT INTO {table} (batch_id, file, "row", "column", value, reason) '
                        "VALUES (?, ?, ?, ?, ?, ?)",
                        [(batch_id, i.file, i.row, i.column, i.value, i.reason) for i in issues])
            s.execute("""INSERT INTO import_batches VALUES ($b, 'imported', $fmt, $files, $sha, $rows, $ins, $upd,
                $ev, $rej, $warn, $started, now(), NULL, $file_rows)""",
                      {**b, "fmt": fmt, "files": files, "sha": sha256, "rows": rows_read,
                       "ins": n_insert, "upd": n_update, "ev": n_events, "rej": len(self.errors),
                       "warn": len(self.warnings), "started": started,
                       "file_rows": [st.rows] + ([hist_st.rows] if hist_st else [])})
            self.progress(0.9, "computing per-deal facts")
            affected = None
            if s.facts_refresh_is_partial(n_insert + n_update + n_events):  # at most that many deals changed
                s.execute("CREATE OR REPLACE TEMP TABLE kf_affected AS "
                          "SELECT deal_id FROM kf_changes UNION SELECT deal_id FROM kf_new_events")
                affected = "kf_affected"
            s.refresh_deal_facts(affected)
        self.progress(1.0, "done")
        parts = [f"batch {batch_id}: {counted(n_insert, 'deal')} added, {n_update:,} updated, "
                 f"{counted(n_events, 'stage event')} added"]
        skipped = len({(e.file, e.row) for e in self.errors})
        if self.errors:  # rows, not cells: one row with three bad cells is one row left out
            parts.append(f"{counted(skipped, 'row')} skipped ({counted(len(self.errors), 'problem')}), kept in "
                         f"rejected_rows: {kept:,} of {kept + skipped:,} rows imported "
                         f"({formatting.percent(kept / (kept + skipped))})")
        return ImportResult("imported", batch_id, fmt, files, n_insert, n_update, n_events, skipped, self.warnings,
                            self.errors, "; ".join(parts))

    def _missing_value_warnings(self, st: _Staged) -> None:
        """One warning per optional field the incoming deals lack, in some rows or as a whole column: how many
        deals, and what it costs. (Field names come from OPTIONAL_VALUE_COSTS, a fixed list.)"""
        counts = ", ".join(f"count(*) FILTER (WHERE {f} IS NULL)" for f in OPTIONAL_VALUE_COSTS)
        total, *missing = self.store.fetchone(f"SELECT count(*), {counts} FROM kf_in_deals")
        for (f, cost), n in zip(OPTIONAL_VALUE_COSTS.items(), missing):
            if n:
                column = st.source.header[st.fields[f]].strip() if f in st.fields else f
                self.warnings.append(RowIssue(st.source.name, None, column, None,
                                              f"{f} missing for {n} of {counted(total, 'deal')}: {cost}"))

    def _future_warnings(self, st: _Staged) -> None:
        """Dates after today, the day of the import: in the export's future (a typo, a planned close written as
        closed). Kept, counted per column, and not used for the default as-of date (analytics.funnel.data_as_of)."""
        for column, table, sql in (("created_at", st.source.name, "SELECT count(*) FROM kf_in_deals WHERE created_at > current_date"),
                                   ("closed_at", st.source.name, "SELECT count(*) FROM kf_in_deals WHERE closed_at > current_date"),
                                   ("entered_at", self.history_name or st.source.name,
                                    "SELECT count(*) FROM kf_in_events WHERE CAST(entered_at AS DATE) > current_date")):
            n = self.store.scalar(sql)
            if n:
                self.warnings.append(RowIssue(table, None, column, None,
                                              f"{column} after today on {counted(n, 'row')}: in the export's future, "
                                              f"kept, but not used to set the as-of date"))

    def _warnings(self, st: _Staged) -> None:
        """Suspicious but possible: flagged, never rejected."""
        s, name = self.store, st.source.name
        self._missing_value_warnings(st)
        self._future_warnings(st)
        rows = s.fetchall("""
            SELECT src_row, 'amount', CAST(amount AS VARCHAR), 'amount is 0' FROM kf_in_deals WHERE amount = 0
            UNION ALL
            SELECT src_row, 'closed_at', CAST(closed_at AS VARCHAR), 'closed before it was created'
            FROM kf_in_deals WHERE closed_at < created_at
            UNION ALL
            SELECT src_row, 'closed_at', NULL, 'deal is ' || outcome || ' but has no closed_at'
            FROM kf_in_deals WHERE outcome <> 'open' AND closed_at IS NULL
            ORDER BY 1""")
        self.warnings.extend(RowIssue(name, int(r), c, v, reason) for r, c, v, reason in rows)
        hist_name = self.history_name
        rows = s.fetchall("""
            WITH deal AS (SELECT deal_id, closed_at, outcome FROM kf_in_deals
                          UNION ALL SELECT deal_id, closed_at, outcome FROM deals
                          WHERE deal_id NOT IN (SELECT deal_id FROM kf_in_deals))
            SELECT e.src_row, 'entered_at', CAST(e.entered_at AS VARCHAR), 'stage entered after the deal closed'
            FROM kf_in_events e JOIN deal d USING (deal_id)
            WHERE d.outcome <> 'open' AND e.entered_at > CAST(d.closed_at AS TIMESTAMP) + INTERVAL 1 DAY
            UNION ALL
            SELECT min(i.src_row), 'outcome', 'won',
                   'won, but the stage history never reaches stage 8: counted as signed at closed_at'
            FROM kf_in_deals i JOIN (SELECT deal_id, stage FROM kf_in_events UNION ALL
                                     SELECT deal_id, stage FROM stage_events) e USING (deal_id)
            WHERE i.outcome = 'won' GROUP BY i.deal_id HAVING max(e.stage) < 8
            UNION ALL
            SELECT min(i.src_row), 'outcome', 'lost',
                   'lost, but the stage history reaches stage 8 (signed, then lost): counted as lost at stage 7'
            FROM kf_in_deals i JOIN (SELECT deal_id, stage FROM kf_in_events UNION ALL
                                     SELECT deal_id, stage FROM stage_events) e USING (deal_id)
            WHERE i.outcome = 'lost' GROUP BY i.deal_id HAVING max(e.stage) = 8
            ORDER BY 1""")
        for r, c, v, reason in rows:
            file = name if c == "outcome" else hist_name or name
            self.warnings.append(RowIssue(file, int(r), c, v, reason))

    def _locate_issues(self) -> None:
        if self.locate:
            self.errors = [self.locate(e) for e in self.errors]
            self.warnings = [self.locate(w) for w in self.warnings]
        self.errors = self.prior_errors + self.errors
        self.warnings = self.prior_warnings + self.warnings
        self.prior_errors, self.prior_warnings = [], []  # located once, however often asked

    def _rejected(self, files: list[str], fmt: str | None) -> ImportResult:
        self._locate_issues()
        if self.provenance:
            files, _, fmt = self.provenance
        return ImportResult.rejected(files, fmt, self.errors, self.warnings)


CONTROL_REMOVED = "NUL bytes or control characters removed from the value"


def cleaned_cell_warnings(source: CsvSource) -> list[RowIssue]:
    """A warning for each cell whose stray NUL bytes or control characters open_csv removed."""
    return [RowIssue(source.name, row, column, clip_value(value), CONTROL_REMOVED)
            for row, column, value in source.cleaned]


def counted(n: int, noun: str) -> str:
    """'1 row', '3 rows': how reports count things."""
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"


def clip_value(value, limit: int = 200):
    """A cell's value as a report shows it: at most `limit` characters."""
    if value is None:
        return None
    text = str(value)
    return text if len(text) <= limit else text[:limit] + "…"


def import_files(store: Store, deals_path: str | Path, history_path: str | Path | None = None, *,
                 skip_invalid: bool = False, decimal_comma: bool = False, progress: Progress | None = None,
                 names: tuple[str | None, str | None] = (None, None), sheet: str | None = None) -> ImportResult:
    """Import a deals file (canonical or wide, CSV or a workbook) and optionally a long stage history, as one
    batch."""
    importer = Importer(store, skip_invalid=skip_invalid, decimal_comma=decimal_comma, progress=progress)
    return importer.run(deals_path, history_path, names, sheet)


@dataclass(frozen=True)
class Batch:
    batch_id: int
    status: str
    format: str
    files: list[str]
    file_sha256: list[str]
    rows_read: int
    deals_inserted: int
    deals_updated: int
    stage_events_added: int
    rows_rejected: int
    warnings: int
    started_at: datetime
    finished_at: datetime
    undone_at: datetime | None
    file_rows: list[int] | None = None  # rows read from each of `files`, in order (None: before schema 009)

    def to_json(self) -> dict:
        out = asdict(self)
        for k in ("started_at", "finished_at", "undone_at"):
            out[k] = out[k].isoformat(timespec="seconds") if out[k] else None
        return out


def list_batches(store: Store) -> list[Batch]:
    return [Batch(**row) for row in store.fetch_dicts("SELECT * FROM import_batches ORDER BY batch_id")]


def undo_batch(store: Store, batch_id: int) -> Batch:
    """Remove exactly what a batch added or changed, restoring each deal as it was before the batch."""
    status = store.scalar("SELECT status FROM import_batches WHERE batch_id = ?", [batch_id])
    if status is None:
        raise UndoError(f"there is no batch {batch_id}")
    if status == "undone":
        raise UndoError(f"batch {batch_id} is already undone")
    later = store.fetchall("""
        SELECT DISTINCT later FROM (
            SELECT b.batch_id AS later FROM batch_deals b
            WHERE b.batch_id > $b AND b.deal_id IN (SELECT deal_id FROM batch_deals WHERE batch_id = $b)
            UNION ALL
            SELECT e.batch_id FROM stage_events e
            WHERE e.batch_id > $b AND e.deal_id IN (SELECT deal_id FROM batch_deals WHERE batch_id = $b
                                                    AND action = 'insert'))
        WHERE later IN (SELECT batch_id FROM import_batches WHERE status = 'imported') ORDER BY later""",
                           {"b": batch_id})
    if later:
        names = ", ".join(str(r[0]) for r in later)
        raise UndoError(f"batch {batch_id} cannot be undone while later batches ({names}) changed the same "
                        f"deals: undo those first")
    with store.transaction():
        b = {"b": batch_id}
        # the deals whose facts change: the batch's own, and those it only added stage events to
        store.execute("CREATE OR REPLACE TEMP TABLE kf_undone AS SELECT deal_id FROM batch_deals WHERE batch_id = $b "
                      "UNION SELECT deal_id FROM stage_events WHERE batch_id = $b", b)
        store.execute("DELETE FROM stage_events WHERE batch_id = $b", b)
        store.execute("DELETE FROM deals WHERE deal_id IN (SELECT deal_id FROM batch_deals WHERE batch_id = $b)", b)
        store.execute("INSERT INTO deals SELECT * EXCLUDE (overwritten_by) FROM deal_previous "
                      "WHERE overwritten_by = $b", b)
        store.execute("DELETE FROM deal_previous WHERE overwritten_by = $b", b)
        store.execute("UPDATE import_batches SET status = 'undone', undone_at = now() WHERE batch_id = $b", b)
        store.refresh_deal_facts("kf_undone")
    store.execute("DROP TABLE IF EXISTS kf_undone")
    return next(x for x in list_batches(store) if x.batch_id == batch_id)
