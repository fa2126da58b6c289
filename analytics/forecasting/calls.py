"""The human call against the model: for each closed quarter, each owner's last call before the quarter began and
before each scored week (SCORED_WEEKS), keyfunnel's P50 for that owner standing on the same day, and what the
quarter booked (docs/metrics.md, "Forecast calls").

- accuracy = max(0, 1 − |actual − forecast| / actual), HubSpot's formula, for the commit and for the P50 alike;
- bias = (forecast − actual) / actual: above 0 over-calls, below 0 sandbags. An owner's verdict comes from the
  mean of their quarters' biases (each quarter's weeks averaged first: they share one actual) and its Student-t 95%
  interval: "over-calls" or "sandbags" only when the interval excludes 0;
- in range: the actual fell between the commit and the best case.
The team's row adds, at each point, the calls of the owners who called and their actuals, and takes the P50 of
their simulated bookings added draw by draw. A quarter whose actual is 0 scores no accuracy (it divides by 0)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import date, timedelta

import numpy as np

from analytics.filters import quarter_bounds
from analytics.forecasting.attainment import UnitDraws, simulated_units, unit_shares
from analytics.forecasting.backtest import (
    SCORED_WEEKS,
    ScoredWeeks,
    backtest,
    backtest_from,
    backtest_quarter,
    backtest_quarters,
    scored_weeks,
    scored_weeks_of,
    simulated_quarters,
    standing_day,
    week_simulations,
)
from analytics.forecasting.threads import run_all
from analytics.formatting import natural_key
from analytics.stats import Interval, wilson_interval
from analytics.store.cache import is_kept, keep, persistable, persisted
from analytics.store.connection import Store
from analytics.store.plans import forecast_calls, last_calls
from analytics.tables import records_frame

CALL_DRAWS = 2_000  # per point: a P50's Monte Carlo error well under the calls' own spread
# the closed quarters scored: the backtest's eight, whose win models (fitted at each quarter's start) both then use
# (a model fit is 10 s at 100,000 deals)
CALL_QUARTERS = 8
TEAM = "all"


@persistable
def model_points(store: Store, quarters: tuple[str, ...], draws: int = CALL_DRAWS,
                 seed: int = 0) -> dict[tuple[str, int], UnitDraws]:
    """(quarter, week) → each owner's simulated bookings standing at that week, for each of `quarters`
    (quarter_model_points, kept per quarter)."""
    return {key: value for quarter in quarters
            for key, value in persisted(store, quarter_model_points, quarter, draws, seed).items()}


@persistable
def quarter_model_points(store: Store, quarter: str, draws: int = CALL_DRAWS,
                         seed: int = 0) -> dict[tuple[str, int], UnitDraws]:
    """model_points of one quarter, with the quarter's one win model (fitted at its start, as the backtest's weeks
    are): its weeks read and scored as the backtest's are (scored_weeks), then simulated by owner."""
    return model_points_of(store, scored_weeks(store, quarter), draws, seed)


def model_points_of(store: Store, weeks: ScoredWeeks | None, draws: int = CALL_DRAWS,
                    seed: int = 0) -> dict[tuple[str, int], UnitDraws]:
    if weeks is None:
        return {}
    return points_from(weeks, run_all(point_simulations(store, weeks, draws, seed)))


def point_simulations(store: Store, weeks: ScoredWeeks, draws: int = CALL_DRAWS,
                      seed: int = 0) -> list[Callable[[], UnitDraws]]:
    """Each scored week's owners simulated, to be run in any thread: their new-deal shares are read here."""
    return [functools.partial(simulated_units, inputs, "owner", unit_shares(store, inputs, "owner"), draws, seed)
            for inputs in weeks.inputs.values()]


def points_from(weeks: ScoredWeeks, simulated: list[UnitDraws]) -> dict[tuple[str, int], UnitDraws]:
    return {(weeks.quarter, week): units for week, units in zip(weeks.inputs, simulated)}


