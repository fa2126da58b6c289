"""Velocity: days spent in each stage by won and lost deals, cycle time, and open deals that have stalled."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date

from analytics.analyses.funnel import data_as_of
from analytics.domain import STAGE_NUMBERS
from analytics.filters import DealFilter
from analytics.store.connection import Store
from analytics.store.facts import CYCLE_MEASURE
from analytics.tables import records_frame

QUANTILES = (0.25, 0.5, 0.75, 0.9)
# stage_durations.measure: days in stages 1-7 (stage 8 is the signature: no time is spent in it), then the cycle
MEASURES = (*STAGE_NUMBERS[:-1], CYCLE_MEASURE)


@dataclass(frozen=True)
class DurationSummary:
    n: int
    median: float | None
    p25: float | None
    p75: float | None
    p90: float | None


@dataclass(frozen=True)
class StageVelocity:
    stage: int
    won: DurationSummary
    lost: DurationSummary


@dataclass(frozen=True)
class StalledDeal:
    deal_id: str
    account: str | None
    owner: str | None
    stage: int
    days_in_stage: int  # whole days from the day it entered its stage to the as-of date, as on the Deals page
    threshold_days: float  # p90 of the days that deals which went on to win spent in this stage
    amount: float | None  # None where the export left it blank


@dataclass(frozen=True)
class Velocity:
    stages: list[StageVelocity]
    cycle_won: DurationSummary
    cycle_lost: DurationSummary
    stalled: list[StalledDeal]
    filters: DealFilter
    as_of: date | None
    # closed deals whose close date is before their creation date (real exports have them): no cycle time, so
    # left out of the cycle figures above, and counted here
    closed_before_created: int = 0

    def to_frame(self):
        """One row per stage: days spent in it by the deals that went on to win (won_n, won_median, won_p25,
        won_p75, won_p90) and by those lost there (lost_…)."""
        parts = {f"{o}_{q}": [getattr(getattr(s, o), q) for s in self.stages]
                 for o in ("won", "lost") for q in ("n", "median", "p25", "p75", "p90")}
        return records_frame(self.stages, ("stage",), **parts)

    def stalled_frame(self):
        """The stalled open deals: deal_id, account, owner, stage, days_in_stage, threshold_days, amount."""
        return records_frame(self.stalled, ("deal_id", "account", "owner", "stage", "days_in_stage", "threshold_days",
                                            "amount"))

    def to_json(self) -> dict:
        return {"stages": [asdict(s) for s in self.stages], "cycle_time": {"won": asdict(self.cycle_won),
                "lost": asdict(self.cycle_lost)}, "closed_before_created": self.closed_before_created,
                "stalled": [asdict(d) for d in self.stalled],
                "filters": self.filters.to_json(), "as_of": self.as_of}


def _summary(n, q) -> DurationSummary:
    if not n:
        return DurationSummary(0, None, None, None, None)
    return DurationSummary(int(n), float(q[1]), float(q[0]), float(q[2]), float(q[3]))


def compute_velocity(store: Store, filters: DealFilter = DealFilter(), as_of: date | None = None) -> Velocity:
    where, params = filters.where()
    # stage_durations holds each closed deal's durations sorted, one row per measure (store.STAGE_DURATIONS_SQL)
    rows = store.fetchall(f"""SELECT won, measure, count(*), quantile_cont(days, $q) FROM stage_durations
                              WHERE {where} GROUP BY won, measure""", {**params, "q": list(QUANTILES)})
    found = {(is_won, measure): _summary(n, q) for is_won, measure, n, q in rows}
    empty = _summary(0, None)
    won, lost = ([found.get((is_won, m), empty) for m in MEASURES] for is_won in (True, False))
    stages = [StageVelocity(s, won[i], lost[i]) for i, s in enumerate(STAGE_NUMBERS[:-1])]
    as_of = as_of or data_as_of(store)
    stalled = []
    if as_of is not None:
        thresholds = {sv.stage: sv.won.p90 for sv in stages if sv.won.p90 is not None}
        if thresholds:
            rows = store.fetchall(f"""
                WITH t AS (SELECT unnest($stages) AS stage, unnest($p90) AS p90)
                SELECT deal_id, account, owner, current_stage,
                       date_diff('day', CAST(current_stage_entered_at AS DATE), $as_of) AS days,
                       t.p90, amount
                FROM deal_facts JOIN t ON t.stage = current_stage
                WHERE {where} AND outcome = 'open' AND current_stage_entered_at IS NOT NULL
                  AND days > t.p90
                ORDER BY amount DESC NULLS LAST, deal_id""",
                {**params, "stages": list(thresholds), "p90": list(thresholds.values()), "as_of": as_of})
            stalled = [StalledDeal(r[0], r[1], r[2], int(r[3]), int(r[4]), float(r[5]),
                                   None if r[6] is None else float(r[6])) for r in rows]
    impossible = store.scalar(f"""SELECT count(*) FROM deal_facts WHERE {where} AND outcome <> 'open'
                                   AND closed_at < created_at""", params)
    return Velocity(stages, won[-1], lost[-1], stalled, filters, as_of, int(impossible))
