"""Import canonical CSV files into the deal store, losing nothing.

Each file is parsed by DuckDB into an all-VARCHAR staging table whose columns we name c0, c1, … ourselves, so that
no header text from a user's file is ever formatted into SQL. Every check then runs as SQL over the whole file and
all failures are collected at once: file, spreadsheet row (header = row 1), column, value, reason. A batch lands in
one transaction, or not at all.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from analytics import formatting
from analytics.exceptions import InputError
from analytics.ingest.cells import cell_params
from analytics.ingest.checks import (
    collect,
    deal_checks,
    deal_duplicates,
    history_checks,
    load_warnings,
)
from analytics.ingest.csvsource import CsvSource, open_csv
from analytics.ingest.headers import (
    DEAL_HEADERS_ZH,
    HISTORY_CHANGE_COLUMNS,
    HISTORY_COLUMNS,
    HISTORY_HEADERS_ZH,
    IMPORTED_DEAL_COLUMNS,
    REQUIRED_DEAL_COLUMNS,
    WIDE_STAGE_COLUMNS,
    WIDE_STAGE_HEADERS_ZH,
    map_header,
)
from analytics.ingest.issues import (
    ImportResult,
    Progress,
    RowIssue,
    cleaned_cell_warnings,
)
from analytics.ingest.staging import (
    StagedFile,
    build_incoming_deals,
    drop_blank_rows,
    drop_staging,
    incoming_wide_events,
    no_field_changes,
    release,
    stage_file,
    type_deals,
    type_history,
)
from analytics.messages import Message, say
from analytics.store.connection import Store
from analytics.store.schema import DEAL_COLUMNS

FORMATS = ("deals", "deals+history", "wide")






class Importer:
    """One canonical import: the files read and staged (analytics.ingest.staging), checked
    (analytics.ingest.checks), compared with the database and written as one batch (write_batch), or rejected
    with every problem found."""

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
        self.params = cell_params(decimal_comma)
        self.errors: list[RowIssue] = []
        self.warnings: list[RowIssue] = []

    def _file_issue(self, source: CsvSource, column: str | None, problem: Message, row: int | None = 1) -> None:
        """A problem with the file as a whole, or (row 1) with its header: the header's row in a workbook."""
        self.errors.append(RowIssue(source.name, row and row + source.row_offset, column, None, problem))

    def run(self, deals_path: str | Path, history_path: str | Path | None = None,
            names: tuple[str | None, str | None] = (None, None), sheet: str | None = None) -> ImportResult:
        """`sheet`: the sheet to read in each workbook given (else each one's first sheet with data)."""
        sources: list[CsvSource] = []
        files = [names[0] or Path(deals_path).name] + ([names[1] or Path(history_path).name] if history_path else [])
        self.history_name = files[1] if history_path else None
        try:
            self.progress(0.05, say("reading", file=files[0]))
            sources.append(open_csv(deals_path, names[0], sheet))
            if history_path:
                self.progress(0.10, say("reading", file=files[1]))
                sources.append(open_csv(history_path, names[1], sheet))
            return self._run(sources, files)
        except InputError as exc:  # a file cannot be read or parsed as CSV at all: nothing was written
            self.errors.append(RowIssue(exc.file or files[0], None, None, None, exc.message))
            return self._rejected(files, None)
        finally:
            for source in sources:
                source.cleanup()
            drop_staging(self.store)


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
            self._file_issue(deals_src, None, say("looks_like_history"))
            return self._rejected(files, fmt)
        for f in REQUIRED_DEAL_COLUMNS:
            if f not in fields:
                self._file_issue(deals_src, f, say("required_column_missing"))
        if wide and len(sources) > 1:
            self._file_issue(sources[1], None, say("wide_with_history"), row=None)
        hist_st = None
        if len(sources) > 1 and not wide:
            h_fields, h_unknown = map_header(sources[1].header, HISTORY_HEADERS_ZH,
                                             HISTORY_COLUMNS + HISTORY_CHANGE_COLUMNS)
            for f in HISTORY_COLUMNS:
                if f not in h_fields:
                    self._file_issue(sources[1], f, say("required_column_missing"))
            hist_st = StagedFile(sources[1], "kf_raw_history", h_fields, h_unknown)
        if self.errors:
            return self._rejected(files, fmt)

        self.progress(0.2, say("parsing", file=deals_src.name))
        st = StagedFile(deals_src, "kf_raw_deals", fields, unknown)
        self.errors += stage_file(self.store, st)
        for i in unknown:
            self.warnings.append(RowIssue(deals_src.name, 1, deals_src.header[i], None, say("column_not_recognised")))
        self.progress(0.35, say("checking", file=deals_src.name))
        type_deals(self.store, st, self.params, self.decimal_comma)
        release(self.store, st)
        drop_blank_rows(self.store, "kf_deals_typed")
        self.errors += collect(self.store, deals_src, deal_checks(st), "kf_deals_typed", self.params)
        errors, warnings = deal_duplicates(self.store, st)
        self.errors += errors
        self.warnings += warnings
        bad_deal_rows = {e.row for e in self.errors if e.file == deals_src.name}
        self.store.execute("CREATE OR REPLACE TEMP TABLE kf_bad_rows (src_row BIGINT)")
        if bad_deal_rows:
            self.store.execute("INSERT INTO kf_bad_rows SELECT unnest($rows)",
                               {"rows": sorted(r for r in bad_deal_rows if r is not None)})
        build_incoming_deals(self.store, st)

        # Stage events: from the history file, or unpivoted from a wide file's stage_N_at columns.
        if hist_st is not None:
            self.progress(0.5, say("parsing", file=hist_st.source.name))
            self.errors += incoming_history_events(self.store, hist_st, self.params, self.decimal_comma)
        else:
            incoming_wide_events(self.store, [c for c in WIDE_STAGE_COLUMNS if c in fields])
            no_field_changes(self.store)

        # What is left to do reads the valid deals and events only: the typed copies of the files go.
        drop_staging(self.store, keep=("kf_in_deals", "kf_in_events", "kf_in_field_changes"))
        if self.errors and not self.skip_invalid:
            return self._rejected(files, fmt)
        self.progress(0.65, say("comparing"))
        return self._write(sources, files, fmt, st, hist_st)


    def _write(self, sources, files, fmt, st: StagedFile, hist_st) -> ImportResult:
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
        # a change already recorded (the same field, moment and value: a re-export) is not added again
        s.execute("""CREATE OR REPLACE TEMP TABLE kf_new_field_changes AS
            SELECT c.* FROM kf_in_field_changes c ANTI JOIN deal_changes s
                ON s.deal_id = c.deal_id AND s.field = c.field AND s.changed_at = c.changed_at
                AND s.expected_close IS NOT DISTINCT FROM c.expected_close
                AND s.amount IS NOT DISTINCT FROM c.amount AND s.outcome IS NOT DISTINCT FROM c.outcome""")
        n_insert, n_update = s.fetchone("SELECT count(*) FILTER (WHERE action = 'insert'), "
                                        "count(*) FILTER (WHERE action = 'update') FROM kf_changes")
        n_events = s.scalar("SELECT count(*) FROM kf_new_events")
        n_field_changes = s.scalar("SELECT count(*) FROM kf_new_field_changes")
        self.warnings += load_warnings(self.store, st, self.history_name)
        self._locate_issues()
        if n_insert == 0 and n_update == 0 and n_events == 0 and n_field_changes == 0 and not self.errors:
            earlier = s.scalar("SELECT max(batch_id) FROM import_batches WHERE status = 'imported' "
                               "AND file_sha256 = $sha", {"sha": sha256})
            if earlier:
                outcome = say("already_imported", batch=earlier)
            elif not s.scalar("SELECT count(*) FROM kf_in_deals"):  # a header, perhaps blank rows: no deal at all
                outcome = say("no_rows", file=files[0])
            else:
                outcome = say("nothing_new")
            return ImportResult("unchanged", earlier, fmt, files, warnings=self.warnings, outcome=outcome)

        kept = s.scalar("SELECT count(*) FROM kf_in_deals")  # the valid deal rows
        if self.errors and n_insert == 0 and n_update == 0 and n_events == 0 and n_field_changes == 0 and not kept:
            # --skip-invalid left no valid deal: an empty batch would read as an import
            rows = len({(e.file, e.row) for e in self.errors if e.row is not None})
            return ImportResult.rejected(files, fmt, self.errors, self.warnings,
                                         outcome=say("rejected_every_row", problems=len(self.errors), rows=rows))
        # The incoming events (millions of rows at a million deals) are no longer needed once the new ones are
        # known: freed before the batch is written, they leave DuckDB's memory to the inserts and the facts.
        drop_staging(self.store, keep=("kf_in_deals", "kf_changes", "kf_new_events", "kf_new_field_changes"))
        file_rows = [st.rows] + ([hist_st.rows] if hist_st else [])
        batch_id = write_batch(s, fmt, files, sha256, file_rows, (n_insert, n_update, n_events, n_field_changes),
                               self.errors, self.warnings, self.progress)
        self.progress(1.0, say("done"))
        skipped = len({(e.file, e.row) for e in self.errors})  # rows, not cells: one row with three bad cells
        outcome = say("imported", batch=batch_id, inserted=n_insert, updated=n_update, events=n_events,
                      changes=n_field_changes, skipped=skipped, problems=len(self.errors), kept=kept,
                      total=kept + skipped, share=formatting.percent(kept / (kept + skipped)) if skipped else None)
        return ImportResult("imported", batch_id, fmt, files, n_insert, n_update, n_events, skipped, self.warnings,
                            self.errors, outcome, n_field_changes)




    def _locate_issues(self) -> None:
        if self.locate:  # a source row may become several converted rows (a stage and a change): reported once
            self.errors = list(dict.fromkeys(self.locate(e) for e in self.errors))
            self.warnings = list(dict.fromkeys(self.locate(w) for w in self.warnings))
        self.errors = self.prior_errors + self.errors
        self.warnings = self.prior_warnings + self.warnings
        self.prior_errors, self.prior_warnings = [], []  # located once, however often asked

    def _rejected(self, files: list[str], fmt: str | None) -> ImportResult:
        self._locate_issues()
        if self.provenance:
            files, _, fmt = self.provenance
        return ImportResult.rejected(files, fmt, self.errors, self.warnings)


