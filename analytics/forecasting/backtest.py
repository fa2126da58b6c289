"""The forecast's backtest: for each past quarter, the forecast as it would have stood on its first day (and at
weeks 4, 8 and 12) against what was actually won, beside the CRM's default-weight forecast."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta

import numpy as np

from analytics.domain import SALESFORCE_DEFAULT_PROBABILITY
from analytics.filters import DealFilter, quarter_bounds
from analytics.forecasting.forecast import (
    QuarterInputs,
    quarter_inputs,
    quarter_of,
    quarter_reads,
    shift_quarter,
)
from analytics.forecasting.threads import run_all, work_threads
from analytics.store.asof import moments_per_query, open_deal_features_at
from analytics.store.cache import is_kept, keep, persistable, persisted
from analytics.store.connection import Store
from analytics.tables import records_frame

# The weeks of a quarter whose forecast the backtest also scores: a forecast a director can trust in week 4 is the
# one that matters. Week 1's is the quarter's own forecast, standing on its first day.
SCORED_WEEKS = (1, 4, 8, 12)


@dataclass(frozen=True)
class WeekForecastPoint:
    week: int
    forecast: float
    p10: float
    p90: float


@dataclass(frozen=True)
class BacktestQuarter:
    quarter: str
    forecast: float
    p10: float
    p90: float
    actual: float
    error: float  # forecast − actual
    inside: bool  # actual within P10–P90
    crm_default: float  # Σ amount × Salesforce default probability, open deals expected to close in Q
    # the forecast as it stood at the start of each of SCORED_WEEKS (week 1 is the one above)
    weeks: list[WeekForecastPoint] = field(default_factory=list)


@dataclass(frozen=True)
class WeekAccuracy:
    """The backtest's accuracy at one week of the quarter, over the quarters scored."""

    week: int
    quarters: int
    mape: float | None
    coverage: float | None  # share of quarters whose actual fell within that week's P10–P90


@dataclass(frozen=True)
class AccuracySummary:
    mape: float | None
    mase: float | None
    bias: float | None  # mean (forecast − actual) / actual
    coverage: float | None  # share of quarters whose actual fell within P10–P90


# The backtest refutes the forecast's range when, over at least this many quarters, fewer than half the actuals
# fell inside P10–P90 (nominal 80%: with 8 quarters, 3 or fewer inside happens by chance about 1% of the time), or
# the forecasts were off by more than half on average.
REFUTING_QUARTERS, REFUTING_COVERAGE, REFUTING_MAPE = 4, 0.5, 0.5


@dataclass(frozen=True)
class Backtest:
    quarters: list[BacktestQuarter]
    summary: AccuracySummary
    baseline_crm_default: AccuracySummary
    by_week: list[WeekAccuracy] = field(default_factory=list)

    @property
    def refutes_range(self) -> bool:
        """Whether the team's own past quarters refute the forecast's range (REFUTING_*): then the Forecast page
        and the review say so above it."""
        s = self.summary
        return len(self.quarters) >= REFUTING_QUARTERS and (
            (s.coverage is not None and s.coverage < REFUTING_COVERAGE) or (s.mape is not None and s.mape > REFUTING_MAPE))

    def to_frame(self):
        """One row per past quarter: quarter, forecast, p10, p90, actual, error (forecast − actual), inside
        (actual within P10–P90), crm_default (the week-1 forecast; by_week_frame has the later weeks')."""
        return records_frame(self.quarters, ("quarter", "forecast", "p10", "p90", "actual", "error", "inside",
                                             "crm_default"))

    def by_week_frame(self):
        """Accuracy by week of the quarter: week, quarters, mape, coverage."""
        return records_frame(self.by_week, ("week", "quarters", "mape", "coverage"))

    def to_json(self) -> dict:
        return {**asdict(self), "refutes_range": self.refutes_range}


