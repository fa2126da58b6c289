"""Every open deal scored: its P(win) from the team's model, its expected value, and when it is likely to close (the
time to signing learnt from the deals that signed)."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np

from analytics.filters import DealFilter
from analytics.forecasting.winmodel import FULL, StageWinModel, team_model
from analytics.store.asof import open_deal_features
from analytics.store.cache import persistable
from analytics.store.connection import Store


@persistable
def score_open_deals(store: Store, as_of: date | None = None, model: StageWinModel | None = None, rule=None,
                     filters: DealFilter = DealFilter(), lang: str = "en"):
    """Open deals with P(win) now, expected value, predicted close date and recommended tier (a DataFrame)."""
    from analytics.analyses.funnel import data_as_of
    from analytics.analyses.tiers import TierRule

    as_of = as_of or data_as_of(store) or date.today()
    when = as_of + timedelta(days=1)
    model = model or team_model(store, when)
    deals = open_deal_features(store, when, filters)
    rule = rule or TierRule()
    if deals.empty:
        return deals.assign(p_win=[], expected_value=[], predicted_close=[], recommended_tier=[])
    stage = deals["stage"].to_numpy()
    # whole days from the day the deal entered its stage to the as-of date (velocity's stalled deals count the same)
    elapsed = ((np.datetime64(as_of) - deals["current_stage_entered_at"].to_numpy().astype("datetime64[D]"))
               .astype(float))
    deals["p_win"] = model.predict_proba(deals)
    deals["expected_value"] = deals["amount"] * deals["p_win"]
    further = model.remaining_.median_remaining(stage, elapsed)
    deals["predicted_close"] = [as_of + timedelta(days=int(round(d))) if np.isfinite(d) else None for d in further]
    deals["days_in_stage"] = elapsed
    deals["recommended_tier"] = [rule.grade(p, d if np.isfinite(d) else None)
                                 for p, d in zip(deals["p_win"], further)]
    deals["mode"] = [model.mode_.get(int(s), FULL) for s in stage]
    from analytics.domain import stage as stage_info

    deals["exit_criterion"] = [stage_info(int(s)).exit_criterion(lang) for s in stage]
    return deals
