"""Quarterly bookings forecast with ranges (its backtest is analytics.forecasting.backtest).

Bookings in quarter Q = already won in Q + Σ over open deals of amount × [wins and closes inside Q] + deals not yet
created that will be won inside Q. Each open deal wins with its model probability and closes inside Q with the
probability its stage's remaining-time distribution (deals that won from that stage) gives, given how long it has
already been open there. New deals: the mean and spread of what past quarters booked from deals created inside
them. The distribution comes from a seeded, vectorised simulation (numpy).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd

from analytics.domain import MISSING_VALUE
from analytics.filters import DealFilter, quarter_bounds
from analytics.store.asof import open_deal_features
from analytics.store.cache import persistable
from analytics.store.connection import Store
from analytics.tables import records_frame

DRAWS = 10_000
CATEGORIES = (("commit", 7, 8), ("best_case", 5, 6), ("pipeline", 1, 4))  # name, lowest and highest stage
NEW_DEAL_QUARTERS = 4
SIMULATED_DEALS = 4_000  # open deals drawn one by one; the rest by their normal approximation


def quarter_of(day: date) -> str:
    return f"{day.year}Q{(day.month - 1) // 3 + 1}"


def shift_quarter(quarter: str, by: int) -> str:
    start, _ = quarter_bounds(quarter)
    index = start.year * 4 + (start.month - 1) // 3 + by
    return f"{index // 4}Q{index % 4 + 1}"


@dataclass(frozen=True)
class Breakdown:
    key: str
    won_to_date: float
    expected: float
    p10: float | None = None
    p90: float | None = None


@dataclass(frozen=True)
class QuarterForecast:
    quarter: str
    as_of: date
    won_to_date: float
    expected: float
    p10: float
    p50: float
    p90: float
    open_deals: int
    new_deals_expected: float
    by_category: list[Breakdown]
    by_owner: list[Breakdown]
    by_tier: list[Breakdown]
    by_region: list[Breakdown]
    target: float | None = None
    coverage: float | None = None  # open amount expected to close in Q / (target − won to date)
    p_reach_target: float | None = None
    mode: str = "full"
    histogram: dict = field(default_factory=dict)
    amount_imputed: int = 0  # open deals without an amount, counted at their stage's median (see impute_amounts)

    def to_frame(self, by: str = "category"):
        """The quarter's bookings by `by` (category, owner, tier or region): key, won_to_date, expected, p10,
        p90 (the units' own ranges, simulated with the team's)."""
        return records_frame(getattr(self, f"by_{by}"), ("key", "won_to_date", "expected", "p10", "p90"))

    def to_json(self) -> dict:
        return asdict(self)


def won_in(store: Store, start: date, end: date, before: date | None = None,
            filters: DealFilter = DealFilter()):
    """Won deals closed in [start, end) (and before `before`, when given)."""
    where, params = filters.where()
    params = {**params, "s": start, "e": end, "b": before or end}
    return store.fetch_df(f"""SELECT deal_id, owner, tier, region, amount, closed_at FROM deals WHERE outcome = 'won'
        AND closed_at >= $s AND closed_at < $e AND closed_at < $b AND {where}""", params)


def new_deal_bookings(store: Store, quarter_start: date, quarters: int = NEW_DEAL_QUARTERS,
                      filters: DealFilter = DealFilter()) -> tuple[float, float, int]:
    """Mean and standard deviation, over the `quarters` before `quarter_start`, of what a quarter booked from deals
    created inside it, and how many quarters they are of."""
    values = []
    for k in range(1, quarters + 1):
        s, e = quarter_bounds(shift_quarter(quarter_of(quarter_start), -k))
        if s < (store.scalar("SELECT min(created_at) FROM deals") or quarter_start):
            continue
        where, params = filters.where()
        values.append(store.scalar(f"""SELECT coalesce(sum(amount), 0) FROM deals WHERE outcome = 'won'
            AND created_at >= $s AND closed_at < $e AND closed_at >= $s AND {where}""", {**params, "s": s, "e": e}))
    if not values:
        return 0.0, 0.0, 0
    return float(np.mean(values)), (float(np.std(values, ddof=1)) if len(values) > 1 else 0.0), len(values)


def category_index(stage: np.ndarray) -> np.ndarray:
    """Each deal's forecast category (an index into CATEGORIES) from its stage."""
    index = np.zeros(len(stage), dtype=int)
    for i, (_, lo, hi) in enumerate(CATEGORIES):
        index[(stage >= lo) & (stage <= hi)] = i
    return index


