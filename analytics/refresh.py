"""After the data changes: compute the results the pages show by default, ahead of the first viewer.

The one module allowed to import every layer: it names what is worth computing before anyone asks for it.
"""

from __future__ import annotations

from analytics.analyses.funnel import data_as_of
from analytics.forecasting.attainment import unit_draws
from analytics.forecasting.attention import deals_needing_attention
from analytics.forecasting.backtest import backtest
from analytics.forecasting.calls import closed_quarters_with_calls, model_points
from analytics.forecasting.forecast import forecast_quarter, quarter_of
from analytics.forecasting.path import forecast_path
from analytics.forecasting.review import quarterly_review
from analytics.forecasting.scoring import score_open_deals
from analytics.forecasting.validation import evaluate
from analytics.store.cache import persisted
from analytics.store.connection import Store


def refresh_results(store: Store) -> None:
    """Compute what the pages show by default, for the current data: the win model and its validation, this
    quarter's forecast, its path week by week and the review, the backtest, the scored open deals (today's and a
    week ago's), the quarter simulated by owner, and keyfunnel's P50 beside each closed quarter's calls."""
    as_of = data_as_of(store)
    if as_of is None:
        return
    persisted(store, forecast_quarter)  # the Overview's
    persisted(store, forecast_quarter, quarter_of(as_of))  # the Forecast page's, for the current quarter
    persisted(store, score_open_deals, as_of)  # the Deals page's (an explicit date: the sidebar's as-of view)
    persisted(store, unit_draws, quarter_of(as_of), as_of)  # the Overview's attainment, by owner and team
    persisted(store, deals_needing_attention)  # the Overview's
    persisted(store, backtest, 8)  # before the review, which reads its last quarter
    persisted(store, quarterly_review, quarter_of(as_of))
    persisted(store, evaluate)
    persisted(store, forecast_path, quarter_of(as_of))  # the Forecast page's path through the quarter
    quarters = closed_quarters_with_calls(store, as_of)
    if quarters:
        persisted(store, model_points, quarters)  # the Forecast calls page's P50 beside each call