def _accuracy(forecasts, actuals, inside=None) -> AccuracySummary:
    f, a = np.asarray(forecasts, float), np.asarray(actuals, float)
    if not len(a):
        return AccuracySummary(None, None, None, None)
    ok = a > 0
    mape = float(np.mean(np.abs(f[ok] - a[ok]) / a[ok])) if ok.any() else None
    bias = float(np.mean((f[ok] - a[ok]) / a[ok])) if ok.any() else None
    naive = np.abs(np.diff(a))  # last quarter's actual as the forecast
    mase = float(np.mean(np.abs(f[1:] - a[1:])) / np.mean(naive)) if len(a) > 1 and naive.mean() > 0 else None
    cov = float(np.mean(inside)) if inside is not None else None
    return AccuracySummary(mape, mase, bias, cov)


def crm_weighted_pipeline(deals, q_start: date, q_end: date) -> float:
    """The CRM's default forecast: the open `deals` (open_deal_features) whose expected close falls in the quarter,
    × the default stage probability (Salesforce's, mapped as in analytics.domain)."""
    if deals.empty:
        return 0.0
    close = deals["expected_close"].astype("datetime64[ns]")
    in_q = (close >= np.datetime64(q_start)) & (close < np.datetime64(q_end))
    prob = deals["stage"].map(SALESFORCE_DEFAULT_PROBABILITY).fillna(1.0)
    return float((deals["amount"] * prob)[in_q].sum())


@dataclass(frozen=True)
class ScoredWeeks:
    """A past quarter as it stood at the start of each of SCORED_WEEKS, scored by the win model fitted at its start:
    what its backtest and the calls' model points (analytics.forecasting.calls) both simulate."""

    quarter: str
    inputs: dict[int, QuarterInputs]  # week → quarter_inputs standing at the end of the day before it
    won: object  # DataFrame: the deals won in the quarter (won_in)


@functools.cache
def standing_day(quarter: str, week: int) -> date:
    """The day whose end a week's forecast (and the call before it) stands on: the day before the week begins.
    Cached: the calls' accuracy asks it for every owner's every point, thousands of times a page load."""
    return quarter_bounds(quarter)[0] - timedelta(days=1) + timedelta(days=7 * (week - 1))


def week_days(quarter: str) -> dict[int, date]:
    """Each of SCORED_WEEKS → its standing_day."""
    return {week: standing_day(quarter, week) for week in SCORED_WEEKS}


def week_pipelines(store: Store, quarters: list[str], filters: DealFilter = DealFilter()) -> dict[str, list]:
    """Each quarter's pipelines at the start of each of SCORED_WEEKS, read in one query (open_deal_features_at
    splits it by moments_per_query)."""
    moments = [day + timedelta(days=1) for quarter in quarters for day in week_days(quarter).values()]
    frames = iter(open_deal_features_at(store, moments, filters, with_names=False))
    return {quarter: [next(frames) for _ in SCORED_WEEKS] for quarter in quarters}


def scored_weeks(store: Store, quarter: str, filters: DealFilter = DealFilter(),
                 pipelines: list | None = None) -> ScoredWeeks | None:
    """The quarter's ScoredWeeks; None when nothing was known at its start. `pipelines`: its week_pipelines, when
    the caller read them with other quarters'."""
    from analytics.forecasting.winmodel import predict_each, team_model

    model = team_model(store, quarter_bounds(quarter)[0])
    if not sum(model.n_train_.values()):  # nothing was known yet
        return None
    # the pipeline at each scored week's start, read in one query and scored by the quarter's one model in one call
    days = week_days(quarter)
    pipelines = week_pipelines(store, [quarter], filters)[quarter] if pipelines is None else pipelines
    # the quarter's wins and its new deals' record, read once for its weeks
    shared = quarter_reads(store, quarter, filters)
    return ScoredWeeks(quarter, {week: quarter_inputs(store, quarter, day, model=model, filters=filters,
                                                      open_deals=pipeline, p_win=p, **shared)
                                 for (week, day), pipeline, p in zip(days.items(), pipelines,
                                                                     predict_each(model, pipelines))},
                       shared["won"])