def incoming_history_events(store: Store, hist_st: StagedFile, params: dict, decimal_comma: bool) -> list[RowIssue]:
    """kf_in_events and kf_in_field_changes from a long stage history: parsed, typed and checked, each event and
    change once; a row with a problem is left out. Returns the problems."""
    issues = stage_file(store, hist_st)
    type_history(store, hist_st, params, decimal_comma)
    release(store, hist_st)
    drop_blank_rows(store, "kf_history_typed")
    checked = collect(store, hist_st.source, history_checks(hist_st), "kf_history_typed", params)
    bad_hist = sorted({e.row for e in checked if e.row is not None})
    store.execute("""CREATE OR REPLACE TEMP TABLE kf_in_events AS
        SELECT deal_id, stage, entered_at, min(src_row) AS src_row FROM kf_history_typed
        WHERE stage IS NOT NULL AND src_row NOT IN (SELECT unnest($bad)) GROUP BY ALL""", {"bad": bad_hist})
    # each row's expected close, amount and outcome, one change per field stated (the values from that moment on)
    store.execute("""CREATE OR REPLACE TEMP TABLE kf_in_field_changes AS
        SELECT deal_id, 'expected_close' AS field, entered_at AS changed_at, expected_close,
               CAST(NULL AS DOUBLE) AS amount, CAST(NULL AS VARCHAR) AS outcome, min(src_row) AS src_row
        FROM kf_history_typed WHERE expected_close IS NOT NULL AND src_row NOT IN (SELECT unnest($bad)) GROUP BY ALL
        UNION ALL
        SELECT deal_id, 'amount', entered_at, CAST(NULL AS DATE), amount, NULL, min(src_row)
        FROM kf_history_typed WHERE amount IS NOT NULL AND src_row NOT IN (SELECT unnest($bad)) GROUP BY ALL
        UNION ALL
        SELECT deal_id, 'outcome', entered_at, CAST(NULL AS DATE), NULL, outcome, min(src_row)
        FROM kf_history_typed WHERE outcome IS NOT NULL AND src_row NOT IN (SELECT unnest($bad)) GROUP BY ALL""",
                  {"bad": bad_hist})
    return issues + checked


