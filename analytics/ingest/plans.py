"""Importing plans: a targets file (period, owner or team or region, target; with optional team and manager columns on
owner rows), a teams file (owner, team, manager) and a forecast calls file; and a call typed in (add_call).

Plans files are small (a row per owner and period): each is staged by DuckDB as the deals are (the same row
numbering, encodings and workbooks), typed in SQL, then checked row by row. Every bad cell is named by file, row,
column and value, and a file with any is rejected whole: nothing is written. A batch is recorded in import_batches,
so that `keyfunnel undo` removes it and the targets it superseded are in force again."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from analytics.exceptions import InputError
from analytics.ingest.cells import (
    MAX_AMOUNT,
    amount_sql,
    cell_params,
    date_sql,
    text_sql,
)
from analytics.ingest.csvsource import CsvSource, open_csv
from analytics.ingest.headers import map_header
from analytics.ingest.issues import (
    ImportResult,
    RowIssue,
    cleaned_cell_warnings,
    clip_value,
)
from analytics.ingest.staging import StagedFile, drop_staging, stage_file
from analytics.messages import say
from analytics.store.connection import Store
from analytics.store.plans import ACTIVE_TARGETS_SQL, ACTIVE_TEAMS_SQL, normalise_period

PLAN_COLUMNS = ("period", "owner", "team", "region", "target", "manager", "commit", "best_case", "note",
                "entered_by", "called_at")
PLAN_HEADERS_ZH = {"期间": "period", "周期": "period", "考核期": "period", "负责人": "owner", "销售": "owner",
                   "团队": "team", "区域": "region", "目标": "target", "目标金额": "target", "指标": "target",
                   "经理": "manager", "团队经理": "manager", "承诺": "commit", "承诺金额": "commit",
                   "最佳情况": "best_case", "备注": "note", "填报人": "entered_by", "填报日期": "called_at",
                   "提交日期": "called_at"}
_AMOUNTS = ("target", "commit", "best_case")


def plan_kind(header: list[str]) -> str | None:
    """'targets', 'calls' or 'teams' for a plans file's header, else None."""
    fields = map_header(header, PLAN_HEADERS_ZH, PLAN_COLUMNS)[0]
    if "target" in fields and "period" in fields:
        return "targets"
    if "commit" in fields and "period" in fields:
        return "calls"
    if {"owner", "team"} <= set(fields) and "period" not in fields and "amount" not in header:
        return "teams"
    return None


@dataclass
class _Rows:
    """A plans file's rows: each a dict of its typed fields, `raw` its cells as written."""

    source: CsvSource
    kind: str
    rows: list[dict] = field(default_factory=list)


def _read(store: Store, path: str | Path, name: str | None, sheet: str | None,
          errors: list[RowIssue], warnings: list[RowIssue]) -> _Rows | None:
    source = open_csv(path, name, sheet)
    try:
        warnings += cleaned_cell_warnings(source)
        kind = plan_kind(source.header)
        fields, unknown = map_header(source.header, PLAN_HEADERS_ZH, PLAN_COLUMNS)
        if kind is None:
            errors.append(RowIssue(source.name, 1 + source.row_offset, None, None, say("not_a_plans_file")))
            return None
        for i in unknown:
            warnings.append(RowIssue(source.name, 1 + source.row_offset, source.header[i], None,
                                     say("column_not_recognised")))
        st = StagedFile(source, "kf_raw_plans", fields, unknown)
        errors += stage_file(store, st)
        select = ["src_row"]
        for f, i in fields.items():
            select.append(f"{text_sql(f'c{i}')} AS raw_{f}")
            if f in _AMOUNTS:
                select.append(f"{amount_sql(f'c{i}', False)} AS {f}")
            elif f == "called_at":
                select.append(f"{date_sql(f'c{i}')} AS {f}")
        rows = store.fetch_dicts(f"SELECT {', '.join(select)} FROM kf_raw_plans_rows ORDER BY src_row",
                                 cell_params(False))
        return _Rows(source, kind, [r for r in rows if any(r[f"raw_{f}"] is not None for f in fields)])
    finally:
        source.cleanup()
        drop_staging(store)