@persistable
def backtest_quarter(store: Store, quarter: str, draws: int = 2000, seed: int = 0,
                     filters: DealFilter = DealFilter()) -> BacktestQuarter | None:
    """One past quarter of the backtest: stand on its first day, train on what was known then, forecast it (and at
    each of SCORED_WEEKS), and compare with what was actually won; None when nothing was known yet. Kept per
    quarter, so that the review's last quarter is the backtest's, not a second computation of it."""
    weeks = scored_weeks(store, quarter, filters)
    return None if weeks is None else backtest_of(weeks, draws, seed)


def backtest_of(weeks: ScoredWeeks, draws: int = 2000, seed: int = 0) -> BacktestQuarter:
    """backtest_quarter from the quarter's ScoredWeeks: forecast_quarter's range at each week, the weeks simulated
    side by side (analytics.forecasting.threads)."""
    return backtest_from(weeks, run_all(week_simulations(weeks, draws, seed)))


def week_simulations(weeks: ScoredWeeks, draws: int = 2000, seed: int = 0) -> list[Callable[[], np.ndarray]]:
    """Each scored week's simulation of the quarter's bookings, to be run (in any thread: none reads the store)."""
    return [functools.partial(_total, inputs, draws, seed) for inputs in weeks.inputs.values()]


def _total(inputs, draws: int, seed: int) -> np.ndarray:
    return inputs.simulate(draws, seed)[0]


def backtest_from(weeks: ScoredWeeks, totals: list[np.ndarray]) -> BacktestQuarter:
    """backtest_of from each week's simulated bookings (week_simulations, run)."""
    q_start, q_end = quarter_bounds(weeks.quarter)
    # standing at the end of the day before the quarter is standing at its start: the CRM baseline reads week 1's
    crm = crm_weighted_pipeline(weeks.inputs[1].deals, q_start, q_end)
    points = [WeekForecastPoint(week, inputs.expected, *(float(x) for x in np.percentile(total, [10, 90])))
              for (week, inputs), total in zip(weeks.inputs.items(), totals)]
    f, actual = points[0], float(weeks.won["amount"].sum())
    return BacktestQuarter(weeks.quarter, f.forecast, f.p10, f.p90, actual, f.forecast - actual,
                           f.p10 <= actual <= f.p90, crm, points)


OVERLAP_ROWS = 200_000  # a quarter's pipeline rows (its four weeks) up to which the next quarter is read meanwhile


def simulated_quarters(quarters: Iterable[tuple[str, ScoredWeeks | None]],
                       simulations: Callable[[ScoredWeeks], list[Callable[[], object]]]
                       ) -> Iterator[tuple[str, ScoredWeeks | None, list]]:
    """(quarter, its ScoredWeeks, the results of simulations(weeks)) for each of `quarters` (scored_weeks_of), in
    order; no results for a quarter nothing was known at. The simulations run side by side in worker threads
    (analytics.forecasting.threads); a quarter of at most OVERLAP_ROWS pipeline rows is simulated while the next
    is read and scored in this thread. A larger one is finished first: at 1M deals (400,000 rows a quarter) the
    overlap saved nothing, the pipelines' queries and the simulations taking the same two cores, and held a second
    quarter's pipelines, 1.24 → 1.39–1.46 GB at the peak; at 100k deals it took the backtest from 4.65–4.8 s to
    4.1–4.4 s, and under a filter at 1M from 2.1–3.3 s to 1.9–2.05 s."""
    threads = work_threads()
    with ThreadPoolExecutor(threads, thread_name_prefix="keyfunnel-work") as pool:
        def started(quarter: str, weeks: ScoredWeeks | None) -> tuple:
            tasks = [] if weeks is None else simulations(weeks)
            return quarter, weeks, ([pool.submit(t) for t in tasks] if threads > 1 else [t() for t in tasks])

        def finished(quarter: str, weeks: ScoredWeeks | None, running: list) -> tuple:
            return quarter, weeks, [r.result() if threads > 1 else r for r in running]

        waiting = None  # the quarter being simulated while the next is read
        for quarter, weeks in quarters:
            current = started(quarter, weeks)
            if waiting is not None:
                yield finished(*waiting)
            waiting = current
            if weeks is not None and sum(len(w.amount) for w in weeks.inputs.values()) > OVERLAP_ROWS:
                yield finished(*waiting)
                waiting = None
        if waiting is not None:
            yield finished(*waiting)


