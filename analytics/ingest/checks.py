"""The checks an import runs over a staged file, as SQL over the whole file at once: each is (column, value, failing
condition, reason code), and every failing cell becomes a RowIssue with its file, spreadsheet row, column, value and
the message of that code (analytics.messages).
Warnings are what is suspicious but possible (flagged, never rejected), and what a blank optional value costs."""

from __future__ import annotations

from analytics.domain import FACTOR_KEYS
from analytics.ingest.cells import IN_DATE_RANGE, MAX_TEXT_LENGTH, text_sql
from analytics.ingest.csvsource import CsvSource
from analytics.ingest.headers import REQUIRED_DEAL_COLUMNS, WIDE_STAGE_COLUMNS
from analytics.ingest.issues import RowIssue, clip_value
from analytics.ingest.staging import StagedFile
from analytics.messages import say
from analytics.store.connection import Store

# What a real export may leave blank, in a row or as a whole column: each is warned about once per file, with the
# count of deals it leaves out and what that costs (the message "<field>_missing"; docs/data-format.md).
OPTIONAL_FIELDS = ("amount", "account", "created_at")

# The parameters of a check's message, where its text has any.
_CODE_PARAMS = {"too_long": {"limit": MAX_TEXT_LENGTH}}


def collect(store: Store, source: CsvSource, checks: list[tuple[str, str, str, str]], table: str,
            params: dict) -> list[RowIssue]:
    """Run (column, value_sql, condition_sql, code_sql) checks over `table`: a RowIssue per failing cell."""
    if not checks:
        return []
    # One scan answers whether any check fails; a clean file (the usual case) skips the per-check scans.
    failing = " OR ".join(f"coalesce({condition}, false)" for _, _, condition, _ in checks)
    if not store.scalar(f"SELECT EXISTS (SELECT 1 FROM {table} WHERE {failing})", params):
        return []
    # ordered by row, column, then the order the checks are listed in (two problems with one cell: both, always
    # in the same order)
    union = " UNION ALL ".join(
        f"SELECT src_row, '{column}' AS col, CAST({value} AS VARCHAR) AS value, {code} AS code, {k} AS k "
        f"FROM {table} WHERE {condition}"
        for k, (column, value, condition, code) in enumerate(checks))
    rows = store.fetchall(f"SELECT src_row, col, value, code FROM ({union}) ORDER BY src_row, col, k", params)
    return [RowIssue(source.name, int(r), c, clip_value(v), say(code, **_CODE_PARAMS.get(code, {})))
            for r, c, v, code in rows]


def _present(raw: str) -> str:
    return f"{text_sql(raw)} IS NOT NULL"


def amount_checks(f: str) -> list[tuple[str, str, str, str]]:
    """An amount column's checks, in a deals file or a history: a number (a decimal comma must be declared),
    not negative, not implausibly large. The typed value is tested first: DuckDB then trims only the rows whose
    value did not convert."""
    raw = f"raw_{f}"
    return [(f, raw, f"{f} IS NULL AND {_present(raw)}",
             f"CASE WHEN NOT $amount_pattern LIKE '%,[0-9]+)?%' AND contains({raw}, ',') "
             "THEN 'not_an_amount_comma_undeclared' ELSE 'not_an_amount' END"),
            (f, raw, f"{f} < 0", "'amount_negative'"),
            (f, raw, f"{f} > $max_amount", "'amount_too_large'")]


def date_checks(f: str, as_timestamp: bool = False) -> list[tuple[str, str, str, str]]:
    """A date column's checks: a date, within DATE_RANGE (`as_timestamp`: the typed column is a DATE compared as
    a timestamp)."""
    raw = f"raw_{f}"
    typed = f"CAST({f} AS TIMESTAMP)" if as_timestamp else f
    return [(f, raw, f"{f} IS NULL AND {_present(raw)}", "'not_a_date'"),
            (f, raw, f"{f} IS NOT NULL AND NOT ({typed} {IN_DATE_RANGE})", "'date_out_of_range'")]


def required_checks(f: str, unless: str | None = None) -> list[tuple[str, str, str, str]]:
    """A required column's check: a value on every row (`unless`: but for the rows this SQL condition admits)."""
    raw = f"raw_{f}"
    return [(f, raw, f"{f} IS NULL AND NOT ({_present(raw)})" + (f" AND NOT {unless}" if unless else ""),
             "'required_missing'")]


