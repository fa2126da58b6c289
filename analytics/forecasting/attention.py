"""The open deals a director should look at this week (the Overview): large, slipping, stalled, or whose P(win)
fell since a week ago (docs/metrics.md, "Deals that need attention").

- large: in the top LARGE_SHARE of the open deals by amount;
- slipping: its expected close pushed later at least SLIPPING_PUSHES times;
- stalled: longer in its stage than the stage's stall threshold (analytics.analyses.velocity);
- P(win) fell: the win model's P(win) today is at least P_WIN_DROP below the P(win) the same model gives the deal
  as it stood a week ago (its stage, days and pushes then).
Ordered by how many of these a deal has, a fallen P(win) first among equals, then by amount."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, timedelta

import numpy as np

from analytics.filters import DealFilter
from analytics.forecasting.scoring import score_open_deals
from analytics.store.cache import persistable, persisted
from analytics.store.connection import Store
from analytics.tables import records_frame

LARGE_SHARE = 0.10
SLIPPING_PUSHES = 2
P_WIN_DROP = 0.05
REASONS = ("p_win_fell", "slipping", "stalled", "large")


@dataclass(frozen=True)
class AttentionDeal:
    deal_id: str
    name: str | None
    owner: str | None
    stage: int
    amount: float | None
    p_win: float
    p_win_week_ago: float | None  # None: not open, or not yet created, a week ago
    push_count: int
    days_in_stage: int
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class Attention:
    as_of: date
    deals: list[AttentionDeal]  # the first `limit`
    counts: dict[str, int]  # open deals with each reason, of all of them

    def to_frame(self):
        return records_frame(self.deals, tuple(AttentionDeal.__dataclass_fields__))

    def to_json(self) -> dict:
        return asdict(self)


@persistable
def deals_needing_attention(store: Store, as_of: date | None = None, *, limit: int = 8,
                            filters: DealFilter = DealFilter()) -> Attention:
    from analytics.analyses.funnel import data_as_of
    from analytics.analyses.slippage import open_deal_pushes
    from analytics.analyses.velocity import compute_velocity
    from analytics.forecasting.winmodel import team_model
    from analytics.store.asof import open_deal_features

    # an explicit date in the key: under the sidebar's as-of view (Store.as_of) a default date would read today's
    as_of = as_of or data_as_of(store) or date.today()
    now = persisted(store, score_open_deals, as_of, filters=filters)  # as analytics.refresh keeps it
    # a week ago's pipeline scored by today's model: what moved is the deal (a stage lost, time passed), not the
    # model (a refit a week earlier would move every P(win) a little, and cost a fit)
    before = open_deal_features(store, as_of - timedelta(days=6), filters)
    p_before = team_model(store, as_of + timedelta(days=1)).predict_proba(before) if len(before) else []
    earlier = dict(zip(before["deal_id"], p_before))
    pushed = open_deal_pushes(store, filters)
    pushes = dict(zip(pushed["deal_id"], pushed["push_count"].tolist()))
    stalled = {d.deal_id for d in compute_velocity(store, filters, as_of).stalled}
    amounts = now["amount"].to_numpy(float)
    known = amounts[~np.isnan(amounts)]
    large = float(np.quantile(known, 1 - LARGE_SHARE)) if len(known) else np.inf
    # each reason for every open deal at once; only the deals with one are built (at 1M deals, 100,000 open ones
    # looped over in Python took a second)
    ids = now["deal_id"]
    was = ids.map(earlier).to_numpy(float)  # NaN: not open, or not yet created, a week ago
    push_count = ids.map(pushes).fillna(0).to_numpy().astype(int)
    flags = {"p_win_fell": ~np.isnan(was) & (now["p_win"].to_numpy(float) <= was - P_WIN_DROP),
             "slipping": push_count >= SLIPPING_PUSHES, "stalled": ids.isin(stalled).to_numpy(),
             "large": ~np.isnan(amounts) & (amounts >= large)}
    columns = {c: now[c].to_numpy(object) for c in ("deal_id", "name", "owner", "stage", "p_win", "days_in_stage")}
    rows = []
    for i in np.flatnonzero(np.logical_or.reduce(list(flags.values()))):
        rows.append(AttentionDeal(columns["deal_id"][i], columns["name"][i], columns["owner"][i],
                                  int(columns["stage"][i]), None if np.isnan(amounts[i]) else float(amounts[i]),
                                  float(columns["p_win"][i]), None if np.isnan(was[i]) else float(was[i]),
                                  int(push_count[i]), int(columns["days_in_stage"][i]),
                                  tuple(name for name in REASONS if flags[name][i])))
    rows.sort(key=lambda d: (-len(d.reasons), "p_win_fell" not in d.reasons, -(d.amount or 0.0), d.deal_id))
    return Attention(as_of, rows[:limit], {name: sum(name in d.reasons for d in rows) for name in REASONS})
