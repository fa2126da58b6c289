"""What keyfunnel tells a user about an import, an undo or the store: a `Message` is a stable code and its
parameters, and ENGLISH holds each code's English text (the CLI's and the JSON's words). analytics.i18n.issues holds
the same codes in Chinese; translation keys off the code, never off the English text.

A template is str.format text with two extras: `{n:,}` writes 1,234; `{n:~row}` counts a noun ("1 row",
"3 rows"). A template may also be a function of the parameters, for a text whose parts come and go."""

from __future__ import annotations

import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

Template = str | Callable[[Mapping[str, Any]], str]


def counted(n: int, noun: str) -> str:
    """'1 row', '3 rows': how reports count things."""
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"


class _Formatter(string.Formatter):
    def format_field(self, value, format_spec: str) -> str:
        if format_spec.startswith("~"):
            return counted(value, format_spec[1:])
        return super().format_field(value, format_spec)


_FORMATTER = _Formatter()


def render(template: Template, params: Mapping[str, Any]) -> str:
    return template(params) if callable(template) else _FORMATTER.format(template, **params)


@dataclass(frozen=True)
class Message:
    """One thing said to a user: `code` (a key of ENGLISH) and the parameters its text is built from. str() is
    the English text."""

    code: str
    items: tuple[tuple[str, Any], ...] = ()  # the parameters, as pairs: a Message is hashable

    def __post_init__(self) -> None:
        if self.code not in ENGLISH:
            raise KeyError(f"no message {self.code!r}")

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.items)

    def __str__(self) -> str:
        return render(ENGLISH[self.code], self.params)


def say(code: str, /, **params: Any) -> Message:
    """The message `code` with its parameters: say("too_long", limit=1000)."""
    return Message(code, tuple(params.items()))


def _imported(p: Mapping[str, Any]) -> str:
    text = (f"batch {p['batch']}: {counted(p['inserted'], 'deal')} added, {p['updated']:,} updated, "
            f"{counted(p['events'], 'stage event')} added")
    if p["changes"]:
        text += f", {counted(p['changes'], 'close-date or amount change')} added"
    if p["skipped"]:
        text += (f"; {counted(p['skipped'], 'row')} skipped ({counted(p['problems'], 'problem')}), kept in "
                 f"rejected_rows: {p['kept']:,} of {p['total']:,} rows imported ({p['share']})")
    return text


_DATE_FORMS = "YYYY-MM-DD, YYYY/M/D or YYYY年M月D日"