def backtest_and_model_points(store: Store, quarters: int = 8, call_quarters: tuple[str, ...] = (),
                              also_fitted: tuple[date, ...] = ()):
    """persisted(store, backtest, quarters), and quarter_model_points of those of `call_quarters` among its
    quarters: each quarter's weeks read and scored once for both, not once for each (analytics.refresh; at 100k
    deals, a third of the calls' points' time), and simulated while the next quarter is read (simulated_quarters).
    The team's win models at `also_fitted` are fitted beside the quarters' (the refresh's path stands on this
    quarter's start): their training rows read with theirs."""
    names = backtest_quarters(store, quarters)
    needs = {q: (not is_kept(store, backtest_quarter, q),
                 q in call_quarters and not is_kept(store, quarter_model_points, q)) for q in names}
    due = {q: two for q, two in needs.items() if any(two)}

    def simulations(weeks: ScoredWeeks) -> list:
        needs_backtest, needs_points = due[weeks.quarter]
        return [*(week_simulations(weeks) if needs_backtest else []),
                *(point_simulations(store, weeks) if needs_points else [])]

    for quarter, weeks, results in simulated_quarters(scored_weeks_of(store, list(due), also_fitted=also_fitted),
                                                      simulations):
        needs_backtest, needs_points = due[quarter]
        if needs_backtest:
            keep(store, backtest_quarter, None if weeks is None else backtest_from(weeks, results[:len(weeks.inputs)]),
                 quarter)
        if needs_points:
            keep(store, quarter_model_points, {} if weeks is None else
                 points_from(weeks, results[len(weeks.inputs) if needs_backtest else 0:]), quarter)
    return persisted(store, backtest, quarters)


@dataclass(frozen=True)
class CallPoint:
    quarter: str
    week: int  # 1: the last call before the quarter began
    standing: date
    unit: str
    unit_kind: str  # owner, team (a team's own call) or all (the owners who called, added)
    commit: float
    best_case: float
    model_p50: float
    actual: float
    call_accuracy: float | None
    model_accuracy: float | None
    call_bias: float | None
    model_bias: float | None
    in_range: bool


@dataclass(frozen=True)
class CallerAccuracy:
    unit: str
    unit_kind: str
    quarters: int
    points: int
    call_accuracy: float | None  # mean over the points
    model_accuracy: float | None
    call_bias: float | None  # mean over the quarters of each quarter's mean bias
    call_bias_ci: Interval | None
    bias_verdict: str  # over-calls, sandbags, balanced, or too-few (fewer than 2 quarters)
    model_bias: float | None
    in_range_share: float | None
    in_range_ci: Interval | None


@dataclass(frozen=True)
class CallAccuracy:
    points: list[CallPoint]
    by_unit: list[CallerAccuracy]  # each owner, each team that called, and the team as a whole (unit "all")

    def to_frame(self, which: str = "by_unit"):
        rows = getattr(self, which)
        kind = CallPoint if which == "points" else CallerAccuracy
        return records_frame(rows, tuple(kind.__dataclass_fields__))

    def to_json(self) -> dict:
        return asdict(self)


def _scores(forecast: float, actual: float) -> tuple[float | None, float | None]:
    if actual <= 0:
        return None, None
    return max(0.0, 1 - abs(actual - forecast) / actual), (forecast - actual) / actual


def _point(quarter, week, unit, kind, commit, best, p50, actual) -> CallPoint:
    call_acc, call_bias = _scores(commit, actual)
    model_acc, model_bias = _scores(p50, actual)
    return CallPoint(quarter, week, standing_day(quarter, week), unit, kind, commit, best, p50, actual, call_acc,
                     model_acc, call_bias, model_bias, commit <= actual <= best)


def _mean(values) -> float | None:
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def summarise(unit: str, kind: str, points: list[CallPoint]) -> CallerAccuracy:
    from scipy.stats import t

    by_quarter: dict[str, list[float]] = {}
    for p in points:
        if p.call_bias is not None:
            by_quarter.setdefault(p.quarter, []).append(p.call_bias)
    biases = [float(np.mean(v)) for v in by_quarter.values()]
    ci, verdict = None, "too-few"
    if len(biases) >= 2:
        half = float(t.ppf(0.975, len(biases) - 1) * np.std(biases, ddof=1) / np.sqrt(len(biases)))
        ci = (float(np.mean(biases)) - half, float(np.mean(biases)) + half)
        verdict = "over-calls" if ci[0] > 0 else "sandbags" if ci[1] < 0 else "balanced"
    inside = sum(p.in_range for p in points)
    return CallerAccuracy(unit, kind, len({p.quarter for p in points}), len(points),
                          _mean(p.call_accuracy for p in points), _mean(p.model_accuracy for p in points),
                          float(np.mean(biases)) if biases else None, ci, verdict,
                          _mean(p.model_bias for p in points),
                          inside / len(points) if points else None, wilson_interval(inside, len(points)))


