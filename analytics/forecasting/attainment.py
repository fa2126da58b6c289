"""Attainment against targets: per owner, team or region, what is won, the pipeline and its coverage, and the
forecast's range and P(reach target), all from one simulation of the quarter (docs/metrics.md, "Targets").

The simulation is the team forecast's (analytics.forecasting.forecast): the same win model, open deals, stage
shocks and new deals, its groups split by unit as well as by category, so that each unit's draws and the whole's are
the same draws. A team's row, and the whole's, add their units' draws draw by draw: P(reach) of a roll-up is the share
of draws in which the units together reach the target, never a sum of quantiles. New deals, which have no owner
yet, are shared out by each unit's part of the new-deal bookings of the past quarters (NEW_DEAL_QUARTERS)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date

import numpy as np

from analytics.domain import MISSING_VALUE
from analytics.exceptions import InputError
from analytics.filters import DealFilter, quarter_bounds
from analytics.forecasting.forecast import (
    CATEGORIES,
    DRAWS,
    NEW_DEAL_QUARTERS,
    QuarterInputs,
    category_index,
    quarter_inputs,
    quarter_of,
    shift_quarter,
    simulate_bookings,
    stage_log_odds_sd,
)
from analytics.formatting import natural_key
from analytics.messages import say
from analytics.store.cache import persistable, persisted
from analytics.store.connection import Store
from analytics.store.plans import quarter_targets, teams
from analytics.tables import records_frame

UNIT_COLUMNS = ("owner", "region")  # what a deal is simulated by; a team is its owners'
COVERAGE_FORMULA = "open pipeline expected to close in the quarter ÷ (target − won to date)"


@dataclass(frozen=True)
class UnitDraws:
    """One quarter's simulated bookings per unit (an owner or a region): draws × units."""

    quarter: str
    as_of: date
    by: str
    units: list[str]
    won: np.ndarray
    open_pipeline: np.ndarray  # Σ amount of the open deals expected to close inside the quarter
    weighted_pipeline: np.ndarray  # Σ amount × P(wins inside the quarter) of the open deals
    draws: np.ndarray  # float32, draws × units: won to date + open deals + the unit's share of new deals
    # each unit's median draw, taken once with the draws and kept with them: the calls' accuracy reads sixty owners'
    # at 32 standing points on every page load, and taking them there was half its time
    medians: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "medians", np.median(self.draws, axis=0))

    def column(self, unit: str) -> np.ndarray:
        return self.draws[:, self.units.index(unit)] if unit in self.units else np.zeros(len(self.draws))


def new_deal_shares(store: Store, quarter_start: date, column: str, units: list[str]) -> np.ndarray:
    """Each unit's share of what deals created inside a quarter booked in it, over the NEW_DEAL_QUARTERS before."""
    first = quarter_bounds(shift_quarter(quarter_of(quarter_start), -NEW_DEAL_QUARTERS))[0]
    rows = dict(store.fetchall(f"""SELECT coalesce({column}, $missing), sum(amount) FROM deals
        WHERE outcome = 'won' AND closed_at >= $first AND closed_at < $start AND amount IS NOT NULL
        AND date_trunc('quarter', created_at) = date_trunc('quarter', closed_at) GROUP BY 1""",
                                {"first": first, "start": quarter_start, "missing": MISSING_VALUE}))
    shares = np.array([float(rows.get(u, 0.0)) for u in units])
    return shares / shares.sum() if shares.sum() > 0 else np.full(len(units), 1 / max(1, len(units)))


def simulate_units(store: Store, inputs: QuarterInputs, by: str, draws: int = DRAWS, seed: int = 0) -> UnitDraws:
    """Each unit's (`by`: owner, team, region) bookings per draw, standing where `inputs` stand."""
    return simulated_units(inputs, by, unit_shares(store, inputs, by), draws, seed)