def deal_checks(st: StagedFile) -> list[tuple[str, str, str, str]]:
    checks = []
    for f in st.fields:
        raw = f"raw_{f}"
        invalid = f"{f} IS NULL AND {_present(raw)}"  # given, but did not convert
        if f in REQUIRED_DEAL_COLUMNS:
            checks += required_checks(f)
        if f == "amount":
            checks += amount_checks(f)
        elif f in ("created_at", "expected_close", "closed_at") or f in WIDE_STAGE_COLUMNS:
            checks += date_checks(f)
        elif f == "outcome":
            checks.append((f, raw, invalid, "'bad_outcome'"))
        elif f == "tier":
            checks.append((f, raw, invalid, "'bad_tier'"))
        elif f in FACTOR_KEYS:
            checks.append((f, raw, invalid, "'bad_score'"))
        elif f == "history_truncated":
            checks.append((f, raw, f"{f} IS NULL", "'not_boolean'"))
        if f not in FACTOR_KEYS and f != "amount":
            checks.append((f, f"left({raw}, 60) || '…'", f"length({raw}) > $max_text", "'too_long'"))
    return checks


def history_checks(st: StagedFile) -> list[tuple[str, str, str, str]]:
    """The checks of a long stage history. Its stage may be empty on a row that records a change of the expected
    close or amount alone."""
    a_change = f"({_present('raw_expected_close')} OR {_present('raw_amount')} OR {_present('raw_outcome')})"
    optional = []
    if "expected_close" in st.fields:
        optional += date_checks("expected_close", as_timestamp=True)
    if "amount" in st.fields:
        optional += amount_checks("amount")
    if "outcome" in st.fields:
        optional.append(("outcome", "raw_outcome", f"outcome IS NULL AND {_present('raw_outcome')}", "'bad_outcome'"))
    return [
        *required_checks("deal_id"),
        *required_checks("stage", unless=a_change),
        *optional,
        ("stage", "raw_stage", f"stage IS NULL AND {_present('raw_stage')}", "'unknown_stage'"),
        *required_checks("entered_at"),
        *date_checks("entered_at"),
        ("deal_id", "raw_deal_id",
         "deal_id IS NOT NULL AND deal_id NOT IN (SELECT deal_id FROM kf_in_deals) "
         "AND deal_id NOT IN (SELECT deal_id FROM deals)",
         "CASE WHEN deal_id IN (SELECT deal_id FROM kf_deals_typed) "
         "THEN 'deal_row_rejected' ELSE 'deal_not_found' END"),
    ]