def closed_quarters_with_calls(store: Store, as_of: date, last: int = CALL_QUARTERS,
                               calls: list | None = None) -> tuple[str, ...]:
    """The `last` quarters that ended by `as_of` and have a call (of `calls`, when the caller read them already)."""
    periods = {c.period for c in (forecast_calls(store) if calls is None else calls)}
    closed = sorted(q for q in periods if "Q" in q and quarter_bounds(q)[1] <= as_of + timedelta(days=1))
    return tuple(closed[-last:])


def won_by_owner(store: Store, quarters: tuple[str, ...]) -> dict[str, dict[str, float]]:
    """quarter → owner ('' for none) → the amount won in it: every quarter in one query (one query a quarter cost
    a page load 40 ms a quarter at 100k deals)."""
    bounds = [quarter_bounds(q) for q in quarters]
    rows = store.fetchall("""SELECT q.quarter, coalesce(d.owner, '') AS owner, sum(d.amount)
        FROM deals d JOIN (SELECT unnest($quarters) AS quarter, unnest($starts) AS s, unnest($ends) AS e) q
          ON d.closed_at >= q.s AND d.closed_at < q.e
        WHERE d.outcome = 'won' GROUP BY ALL""",
                          {"quarters": list(quarters), "starts": [s for s, _ in bounds],
                           "ends": [e for _, e in bounds]})
    out: dict[str, dict[str, float]] = {}
    for quarter, owner, amount in rows:
        out.setdefault(quarter, {})[owner] = float(amount or 0.0)
    return out


def call_accuracy(store: Store, as_of: date | None = None) -> CallAccuracy:
    """Every closed quarter's calls scored against the actual, beside keyfunnel's P50 on the same days."""
    from analytics.analyses.funnel import data_as_of
    from analytics.store.plans import teams

    as_of = as_of or data_as_of(store) or date.today()
    calls = forecast_calls(store)
    quarters = closed_quarters_with_calls(store, as_of, calls=calls)
    simulated = persisted(store, model_points, quarters) if quarters else {}
    team_of = {owner: team for owner, (team, _) in teams(store).items()}
    points: list[CallPoint] = []
    won = won_by_owner(store, quarters)
    for quarter in quarters:
        actual = won.get(quarter, {})
        for week in SCORED_WEEKS:
            sim = simulated.get((quarter, week))
            if sim is None:
                continue
            made = last_calls(calls, quarter, standing_day(quarter, week) + timedelta(days=1))
            owners = {unit: c for (kind, unit), c in made.items() if kind == "owner"}
            called = [i for i, u in enumerate(sim.units) if u in owners]  # their medians, kept with the draws
            p50 = dict(zip([sim.units[i] for i in called], sim.medians[called].tolist()))
            for unit, c in sorted(owners.items()):
                points.append(_point(quarter, week, unit, "owner", c.commit, c.best_case, p50.get(unit, 0.0),
                                     float(actual.get(unit, 0.0))))
            for (kind, unit), c in sorted(made.items()):
                if kind == "team":
                    members = [o for o, t in team_of.items() if t == unit]
                    points.append(_point(quarter, week, unit, "team", c.commit, c.best_case,
                                         float(np.median(sum(sim.column(o) for o in members))) if members else 0.0,
                                         float(sum(actual.get(o, 0.0) for o in members))))
            if owners:
                together = sum(sim.column(o) for o in owners)
                points.append(_point(quarter, week, TEAM, "all", sum(c.commit for c in owners.values()),
                                     sum(c.best_case for c in owners.values()), float(np.median(together)),
                                     float(sum(actual.get(o, 0.0) for o in owners))))
    by_unit: dict[tuple[str, str], list[CallPoint]] = {}
    for p in points:
        by_unit.setdefault((p.unit_kind, p.unit), []).append(p)
    units = sorted(by_unit, key=lambda k: ({"owner": 0, "team": 1, "all": 2}[k[0]], natural_key(k[1])))
    return CallAccuracy(points, [summarise(unit, kind, by_unit[(kind, unit)]) for kind, unit in units])