def simulate_bookings(amount: np.ndarray, q: np.ndarray, stage: np.ndarray, draws: int,
                      rng: np.random.Generator, simulated: int = SIMULATED_DEALS, *,
                      p_win: np.ndarray | None = None, stage_sd: dict[int, float] | None = None,
                      groups: np.ndarray | None = None, n_groups: int | None = None,
                      summed_into: np.ndarray | None = None) -> np.ndarray:
    """Bookings per draw and group from open deals that each book `amount` with probability `q`. The groups are
    the forecast categories (CATEGORIES, by stage), unless `groups` gives each deal's group (0 … n_groups − 1):
    analytics.forecasting.attainment groups by category and unit, so that each owner's bookings and the team's
    come from one simulation.

    The `simulated` deals with the largest variance a²q(1−q) are drawn win or lose, one by one. The rest, many
    small independent terms, enter each category as a normal with their exact mean and variance (Lindeberg's
    central limit theorem): at 87,000 open deals this is 8× faster than drawing every deal, and moves P10 and P90
    by less than 0.1% (tests/test_forecast.py checks it against drawing every deal).

    `stage_sd` puts the model's own uncertainty in the range: each draw shifts the log-odds of every deal at stage
    s by one shared δ ~ N(0, stage_sd[s]²), the standard error of that stage's estimated log-odds, so that deals of
    a stage are right or wrong together, as an estimate from a few hundred deals is (a draw from the estimate's
    approximate posterior). `p_win` is the win part of q (q = p_win × P(closes in the quarter)). For the deals
    summed as normals the shift enters to first order: Σ a·q·(1 − p_win)·δ.

    `summed_into` gives each group's column in the result, where groups sharing one are added: the calls need each
    owner's bookings, not each owner's by category. The draws are those of the groups apart (one normal a group,
    the same uniforms); only the sums are taken in fewer columns: the calls' drawn deals had been multiplied into
    240 columns (60 owners × 4 categories) to be added up into 60."""
    live = q > 1e-6
    a, p, cats = amount[live], q[live], stage[live]
    shock = None
    if stage_sd is not None and p_win is not None:
        stages = sorted(stage_sd)
        shock = rng.standard_normal((draws, len(stages))) * np.array([stage_sd[k] for k in stages])
        stage_col = np.searchsorted(stages, cats)
        pw = np.clip(p_win[live], 1e-9, 1 - 1e-9)
    if groups is None:
        cat_index, n_groups = category_index(cats), len(CATEGORIES)
    else:
        cat_index = groups[live]
    column = np.arange(n_groups) if summed_into is None else np.asarray(summed_into)
    by_cat = np.zeros((draws, int(column.max()) + 1 if len(column) else 0))
    variance = a * a * p * (1 - p)
    drawn = (np.argsort(-variance, kind="stable")[:simulated] if len(a) > simulated
             else np.arange(len(a)))
    rest = np.ones(len(a), dtype=bool)
    rest[drawn] = False
    # each group's deals summed as normals, in their order: a stable sort by group makes each a slice, so that many
    # groups (the calls' owners × categories) cost one pass over the deals, not one each
    by_group = np.flatnonzero(rest)
    by_group = by_group[np.argsort(cat_index[by_group], kind="stable")]
    bounds = np.searchsorted(cat_index[by_group], np.arange(n_groups + 1))
    for i in range(n_groups):
        members = by_group[bounds[i]:bounds[i + 1]]
        if len(members):
            mean, sd = float((a[members] * p[members]).sum()), float(np.sqrt(variance[members].sum()))
            centre = mean
            if shock is not None:  # first order in δ: d(a q)/dδ = a q (1 − p_win), summed per stage
                slope = np.bincount(stage_col[members], weights=a[members] * p[members] * (1 - pw[members]),
                                    minlength=shock.shape[1])
                centre = mean + shock @ slope
            by_cat[:, column[i]] += np.maximum(0.0, rng.normal(centre, sd, draws) if sd > 0 else centre)
    shocked = {} if shock is None else {"logit": np.log(pw[drawn] / (1 - pw[drawn])), "shock": shock,
                                        "in_quarter": p[drawn] / pw[drawn], "stage_col": stage_col[drawn]}
    by_cat += _draw_one_by_one(a[drawn], p[drawn], column[cat_index[drawn]], by_cat.shape[1], draws, rng, **shocked)
    return by_cat