def last_full_quarter(store: Store, as_of: date | None = None) -> str:
    """The last quarter that had ended by the as-of date (default: the data's): the backtest's most recent."""
    from analytics.analyses.funnel import data_as_of

    return shift_quarter(quarter_of(as_of or data_as_of(store) or date.today()), -1)


def scored_weeks_of(store: Store, quarters: list[str], filters: DealFilter = DealFilter(),
                    also_fitted: tuple[date, ...] = ()) -> Iterator[tuple[str, ScoredWeeks | None]]:
    """(quarter, its scored_weeks) for each of `quarters`, one after another. Their win models (and the team's at
    `also_fitted`) are fitted first from one read of their training rows; their pipelines are read as many quarters
    a query as moments_per_query allows (one of every deal; all eight under a filter that keeps an eighth)."""
    if quarters or also_fitted:
        from analytics.forecasting.winmodel import team_models

        team_models(store, [*(quarter_bounds(q)[0] for q in quarters), *also_fitted])
    together = max(1, moments_per_query(store, filters) // len(SCORED_WEEKS))
    for group in (quarters[i:i + together] for i in range(0, len(quarters), together)):
        pipelines = week_pipelines(store, group, filters)
        for quarter in group:
            yield quarter, scored_weeks(store, quarter, filters, pipelines.pop(quarter))


def backtest_quarters(store: Store, quarters: int = 8, as_of: date | None = None) -> list[str]:
    """The backtest's quarters, oldest first: the last `quarters` full quarters by the as-of date."""
    last_full = last_full_quarter(store, as_of)
    return [shift_quarter(last_full, -k) for k in range(quarters - 1, -1, -1)]


@persistable
def backtest(store: Store, quarters: int = 8, as_of: date | None = None, draws: int = 2000,
             seed: int = 0, filters: DealFilter = DealFilter()) -> Backtest:
    """For each of the last `quarters` full quarters, backtest_quarter. `filters` narrow the deals forecast and the
    bookings they are compared with, as forecast_quarter's do; the win model is the team's either way."""
    names = backtest_quarters(store, quarters, as_of)
    due = [q for q in names if not is_kept(store, backtest_quarter, q, draws, seed, filters)]
    computed = {}
    # each quarter's weeks simulated while the next is read and scored (simulated_quarters); the quarters read one
    # after another: two quarters read in two threads were 7% faster at 100k deals and no faster at 1M, and took
    # the peak at 1M from 1.26 GB to 1.5–1.7 GB (docs/performance-misses.md)
    for quarter, weeks, totals in simulated_quarters(scored_weeks_of(store, due, filters),
                                                      lambda w: week_simulations(w, draws, seed)):
        computed[quarter] = None if weeks is None else backtest_from(weeks, totals)
        keep(store, backtest_quarter, computed[quarter], quarter, draws, seed, filters)
    done = [computed[q] if q in computed else persisted(store, backtest_quarter, q, draws, seed, filters)
            for q in names]
    out = [q for q in done if q is not None]
    return Backtest(out, _accuracy([q.forecast for q in out], [q.actual for q in out], [q.inside for q in out]),
                    _accuracy([q.crm_default for q in out], [q.actual for q in out]), week_accuracy(out))


def week_accuracy(quarters: list[BacktestQuarter]) -> list[WeekAccuracy]:
    """MAPE and P10–P90 coverage of the forecast at each of SCORED_WEEKS, over the quarters with an actual above 0
    (a percentage error of nothing booked is undefined)."""
    out = []
    for week in SCORED_WEEKS:  # scored as the quarters are (_accuracy), each week's forecasts against the actuals
        points = [(p, q.actual) for q in quarters for p in q.weeks if p.week == week]
        summary = _accuracy([p.forecast for p, _ in points], [a for _, a in points],
                            [p.p10 <= a <= p.p90 for p, a in points])
        out.append(WeekAccuracy(week, len(points), summary.mape, summary.coverage))
    return out
