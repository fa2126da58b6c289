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
    rows = []
    for r in now.itertuples(index=False):
        was = earlier.get(r.deal_id)
        pushed = int(pushes.get(r.deal_id, 0))
        reasons = tuple(name for name, flagged in (
            ("p_win_fell", was is not None and r.p_win <= was - P_WIN_DROP),
            ("slipping", pushed >= SLIPPING_PUSHES), ("stalled", r.deal_id in stalled),
            ("large", r.amount == r.amount and r.amount >= large)) if flagged)
        if reasons:
            rows.append(AttentionDeal(r.deal_id, r.name, r.owner, int(r.stage),
                                      None if r.amount != r.amount else float(r.amount), float(r.p_win),
                                      None if was is None else float(was), pushed, int(r.days_in_stage), reasons))
    rows.sort(key=lambda d: (-len(d.reasons), "p_win_fell" not in d.reasons, -(d.amount or 0.0), d.deal_id))
    return Attention(as_of, rows[:limit], {name: sum(name in d.reasons for d in rows) for name in REASONS})