DRAW_BLOCK = 2_000_000  # (draws × deals) drawn at a time: 8 MB float32 buffers, reused, stay in cache


def _draw_one_by_one(a: np.ndarray, p: np.ndarray, group: np.ndarray, n_groups: int, draws: int,
                     rng: np.random.Generator, *, logit=None, in_quarter=None, stage_col=None, shock=None):
    """Bookings per draw and group of deals each drawn won or lost: deal i books a[i] when a uniform falls below
    its probability, p[i], or with the stage shocks in_quarter[i] × σ(logit[i] + δ[stage_col[i]]).

    The deals are taken in stage order, so that each stage's shock is one broadcast add over a contiguous block of
    columns instead of a gather, and the sigmoid runs in place in float32 in buffers reused from block to block: 4×
    faster than the float64 temporaries it replaced (docs/performance-misses.md). The amounts are summed in
    float64."""
    out = np.zeros((draws, n_groups))
    if not len(a):
        return out
    order = np.argsort(stage_col, kind="stable") if shock is not None else np.arange(len(a))
    a, p, group = a[order], p[order].astype(np.float32), group[order]
    amounts = np.zeros((len(a), n_groups))
    amounts[np.arange(len(a)), group] = a
    rows = max(1, min(draws, DRAW_BLOCK // len(a)))
    chance, uniform = np.empty((rows, len(a)), np.float32), np.empty((rows, len(a)), np.float32)
    hit, hits = np.empty((rows, len(a)), bool), np.empty((rows, len(a)))
    if shock is not None:
        logit, in_quarter = logit[order].astype(np.float32), in_quarter[order].astype(np.float32)
        stage_col = stage_col[order]
        edges = np.searchsorted(stage_col, np.arange(shock.shape[1] + 1))
        shock = shock.astype(np.float32)
    else:
        chance[:] = p
    for lo in range(0, draws, rows):
        m = min(draws, lo + rows) - lo
        x = chance[:m]
        if shock is not None:
            for k in range(shock.shape[1]):
                b0, b1 = edges[k], edges[k + 1]
                if b1 > b0:
                    np.add(logit[b0:b1], shock[lo:lo + m, k:k + 1], out=x[:, b0:b1])
            np.negative(x, out=x)
            np.exp(x, out=x)
            x += 1
            np.divide(in_quarter, x, out=x)
        rng.random(out=uniform[:m], dtype=np.float32)
        np.less(uniform[:m], x, out=hit[:m])
        np.copyto(hits[:m], hit[:m])
        out[lo:lo + m] = hits[:m] @ amounts
    return out


@dataclass
class QuarterInputs:
    """What a quarter's simulation stands on: the open deals scored (p_win, and q = P(wins inside the quarter)),
    their amounts (the unknown ones imputed), what is won to date, and the new deals' mean and spread."""

    quarter: str
    as_of: date
    when: date
    model: object
    deals: object  # DataFrame: open_deal_features
    won: object  # DataFrame: won_in
    won_to_date: float
    stage: np.ndarray
    p_win: np.ndarray
    p_in: np.ndarray
    q: np.ndarray
    amount: np.ndarray
    imputed: int
    mean_new: float
    sd_new: float
    n_new: int

    def new_deal_draws(self, rng: np.random.Generator, draws: int) -> np.ndarray:
        """The predictive distribution of a quarter's new-deal bookings from n past ones: Student's t with n − 1
        degrees of freedom and scale sd·√(1 + 1/n), not a normal that takes four quarters' mean and spread for the
        truth."""
        n, mean, sd = self.n_new, self.mean_new, self.sd_new
        return (np.maximum(0.0, mean + sd * np.sqrt(1 + 1 / n) * rng.standard_t(n - 1, draws))
                if sd > 0 and n > 1 else np.full(draws, mean))

    @property
    def expected(self) -> float:
        """The quarter's expected bookings: won to date, the open deals' amount × q, the new deals' mean."""
        return float(self.won_to_date + (self.amount * self.q).sum() + self.mean_new)

    def simulate(self, draws: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The quarter's bookings per draw, and two of its parts: the open deals' by category and the new deals'."""
        rng = np.random.default_rng(seed)
        by_cat = simulate_bookings(self.amount, self.q, self.stage, draws, rng, p_win=self.p_win,
                                   stage_sd=stage_log_odds_sd(self.model))
        new = self.new_deal_draws(rng, draws)
        return self.won_to_date + by_cat.sum(axis=1) + new, by_cat, new


def quarter_reads(store: Store, quarter: str, filters: DealFilter = DealFilter()) -> dict:
    """What forecasts of one quarter standing on several days share, read once: quarter_inputs' `won` (the deals won
    in the quarter) and `new_deals` (its new_deal_bookings)."""
    q_start, q_end = quarter_bounds(quarter)
    return {"won": won_in(store, q_start, q_end, filters=filters),
            "new_deals": new_deal_bookings(store, q_start, filters=filters)}


def quarter_inputs(store: Store, quarter: str | None = None, as_of: date | None = None, *, model=None,
                   filters: DealFilter = DealFilter(), open_deals=None, p_win=None, won=None,
                   new_deals: tuple[float, float, int] | None = None) -> QuarterInputs:
    """The open deals as they stood at the end of the as-of day, scored by the team's win model, and the rest of
    what forecast_quarter simulates (its docstring says what each argument is). `won` and `new_deals`: the reads
    forecasts of one quarter on several days share (quarter_reads); of `won`, the deals closed before the day count."""
    from analytics.analyses.funnel import data_as_of
    from analytics.forecasting.winmodel import team_model

    as_of = as_of or data_as_of(store) or date.today()
    quarter = quarter or quarter_of(as_of)
    q_start, q_end = quarter_bounds(quarter)
    when = as_of + timedelta(days=1)  # standing at the end of the as-of day
    model = model or team_model(store, when)
    deals = open_deal_features(store, when, filters) if open_deals is None else open_deals
    won = (won_in(store, q_start, q_end, before=when, filters=filters) if won is None
           else won[won["closed_at"] < pd.Timestamp(when)].reset_index(drop=True))

    stage = deals["stage"].to_numpy()
    entered = deals["current_stage_entered_at"].to_numpy().astype("datetime64[s]")
    day = np.timedelta64(86400, "s")
    elapsed = (np.datetime64(when) - entered) / day
    now = np.datetime64(datetime.combine(when, datetime.min.time()))
    start = float((np.datetime64(max(when, q_start)) - now) / day)  # days from now, the same for every deal
    end = float((np.datetime64(q_end) - now) / day)
    if p_win is None:
        p_win = model.predict_proba(deals) if len(deals) else np.array([])
    p_in = model.remaining_.window_probability(stage, elapsed, start, end) if len(deals) else p_win
    q = p_win * p_in if len(deals) else np.array([])
    amount, imputed = impute_amounts(deals["amount"].to_numpy(float), stage)

    # New deals: only the part of the quarter still ahead can bring them.
    mean_new, sd_new, n_new = new_deal_bookings(store, q_start, filters=filters) if new_deals is None else new_deals
    ahead = max(0.0, (q_end - max(when, q_start)).days / (q_end - q_start).days)
    return QuarterInputs(quarter, as_of, when, model, deals, won, float(won["amount"].sum()), stage, p_win, p_in,
                         q, amount, imputed, mean_new * ahead, sd_new * ahead, n_new)


@persistable
def forecast_quarter(store: Store, quarter: str | None = None, as_of: date | None = None, *,
                     target: float | None = None, draws: int = DRAWS, seed: int = 0, model=None,
                     filters: DealFilter = DealFilter(), open_deals=None, p_win=None) -> QuarterForecast:
    """The bookings forecast for `quarter` (default: the as-of date's), standing on `as_of` (default: the data's).
    `filters` restrict it to a segment's deals; the win model is always the team's. `open_deals`: the deals open at
    the end of the as-of day, as open_deal_features(store, as_of + 1 day, filters) reads them, when the caller has
    them already (the backtest); `p_win`: `model`'s P(win) of those, when the caller scored them already (one
    predict_proba for several dates: each call costs 0.4 s of scikit-learn's own overhead, whatever the deals)."""
    from analytics.forecasting.winmodel import FULL, SMALL_DATA

    inputs = quarter_inputs(store, quarter, as_of, model=model, filters=filters, open_deals=open_deals, p_win=p_win)
    quarter, as_of, model, deals, won = inputs.quarter, inputs.as_of, inputs.model, inputs.deals, inputs.won
    stage, q, p_in, amount, won_to_date = inputs.stage, inputs.q, inputs.p_in, inputs.amount, inputs.won_to_date
    mean_new = inputs.mean_new

    totals, by_cat, new = inputs.simulate(draws, seed)
    p10, p50, p90 = (float(x) for x in np.percentile(totals, [10, 50, 90]))

    ev = amount * q
    categories = [Breakdown("won", won_to_date, won_to_date, won_to_date, won_to_date)] + [
        Breakdown(name, 0.0, float(ev[(stage >= lo) & (stage <= hi)].sum()),
                  float(np.percentile(by_cat[:, i], 10)), float(np.percentile(by_cat[:, i], 90)))
        for i, (name, lo, hi) in enumerate(CATEGORIES)] + [
        Breakdown("new_deals", 0.0, float(mean_new), float(np.percentile(new, 10)), float(np.percentile(new, 90)))]

    def breakdown(column: str) -> list[Breakdown]:
        dk, wk = deals[column].fillna(MISSING_VALUE).to_numpy(), won[column].fillna(MISSING_VALUE).to_numpy()
        index, keys = pd.factorize(np.concatenate([dk, wk]))  # a hash, not a sort of a million strings
        won_by = np.bincount(index[len(dk):], weights=won["amount"].to_numpy(float), minlength=len(keys))
        ev_by = np.bincount(index[:len(dk)], weights=ev, minlength=len(keys))
        out = [Breakdown(keys[i], float(won_by[i]), float(won_by[i] + ev_by[i]))
               for i in sorted(range(len(keys)), key=keys.__getitem__)]
        return sorted(out, key=lambda b: -b.expected)

    in_quarter_amount = float((amount * p_in).sum()) if len(deals) else 0.0
    remaining = None if target is None else target - won_to_date
    hist, edges = np.histogram(totals, bins=40)
    mode = SMALL_DATA if model.small_data else FULL
    return QuarterForecast(
        quarter=quarter, as_of=as_of, won_to_date=won_to_date, expected=inputs.expected,
        p10=p10, p50=p50, p90=p90, open_deals=int(len(deals)), new_deals_expected=float(mean_new),
        by_category=categories, by_owner=breakdown("owner"), by_tier=breakdown("tier"),
        by_region=breakdown("region"), target=target,
        coverage=(in_quarter_amount / remaining if remaining and remaining > 0 else None),
        p_reach_target=(float((totals >= target).mean()) if target is not None else None), mode=mode,
        histogram={"counts": hist.tolist(), "edges": edges.tolist()}, amount_imputed=inputs.imputed)


def stage_log_odds_sd(model) -> dict[int, float]:
    """Each stage's standard error of its estimated log-odds of winning, 1 / √(n r (1 − r)) from its n training
    deals and win rate r: what the forecast's range adds for the model's own uncertainty (simulate_bookings)."""
    return {s: float(1 / np.sqrt(max(n, 1) * model.stage_rate_[s] * (1 - model.stage_rate_[s])))
            for s, n in model.n_train_.items()}


def impute_amounts(amount: np.ndarray, stage: np.ndarray) -> tuple[np.ndarray, int]:
    """Open deals' amounts with the unknown ones (NaN) replaced by the median known amount of the open deals at
    the same stage (else of all open deals; else 0), and how many were replaced.

    Chosen over leaving them out: CRMs leave the amount blank mostly on early-stage deals, so leaving them out
    would bias the forecast low by exactly those deals, while their low P(win) keeps the median's weight small.
    The forecast says how many it imputed (docs/metrics.md)."""
    unknown = np.isnan(amount)
    if not unknown.any():
        return amount, 0
    filled = amount.copy()
    overall = float(np.median(amount[~unknown])) if (~unknown).any() else 0.0
    for s in np.unique(stage[unknown]):
        known = amount[(stage == s) & ~unknown]
        filled[(stage == s) & unknown] = float(np.median(known)) if len(known) else overall
    return filled, int(unknown.sum())