def deal_duplicates(store: Store, st: StagedFile) -> tuple[list[RowIssue], list[RowIssue]]:
    """A deal_id on several rows: identical rows are kept once (warning); conflicting ones are all errors."""
    errors: list[RowIssue] = []
    warnings: list[RowIssue] = []
    if not store.scalar("SELECT count(deal_id) > count(DISTINCT deal_id) FROM kf_deals_typed"):
        return [], []
    cols = ", ".join(f"raw_{f}" for f in st.fields if f != "deal_id")
    rows = store.fetchall(f"""
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
                errors.append(RowIssue(st.source.name, int(r), "deal_id", clip_value(deal_id),
                                       say("conflicting_duplicate", rows=listed)))
        else:
            for r in rows_[1:]:
                warnings.append(RowIssue(st.source.name, int(r), "deal_id", clip_value(deal_id),
                                         say("duplicate_kept_once", row=rows_[0])))
    # Keep one row per deal_id (the first); conflicting ones are errors and will not land.
    store.execute("""DELETE FROM kf_deals_typed t WHERE deal_id IS NOT NULL AND src_row <> (
        SELECT min(src_row) FROM kf_deals_typed u WHERE u.deal_id = t.deal_id)""")
    return errors, warnings


def missing_value_warnings(store: Store, st: StagedFile) -> list[RowIssue]:
    """One warning per optional field the incoming deals lack, in some rows or as a whole column: how many
    deals, and what it costs. (Field names come from OPTIONAL_FIELDS, a fixed list.)"""
    warnings: list[RowIssue] = []
    counts = ", ".join(f"count(*) FILTER (WHERE {f} IS NULL)" for f in OPTIONAL_FIELDS)
    total, *missing = store.fetchone(f"SELECT count(*), {counts} FROM kf_in_deals")
    for f, n in zip(OPTIONAL_FIELDS, missing):
        if n:
            column = st.source.header[st.fields[f]].strip() if f in st.fields else f
            warnings.append(RowIssue(st.source.name, None, column, None, say(f"{f}_missing", n=n, total=total)))
    return warnings


def future_warnings(store: Store, st: StagedFile, history_name: str | None) -> list[RowIssue]:
    """Dates after today, the day of the import: in the export's future (a typo, a planned close written as
    closed). Kept, counted per column, and not used for the default as-of date (analytics.funnel.data_as_of)."""
    warnings: list[RowIssue] = []
    for column, table, sql in (("created_at", st.source.name, "SELECT count(*) FROM kf_in_deals WHERE created_at > current_date"),
                               ("closed_at", st.source.name, "SELECT count(*) FROM kf_in_deals WHERE closed_at > current_date"),
                               ("entered_at", history_name or st.source.name,
                                "SELECT count(*) FROM kf_in_events WHERE CAST(entered_at AS DATE) > current_date")):
        n = store.scalar(sql)
        if n:
            warnings.append(RowIssue(table, None, column, None, say("in_the_future", column=column, n=n)))
    return warnings


def load_warnings(store: Store, st: StagedFile, history_name: str | None) -> list[RowIssue]:
    """Suspicious but possible: flagged, never rejected."""
    s, name = store, st.source.name
    warnings = missing_value_warnings(store, st)
    warnings += future_warnings(store, st, history_name)
    rows = s.fetchall("""
        SELECT src_row, 'amount', CAST(amount AS VARCHAR), 'amount_zero', NULL FROM kf_in_deals WHERE amount = 0
        UNION ALL
        SELECT src_row, 'closed_at', CAST(closed_at AS VARCHAR), 'closed_before_created', NULL
        FROM kf_in_deals WHERE closed_at < created_at
        UNION ALL
        SELECT src_row, 'closed_at', NULL, 'closed_without_date', outcome
        FROM kf_in_deals WHERE outcome <> 'open' AND closed_at IS NULL
        ORDER BY 1""")
    warnings.extend(RowIssue(name, int(r), c, v, say(code, outcome=outcome) if outcome else say(code))
                    for r, c, v, code, outcome in rows)
    hist_name = history_name
    rows = s.fetchall("""
        WITH deal AS (SELECT deal_id, closed_at, outcome FROM kf_in_deals
                      UNION ALL SELECT deal_id, closed_at, outcome FROM deals
                      WHERE deal_id NOT IN (SELECT deal_id FROM kf_in_deals))
        SELECT e.src_row, 'entered_at', CAST(e.entered_at AS VARCHAR), 'entered_after_close'
        FROM kf_in_events e JOIN deal d USING (deal_id)
        WHERE d.outcome <> 'open' AND e.entered_at > CAST(d.closed_at AS TIMESTAMP) + INTERVAL 1 DAY
        UNION ALL
        SELECT min(i.src_row), 'outcome', 'won', 'won_without_signing'
        FROM kf_in_deals i JOIN (SELECT deal_id, stage FROM kf_in_events UNION ALL
                                 SELECT deal_id, stage FROM stage_events) e USING (deal_id)
        WHERE i.outcome = 'won' GROUP BY i.deal_id HAVING max(e.stage) < 8
        UNION ALL
        SELECT min(i.src_row), 'outcome', 'lost', 'lost_after_signing'
        FROM kf_in_deals i JOIN (SELECT deal_id, stage FROM kf_in_events UNION ALL
                                 SELECT deal_id, stage FROM stage_events) e USING (deal_id)
        WHERE i.outcome = 'lost' GROUP BY i.deal_id HAVING max(e.stage) = 8
        ORDER BY 1""")
    for r, c, v, code in rows:
        file = name if c == "outcome" else hist_name or name
        warnings.append(RowIssue(file, int(r), c, v, say(code)))
    return warnings
