"""Reading the plans: the targets in force, which team each owner is in, and the forecast calls (their writing is
analytics.ingest.plans). A later batch's target for the same period and unit supersedes an earlier one; a later
call for the same period and unit supersedes an earlier one, and both stay recorded."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import date, datetime

from analytics.store.connection import Store

QUARTER_PATTERN = re.compile(r"^(\d{4})Q([1-4])$")


def normalise_period(text: str | None) -> str | None:
    """2026Q4, 2026-q4, 2026 Q4 → 2026Q4; 2026-11, 2026/11, 2026年11月, 2026-11-01 → 2026-11; else None."""
    if text is None:
        return None
    value = re.sub(r"\s+", "", str(text)).upper()
    if m := re.fullmatch(r"(\d{4})[-/]?Q([1-4])", value):
        return f"{m[1]}Q{m[2]}"
    if m := re.fullmatch(r"(\d{4})(?:[-/.]|年)(\d{1,2})(?:月|[-/.]0?1)?", value):
        month = int(m[2])
        return f"{m[1]}-{month:02d}" if 1 <= month <= 12 else None
    return None


def months_of(quarter: str) -> tuple[str, str, str]:
    year, q = QUARTER_PATTERN.match(quarter).groups()
    first = 3 * (int(q) - 1) + 1
    return tuple(f"{year}-{m:02d}" for m in range(first, first + 3))


ACTIVE_TARGETS_SQL = """SELECT period, unit_kind, unit, target FROM targets
    QUALIFY row_number() OVER (PARTITION BY period, unit_kind, unit ORDER BY batch_id DESC) = 1"""
ACTIVE_TEAMS_SQL = """SELECT owner, team, manager FROM team_members
    QUALIFY row_number() OVER (PARTITION BY owner ORDER BY batch_id DESC) = 1"""


@dataclass(frozen=True)
class Target:
    period: str
    unit_kind: str
    unit: str
    target: float

    def to_json(self) -> dict:
        return asdict(self)


def active_targets(store: Store, period: str | None = None) -> list[Target]:
    """The targets in force, by period, kind and unit; `period` a quarter: its own rows and its months'."""
    periods = [period, *months_of(period)] if period and QUARTER_PATTERN.match(period) else [period]
    where = "WHERE period IN (SELECT unnest($p))" if period else ""
    rows = store.fetchall(f"SELECT * FROM ({ACTIVE_TARGETS_SQL}) {where} ORDER BY period, unit_kind, unit",
                          {"p": periods} if period else None)
    return [Target(*r) for r in rows]


def quarter_targets(store: Store, quarter: str, kind: str) -> dict[str, float]:
    """Each unit of `kind`'s target for `quarter`: its quarter row, else the sum of its month rows in the quarter."""
    rows = active_targets(store, quarter)
    quarterly = {t.unit: t.target for t in rows if t.unit_kind == kind and t.period == quarter}
    monthly: dict[str, float] = {}
    for t in rows:
        if t.unit_kind == kind and t.period != quarter and t.unit not in quarterly:
            monthly[t.unit] = monthly.get(t.unit, 0.0) + t.target
    return {**monthly, **quarterly}


def teams(store: Store) -> dict[str, tuple[str, str | None]]:
    """owner → (team, manager), as the latest teams batch has it."""
    return {owner: (team, manager) for owner, team, manager in store.fetchall(ACTIVE_TEAMS_SQL + " ORDER BY owner")}


@dataclass(frozen=True)
class ForecastCall:
    call_id: int
    period: str
    unit_kind: str
    unit: str
    commit: float
    best_case: float
    note: str | None
    entered_by: str | None
    called_at: datetime
    entered_at: datetime
    superseded: bool  # a later call for the same period and unit exists

    def to_json(self) -> dict:
        out = asdict(self)
        out["called_at"], out["entered_at"] = self.called_at.isoformat(sep=" "), self.entered_at.isoformat(sep=" ")
        return out


def forecast_calls(store: Store, period: str | None = None) -> list[ForecastCall]:
    """Every call, oldest first, each marked whether a later one superseded it."""
    where = "WHERE period = $p" if period else ""
    rows = store.fetchall(f"""SELECT call_id, period, unit_kind, unit, commit_amount, best_case, note, entered_by,
            called_at, entered_at,
            row_number() OVER (PARTITION BY period, unit_kind, unit ORDER BY called_at DESC, call_id DESC) > 1
        FROM forecast_calls {where} ORDER BY called_at, call_id""", {"p": period} if period else None)
    return [ForecastCall(*r) for r in rows]


def last_calls(calls: list[ForecastCall], period: str, before: date | datetime) -> dict[tuple[str, str], ForecastCall]:
    """(unit_kind, unit) → the latest call for `period` made before `before`."""
    cutoff = before if isinstance(before, datetime) else datetime.combine(before, datetime.min.time())
    out: dict[tuple[str, str], ForecastCall] = {}
    for c in calls:  # oldest first: a later call overwrites
        if c.period == period and c.called_at < cutoff:
            out[(c.unit_kind, c.unit)] = c
    return out