def unit_shares(store: Store, inputs: QuarterInputs, by: str) -> np.ndarray:
    """new_deal_shares of the units simulate_units simulates: what simulated_units takes from the database."""
    return new_deal_shares(store, quarter_bounds(inputs.quarter)[0], by, _units(inputs, by))


def _units(inputs: QuarterInputs, by: str) -> list[str]:
    if by not in UNIT_COLUMNS:
        raise ValueError(f"by must be one of {UNIT_COLUMNS}")
    present = (frame[by].fillna(MISSING_VALUE).unique() for frame in (inputs.deals, inputs.won))
    return sorted(set().union(*present))


def simulated_units(inputs: QuarterInputs, by: str, shares: np.ndarray, draws: int = DRAWS,
                    seed: int = 0) -> UnitDraws:
    """simulate_units with the units' new-deal `shares` read (unit_shares): no database, so that several run side by
    side (analytics.forecasting.threads)."""
    import pandas as pd

    deals, won = inputs.deals, inputs.won
    deal_units = deals[by].fillna(MISSING_VALUE).to_numpy()
    won_units = won[by].fillna(MISSING_VALUE).to_numpy()
    units = _units(inputs, by)
    unit_of_deal = pd.Index(units).get_indexer(deal_units)
    groups = category_index(inputs.stage) * len(units) + unit_of_deal
    rng = np.random.default_rng(seed)
    # each (category, unit) its own group, as the forecast's categories are, summed into its unit's column
    open_draws = simulate_bookings(inputs.amount, inputs.q, inputs.stage, draws, rng, p_win=inputs.p_win,
                                   stage_sd=stage_log_odds_sd(inputs.model), groups=groups,
                                   n_groups=len(CATEGORIES) * len(units),
                                   summed_into=np.tile(np.arange(len(units)), len(CATEGORIES)))
    q_start, q_end = quarter_bounds(inputs.quarter)
    won_amount = np.array([float(won["amount"].to_numpy(float)[won_units == u].sum()) for u in units])
    new = inputs.new_deal_draws(rng, draws)
    totals = (won_amount[None, :] + open_draws + new[:, None] * shares[None, :]).astype(np.float32)
    close = deals["expected_close"].to_numpy().astype("datetime64[D]")
    in_quarter = (close >= np.datetime64(q_start)) & (close < np.datetime64(q_end))  # NaT: neither
    known = np.nan_to_num(deals["amount"].to_numpy(float))
    return UnitDraws(inputs.quarter, inputs.as_of, by, units, won_amount,
                     np.bincount(unit_of_deal, weights=known * in_quarter, minlength=len(units)),
                     np.bincount(unit_of_deal, weights=inputs.amount * inputs.q, minlength=len(units)), totals)


@persistable
def unit_draws(store: Store, quarter: str | None = None, as_of: date | None = None, *, by: str = "owner",
               draws: int = DRAWS, seed: int = 0) -> UnitDraws:
    """The quarter's bookings simulated per unit, standing at the end of `as_of` (default: the data's as-of)."""
    return simulate_units(store, quarter_inputs(store, quarter, as_of), by, draws, seed)


@dataclass(frozen=True)
class AttainmentRow:
    unit: str
    kind: str  # owner, team, region, or "all" for the whole
    team: str | None  # an owner's team
    rollup: bool  # a team's or the whole's row: its units' draws added draw by draw
    target: float | None
    won: float
    attainment: float | None  # won / target
    open_pipeline: float
    weighted_pipeline: float
    coverage: float | None  # open pipeline / (target − won): COVERAGE_FORMULA; None once the target is met
    p10: float
    p50: float
    p90: float
    p_reach_target: float | None


@dataclass(frozen=True)
class Attainment:
    quarter: str
    as_of: date
    by: str
    rows: list[AttainmentRow]
    coverage_formula: str = COVERAGE_FORMULA

    @property
    def whole(self) -> AttainmentRow:
        return self.rows[-1]

    def to_frame(self):
        return records_frame(self.rows, tuple(AttainmentRow.__dataclass_fields__))

    def to_json(self) -> dict:
        return asdict(self)