ENGLISH: dict[str, Template] = {
    # a cell
    "required_missing": "required value missing",
    "not_an_amount": "not an amount",
    "not_an_amount_comma_undeclared": "not an amount (a decimal comma must be declared)",
    "not_an_amount_profile_comma": "not an amount (the profile's decimal mark is ',')",
    "amount_negative": "amount must not be negative",
    "amount_too_large": "amount implausibly large",
    "not_a_date": f"not a date: use {_DATE_FORMS}",
    "not_a_date_in_order": "not a date (read in {order} order)",
    "date_out_of_range": "date out of range (1970–2100)",
    "bad_outcome": "outcome must be won, lost or open (赢单, 丢单, 进行中)",
    "bad_tier": "tier must be A, B, C or D",
    "bad_score": "score must be a whole number 1–5",
    "not_boolean": "must be true or false",
    "not_true_or_false": "not true or false",
    "too_long": "value longer than {limit} characters",
    "unknown_stage": "unknown stage: use 1–8, the stage key, or its English or Chinese name",
    "deal_row_rejected": "the deal's own row was rejected",
    "deal_not_found": "deal_id not found among the deals",
    "conflicting_duplicate": "deal_id appears on rows {rows} with different values",
    "duplicate_kept_once": "duplicate of row {row}: kept once",
    # a row or a column
    "too_many_columns": "too many columns: expected {expected}",
    "too_few_columns": "too few columns: expected {expected}",
    "badly_quoted": "badly quoted value",
    "invalid_characters": "invalid characters",
    "unreadable_row": "{detail}",  # DuckDB's own words for a row it rejects in a way not named above
    "required_column_missing": "required column missing",
    "required_column_not_found": "required column missing: none of {tried} (map it in the profile's columns)",
    "column_not_recognised": "column not recognised: kept with the deal as extra data",
    # warnings
    "amount_missing": "amount missing for {n} of {total:~deal}: counted in every count-based figure, left out of "
                      "amount sums; the forecast counts an open one at its stage's median amount",
    "account_missing": "account missing for {n} of {total:~deal}: each such deal stands alone: no account groups it "
                       "with others",
    "created_at_missing": "created_at missing for {n} of {total:~deal}: dated by its first stage event where it has "
                          "one, else left out of cohorts, created-date filters and cycle time",
    "control_removed": "NUL bytes or control characters removed from the value",
    "not_scores": "named like the evaluation score {factor!r} but holds no score 1–5: kept as extra data",
    "derived_key": "no ID column: each deal's key is derived from {columns}; the same export, or a later one with "
                   "these values unchanged, finds the same deals",
    "same_key": "rows {rows} have the same {columns}: kept as {n} deals, numbered in file order",
    "outcome_disagrees": "{header} disagrees with {decided_by} on {n:~row} (rows {rows}): {decided_by} decide the "
                         "outcome",
    "key_column_not_found": "key column not found: key_columns must name headers of the file",
    "no_key": "no ID column, and no name, account or creation date to derive a key from: map deal_id or key_columns "
              "in the profile",
    "no_stage_column": "no column for the deal's stage or outcome: map stage or outcome in the profile's columns",
    "history_needs_id": "a stage history is linked to its deals by their ID: the deals file needs an ID column",
    "report_footer": "the last {n:~line} are a report's footer (title, totals, copyright), not deals: skipped",
    "in_the_future": "{column} after today on {n:~row}: in the export's future, kept, but not used to set the as-of "
                     "date",
    "amount_zero": "amount is 0",
    "closed_before_created": "closed before it was created",
    "closed_without_date": "deal is {outcome} but has no closed_at",
    "entered_after_close": "stage entered after the deal closed",
    "lost_after_signing": "lost, but the stage history reaches stage 8 (signed, then lost): counted as lost at "
                          "stage 7",
    "won_without_signing": "won, but the stage history never reaches stage 8: counted as signed at closed_at",
    # a file
    "looks_like_history": "this looks like a stage history: pass it with --history, after the deals file",
    "wide_with_history": "a wide deals file already holds the stage dates; do not pass --history as well",
    "file_not_found": "file not found",
    "file_empty": "the file is empty",
    "file_unreadable": "cannot read the file ({detail})",
    "not_csv_parseable": "the file cannot be parsed as CSV ({detail})",
    "not_csv_kind": lambda p: f"{'a PDF document' if p['kind'] == 'PDF' else 'a ' + p['kind'] + ' image'}, not a CSV "
                              "file",
    "workbook_not_csv": "an Excel workbook, not a CSV file: in Excel, save it as CSV UTF-8",
    "nul_bytes": "the file contains NUL bytes: it is binary, or UTF-16 without a byte-order mark; save it as CSV "
                 "UTF-8",
    "undecodable": "cannot decode the file as UTF-8, GB18030/GBK or Windows-1252",
    "undecodable_as": "cannot decode the file as {encoding} (byte {byte})",
    "first_line_empty": "the first line is empty; it must hold the column names",
    "header_unreadable": "cannot read the header line ({detail})",
    "header_nul": "the header contains NUL characters: the file is not a text CSV",
    "workbook_unreadable": "cannot read the workbook ({detail})",
    "no_such_sheet": "no sheet {sheet!r}; the workbook has {sheets}",
    "workbook_empty": "the workbook has no sheet with data",
    "sheet_empty": "sheet {sheet!r} is empty",
    # a CRM export
    "unmapped_stage": "unmapped stage name on {n:~row}: map it to a stage 1–8, won or lost in the profile",
    "unmapped_outcome": "unmapped outcome value on {n:~row}: map it to won, lost or open in the profile",
    "no_snapshot_date": "no snapshot_date column and no date (YYYY-MM-DD) in the file name",
    "several_currencies": "several currencies ({listed}): set the reporting currency and a rate for each in the "
                          "profile",
    "no_rate": "no exchange rate for {code} ({n} deals): add rates.{code} (1 {code} = ? {reporting}) to the profile",
    "mixed_date_order": "dates are written both day-first and month-first: set date_order in the profile",
    "ambiguous_date": "this date can be read as month/day or day/month: set date_order to MDY or DMY in the profile",
    "generic_files": "a generic import is one deals file, optionally with one stage history file (got {deals} deals "
                     "and {histories} history files)",
    "salesforce_files": "a Salesforce import is one Opportunity export, optionally with one OpportunityHistory "
                        "export (got {opportunities} opportunity and {histories} history files)",
    "hubspot_files": "a HubSpot import is one deals export (got {n} files)",
    "dynamics_files": "a Dynamics 365 import is one opportunities export (got {n} files)",
    "not_a_crm_export": "not a recognised CRM export; choose a profile (salesforce, hubspot, dynamics365, snapshots "
                        "or a saved one)",
    # a mapping profile: a name to save under, or a saved file edited by hand
    "profile_name": "profile name {name!r}: use letters, digits, spaces, '-', '_' or '.'",
    "no_profile": "no profile {name!r}: known profiles are {known}; or pass a .json or .toml file",
    "profile_unreadable": "cannot read the profile ({detail})",
    "profile_not_parsed": "not valid {kind} ({detail})",
    "profile_not_object": "a profile is an object of keys",
    "profile_unknown_keys": "unknown key(s) {unknown}; known keys: {known}",
    "profile_preset": "preset {preset!r} is not one of {presets}",
    "profile_not_table": "{key} must be a table of name = value",
    "profile_columns": "columns.{field} must be a header name or a list of them",
    "profile_stage": "stages.{label!r} = {target!r}: map a stage to 1–8, 'won' or 'lost'",
    "profile_outcome": "outcomes.{value!r} = {outcome!r}: use won, lost or open",
    "profile_date_order": "date_order {value!r} is not one of {orders}",
    "profile_decimal_mark": "decimal_mark {value!r} must be '.' or ','",
    "profile_rate": "rates.{code} = {rate!r}: a rate is a positive number",
    "profile_currency": "currency {value!r} must be a currency code such as CNY",
    "profile_key_columns": "key_columns must be a list of header names",
    # undo
    "no_batch": "there is no batch {batch}",
    "batch_undone": "batch {batch} is already undone",
    "batch_blocked": "batch {batch} cannot be undone while later batches ({later}) changed the same deals: undo "
                     "those first",
    # the store
    "store_busy": "database busy, try again: {path} is in use by another keyfunnel process",
    "store_busy_writer": "database busy: waited {seconds} s for {holder} to finish writing {path}; try again once "
                         "it has (`keyfunnel batches` lists what landed), or wait longer with --wait SECONDS",
    "store_waiting": "waiting for {holder} to finish writing the database ({seconds} s)",
    "store_failed": "{detail}",  # DuckDB's own first line
    "store_out_of_memory": "the database ran out of the memory keyfunnel allows it ({limit}; DuckDB: {detail}). "
                           "Nothing of this step was written. Allow it more and try again: set "
                           "KEYFUNNEL_MEMORY_LIMIT=4GB (a million deals need about 1GB; two million, more)",
    "backup_path": "a backup folder's path may not contain quotes or line breaks",
    "not_a_backup": "not a keyfunnel backup (no load.sql): write one with `keyfunnel export-db`",
    "restore_exists": "{path} already exists: restore into a new database file (--db NEW.duckdb)",
    # an import's progress
    "reading": "reading {file}",
    "parsing": "parsing {file}",
    "checking": "checking {file}",
    "comparing": "comparing with the database",
    "writing": "writing batch {batch}",
    "computing_facts": "computing per-deal facts",
    "done": "done",
    # an import's outcome
    "imported": _imported,
    "already_imported": "already imported as batch {batch}: nothing changed",
    "nothing_new": "every deal and stage event is already in the database: nothing changed",
    "no_rows": "{file}: no rows of data: nothing changed",
    "rejected": lambda p: (f"rejected: {counted(p['problems'], 'problem')}"
                           + (f" in {counted(p['rows'], 'row')}" if p["rows"] else "")
                           + "; the database is unchanged"),
    "rejected_unmapped": "rejected: {n} unmapped stage names: {listed}; the database is unchanged",
    # plans: targets, teams and forecast calls
    "not_a_plans_file": "not a targets, teams or calls file: a targets file has period, owner (or team or region) "
                        "and target columns; a teams file owner and team; a calls file period, owner, commit, "
                        "best_case and called_at",
    "bad_period": "not a period: use a quarter (2026Q4) or a month (2026-11)",
    "plan_unit_missing": "each row needs one of {kinds}",
    "plan_units_several": "one unit per row: this row also names a {first}",
    "unknown_owner": "no deal has this owner",
    "unknown_team": "no such team: name its owners in a teams file (or the team column) first",
    "unknown_region": "no deal is in this region",
    "unknown_owner_named": "no deal has the owner {name}",
    "unknown_team_named": "there is no team {name}: import a teams file first",
    "duplicate_target": "a second target for {period} and this unit (the first is on row {row})",
    "team_conflict": "{owner} is already in team {team} ({file}, row {row})",
    "best_below_commit": "best case is below the commit ({commit:,.0f})",
    "call_not_quarter": "a call is for a quarter (2026Q4), not {period!r}",
    "call_amount_invalid": "commit and best case must be amounts of at least 0",
    "plans_imported": lambda p: (f"batch {p['batch']}: " + ", ".join(
        counted(p[k], noun) for k, noun in (("targets", "target"), ("teams", "team membership"), ("calls", "call"))
        if p[k]) + " added"),
    "no_teams": "no teams yet: import a teams file (owner, team, manager) to see attainment by team",
    "plans_nothing_new": "every target, team and call is already in the database: nothing changed",
    "rejected_every_row": "rejected: every row has a problem ({problems:~problem} in {rows:~row}): nothing to "
                          "import; the database is unchanged",
}
