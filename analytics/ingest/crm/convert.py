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
from collections import Counter
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from analytics.domain import FACTOR_KEYS, LAST_STAGE, LOST, WON
from analytics.exceptions import InputError
from analytics.ingest.crm.currency import convert_currency
from analytics.ingest.crm.profiles import MappingProfile, StageTarget, preset
from analytics.ingest.crm.readers import READERS
from analytics.ingest.crm.source import (
    DateColumn,
    SourceTable,
    detect_preset,
    infer_date_order,
    parse_dates,
)
from analytics.ingest.issues import RowIssue, clip_value
from analytics.messages import say

# what the Import page's mapping step offers as choices (a column to pick, a stage to map), not as errors
MAPPING_CHOICES = ("required_column_not_found", "unmapped_stage")


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
    # the expected close and amount as they changed (deal_id, entered_at, expected_close, amount), and where from
    changes: pd.DataFrame | None = None
    change_origin: list[tuple[str, int]] = field(default_factory=list)

    @property
    def unmapped(self) -> list[StageCount]:
        return [s for s in self.stages if s.target is None]

    def missing_columns(self, tables: list[SourceTable]) -> dict[str, list[str]]:
        """Each required field no column was found for, with the headers of its file to choose from."""
        headers = {t.name: t.header for t in tables}
        return {e.column: headers[e.file] for e in self.mapping_errors
                if e.code == "required_column_not_found" and e.file in headers}

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
_KEY_FIELDS = ("name", "account", "created_at")  # what identifies a deal when the export has no ID column

# Converting -----------------------------------------------------------------------------------------------------
class Converter:
    """Builds one Conversion: the profile's reader (analytics.ingest.crm.readers) fills the `deals` and `events`
    frames with their source positions, using the helpers here; run() then completes the conversion."""

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
        # where each deal row came from (file, row), when a reader assembles deals from several rows (snapshots);
        # else the deals table's own rows
        self.deal_rows: list[tuple[str, int]] | None = None
        # close-date and amount changes, when the reader's files record them (with file and row columns)
        self.changes: pd.DataFrame | None = None

    # helpers
    def col(self, table: SourceTable, field_name: str, required: bool = False) -> int | None:
        pos = table.find(self.profile.headers_for(field_name))
        if pos is not None:
            self.columns.setdefault(field_name, table.header[pos])
        elif required:
            tried = ", ".join(self.profile.headers_for(field_name)) or field_name
            self.mapping_errors.append(RowIssue(table.name, 1, field_name, None,
                                                say("required_column_not_found", tried=tried)))
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
                                        clip_value(table.values(pos).iloc[i]), say("not_a_date_in_order", order=order)))
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
                s.file, None, s.column, s.label, say("unmapped_stage", n=s.rows)))

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
                                      say("not_scores", factor=factor)))
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
                self.mapping_errors.append(RowIssue(table.name, 1, h, None, say("key_column_not_found")))
        if not headers:
            self.mapping_errors.append(RowIssue(table.name, 1, "deal_id", None, say("no_key")))
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
        self.warnings.append(RowIssue(table.name, None, None, None, say("derived_key", columns=listed)))
        for _, rows in pd.Series(table.rows, index=base.index).groupby(base, sort=False):
            if len(rows) > 1:
                shown = ", ".join(str(r) for r in rows.iloc[:10]) + (" …" if len(rows) > 10 else "")
                self.warnings.append(RowIssue(
                    table.name, int(rows.iloc[1]), listed, clip_value(joined[rows.index[0]].replace("\x1f", " | ")),
                    say("same_key", rows=shown, columns=listed, n=len(rows))))
        return keys

    def run(self) -> Conversion:
        deals, events = READERS[self.profile.preset](self)
        self.finish_census()
        deal_origin = self.deal_rows
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
        if self.changes is not None and len(self.changes):
            conversion.change_origin = list(zip(self.changes.pop("file"), self.changes.pop("row").astype(int)))
            conversion.changes = self.changes.reset_index(drop=True)
        convert_currency(conversion, self.profile)
        return conversion

    def tables_by_role(self, role: str) -> str:
        return next(name for name, r in self.roles.items() if r == role)

    def _deal_rows(self, deals: pd.DataFrame) -> np.ndarray:
        table = next(t for t in self.tables if t.name == self.tables_by_role("deals"))
        return table.rows[deals.index.to_numpy()]


def _order(target) -> tuple:
    if target is None:
        return (2, 0)
    return (0, LAST_STAGE if target == WON else LAST_STAGE + 1) if target in (WON, LOST) else (0, int(target))


def convert_export(tables: list[SourceTable], profile: MappingProfile | None = None) -> Conversion:
    """Detect (unless a profile is given) and convert; raises InputError when the files are different CRMs'."""
    return Converter(tables, profile or detected_profile(tables)).run()






def detected_profile(tables: list[SourceTable]) -> MappingProfile:
    """The preset whose columns every file carries; with none, the generic one (its English and Chinese
    synonyms). Raises InputError when the files are different CRMs' exports."""
    detected = {t.name: detect_preset(t.header) for t in tables}
    kinds = set(detected.values())
    if kinds == {None}:
        return preset("generic")
    if None in kinds or len(kinds) != 1:
        unknown = [n for n, k in detected.items() if k is None]
        raise InputError(say("not_a_crm_export"), ", ".join(unknown) or ", ".join(detected))
    return preset(kinds.pop())