def _row(unit: str, kind: str, team: str | None, rollup: bool, target: float | None, won: float, pipeline: float,
         weighted: float, draws: np.ndarray) -> AttainmentRow:
    p10, p50, p90 = (float(x) for x in np.percentile(draws, [10, 50, 90])) if len(draws) else (0.0, 0.0, 0.0)
    remaining = None if target is None else target - won
    return AttainmentRow(
        unit, kind, team, rollup, target, won, (won / target if target else None), pipeline, weighted,
        (pipeline / remaining if remaining is not None and remaining > 0 else None), p10, p50, p90,
        None if target is None else float((draws >= target).mean()))


def attainment(store: Store, quarter: str | None = None, as_of: date | None = None, *, by: str = "owner",
               draws: int = DRAWS, seed: int = 0, filters: DealFilter = DealFilter()) -> Attainment:
    """Each unit's target, won, attainment, pipeline, coverage, P10/P50/P90 and P(reach target) for `quarter`
    (`by`: owner, team or region), and the roll-ups: each team's (by owner) and the whole's. `filters` is accepted
    for the app's signature and must be empty: targets are set for units, not for a filtered slice of them."""
    if by not in ("owner", "team", "region"):
        raise ValueError("by must be owner, team or region")
    if filters != DealFilter():
        raise ValueError("attainment is computed for the whole team: pick units with `by`, not a filter")
    from analytics.analyses.funnel import data_as_of

    # explicit dates in the key, as analytics.refresh keeps it: under the sidebar's as-of view (Store.as_of) a
    # default date would read today's simulation
    as_of = as_of or data_as_of(store) or date.today()
    quarter = quarter or quarter_of(as_of)
    sim = persisted(store, unit_draws, quarter, as_of, by="region" if by == "region" else "owner", draws=draws,
                    seed=seed)
    kind = "region" if by == "region" else "owner"
    targets = quarter_targets(store, sim.quarter, kind)
    team_of = {owner: team for owner, (team, _) in teams(store).items()} if by != "region" else {}
    units = sorted(set(sim.units) | set(targets), key=natural_key)

    def facts(members: list[str]) -> tuple[float, float, float, np.ndarray]:
        idx = [sim.units.index(u) for u in members if u in sim.units]
        return (float(sim.won[idx].sum()), float(sim.open_pipeline[idx].sum()),
                float(sim.weighted_pipeline[idx].sum()), sim.draws[:, idx].sum(axis=1) if idx else
                np.zeros(len(sim.draws)))

    rows: list[AttainmentRow] = []
    if by == "team" and not team_of:
        raise InputError(say("no_teams"))
    if by == "region" or not team_of:  # regions, or owners in no team at all: the whole is their one roll-up
        rows = [_row(u, kind, None, False, targets.get(u), *facts([u])) for u in units]
        whole_target = sum(targets.values()) if targets else None
    else:
        team_targets = quarter_targets(store, sim.quarter, "team")
        grouped: dict[str, list[str]] = {}
        for u in units:
            grouped.setdefault(team_of.get(u, MISSING_VALUE), []).append(u)
        for team in sorted(set(grouped) | set(team_targets), key=natural_key):
            members = grouped.get(team, [])
            owner_targets = [targets[u] for u in members if u in targets]
            target = team_targets.get(team, sum(owner_targets) if owner_targets else None)
            if by == "owner":
                rows += [_row(u, "owner", team, False, targets.get(u), *facts([u])) for u in members]
            rows.append(_row(team, "team", None, by == "owner", target, *facts(members)))
        team_rows = [r for r in rows if r.kind == "team"]
        whole_target = (sum(r.target for r in team_rows if r.target is not None)
                        if any(r.target is not None for r in team_rows) else None)
    rows.append(_row("all", "all", None, True, whole_target, *facts(sim.units)))
    return Attainment(sim.quarter, sim.as_of, by, rows)
