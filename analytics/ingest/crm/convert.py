"""CRM exports (Salesforce, HubSpot, Dynamics 365, snapshot series) mapped onto keyfunnel's deals and stage history.

An export is read as text, its preset detected from the headers (or named by a profile), and converted into the
canonical deals and stage-history tables. Those go through the canonical importer, so one batch is still one
transaction with the same checks, and every problem it finds is reported at the source file's own row and column.

Three rules keep the conversion honest:
- an unmapped stage name (or outcome value) is never guessed: the whole export is rejected, listing each unmapped
  name with its count;
- one stage event per actual change of the mapped stage: Salesforce's amount- and date-only history rows and moves
  between two source stages mapped to the same stage add nothing;
- a history that starts after stage 1 is marked as starting mid-way, so its earlier stages count as unobserved, not
  skipped (docs/crm-exports.md).
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from analytics.domain import FACTOR_KEYS, LAST_STAGE, LOST, OPEN, WON
from analytics.exceptions import InputError
from analytics.ingest.canonical import Importer, ImportResult, Progress, RowIssue, clip_value, counted
from analytics.ingest.crm.profiles import MappingProfile, StageTarget, preset
from analytics.ingest.crm.source import (
    _DATE_ENTERED,
    DateColumn,
    SourceTable,
    detect_preset,
    infer_date_order,
    parse_amount,
    parse_dates,
    read_table,
    salesforce_role,
)
from analytics.store.connection import Store

_DATE_IN_NAME = re.compile(r"(\d{4})-?(\d{2})-?(\d{2})")
_MISSING_COLUMN = "required column missing"
_UNMAPPED_STAGE = "unmapped stage name"


@dataclass(frozen=True)
class StageCount:
    """A source stage name, how many rows carry it, and where the profile maps it (None: unmapped)."""

    label: str
    rows: int
    target: StageTarget | None
    file: str
    column: str


@dataclass
class Conversion:
    """An export converted to canonical tables, with where every canonical row and column came from."""

    preset: str
    files: list[str]
    roles: dict[str, str]  # file → deals | history | snapshot
    columns: dict[str, str]  # field → source header, as found
    stages: list[StageCount]
    currencies: dict[str, int]
    date_order: str | None
    deals: pd.DataFrame | None = None
    events: pd.DataFrame | None = None
    deal_origin: list[tuple[str, int]] = field(default_factory=list)
    event_origin: list[tuple[str, int]] = field(default_factory=list)
    errors: list[RowIssue] = field(default_factory=list)  # rows: imported without them under --skip-invalid
    mapping_errors: list[RowIssue] = field(default_factory=list)  # the export as a whole: always rejects
    warnings: list[RowIssue] = field(default_factory=list)

    @property
    def unmapped(self) -> list[StageCount]:
        return [s for s in self.stages if s.target is None]

    def missing_columns(self, tables: list[SourceTable]) -> dict[str, list[str]]:
        """Each required field no column was found for, with the headers of its file to choose from."""
        headers = {t.name: t.header for t in tables}
        return {e.column: headers[e.file] for e in self.mapping_errors
                if e.reason.startswith(_MISSING_COLUMN) and e.file in headers}

    def summary(self) -> dict:
        """What `keyfunnel inspect --json` prints: the mapping as found, without the converted rows."""
        return {"preset": self.preset, "files": self.roles, "date_order": self.date_order,
                "columns": self.columns, "deals": len(self.deals), "stage_events": len(self.events),
                "stages": [{"label": s.label, "rows": s.rows, "stage": s.target, "file": s.file,
                            "column": s.column} for s in self.stages],
                "currencies": self.currencies,
                "errors": [asdict(e) for e in self.mapping_errors + self.errors],
                "warnings": [asdict(w) for w in self.warnings]}


_ALSO_EXTRA = ("status_reason", "pipeline")  # read for a field, and kept whole with the deal too
_SCORES = {"1", "2", "3", "4", "5"}
_NO_STAGE = "no column for the deal's stage or outcome: map stage or outcome in the profile's columns"
_HISTORY_NEEDS_ID = "a stage history is linked to its deals by their ID: the deals file needs an ID column"
_KEY_FIELDS = ("name", "account", "created_at")  # what identifies a deal when the export has no ID column
_NO_KEY = ("no ID column, and no name, account or creation date to derive a key from: map deal_id or "
           "key_columns in the profile")
_TRUE, _FALSE = {"true", "1", "yes", "y", "t"}, {"false", "0", "no", "n", "f", ""}

# Converting -----------------------------------------------------------------------------------------------------
class _Converter:
    """Builds one Conversion; the per-preset methods fill `deals` and `events` frames with source positions."""

    def __init__(self, tables: list[SourceTable], profile: MappingProfile):
        self.tables, self.profile = tables, profile
        self.errors: list[RowIssue] = []
        self.mapping_errors: list[RowIssue] = []
        self.warnings: list[RowIssue] = []
        self.columns: dict[str, str] = {}
        self.roles: dict[str, str] = {}
        self.census: list[StageCount] = []
        self.census_rows: dict[str, set[tuple[str, int]]] = {}
        self.date_order: str | None = None

    # helpers
    def col(self, table: SourceTable, field_name: str, required: bool = False) -> int | None:
        pos = table.find(self.profile.headers_for(field_name))
        if pos is not None:
            self.columns.setdefault(field_name, table.header[pos])
        elif required:
            tried = ", ".join(self.profile.headers_for(field_name)) or field_name
            self.mapping_errors.append(RowIssue(table.name, 1, field_name, None,
                                                f"{_MISSING_COLUMN}: none of {tried} (map it in the "
                                                f"profile's columns)"))
        return pos

    def text(self, table: SourceTable, pos: int | None) -> pd.Series:
        return table.values(pos) if pos is not None else pd.Series("", index=table.frame.index)

    def dates(self, table: SourceTable, pos: int | None) -> pd.Series:
        if pos is None:
            return pd.Series(pd.NaT, index=table.frame.index, dtype="datetime64[ns]")
        stamps, bad = parse_dates(table.values(pos), self.date_order)
        order = {"MDY": "M/D/Y", "DMY": "D/M/Y"}.get(self.date_order or "", "Y-M-D")
        for i in np.flatnonzero(bad.to_numpy()):
            self.errors.append(RowIssue(table.name, int(table.rows[i]), table.header[pos],
                                        clip_value(table.values(pos).iloc[i]), f"not a date (read in {order} order)"))
        return stamps

    def stage_targets(self, table: SourceTable, labels: pd.Series, column: str) -> pd.Series:
        """Map source stage names; count every distinct name for the census; unmapped ones are errors."""
        mapped = pd.Series(None, index=labels.index, dtype=object)
        for label in labels[labels != ""].unique():
            target = self.profile.stage_for(label)
            where = (labels == label).to_numpy()
            self.count_stage(label, target, table, where, column)
            mapped[where] = target
        return mapped

    def count_stage(self, label: str, target, table: SourceTable, where: np.ndarray, column: str) -> None:
        """Note the rows of `table` that carry a stage name (a row counts once however many columns carry it)."""
        self.census.append(StageCount(label, int(where.sum()), target, table.name, column))
        self.census_rows.setdefault(label, set()).update((table.name, int(r)) for r in table.rows[where])

    def finish_census(self) -> None:
        merged: dict[str, StageCount] = {}
        for s in self.census:
            merged.setdefault(s.label, StageCount(s.label, len(self.census_rows[s.label]), s.target, s.file,
                                                  s.column))
        self.census = sorted(merged.values(), key=lambda s: (_order(s.target), s.label))
        unmapped = [s for s in self.census if s.target is None]
        for s in unmapped:
            self.mapping_errors.append(RowIssue(
                s.file, None, s.column, s.label,
                f"{_UNMAPPED_STAGE} on {counted(s.rows, 'row')}: map it to a stage 1–8, won or lost in the profile"))

    def outcomes(self, table: SourceTable, pos: int) -> pd.Series:
        values = table.values(pos)
        out = pd.Series(None, index=values.index, dtype=object)
        for value, count in values.value_counts(sort=False).items():
            outcome = self.profile.outcome_for(value) if value else None
            if outcome is None:
                self.mapping_errors.append(RowIssue(
                    table.name, None, table.header[pos], value,
                    f"unmapped outcome value on {counted(count, 'row')}: map it to won, lost or open in the profile"))
            out[values == value] = outcome
        return out

    def set_date_order(self, date_columns: list[DateColumn]) -> None:
        self.date_order, problem = infer_date_order(date_columns, self.profile.date_order)
        if problem:
            self.mapping_errors.append(problem)

    def date_columns(self, table: SourceTable, fields: tuple[str, ...]) -> list[DateColumn]:
        out = []
        for f in fields:
            pos = table.find(self.profile.headers_for(f))
            if pos is not None:
                out.append(DateColumn(table, pos))
        return out

    def base_deals(self, table: SourceTable, used: set[int]) -> pd.DataFrame:
        """Deal attributes every preset shares, plus every column not otherwise used, kept as extra data."""
        p = self.profile
        deals = pd.DataFrame(index=table.frame.index)
        id_pos = self.col(table, "deal_id")
        deals["deal_id"] = self.text(table, id_pos) if id_pos is not None else self.derived_keys(table)
        not_scores = {f for f in FACTOR_KEYS if not self.holds_scores(table, f)}
        for f in ("name", "account", "tier", "owner", "region", "industry", "lost_reason", *FACTOR_KEYS):
            deals[f] = self.text(table, None if f in not_scores else self.col(table, f))
        used |= {table.find(p.headers_for(f)) for f in p.columns if f not in _ALSO_EXTRA and f not in not_scores} | {
            table.find(p.headers_for(f)) for f in ("deal_id", "name", "account", "tier", "owner", "region",
                                                    "industry", "lost_reason", "currency", *FACTOR_KEYS)
            if f not in not_scores}
        for pos in range(len(table.header)):
            if pos not in used:
                name = table.header[pos].strip() or f"column {pos + 1}"
                deals[name if name not in deals.columns else f"{name} (source)"] = table.values(pos)
        return deals

    def holds_scores(self, table: SourceTable, factor: str) -> bool:
        """Whether the column taken for an evaluation score holds scores. A text column whose name happens to be a
        score's (`product`, a product name) holds none of 1–5: it is kept as extra data, with a warning."""
        pos = table.find(self.profile.headers_for(factor))
        if pos is None:
            return True
        values = table.values(pos)
        given = values[values != ""]
        if given.empty or given.isin(_SCORES).any():
            return True
        self.warnings.append(RowIssue(table.name, 1, table.header[pos], clip_value(given.iloc[0]),
                                      f"named like the evaluation score {factor!r} but holds no score 1–5: "
                                      f"kept as extra data"))
        return False

    def derived_keys(self, table: SourceTable) -> pd.Series:
        """Deal keys for an export without an ID column, from the columns that identify a deal (the profile's
        key_columns, else the name, account and creation date found): 'K' and 12 hex digits of their SHA-1, so
        that the same values give the same key in every export. Rows with the same values are not merged: the
        second and later, in file order, are numbered (K…-2, K…-3) and reported."""
        headers = list(self.profile.key_columns) or [
            table.header[pos] for f in _KEY_FIELDS if (pos := table.find(self.profile.headers_for(f))) is not None]
        positions = [table.find((h,)) for h in headers]
        for h, pos in zip(headers, positions):
            if pos is None:
                self.mapping_errors.append(RowIssue(table.name, 1, h, None,
                                                    "key column not found: key_columns must name headers of the file"))
        if not headers:
            self.mapping_errors.append(RowIssue(table.name, 1, "deal_id", None, _NO_KEY))
        if not headers or None in positions:
            return pd.Series("", index=table.frame.index)
        joined = table.values(positions[0])
        for pos in positions[1:]:
            joined = joined + "\x1f" + table.values(pos)
        base = joined.map(lambda v: "K" + hashlib.sha1(v.encode("utf-8")).hexdigest()[:12])
        number = base.groupby(base, sort=False).cumcount() + 1
        keys = base.where(number == 1, base + "-" + number.astype(str))
        listed = ", ".join(headers)
        self.columns["key_columns"] = listed
        self.warnings.append(RowIssue(table.name, None, None, None,
                                      f"no ID column: each deal's key is derived from {listed}; the same export, or "
                                      f"a later one with these values unchanged, finds the same deals"))
        for _, rows in pd.Series(table.rows, index=base.index).groupby(base, sort=False):
            if len(rows) > 1:
                shown = ", ".join(str(r) for r in rows.iloc[:10]) + (" …" if len(rows) > 10 else "")
                self.warnings.append(RowIssue(
                    table.name, int(rows.iloc[1]), listed, clip_value(joined[rows.index[0]].replace("\x1f", " | ")),
                    f"rows {shown} have the same {listed}: kept as {len(rows)} deals, numbered in file order"))
        return keys

    def amounts(self, table: SourceTable, pos: int | None, currency_pos: int | None, deals: pd.DataFrame,
                ) -> None:
        amount = np.full(len(table.frame), np.nan)
        currency = self.text(table, currency_pos).str.upper().to_numpy(dtype=object)
        if pos is not None:
            for i, value in enumerate(table.values(pos)):
                if not value:
                    continue
                parsed, code = parse_amount(value, self.profile.decimal_mark)
                if parsed is None:
                    self.errors.append(RowIssue(table.name, int(table.rows[i]), table.header[pos], clip_value(value),
                                                "not an amount" + (" (the profile's decimal mark is ',')"
                                                                   if self.profile.decimal_mark == "," else "")))
                    continue
                amount[i] = parsed
                if code and not currency[i]:
                    currency[i] = code
        deals["amount"] = amount
        deals["currency"] = currency

    # presets
    def salesforce(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        p = self.profile
        roles = {t.name: salesforce_role(t, p) for t in self.tables}
        self.roles = roles
        opps = [t for t in self.tables if roles[t.name] == "deals"]
        hists = [t for t in self.tables if roles[t.name] == "history"]
        if len(opps) != 1 or len(hists) > 1:
            raise InputError("a Salesforce import is one Opportunity export, optionally with one "
                             f"OpportunityHistory export (got {len(opps)} opportunity and {len(hists)} history files)")
        t = opps[0]
        dates = self.date_columns(t, ("created_at", "close_date", "stage_changed_at"))
        if hists:
            dates += self.date_columns(hists[0], ("history_at",))
        self.set_date_order(dates)
        used: set[int] = set()
        deals = self.base_deals(t, used)
        self.amounts(t, self.col(t, "amount"), self.col(t, "currency"), deals)
        deals["created_at"] = self.dates(t, self.col(t, "created_at"))
        close = self.dates(t, self.col(t, "close_date"))
        stage_pos = self.col(t, "stage", required=True)
        stage = self.stage_targets(t, self.text(t, stage_pos), t.header[stage_pos] if stage_pos is not None else "")
        closed_pos, won_pos = self.col(t, "is_closed"), self.col(t, "is_won")
        if closed_pos is not None and won_pos is not None:
            closed, won = self._flag(t, closed_pos), self._flag(t, won_pos)
            outcome = pd.Series(np.where(won == True, WON, np.where(closed == True, LOST, OPEN)),  # noqa: E712
                                index=t.frame.index)
            stage = self.reconcile(t, stage, outcome, stage_pos, f"{t.header[closed_pos]} and {t.header[won_pos]}")
        else:
            outcome = np.where(stage == WON, WON, np.where(stage == LOST, LOST, OPEN))
        deals["outcome"] = outcome
        deals["closed_at"] = close.where(deals["outcome"] != OPEN)
        deals["expected_close"] = close.where(deals["outcome"] == OPEN)
        changed = self.dates(t, self.col(t, "stage_changed_at"))
        current = _current_stage(deals, stage, changed.fillna(deals["created_at"]), t)
        return deals, self.with_history(hists[0], current) if hists else _changes(current)

    def with_history(self, h: SourceTable, current: pd.DataFrame) -> pd.DataFrame:
        """Stage events from a history file (deal, stage, date per row), and for the deals it has no rows of, the
        current stage the deals file gives."""
        hp = {f: self.col(h, f, required=True) for f in ("history_deal_id", "history_stage", "history_at")}
        if None in hp.values():
            return _no_events()
        steps = pd.DataFrame({
            "deal_id": self.text(h, hp["history_deal_id"]),
            "target": self.stage_targets(h, self.text(h, hp["history_stage"]), h.header[hp["history_stage"]]),
            "at": self.dates(h, hp["history_at"]), "file": h.name, "row": h.rows})
        steps = steps[steps["deal_id"] != ""]
        without = current[~current["deal_id"].isin(steps["deal_id"])]
        return _changes(pd.concat([steps, without], ignore_index=True))

    def reconcile(self, t: SourceTable, stage: pd.Series, outcome: pd.Series, stage_pos: int,
                  decided_by: str) -> pd.Series:
        """Where the stage says won or lost and the outcome columns say otherwise (a Salesforce StageName of
        Closed Won beside IsWon false): the outcome columns decide, the stage name is not taken as a stage of that
        deal, and one warning counts the rows and names the first few (docs/crm-exports.md)."""
        says = stage.where(stage.isin([WON, LOST]))
        disagree = (says.notna() & (says != outcome)).to_numpy()
        if not disagree.any():
            return stage
        rows = t.rows[disagree]
        shown = ", ".join(str(r) for r in rows[:5]) + (" …" if len(rows) > 5 else "")
        header = t.header[stage_pos]
        self.warnings.append(RowIssue(
            t.name, int(rows[0]), header, clip_value(t.values(stage_pos).iloc[int(np.flatnonzero(disagree)[0])]),
            f"{header} disagrees with {decided_by} on {counted(len(rows), 'row')} (rows {shown}): "
            f"{decided_by} decide the outcome"))
        return stage.where(~disagree)

    def generic(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Any current-stage export: one row per deal with a stage or an outcome column (or both), optionally
        with a stage history file (deal, stage, date)."""
        p = self.profile
        hists = [t for t in self.tables if t.find(p.headers_for("history_at")) is not None
                 and t.find(p.headers_for("amount")) is None and t.find(p.headers_for("outcome")) is None]
        opps = [t for t in self.tables if t not in hists]
        if len(opps) != 1 or len(hists) > 1:
            raise InputError("a generic import is one deals file, optionally with one stage history file "
                             f"(got {len(opps)} deals and {len(hists)} history files)")
        t = opps[0]
        self.roles = {t.name: "deals", **{h.name: "history" for h in hists}}
        dates = self.date_columns(t, ("created_at", "expected_close", "closed_at", "stage_changed_at"))
        if hists:
            dates += self.date_columns(hists[0], ("history_at",))
        self.set_date_order(dates)
        deals = self.base_deals(t, set())
        self.amounts(t, self.col(t, "amount"), self.col(t, "currency"), deals)
        deals["created_at"] = self.dates(t, self.col(t, "created_at"))
        stage_pos, outcome_pos = self.col(t, "stage"), self.col(t, "outcome")
        if stage_pos is None and outcome_pos is None:
            self.mapping_errors.append(RowIssue(t.name, 1, "stage", None, _NO_STAGE))
        stage = (self.stage_targets(t, self.text(t, stage_pos), t.header[stage_pos]) if stage_pos is not None
                 else pd.Series(None, index=t.frame.index, dtype=object))
        if outcome_pos is not None:
            outcome = self.outcomes(t, outcome_pos)
            if stage_pos is not None:
                stage = self.reconcile(t, stage, outcome, stage_pos, t.header[outcome_pos])
        else:
            outcome = pd.Series(np.where(stage == WON, WON, np.where(stage == LOST, LOST, OPEN)),
                                index=t.frame.index)
        deals["outcome"] = outcome
        close = self.dates(t, self.col(t, "closed_at"))
        expected = self.dates(t, self.col(t, "expected_close"))
        deals["closed_at"] = close.where(deals["outcome"] != OPEN)
        # a single close-date column is the expected close of an open deal
        deals["expected_close"] = expected if "expected_close" in self.columns else close.where(
            deals["outcome"] == OPEN)
        changed = self.dates(t, self.col(t, "stage_changed_at"))
        current = _current_stage(deals, stage, changed.fillna(deals["created_at"]).fillna(deals["closed_at"]), t)
        if not hists:
            return deals, _changes(current)
        if "key_columns" in self.columns:  # derived keys: nothing links the history's rows to the deals
            self.mapping_errors.append(RowIssue(hists[0].name, 1, None, None, _HISTORY_NEEDS_ID))
            return deals, _no_events()
        return deals, self.with_history(hists[0], current)

    def _flag(self, t: SourceTable, pos: int) -> pd.Series:
        values = t.values(pos).str.lower()
        bad = ~values.isin(_TRUE | _FALSE)
        for i in np.flatnonzero(bad.to_numpy()):
            self.errors.append(RowIssue(t.name, int(t.rows[i]), t.header[pos], clip_value(t.values(pos).iloc[i]),
                                        "not true or false"))
        return values.isin(_TRUE)

    def hubspot(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        if len(self.tables) != 1:
            raise InputError(f"a HubSpot import is one deals export (got {len(self.tables)} files)")
        t = self.tables[0]
        self.roles = {t.name: "deals"}
        entered = [(pos, m.group(1)) for pos, h in enumerate(t.header) if (m := _DATE_ENTERED.match(h))]
        dates = self.date_columns(t, ("created_at", "close_date")) + [DateColumn(t, pos) for pos, _ in entered]
        self.set_date_order(dates)
        used = {pos for pos, _ in entered}
        deals = self.base_deals(t, used)
        self.amounts(t, self.col(t, "amount"), self.col(t, "currency"), deals)
        deals["created_at"] = self.dates(t, self.col(t, "created_at"))
        close = self.dates(t, self.col(t, "close_date"))
        stage_pos = self.col(t, "stage", required=True)
        pipeline = self.text(t, self.col(t, "pipeline"))
        labels = self.text(t, stage_pos)
        qualified = labels.where((pipeline == "") | (labels == ""), labels + " (" + pipeline + ")")
        stage = self.stage_targets(t, qualified, t.header[stage_pos] if stage_pos is not None else "")
        deals["outcome"] = np.where(stage == WON, WON, np.where(stage == LOST, LOST, OPEN))
        deals["closed_at"] = close.where(deals["outcome"] != OPEN)
        deals["expected_close"] = close.where(deals["outcome"] == OPEN)
        steps = []
        for pos, label in entered:
            at = self.dates(t, pos)
            has = at.notna()
            if not has.any():
                continue
            target = self.profile.stage_for(label)
            self.count_stage(label, target, t, has.to_numpy(), t.header[pos])
            steps.append(pd.DataFrame({"deal_id": deals["deal_id"][has], "target": target, "at": at[has],
                                       "file": t.name, "row": t.rows[has.to_numpy()]}))
        found = pd.concat(steps, ignore_index=True) if steps else _no_steps()
        current = _current_stage(deals, stage, deals["created_at"], t)
        without = current[~current["deal_id"].isin(found["deal_id"])]
        return deals, _changes(pd.concat([found, without], ignore_index=True))

    def dynamics365(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        if len(self.tables) != 1:
            raise InputError(f"a Dynamics 365 import is one opportunities export (got {len(self.tables)} files)")
        t = self.tables[0]
        self.roles = {t.name: "deals"}
        self.set_date_order(self.date_columns(t, ("created_at", "modified_at", "expected_close", "actual_close")))
        deals = self.base_deals(t, set())
        status_pos = self.col(t, "status", required=True)
        outcome = self.outcomes(t, status_pos) if status_pos is not None else pd.Series(OPEN, index=t.frame.index)
        deals["outcome"] = outcome
        self.amounts(t, self.col(t, "amount"), self.col(t, "currency"), deals)
        actual_pos = self.col(t, "actual_revenue")
        if actual_pos is not None:
            actual = pd.DataFrame(index=t.frame.index)
            self.amounts(t, actual_pos, None, actual)
            use = (deals["outcome"] == WON) & actual["amount"].notna()
            deals.loc[use, "amount"] = actual.loc[use, "amount"]
        deals["created_at"] = self.dates(t, self.col(t, "created_at"))
        deals["expected_close"] = self.dates(t, self.col(t, "expected_close"))
        deals["closed_at"] = self.dates(t, self.col(t, "actual_close")).where(deals["outcome"] != OPEN)
        reason = self.text(t, self.col(t, "status_reason"))
        deals["lost_reason"] = deals["lost_reason"].where(deals["lost_reason"] != "",
                                                          reason.where(deals["outcome"] == LOST, ""))
        stage_pos = self.col(t, "stage")
        stage = self.stage_targets(t, self.text(t, stage_pos), t.header[stage_pos] if stage_pos is not None else "")
        modified = self.dates(t, self.col(t, "modified_at")).fillna(deals["created_at"])
        at = modified.where(deals["closed_at"].isna() | (modified <= deals["closed_at"]), deals["closed_at"])
        current = pd.DataFrame({"deal_id": deals["deal_id"], "target": stage, "at": at, "file": t.name,
                                "row": t.rows})
        signed = pd.DataFrame({"deal_id": deals["deal_id"], "target": WON, "at": deals["closed_at"],
                               "file": t.name, "row": t.rows})[(deals["outcome"] == WON) & deals["closed_at"].notna()]
        return deals, _changes(pd.concat([current, signed], ignore_index=True))

    def snapshots(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        frames = []
        self.set_date_order([c for t in self.tables
                             for c in self.date_columns(t, ("snapshot_date", "created_at", "close_date"))])
        for t in self.tables:
            self.roles[t.name] = "snapshot"
            deals = self.base_deals(t, set())
            self.amounts(t, self.col(t, "amount"), self.col(t, "currency"), deals)
            deals["created_at"] = self.dates(t, self.col(t, "created_at"))
            deals["close_date"] = self.dates(t, self.col(t, "close_date"))
            snap_pos = self.col(t, "snapshot_date")
            if snap_pos is not None:
                deals["snapshot"] = self.dates(t, snap_pos)
            else:
                m = _DATE_IN_NAME.search(t.name)
                if m is None:
                    self.mapping_errors.append(RowIssue(t.name, 1, "snapshot_date", None,
                                                        "no snapshot_date column and no date (YYYY-MM-DD) in "
                                                        "the file name"))
                    continue
                deals["snapshot"] = pd.Timestamp(int(m.group(1)), int(m.group(2)), int(m.group(3)))
            stage_pos = self.col(t, "stage", required=True)
            deals["target"] = self.stage_targets(t, self.text(t, stage_pos),
                                                 t.header[stage_pos] if stage_pos is not None else "")
            outcome_pos = self.col(t, "outcome")
            if outcome_pos is not None:
                deals["given_outcome"] = self.outcomes(t, outcome_pos)
            deals["file"], deals["row"] = t.name, t.rows
            frames.append(deals)
        if not frames:
            return _no_deals(), _no_events()
        seen = pd.concat(frames, ignore_index=True).sort_values(["deal_id", "snapshot", "file", "row"],
                                                                kind="stable")
        seen = seen[seen["deal_id"] != ""]
        steps = seen[["deal_id", "target", "file", "row"]].assign(at=seen["snapshot"])
        latest = seen.groupby("deal_id", sort=False).tail(1).copy()
        first_seen = seen.groupby("deal_id", sort=False)["snapshot"].min()
        latest["created_at"] = latest["created_at"].fillna(latest["deal_id"].map(first_seen))
        given = latest["given_outcome"] if "given_outcome" in latest else pd.Series(None, index=latest.index,
                                                                                     dtype=object)
        latest["outcome"] = np.where(latest["target"] == WON, WON, np.where(
            latest["target"] == LOST, LOST, given.fillna(OPEN)))
        # closed when first seen in the final closed state, unless the export gives a close date
        final = seen["deal_id"].map(latest.set_index("deal_id")["target"])
        closed_first = seen[seen["target"] == final].groupby("deal_id")["snapshot"].min()
        closed_at = latest["close_date"].fillna(latest["deal_id"].map(closed_first))
        latest["closed_at"] = closed_at.where(latest["outcome"] != OPEN)
        latest["expected_close"] = latest["close_date"].where(latest["outcome"] == OPEN)
        latest = latest.drop(columns=["snapshot", "target", "close_date", *(["given_outcome"] if "given_outcome"
                                                                              in latest else [])])
        self.deal_rows = list(zip(latest.pop("file"), latest.pop("row")))
        return latest.reset_index(drop=True), _changes(steps)

    def run(self) -> Conversion:
        method = getattr(self, self.profile.preset)
        deals, events = method()
        self.finish_census()
        deal_origin = getattr(self, "deal_rows", None)
        if deal_origin is None:
            deal_origin = [(self.tables_by_role("deals"), int(r)) for r in self._deal_rows(deals)]
        deals = deals.reset_index(drop=True)
        if "history_truncated" not in deals:
            first = events.groupby("deal_id", sort=False)["stage"].first()
            deals["history_truncated"] = deals["deal_id"].map(first).fillna(1).gt(1)
        currencies = Counter(c for c in deals["currency"] if c)
        conversion = Conversion(self.profile.preset, [t.name for t in self.tables], self.roles, self.columns,
                                self.census, dict(currencies), self.date_order, deals, events, deal_origin,
                                list(zip(events.pop("file"), events.pop("row").astype(int))), self.errors,
                                self.mapping_errors, self.warnings)
        _convert_currency(conversion, self.profile)
        return conversion

    def tables_by_role(self, role: str) -> str:
        return next(name for name, r in self.roles.items() if r == role)

    def _deal_rows(self, deals: pd.DataFrame) -> np.ndarray:
        table = next(t for t in self.tables if t.name == self.tables_by_role("deals"))
        return table.rows[deals.index.to_numpy()]


def _current_stage(deals: pd.DataFrame, stage: pd.Series, at: pd.Series, table: SourceTable) -> pd.DataFrame:
    """The one observation an export without stage history gives: the current stage, dated by the best date it
    has (a won deal's signing by its close date)."""
    at = at.where(stage != WON, deals["closed_at"].fillna(at))
    return pd.DataFrame({"deal_id": deals["deal_id"], "target": stage, "at": at, "file": table.name,
                         "row": table.rows})


def _order(target) -> tuple:
    if target is None:
        return (2, 0)
    return (0, LAST_STAGE if target == WON else LAST_STAGE + 1) if target in (WON, LOST) else (0, int(target))


def _no_steps() -> pd.DataFrame:
    return pd.DataFrame({"deal_id": pd.Series(dtype=object), "target": pd.Series(dtype=object),
                         "at": pd.Series(dtype="datetime64[ns]"), "file": pd.Series(dtype=object),
                         "row": pd.Series(dtype=np.int64)})


def _no_events() -> pd.DataFrame:
    return _changes(_no_steps())


def _no_deals() -> pd.DataFrame:
    return pd.DataFrame({"deal_id": pd.Series(dtype=object), "currency": pd.Series(dtype=object)})


def _changes(steps: pd.DataFrame) -> pd.DataFrame:
    """Stage events from time-ordered observations: one per change of the mapped stage, per deal.

    'won' is stage 8; 'lost' adds no event but ends a stay, so a deal reopened at its old stage re-enters it.
    Observations without a date or an unmapped stage are dropped here: they are already reported as errors.
    """
    steps = steps[steps["at"].notna() & steps["target"].notna() & (steps["deal_id"] != "")]
    steps = steps.sort_values(["deal_id", "at", "file", "row"], kind="stable")
    target = steps["target"].map(lambda t: LAST_STAGE if t == WON else t)
    previous = target.groupby(steps["deal_id"], sort=False).shift()
    change = (target != previous) & (target != LOST)
    events = pd.DataFrame({"deal_id": steps["deal_id"][change], "stage": target[change].astype(int),
                           "entered_at": steps["at"][change], "file": steps["file"][change],
                           "row": steps["row"][change]})
    return events.reset_index(drop=True)


def _convert_currency(conversion: Conversion, profile: MappingProfile) -> None:
    """One reporting currency: the profile's, or the only one present; other amounts converted by its rates."""
    deals = conversion.deals
    present = conversion.currencies
    reporting = profile.currency or (next(iter(present)) if len(present) == 1 else None)
    if not present or (len(present) == 1 and reporting in present):
        if reporting:
            deals["currency"] = deals["currency"].replace("", reporting)
        return
    if reporting is None:
        listed = ", ".join(f"{c} ({n} deals)" for c, n in sorted(present.items()))
        conversion.mapping_errors.append(RowIssue(
            conversion.files[0], None, conversion.columns.get("currency"), None,
            f"several currencies ({listed}): set the reporting currency and a rate for each in the profile"))
        return
    rates = {**profile.rates, reporting: 1.0}
    missing = {c: n for c, n in present.items() if c not in rates}
    for code, n in sorted(missing.items()):
        conversion.mapping_errors.append(RowIssue(
            conversion.files[0], None, conversion.columns.get("currency"), code,
            f"no exchange rate for {code} ({n} deals): add rates.{code} (1 {code} = ? {reporting}) to the profile"))
    if missing:
        return
    original = deals["amount"].copy()
    rate = deals["currency"].map(lambda c: rates.get(c, 1.0) if c else 1.0)
    converted = deals["currency"].ne("") & deals["currency"].ne(reporting)
    deals["amount_original"] = np.where(converted, original, np.nan)
    deals["currency_original"] = np.where(converted, deals["currency"], "")
    deals["amount"] = original * rate
    deals["currency"] = reporting


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


def detected_profile(tables: list[SourceTable]) -> MappingProfile:
    """The preset whose columns every file carries; with none, the generic one (its English and Chinese
    synonyms). Raises InputError when the files are different CRMs' exports."""
    detected = {t.name: detect_preset(t.header) for t in tables}
    kinds = set(detected.values())
    if kinds == {None}:
        return preset("generic")
    if None in kinds or len(kinds) != 1:
        unknown = [n for n, k in detected.items() if k is None]
        raise InputError(f"{', '.join(unknown) or ', '.join(detected)}: not a recognised CRM export; choose a "
                         f"profile (salesforce, hubspot, dynamics365, snapshots or a saved one)")
    return preset(kinds.pop())


def convert_export(tables: list[SourceTable], profile: MappingProfile | None = None) -> Conversion:
    """Detect (unless a profile is given) and convert; raises InputError when the files are different CRMs'."""
    return _Converter(tables, profile or detected_profile(tables)).run()


def other_problems(conversion: Conversion) -> list[RowIssue]:
    """What rejects the export besides unmapped stage names and missing columns (which the Import page's mapping
    step shows as choices): several currencies without rates, ambiguous dates, a key column not found, …"""
    return [e for e in conversion.mapping_errors if not e.reason.startswith((_UNMAPPED_STAGE, _MISSING_COLUMN))]


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
                            "entered_at": ("history_at", "snapshot_date")}.get(issue.column or "", ())
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
        return RowIssue(file, row, column, issue.value if shown is None else clip_value(shown), issue.reason)


def import_export(store: Store, tables: list[SourceTable], read_errors: list[RowIssue],
                  profile: MappingProfile | None = None, *, skip_invalid: bool = False,
                  progress: Progress | None = None) -> ImportResult:
    """Convert a CRM export and import it as one batch; mapping problems reject it whatever skip_invalid says."""
    files = [t.name for t in tables]
    try:
        conversion = convert_export(tables, profile)
    except InputError as exc:
        return _rejected(files, None, [RowIssue(files[0], None, None, None, str(exc))])
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
    folder = Path(tempfile.mkdtemp(prefix="keyfunnel-crm-"))
    deals_path, events_path = folder / "deals.csv", folder / "history.csv"
    try:
        _write_canonical(deals, deals_path)
        _write_canonical(events[["deal_id", "stage", "entered_at"]], events_path)
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
    message = (f"rejected: {len(unmapped)} unmapped stage names: {listed}; the database is unchanged"
               if unmapped else None)
    return ImportResult.rejected(files, fmt, errors, message=message)

