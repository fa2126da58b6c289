"""Staging a file: DuckDB parses it into an all-VARCHAR temp table whose columns are named c0, c1, … (no header text
from a user's file is ever formatted into SQL), each record numbered by its spreadsheet row; then typed column by
column (analytics.ingest.cells), and the valid rows assembled as full deal records. Every staging table is a kf_
temp table, dropped when the import ends."""

from __future__ import annotations

from analytics.domain import (
    FACTOR_KEYS,
    FACTOR_SCORE_RANGE,
    OUTCOME_ALIASES,
    STAGE_ALIASES,
    TIER_KEYS,
)
from analytics.exceptions import InputError, StoreError
from analytics.ingest.cells import (
    WHITE,
    amount_sql,
    case_map_sql,
    date_sql,
    label_sql,
    spaced_sql,
    text_sql,
)
from analytics.ingest.csvsource import CsvSource
from analytics.ingest.headers import WIDE_STAGE_COLUMNS
from analytics.ingest.issues import RowIssue, clip_value
from analytics.messages import say
from analytics.store.connection import Store
from analytics.store.schema import DEAL_COLUMNS

# SQL lists of the domain's tier letters and factor scores (fixed values from analytics.domain, not input)
_TIERS = "(" + ", ".join(f"'{k}'" for k in TIER_KEYS) + ")"
_SCORES = "(" + ", ".join(f"'{n}'" for n in range(FACTOR_SCORE_RANGE[0], FACTOR_SCORE_RANGE[1] + 1)) + ")"
_STAGING_VIEWS = ("kf_raw_deals_rows", "kf_raw_history_rows", "kf_raw_plans_rows")
_STAGING_TABLES = ("kf_raw_deals", "kf_raw_history", "kf_deals_typed", "kf_history_typed", "kf_bad_rows",
                   "kf_in_deals", "kf_in_events", "kf_in_field_changes", "kf_new_field_changes", "kf_changes",
                   "kf_new_events", "kf_rejects", "kf_reject_scans",
                   "kf_rownum", "kf_affected", "kf_raw_plans")


class StagedFile:
    """A file parsed into a temp table `table` with columns src_row, c0 … c{n-1}."""

    def __init__(self, source: CsvSource, table: str, fields: dict[str, int], unknown: list[int]):
        self.source, self.table, self.fields, self.unknown = source, table, fields, unknown
        self.rows = 0  # records parsed (rejected ones aside), counted by stage_file

    def col(self, name: str) -> str:
        return f"c{self.fields[name]}"


def stage_file(store: Store, st: StagedFile) -> list[RowIssue]:
    """Parse the body of st's file into st.table and count its records (st.rows); structural errors (wrong
    column counts) become errors with their row."""
    issues: list[RowIssue] = []
    source, table = st.source, st.table
    n = len(source.header)
    columns = "{" + ", ".join(f"'c{i}': 'VARCHAR'" for i in range(n)) + "}"
    s = store
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
        raise InputError(say("not_csv_parseable", detail=detail), source.name) from None
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
            problem = {"TOO MANY COLUMNS": say("too_many_columns", expected=n),
                       "MISSING COLUMNS": say("too_few_columns", expected=n),
                       "UNQUOTED VALUE": say("badly_quoted"),
                       "INVALID UNICODE": say("invalid_characters")}.get(
                error_type, say("unreadable_row", detail=error_type.lower()))
            issues.append(RowIssue(source.name, int(line) + offset, None, clip_value(csv_line.strip("\r\n")),
                                   problem))
    return issues


def blank_row_sql(st: StagedFile) -> str:
    """A typed column: the record has nothing in any cell but white space. Excel exports rows of ",,,," where
    cells were once formatted; like an empty line, such a row is no row of data, and drop_blank_rows drops
    it. Only a row without a deal_id can be blank, and the typed deal_id is the same expression, computed
    once (DuckDB shares it), so the pattern runs on those rows only."""
    cells = ", ".join(f"c{i}" for i in range(len(st.source.header)))
    return (f"CASE WHEN {text_sql(st.col('deal_id'))} IS NULL "
            f"THEN coalesce(regexp_full_match(concat_ws('', {cells}), '{WHITE}*'), true) ELSE false END "
            f"AS blank_row")


def drop_blank_rows(store: Store, typed: str) -> None:
    store.execute(f"DELETE FROM {typed} WHERE blank_row")


def release(store: Store, st: StagedFile) -> None:
    """The parsed copy of a file, once typed (the typed table keeps each raw value): freed, so that DuckDB's
    memory goes to the steps that follow."""
    store.execute(f"DROP VIEW IF EXISTS {st.table}_rows")
    store.execute(f"DROP TABLE {st.table}")


