"""Importing a CRM export: its files read as tables, the preset detected (or the profile given), the conversion, and
the canonical importer run on what it produced, with every problem located at the export's own file, row and
column. The one entry the CLI and the Import page share."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from analytics.exceptions import InputError
from analytics.ingest.canonical import Importer
from analytics.ingest.crm.convert import (
    MAPPING_CHOICES,
    Conversion,
    StageCount,
    convert_export,
)
from analytics.ingest.crm.profiles import MappingProfile
from analytics.ingest.crm.source import SourceTable, read_table
from analytics.ingest.issues import (
    ImportResult,
    Progress,
    RowIssue,
    clip_value,
)
from analytics.messages import counted, say
from analytics.store.connection import Store


# Importing ------------------------------------------------------------------------------------------------------
def read_export(paths: list[str | os.PathLike], names: list[str | None] | None = None, sheet: str | None = None
                ) -> tuple[list[SourceTable], list[RowIssue]]:
    """Read each file of an export (CSV or workbook: `sheet` names the sheet to read in each workbook)."""
    names = names or [None] * len(paths)
    tables, errors = [], []
    for path, name in zip(paths, names):
        table, problems = read_table(path, name, sheet)
        tables.append(table)
        errors += problems
    return tables, errors


def other_problems(conversion: Conversion) -> list[RowIssue]:
    """What rejects the export besides unmapped stage names and missing columns (which the Import page's mapping
    step shows as choices): several currencies without rates, ambiguous dates, a key column not found, …"""
    return [e for e in conversion.mapping_errors if e.code not in MAPPING_CHOICES]


class _Locator:
    """Maps an issue the canonical importer found in a converted file back to the source file, row and column."""

    def __init__(self, conversion: Conversion, deals_name: str, events_name: str, tables: list[SourceTable]):
        self.conversion, self.deals_name, self.events_name = conversion, deals_name, events_name
        self.tables = {t.name: t for t in tables}

    def __call__(self, issue: RowIssue) -> RowIssue:
        if issue.file == self.deals_name:
            origin = self.conversion.deal_origin
        elif issue.file == self.events_name:
            origin = self.conversion.event_origin
        else:
            return issue
        if issue.row and 2 <= issue.row < len(origin) + 2:
            file, row = origin[issue.row - 2]
        else:  # the header (an extra column) or the file as a whole
            file, row = self.conversion.files[0], issue.row if issue.row == 1 else None
        columns = self.conversion.columns
        if issue.file == self.events_name:
            source_field = {"deal_id": ("history_deal_id", "deal_id"), "stage": ("history_stage", "stage"),
                            "entered_at": ("history_at", "snapshot_date"),
                            "expected_close": ("history_close_date", "close_date"),
                            "amount": ("history_amount", "amount")}.get(issue.column or "", ())
            column = next((columns[f] for f in source_field if f in columns), issue.column)
        else:
            source_field = {"closed_at": ("close_date", "actual_close"), "expected_close": ("expected_close",
                                                                                           "close_date"),
                            "outcome": ("outcome", "is_won", "status", "stage")}.get(issue.column or "",
                                                                                    (issue.column,))
            column = next((columns[f] for f in source_field if f in columns), issue.column)
        # the value as the user's file has it (true, Closed Won), not as converted (won)
        source = self.tables.get(file)
        shown = source.cell(row, column) if source is not None and row and column else None
        return RowIssue(file, row, column, issue.value if shown is None else clip_value(shown), issue.problem)


def import_export(store: Store, tables: list[SourceTable], read_errors: list[RowIssue],
                  profile: MappingProfile | None = None, *, skip_invalid: bool = False,
                  progress: Progress | None = None, conversion: Conversion | None = None) -> ImportResult:
    """Convert a CRM export and import it as one batch; mapping problems reject it whatever skip_invalid says.
    `conversion`: the export already converted with `profile` (the Import page's mapping step did it in this
    run), so that it is not converted twice."""
    files = [t.name for t in tables]
    try:
        conversion = conversion or convert_export(tables, profile)
    except InputError as exc:
        return _rejected(files, None, [RowIssue(exc.file or files[0], None, None, None, exc.message)])
    errors = read_errors + conversion.errors
    if conversion.mapping_errors or (errors and not skip_invalid):
        return _rejected(files, conversion.preset, conversion.mapping_errors + errors, conversion.unmapped)
    deals, events = conversion.deals, conversion.events
    if errors:  # --skip-invalid: rows with errors stay out, with their deal's events; they go to rejected_rows
        bad = {(e.file, e.row) for e in errors}
        keep = np.array([o not in bad for o in conversion.deal_origin], dtype=bool)
        dropped = set(deals["deal_id"][~keep])
        deals = deals[keep].reset_index(drop=True)
        conversion.deal_origin = [o for o, k in zip(conversion.deal_origin, keep) if k]
        keep_ev = ~events["deal_id"].isin(dropped).to_numpy()
        events = events[keep_ev].reset_index(drop=True)
        conversion.event_origin = [o for o, k in zip(conversion.event_origin, keep_ev) if k]
        if conversion.changes is not None:
            keep_ch = ~conversion.changes["deal_id"].isin(dropped).to_numpy()
            conversion.changes = conversion.changes[keep_ch].reset_index(drop=True)
            conversion.change_origin = [o for o, k in zip(conversion.change_origin, keep_ch) if k]
    folder = Path(tempfile.mkdtemp(prefix="keyfunnel-crm-"))
    deals_path, events_path = folder / "deals.csv", folder / "history.csv"
    try:
        _write_canonical(deals, deals_path)
        history = events[["deal_id", "stage", "entered_at"]]
        if conversion.changes is not None and len(conversion.changes):
            # rows without a stage: changes of the expected close and amount alone (docs/data-format.md)
            history = pd.concat([history, conversion.changes[["deal_id", "entered_at", "expected_close", "amount",
                                                              "outcome"]]], ignore_index=True)
            history["stage"] = history["stage"].astype("Int64")  # whole stages, empty on a change row
            conversion.event_origin = conversion.event_origin + conversion.change_origin
        _write_canonical(history, events_path)
        importer = Importer(store, skip_invalid=skip_invalid, progress=progress,
                            locate=_Locator(conversion, "(converted deals)", "(converted history)", tables),
                            provenance=(files, [t.sha256 for t in tables], conversion.preset),
                            prior_errors=errors,
                            prior_warnings=[w for t in tables for w in t.warnings] + conversion.warnings)
        return importer.run(deals_path, events_path, names=("(converted deals)", "(converted history)"))
    finally:
        for p in (deals_path, events_path):
            p.unlink(missing_ok=True)
        folder.rmdir()


def _write_canonical(frame: pd.DataFrame, path: Path) -> None:
    out = frame.copy()
    for c in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[c]):
            out[c] = out[c].dt.strftime("%Y-%m-%d %H:%M:%S").fillna("")
    out.to_csv(path, index=False, encoding="utf-8")


def _rejected(files: list[str], fmt: str | None, errors: list[RowIssue],
              unmapped: list[StageCount] = ()) -> ImportResult:
    listed = ", ".join(f"{s.label!r} ({counted(s.rows, 'row')})" for s in unmapped)
    outcome = say("rejected_unmapped", n=len(unmapped), listed=listed) if unmapped else None
    return ImportResult.rejected(files, fmt, errors, outcome=outcome)
