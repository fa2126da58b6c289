"""After the data changes: compute the results the pages show by default, ahead of the first viewer.

The one module allowed to import every layer: it names what is worth computing before anyone asks for it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from analytics.analyses.funnel import data_as_of
from analytics.filters import quarter_bounds
from analytics.forecasting.attainment import unit_draws
from analytics.forecasting.attention import deals_needing_attention
from analytics.forecasting.calls import (
    backtest_and_model_points,
    closed_quarters_with_calls,
    model_points,
)
from analytics.forecasting.forecast import forecast_quarter, quarter_of
from analytics.forecasting.path import forecast_path
from analytics.forecasting.review import quarterly_review
from analytics.forecasting.scoring import score_open_deals
from analytics.forecasting.validation import evaluate
from analytics.store.cache import (
    claim_refresh,
    finish_refresh,
    is_kept,
    keep,
    persisted,
    release_refresh,
)
from analytics.store.connection import Store


@dataclass(frozen=True)
class RefreshStep:
    name: str  # what a person reads in `keyfunnel refresh`'s progress
    seconds: float


def refresh_results(store: Store, progress: Callable[[int, int, RefreshStep], None] | None = None,
                    keep_going: Callable[[], bool] | None = None) -> list[RefreshStep]:
    """Compute what the pages show by default, for the current data: the win model and its validation, this
    quarter's forecast, its path week by week and the review, the backtest, the scored open deals, the quarter
    simulated by owner, the deals that need attention, and keyfunnel's P50 beside each closed quarter's calls.

    `progress(done, total, step)` is called after each step; the steps are returned with their times. Before each
    step `keep_going()`, if given, may stop it (the data it reads was replaced: its results would serve no one)."""
    as_of = data_as_of(store)
    if as_of is None:
        return []
    quarter = quarter_of(as_of)
    call_quarters = closed_quarters_with_calls(store, as_of)
    steps: list[tuple[str, Callable[[], object]]] = [
        ("the win model and this quarter's forecast", lambda: current_forecast(store, quarter)),
        # the Deals page's (an explicit date: the sidebar's as-of view)
        ("the open deals scored", lambda: persisted(store, score_open_deals, as_of)),
        ("the quarter by owner", lambda: persisted(store, unit_draws, quarter, as_of)),  # the Overview's attainment
        ("the deals that need attention", lambda: persisted(store, deals_needing_attention)),
        # before the review, which reads it; with keyfunnel's P50 beside the calls of its quarters (the Forecast
        # calls page's), which stand on the same weeks, and the model the path stands on (at this quarter's start)
        ("the backtest over 8 quarters",
         lambda: backtest_and_model_points(store, 8, call_quarters, (quarter_bounds(quarter)[0],))),
        ("the quarterly review", lambda: persisted(store, quarterly_review, quarter)),
        ("the win model's validation", lambda: persisted(store, evaluate)),
        ("the forecast week by week", lambda: persisted(store, forecast_path, quarter)),
    ]
    if call_quarters:  # the Forecast calls page's P50 beside each call
        steps.append(("keyfunnel's P50 beside the calls", lambda: persisted(store, model_points, call_quarters)))
    done = []
    for name, compute in steps:
        if keep_going is not None and not keep_going():
            break
        start = time.perf_counter()
        compute()
        done.append(RefreshStep(name, time.perf_counter() - start))
        if progress is not None:
            progress(len(done), len(steps), done[-1])
    return done


def current_forecast(store: Store, quarter: str):
    """This quarter's forecast, kept as the Overview asks for it (the quarter left to its default) and as the Forecast
    page and the review ask for it (the quarter named): one forecast, computed once."""
    forecast = persisted(store, forecast_quarter)
    if not is_kept(store, forecast_quarter, quarter):
        keep(store, forecast_quarter, forecast, quarter)
    return forecast


def refresh_if_due(store: Store, progress: Callable[[int, int, RefreshStep], None] | None = None,
                   keep_going: Callable[[], bool] | None = None) -> list[RefreshStep] | None:
    """The refresh of the store's data version, unless it has finished or a live process is running it: claimed,
    computed and marked finished, so that a process killed mid-way leaves it due, and the next one to open the
    database finishes it (every step already kept is read back, not computed again). None when it was not due; a
    refresh stopped by `keep_going` gives its claim back."""
    if not claim_refresh(store):
        return None
    try:
        steps = refresh_results(store, progress, keep_going)
    except BaseException:
        release_refresh(store)
        raise
    if keep_going is not None and not keep_going():
        release_refresh(store)
    else:
        finish_refresh(store)
    return steps


def main(argv: list[str] | None = None) -> int:
    """`python -m analytics.refresh DB`: the app's background refresh, in a process of its own at a lower priority
    (nice 10), so that it neither holds the app's interpreter nor outruns the pages directors are waiting for; it
    stops once a writer has replaced the file it reads (the refresh of the new version is started then)."""
    import os
    import sys

    from analytics.store.turns import is_current, reading

    (path,) = sys.argv[1:] if argv is None else argv
    os.nice(10)
    with reading(path) as store:
        refresh_if_due(store, keep_going=lambda: is_current(store))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