class _Checker:
    """The row-by-row checks of the plans files of one import."""

    def __init__(self, store: Store):
        self.owners = {r[0] for r in store.fetchall("SELECT DISTINCT owner FROM deals WHERE owner IS NOT NULL")}
        self.regions = {r[0] for r in store.fetchall("SELECT DISTINCT region FROM deals WHERE region IS NOT NULL")}
        self.teams = {r[0] for r in store.fetchall(f"SELECT DISTINCT team FROM ({ACTIVE_TEAMS_SQL})")}
        self.errors: list[RowIssue] = []

    def issue(self, rows: _Rows, record: dict, column: str, code: str, /, **params) -> None:
        self.errors.append(RowIssue(rows.source.name, int(record["src_row"]), column,
                                    clip_value(record.get(f"raw_{column}")), say(code, **params)))

    def required(self, rows: _Rows, row: dict, column: str) -> bool:
        if row.get(f"raw_{column}") is None:
            self.issue(rows, row, column, "required_missing")
            return False
        return True

    def amount(self, rows: _Rows, row: dict, column: str) -> float | None:
        if not self.required(rows, row, column):
            return None
        value = row[column]
        if value is None:
            self.issue(rows, row, column, "not_an_amount")
        elif value < 0:
            self.issue(rows, row, column, "amount_negative")
        elif value > MAX_AMOUNT:
            self.issue(rows, row, column, "amount_too_large")
        else:
            return float(value)
        return None

    def period(self, rows: _Rows, row: dict) -> str | None:
        if not self.required(rows, row, "period"):
            return None
        period = normalise_period(row["raw_period"])
        if period is None:
            self.issue(rows, row, "period", "bad_period")
        return period

    def known(self, rows: _Rows, row: dict, column: str) -> str | None:
        value = row.get(f"raw_{column}")
        known = {"owner": self.owners, "region": self.regions, "team": self.teams}[column]
        if value is not None and value not in known:
            self.issue(rows, row, column, f"unknown_{column}")
            return None
        return value

    def unit(self, rows: _Rows, row: dict, kinds: tuple[str, ...]) -> tuple[str, str] | None:
        """The row's one unit, of `kinds`: on an owner row a team is the owner's team, not a second unit."""
        given = [k for k in kinds if row.get(f"raw_{k}") is not None]
        if "owner" in given and "team" in given:
            given.remove("team")
        if not given:
            self.issue(rows, row, kinds[0], "plan_unit_missing", kinds=", ".join(kinds))
            return None
        if len(given) > 1:
            self.issue(rows, row, given[1], "plan_units_several", first=given[0])
            return None
        value = self.known(rows, row, given[0])
        return (given[0], value) if value is not None else None


def _memberships(check: _Checker, files: list[_Rows]) -> dict[str, tuple[str, str | None, dict, _Rows]]:
    """owner → (team, manager) from the teams files and the targets files' team columns, conflicts named."""
    out: dict[str, tuple[str, str | None, dict, _Rows]] = {}
    for rows in files:
        if rows.kind not in ("teams", "targets"):
            continue
        for row in rows.rows:
            owner, team = row.get("raw_owner"), row.get("raw_team")
            if rows.kind == "teams":
                if not (check.required(rows, row, "owner") and check.required(rows, row, "team")):
                    continue
                if check.known(rows, row, "owner") is None:
                    continue
            elif owner is None or team is None:
                continue
            membership = (team, row.get("raw_manager"))
            if owner in out and out[owner][:2] != membership:
                first = out[owner]
                check.issue(rows, row, "team", "team_conflict", owner=owner, team=first[0],
                            row=int(first[2]["src_row"]), file=first[3].source.name)
            else:
                out.setdefault(owner, (*membership, row, rows))
    check.teams |= {team for team, *_ in out.values()}
    return out


def import_plans(store: Store, paths: Iterable[str | Path], names: Iterable[str | None] | None = None,
                 sheet: str | None = None) -> ImportResult:
    """Import targets, teams and calls files as one batch, all or nothing."""
    paths = [Path(p) for p in paths]
    names = list(names) if names is not None else [None] * len(paths)
    files = [n or p.name for p, n in zip(paths, names)]
    errors: list[RowIssue] = []
    warnings: list[RowIssue] = []
    read: list[_Rows] = []
    for path, name, shown in zip(paths, names, files):
        try:
            rows = _read(store, path, name, sheet, errors, warnings)
        except InputError as exc:
            errors.append(RowIssue(exc.file or shown, None, None, None, exc.message))
            continue
        if rows is not None:
            read.append(rows)
    if errors:
        return ImportResult.rejected(files, None, errors, warnings)
    check = _Checker(store)
    teams = _memberships(check, read)
    targets: dict[tuple[str, str, str], tuple[float, dict, _Rows]] = {}
    calls = []
    for rows in read:
        for row in rows.rows:
            if rows.kind == "targets":
                period, unit, value = (check.period(rows, row), check.unit(rows, row, ("owner", "team", "region")),
                                       check.amount(rows, row, "target"))
                if None in (period, unit, value):
                    continue
                key = (period, *unit)
                if key in targets:
                    first = targets[key]
                    check.issue(rows, row, unit[0], "duplicate_target", period=period, row=int(first[1]["src_row"]))
                    continue
                targets[key] = (value, row, rows)
            elif rows.kind == "calls":
                period, unit = check.period(rows, row), check.unit(rows, row, ("owner", "team"))
                commit, best = check.amount(rows, row, "commit"), check.amount(rows, row, "best_case")
                called = row.get("called_at") if check.required(rows, row, "called_at") else None
                if row.get("raw_called_at") is not None and called is None:
                    check.issue(rows, row, "called_at", "not_a_date")
                if commit is not None and best is not None and best < commit:
                    check.issue(rows, row, "best_case", "best_below_commit", commit=commit)
                    continue
                if None not in (period, unit, commit, best, called):
                    calls.append((period, *unit, commit, best, row.get("raw_note"), row.get("raw_entered_by"),
                                  called))
    if check.errors:
        check.errors.sort(key=lambda e: (files.index(e.file), e.row or 0))
        return ImportResult.rejected(files, None, check.errors, warnings)
    return _write(store, read, files, targets, teams, calls, warnings)


