"""The forecast through the quarter: for each week so far, the P10 / P50 / P90 as the forecast stood at that week's
start, and the bookings won by then (docs/metrics.md, "The forecast through the quarter").

Each week's forecast is forecast_quarter's range standing at the start of the week: the pipeline rebuilt as of that
day, the deals won in the quarter before it, the new deals the rest of the quarter can bring. One win model serves
every week: the team's model as fitted at the quarter's start, so that the path shows what moved in the pipeline,
not a model refitted from week to week.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from analytics.filters import DealFilter, quarter_bounds
from analytics.forecasting.forecast import quarter_inputs, quarter_of, quarter_reads
from analytics.forecasting.threads import in_threads
from analytics.store.asof import open_deal_features_at
from analytics.store.cache import persistable
from analytics.store.connection import Store

PATH_DRAWS = 4_000  # per week: the quantiles' Monte Carlo error stays well under the weeks' differences


@dataclass(frozen=True)
class WeekForecast:
    week: int  # 1 for the quarter's first week
    starts: date
    p10: float
    p50: float
    p90: float
    won_to_date: float  # won in the quarter before the week began


@persistable
def forecast_path(store: Store, quarter: str | None = None, as_of: date | None = None, *,
                  filters: DealFilter = DealFilter(), draws: int = PATH_DRAWS, seed: int = 0) -> list[WeekForecast]:
    """One forecast per week of `quarter` that had begun by the end of `as_of` (default: the data's as-of date)."""
    from analytics.analyses.funnel import data_as_of
    from analytics.forecasting.winmodel import predict_each, team_model

    as_of = as_of or data_as_of(store) or date.today()
    quarter = quarter or quarter_of(as_of)
    q_start, q_end = quarter_bounds(quarter)
    model = team_model(store, q_start)
    starts = []
    while q_start + timedelta(days=7 * len(starts)) <= min(as_of, q_end - timedelta(days=1)):
        starts.append(q_start + timedelta(days=7 * len(starts)))
    # each week's pipeline as it stood at the week's start, all scored by the one model in one call; the quarter's
    # wins and its new deals' record read once for every week
    pipelines = open_deal_features_at(store, starts, filters, with_names=False)
    shared = quarter_reads(store, quarter, filters)
    inputs = [quarter_inputs(store, quarter, day - timedelta(days=1), model=model, filters=filters,
                             open_deals=pipeline, p_win=p, **shared)
              for day, pipeline, p in zip(starts, pipelines, predict_each(model, pipelines))]
    # the weeks' simulations side by side (analytics.forecasting.threads)
    totals = in_threads(lambda week: week.simulate(draws, seed)[0], inputs)
    return [WeekForecast(n, day, *(float(x) for x in np.percentile(total, [10, 50, 90])), week.won_to_date)
            for n, (day, week, total) in enumerate(zip(starts, inputs, totals), start=1)]