def write_batch(s: Store, fmt: str, files: list[str], sha256: list[str], file_rows: list[int],
                counts: tuple[int, int, int, int], errors: list[RowIssue], warnings: list[RowIssue],
                progress: Progress) -> int:
    """Write one batch in one transaction, from the staged kf_in_deals, kf_changes and kf_new_events: the deals it
    inserts or updates (each updated deal's earlier state kept in deal_previous, for undo), its stage events, its
    problems and warnings, the batch itself, and the per-deal facts. Returns the batch id."""
    n_insert, n_update, n_events, n_field_changes = counts
    started = datetime.now()
    with s.transaction():
        batch_id = s.scalar("SELECT nextval('batch_id_seq')")
        progress(0.75, say("writing", batch=batch_id))
        b = {"b": batch_id}
        deal_cols = ", ".join((*DEAL_COLUMNS, "extra", "history_truncated"))
        s.execute("""INSERT INTO deal_previous SELECT $b, d.* FROM deals d
            WHERE d.deal_id IN (SELECT deal_id FROM kf_changes WHERE action = 'update')""", b)
        s.execute("DELETE FROM deals WHERE deal_id IN (SELECT deal_id FROM kf_changes WHERE action = 'update')")
        s.execute(f"""INSERT INTO deals ({deal_cols}, batch_id) SELECT {deal_cols}, $b FROM kf_in_deals
            WHERE deal_id IN (SELECT deal_id FROM kf_changes)""", b)
        s.execute("INSERT INTO batch_deals SELECT $b, deal_id, action FROM kf_changes", b)
        s.execute("INSERT INTO stage_events SELECT deal_id, stage, entered_at, $b FROM kf_new_events", b)
        s.execute("INSERT INTO deal_changes (deal_id, field, changed_at, expected_close, amount, outcome, batch_id) "
                  "SELECT deal_id, field, changed_at, expected_close, amount, outcome, $b FROM kf_new_field_changes", b)
        for table, issues in (("rejected_rows", errors), ("import_warnings", warnings)):
            if issues:
                s.cursor.executemany(
                    f'INSERT INTO {table} (batch_id, file, "row", "column", value, reason) '
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    [(batch_id, i.file, i.row, i.column, i.value, i.reason) for i in issues])
        s.execute("""INSERT INTO import_batches VALUES ($b, 'imported', $fmt, $files, $sha, $rows, $ins, $upd,
            $ev, $rej, $warn, $started, now(), NULL, $file_rows, $field_changes)""",
                  {**b, "fmt": fmt, "files": files, "sha": sha256, "rows": sum(file_rows),
                   "ins": n_insert, "upd": n_update, "ev": n_events, "rej": len(errors),
                   "warn": len(warnings), "started": started,
                   "file_rows": file_rows, "field_changes": n_field_changes})
        progress(0.9, say("computing_facts"))
        affected = None
        if s.facts_refresh_is_partial(n_insert + n_update + n_events + n_field_changes):  # at most that many deals
            s.execute("CREATE OR REPLACE TEMP TABLE kf_affected AS SELECT deal_id FROM kf_changes "
                      "UNION SELECT deal_id FROM kf_new_events UNION SELECT deal_id FROM kf_new_field_changes")
            affected = "kf_affected"
        s.refresh_deal_facts(affected)
    return batch_id


def import_files(store: Store, deals_path: str | Path, history_path: str | Path | None = None, *,
                 skip_invalid: bool = False, decimal_comma: bool = False, progress: Progress | None = None,
                 names: tuple[str | None, str | None] = (None, None), sheet: str | None = None) -> ImportResult:
    """Import a deals file (canonical or wide, CSV or a workbook) and optionally a long stage history, as one
    batch."""
    importer = Importer(store, skip_invalid=skip_invalid, decimal_comma=decimal_comma, progress=progress)
    return importer.run(deals_path, history_path, names, sheet)