def _write(store: Store, read: list[_Rows], files: list[str], targets: dict, teams: dict, calls: list,
           warnings: list[RowIssue]) -> ImportResult:
    active = {(p, k, u): v for p, k, u, v in store.fetchall(ACTIVE_TARGETS_SQL)}
    new_targets = [(*key, value) for key, (value, *_) in targets.items() if active.get(key) != value]
    members = {o: (t, m) for o, t, m in store.fetchall(ACTIVE_TEAMS_SQL)}
    new_teams = [(owner, team, manager) for owner, (team, manager, *_) in teams.items()
                 if members.get(owner) != (team, manager)]
    known_calls = set(store.fetchall("SELECT period, unit_kind, unit, commit_amount, best_case, note, entered_by, "
                                     "called_at FROM forecast_calls"))
    new_calls = list(dict.fromkeys(c for c in calls if c not in known_calls))
    fmt = "+".join(dict.fromkeys(r.kind for r in read))
    sha256 = [r.source.sha256 for r in read]
    if not (new_targets or new_teams or new_calls):
        earlier = store.scalar("SELECT max(batch_id) FROM import_batches WHERE status = 'imported' "
                               "AND file_sha256 = $sha", {"sha": sha256})
        outcome = say("already_imported", batch=earlier) if earlier else say("plans_nothing_new")
        return ImportResult("unchanged", earlier, fmt, files, warnings=warnings, outcome=outcome)
    started = datetime.now()
    with store.transaction():
        batch_id = store.scalar("SELECT nextval('batch_id_seq')")
        if new_targets:
            store.cursor.executemany("INSERT INTO targets VALUES (?, ?, ?, ?, ?)",
                                     [(*t, batch_id) for t in new_targets])
        if new_teams:
            store.cursor.executemany("INSERT INTO team_members VALUES (?, ?, ?, ?)",
                                     [(*t, batch_id) for t in new_teams])
        for call in new_calls:
            store.execute("INSERT INTO forecast_calls VALUES (nextval('call_id_seq'), ?, ?, ?, ?, ?, ?, ?, ?, now(), ?)",
                          [*call, batch_id])
        if warnings:
            store.cursor.executemany('INSERT INTO import_warnings (batch_id, file, "row", "column", value, reason) '
                                     "VALUES (?, ?, ?, ?, ?, ?)",
                                     [(batch_id, w.file, w.row, w.column, w.value, w.reason) for w in warnings])
        rows_read = [len(r.rows) for r in read]
        store.execute("""INSERT INTO import_batches VALUES ($b, 'imported', $fmt, $files, $sha, $rows, 0, 0, 0, 0,
            $warn, $started, now(), NULL, $file_rows, 0)""",
                      {"b": batch_id, "fmt": fmt, "files": files, "sha": sha256, "rows": sum(rows_read),
                       "warn": len(warnings), "started": started, "file_rows": rows_read})
    outcome = say("plans_imported", batch=batch_id, targets=len(new_targets), teams=len(new_teams),
                  calls=len(new_calls))
    return ImportResult("imported", batch_id, fmt, files, warnings=warnings, outcome=outcome)


def add_call(store: Store, period: str, unit_kind: str, unit: str, commit: float, best_case: float, *,
             note: str | None = None, entered_by: str | None = None, called_at: date | datetime | None = None) -> int:
    """Record one forecast call, typed in (the CLI's `call add`, the Forecast calls page); returns its id. A call
    is never edited: a later one for the same period and unit supersedes it, and both stay."""
    quarter = normalise_period(period)
    if quarter is None or "Q" not in quarter:
        raise InputError(say("call_not_quarter", period=period))
    known = {"owner": "SELECT 1 FROM deals WHERE owner = ? LIMIT 1",
             "team": f"SELECT 1 FROM ({ACTIVE_TEAMS_SQL}) WHERE team = ? LIMIT 1"}[unit_kind]
    if store.scalar(known, [unit]) is None:
        raise InputError(say(f"unknown_{unit_kind}_named", name=unit))
    if not (0 <= commit <= MAX_AMOUNT and 0 <= best_case <= MAX_AMOUNT):
        raise InputError(say("call_amount_invalid"))
    if best_case < commit:
        raise InputError(say("best_below_commit", commit=commit))
    when = called_at or datetime.now()
    if not isinstance(when, datetime):
        when = datetime.combine(when, datetime.min.time())
    note = (note or "").strip() or None
    with store.transaction():
        call_id = store.scalar("SELECT nextval('call_id_seq')")
        store.execute("INSERT INTO forecast_calls VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, now(), NULL)",
                      [call_id, quarter, unit_kind, unit, float(commit), float(best_case), note, entered_by, when])
    return call_id