def type_deals(store: Store, st: StagedFile, params: dict, decimal_comma: bool) -> None:
    """kf_deals_typed: src_row, raw_<field> and typed <field> for every canonical column present."""
    p = params
    outcome_map = dict(OUTCOME_ALIASES)
    select = ["src_row"]
    for f, i in st.fields.items():
        x = f"c{i}"
        select.append(f"{x} AS raw_{f}")
        if f in ("amount",):
            expr = amount_sql(x, decimal_comma)
        elif f in ("created_at", "expected_close", "closed_at") or f in WIDE_STAGE_COLUMNS:
            expr = date_sql(x)
        elif f == "outcome":
            expr = case_map_sql(x, outcome_map, "oc", p)
        elif f == "tier":
            expr = f"CASE WHEN {x} IN {_TIERS} THEN {x} " \
                   f"WHEN upper(regexp_replace({spaced_sql(x)}, '(级|級|-?tier)$', '', 'i')) IN {_TIERS} "\
                   f"THEN upper(left({spaced_sql(x)}, 1)) END"
        elif f in FACTOR_KEYS:
            expr = (f"CASE WHEN {x} IN {_SCORES} THEN CAST({x} AS TINYINT) "
                    f"WHEN {spaced_sql(x)} IN {_SCORES} THEN CAST({spaced_sql(x)} AS TINYINT) END")
        elif f == "history_truncated":
            # optional: an empty cell is false
            expr = (f"CASE WHEN {label_sql(x)} IN ('true', '1', 'yes') THEN true "
                    f"WHEN {x} IS NULL OR {label_sql(x)} IN ('false', '0', 'no', '') THEN false END")
        else:
            expr = text_sql(x)
        select.append(f"{expr} AS {f}")
    if st.unknown:
        pairs = []
        for j, i in enumerate(st.unknown):
            p[f"extra_k{j}"] = st.source.header[i].strip() or f"column {i + 1}"
            pairs.append(f"$extra_k{j}, c{i}")
        select.append(f"json_object({', '.join(pairs)}) AS extra")
    else:
        select.append("CAST(NULL AS JSON) AS extra")
    select.append(blank_row_sql(st))
    store.execute(
        f"CREATE OR REPLACE TEMP TABLE kf_deals_typed AS SELECT {', '.join(select)} FROM {st.table}_rows", p)


def type_history(store: Store, st: StagedFile, params: dict, decimal_comma: bool = False) -> None:
    """kf_history_typed: each row's raw and typed deal_id, stage and entered_at, and its expected_close, amount and
    outcome (NULL where the file has no such column)."""
    p = params
    stage_map = {label: number for label, number in STAGE_ALIASES.items()}
    optional = []
    for f, empty in (("expected_close", "DATE"), ("amount", "DOUBLE"), ("outcome", "VARCHAR")):
        if f in st.fields:
            x = st.col(f)
            expr = (amount_sql(x, decimal_comma) if f == "amount" else
                    case_map_sql(x, dict(OUTCOME_ALIASES), "hoc", p) if f == "outcome" else date_sql(x))
            optional.append(f"{x} AS raw_{f}, CAST({expr} AS {empty}) AS {f}")
        else:
            optional.append(f"CAST(NULL AS VARCHAR) AS raw_{f}, CAST(NULL AS {empty}) AS {f}")
    store.execute(f"""CREATE OR REPLACE TEMP TABLE kf_history_typed AS
        SELECT src_row, {st.col('deal_id')} AS raw_deal_id, {st.col('stage')} AS raw_stage,
               {st.col('entered_at')} AS raw_entered_at,
               {text_sql(st.col('deal_id'))} AS deal_id,
               CAST({case_map_sql(st.col('stage'), stage_map, 'st', p)} AS TINYINT) AS stage,
               {date_sql(st.col('entered_at'))} AS entered_at, {', '.join(optional)}, {blank_row_sql(st)}
        FROM {st.table}_rows""", p)


def build_incoming_deals(store: Store, st: StagedFile) -> None:
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
    store.execute(f"""CREATE OR REPLACE TEMP TABLE kf_in_deals AS
        SELECT {', '.join(f'{e} AS {c}' for e, c in zip(cols, DEAL_COLUMNS))}, {extra} AS extra,
               {truncated} AS history_truncated, t.src_row
        FROM kf_deals_typed t LEFT JOIN deals d ON d.deal_id = t.deal_id
        WHERE t.src_row NOT IN (SELECT src_row FROM kf_bad_rows) AND t.deal_id IS NOT NULL""")


def drop_staging(store: Store, keep: tuple[str, ...] = ()) -> None:
    for view in _STAGING_VIEWS:
        store.execute(f"DROP VIEW IF EXISTS {view}")
    for table in _STAGING_TABLES:  # some hold millions of rows: never keep them past the import
        if table not in keep:
            store.execute(f"DROP TABLE IF EXISTS {table}")


def incoming_wide_events(store: Store, wide_cols: list[str]) -> None:
    """kf_in_events unpivoted from a wide deals file's stage_N_at columns (`wide_cols`: those it has, from
    WIDE_STAGE_COLUMNS), for the valid deals."""
    union = " UNION ALL ".join(
        f"SELECT deal_id, CAST({c[6]} AS TINYINT) AS stage, {c} AS entered_at, src_row FROM kf_deals_typed "
        f"WHERE {c} IS NOT NULL AND deal_id IN (SELECT deal_id FROM kf_in_deals)" for c in wide_cols
        if c in WIDE_STAGE_COLUMNS)
    store.execute("CREATE OR REPLACE TEMP TABLE kf_in_events AS "
                  + (union or "SELECT NULL::VARCHAR deal_id, NULL::TINYINT stage, "
                              "NULL::TIMESTAMP entered_at, NULL::BIGINT src_row WHERE false"))


def no_field_changes(store: Store) -> None:
    """An empty kf_in_field_changes: the file holds no close-date or amount history (a deals file, a wide one)."""
    store.execute("CREATE OR REPLACE TEMP TABLE kf_in_field_changes AS SELECT CAST(NULL AS VARCHAR) AS deal_id, "
                  "CAST(NULL AS VARCHAR) AS field, CAST(NULL AS TIMESTAMP) AS changed_at, "
                  "CAST(NULL AS DATE) AS expected_close, CAST(NULL AS DOUBLE) AS amount, "
                  "CAST(NULL AS VARCHAR) AS outcome, CAST(NULL AS BIGINT) AS src_row WHERE false")
