"""The quarterly forecast review: one object holding everything the meeting walks through."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from analytics.analyses.funnel import Funnel, compute_funnel, data_as_of, funnel_at
from analytics.analyses.slippage import open_deal_pushes, with_slippage
from analytics.analyses.trends import Trends
from analytics.analyses.waterfall import Waterfall, compute_waterfall
from analytics.filters import DealFilter, quarter_bounds
from analytics.forecasting.backtest import (
    Backtest,
    BacktestQuarter,
    backtest_quarter,
    last_full_quarter,
)
from analytics.forecasting.forecast import (
    QuarterForecast,
    forecast_quarter,
    quarter_of,
    shift_quarter,
)
from analytics.store.cache import persistable, persisted
from analytics.store.connection import Store, viewing_as_of

TOP_DEALS = 15


@dataclass
class QuarterlyReview:
    quarter: str
    as_of: date
    forecast: QuarterForecast
    last_quarter: BacktestQuarter | None  # last quarter's forecast (as it would have been made) against actual
    funnel_now: Funnel
    funnel_last_quarter: Funnel  # as it stood when last quarter began
    top_deals: object  # DataFrame: the open deals with the largest expected value
    slipped_deals: object  # DataFrame: open deals whose expected close has passed
    # the forecast's own backtest over past quarters, when the caller has it (the page's, or the CLI's persisted
    # one): the review says above the range when it refutes it
    backtest: Backtest | None = None
    # what moved this quarter: the pipeline expected to close in it, from the quarter's start to the as-of date
    waterfall: Waterfall | None = None
    pushed_out: object = None  # DataFrame: the open deals the waterfall counts as pushed out of the quarter
    # the forecast week by week through the quarter (forecast_path) and the funnel quarter by quarter
    # (compute_trends), when the caller has them (the page's cached ones, the CLI's persisted path)
    path: list | None = None
    trends: Trends | None = None

    @property
    def last_quarter_name(self) -> str:
        return shift_quarter(self.quarter, -1)


@persistable
def quarterly_review(store: Store, quarter: str | None = None, as_of: date | None = None, *,
                     target: float | None = None, filters: DealFilter = DealFilter()) -> QuarterlyReview:
    from analytics.forecasting.scoring import score_open_deals

    # This quarter's forecast standing now is the one the refresh kept for the Forecast page (the same call, by the
    # same key): read, not computed again. A view of the data as it stood on an earlier day shares today's data
    # version, and the key leaves the date to its default, so the view computes its own.
    now = as_of is None and not viewing_as_of(store)
    as_of = as_of or data_as_of(store) or date.today()
    quarter = quarter or quarter_of(as_of)
    when = as_of + timedelta(days=1)
    forecast = (persisted(store, forecast_quarter, quarter, target=target, filters=filters) if now else
                forecast_quarter(store, quarter, as_of, target=target, filters=filters))
    # the backtest's own last quarter, kept once for both (analytics.refresh computes the backtest first)
    previous = persisted(store, backtest_quarter, last_full_quarter(store, as_of), filters=filters)
    last_start, _ = quarter_bounds(shift_quarter(quarter, -1))
    # the Deals page's scored deals, as the deals needing attention read them: their key names the date
    deals = persisted(store, score_open_deals, as_of, filters=filters)
    # the figures right after the deal, before the long names: a reader at 1400 px sees them without scrolling
    columns = ["deal_id", "name", "amount", "p_win", "expected_value", "expected_close", "predicted_close", "stage",
               "account", "owner", "tier", "recommended_tier"]
    deals = with_slippage(deals[columns] if len(deals) else deals, open_deal_pushes(store, filters))
    if "name" in deals and deals["name"].isna().all():  # an export without deal names: no empty column
        deals = deals.drop(columns="name")
    top = deals.sort_values("expected_value", ascending=False).head(TOP_DEALS) if len(deals) else deals
    if len(deals):
        slipped = deals[deals["expected_close"].notna() & (deals["expected_close"].astype("datetime64[ns]")
                                                            < as_of.isoformat())]
        slipped = slipped.sort_values("amount", ascending=False)
    else:
        slipped = deals
    start, _ = quarter_bounds(quarter)
    moved = compute_waterfall(store, start, when, quarter, filters) if start < when else None
    pushed = deals[deals["deal_id"].isin(moved.bucket("pushed_out").deal_ids)] if moved is not None and len(deals) \
        else deals.head(0)
    # what moved first: the close it now expects, how often and how far it was pushed, then the rest
    first = ["deal_id", "amount", "expected_close", "push_count", "days_pushed", "first_expected_close"]
    pushed = pushed[[c for c in first if c in pushed] + [c for c in pushed.columns if c not in first]]
    return QuarterlyReview(quarter, as_of, forecast, previous,
                           compute_funnel(store, filters, as_of), funnel_at(store, last_start, filters),
                           top, slipped, waterfall=moved, pushed_out=pushed)


def funnel_change_rows(review: QuarterlyReview) -> list[dict]:
    """Each stage's deals reached and conversion at the end of last quarter and now."""
    rows = []
    for now, then in zip(review.funnel_now.stages, review.funnel_last_quarter.stages):
        rows.append({"stage": now.stage, "reached_then": then.reached, "reached_now": now.reached,
                     "conversion_then": then.conversion, "conversion_now": now.conversion})
    return rows
