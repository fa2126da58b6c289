"""Tier mix (客户级别 A–D): where each tier's pipeline sits, how each tier converts, and which open deals are graded
differently from what the domain's rule recommends.

The rule grades by close likelihood and expected close time. Likelihood here is the stage's empirical win rate
P(win | reached current stage) from the funnel; the time is days from the as-of date to expected_close (a date
already past counts as 0: the deal is due now). Thresholds are a TierRule, documented in docs/metrics.md.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date

from analytics.analyses.funnel import data_as_of, funnel_from_counts, stage_counts
from analytics.domain import MISSING_VALUE, STAGE_NUMBERS
from analytics.filters import DealFilter
from analytics.stats import Interval, wilson_interval
from analytics.store.connection import Store
from analytics.tables import records_frame


@dataclass(frozen=True)
class TierRule:
    """A: likely and soon; B: fairly likely within half a year; C: possible within a year; D: the rest."""

    a_min_probability: float = 0.5
    a_max_days: int = 90
    b_min_probability: float = 0.3
    b_max_days: int = 180
    c_min_probability: float = 0.15
    c_max_days: int = 365

    def grade(self, probability: float | None, days_to_close: float | None) -> str:
        if probability is None:
            return "D"
        days = max(0.0, days_to_close) if days_to_close is not None else float("inf")
        if probability >= self.a_min_probability and days <= self.a_max_days:
            return "A"
        if probability >= self.b_min_probability and days <= self.b_max_days:
            return "B"
        if probability >= self.c_min_probability and days <= self.c_max_days:
            return "C"
        return "D"

    def sql(self, probability: str, days_to_close: str) -> tuple[str, dict]:
        """The same grading as `grade`, as a SQL expression over two column expressions, with its parameters."""
        # greatest() skips NULLs: a missing close date must stay "never", not become "due now"
        days = f"CASE WHEN {days_to_close} IS NULL THEN 'infinity'::DOUBLE ELSE greatest(0, {days_to_close}) END"
        whens = " ".join(f"WHEN {probability} >= $rule_{t}_p AND {days} <= $rule_{t}_d THEN '{t.upper()}'"
                         for t in ("a", "b", "c"))
        params = {f"rule_{t}_{k}": getattr(self, f"{t}_{'min_probability' if k == 'p' else 'max_days'}")
                  for t in ("a", "b", "c") for k in ("p", "d")}
        return f"CASE WHEN {probability} IS NULL THEN 'D' {whens} ELSE 'D' END", params


@dataclass(frozen=True)
class TierStageCell:
    tier: str
    stage: int
    open_deals: int
    open_amount: float  # Σ known amounts
    open_amount_known: int  # deals with an amount


@dataclass(frozen=True)
class TierPerformance:
    tier: str
    won: int
    resolved: int
    win_rate: float | None
    win_rate_ci: Interval | None
    median_cycle_days: float | None


@dataclass(frozen=True)
class TierMismatch:
    deal_id: str
    account: str | None
    owner: str | None
    stage: int
    amount: float | None
    assigned_tier: str | None
    recommended_tier: str
    win_probability: float | None
    days_to_close: float | None


@dataclass(frozen=True)
class TierMix:
    open_by_tier_stage: list[TierStageCell]
    performance: list[TierPerformance]
    mismatches: list[TierMismatch]  # the largest by amount, at most `limit` of them
    mismatches_total: int
    open_deals_graded: int
    rule: TierRule
    filters: DealFilter
    as_of: date | None

    def to_frame(self):
        """The open deals whose tier differs from the one the rule recommends, largest first: deal_id, account,
        owner, stage, amount, assigned_tier, recommended_tier, win_probability (the stage's rate), days_to_close."""
        return records_frame(self.mismatches, ("deal_id", "account", "owner", "stage", "amount", "assigned_tier",
                                               "recommended_tier", "win_probability", "days_to_close"))

    def performance_frame(self):
        """One row per tier: tier, won, resolved, win_rate, median_cycle_days, win_rate_ci as _low and _high."""
        return records_frame(self.performance, ("tier", "won", "resolved", "win_rate", "median_cycle_days"),
                             ("win_rate_ci",))

    def to_json(self) -> dict:
        out = asdict(self)
        out["filters"] = self.filters.to_json()
        return out


def compute_tiers(store: Store, filters: DealFilter = DealFilter(), rule: TierRule = TierRule(),
                  as_of: date | None = None, limit: int | None = 1000) -> TierMix:
    """`limit` caps the mismatches listed (largest amounts first); mismatches_total counts them all."""
    where, params = filters.where()
    as_of = as_of or data_as_of(store)
    cells = [TierStageCell(t or MISSING_VALUE, int(s), int(n), float(a), int(k))
             for t, s, n, a, k in store.fetchall(f"""
        SELECT tier, current_stage, count(*), coalesce(sum(amount), 0), count(amount) FROM deal_facts
        WHERE {where} AND outcome = 'open' GROUP BY ALL ORDER BY tier NULLS LAST, current_stage""", params)]
    perf = []
    for t, won, resolved, median in store.fetchall(f"""
        SELECT tier, count(*) FILTER (WHERE outcome = 'won'), count(*), median(cycle_days)
        FROM deal_facts WHERE {where} AND outcome <> 'open' GROUP BY ALL ORDER BY tier NULLS LAST""", params):
        perf.append(TierPerformance(t or MISSING_VALUE, int(won), int(resolved), won / resolved if resolved else None,
                                    wilson_interval(won, resolved), float(median) if median is not None else None))
    # Likelihood from the whole team's stage win rates (not the filtered subset: a filter is a view, not a model).
    funnel = funnel_from_counts(stage_counts(store, DealFilter()), {}, DealFilter(), as_of)
    probability = {s: funnel.stage(s).win_rate for s in STAGE_NUMBERS}
    grade, rule_params = rule.sql("p.probability", "o.days_to_close")
    graded = f"""
        WITH p AS (SELECT unnest($stages) AS stage, unnest($probabilities) AS probability),
        o AS (SELECT deal_id, account, owner, current_stage, amount, tier,
                     date_diff('day', CAST($as_of AS DATE), expected_close) AS days_to_close
              FROM deal_facts WHERE {where} AND outcome = 'open')
        SELECT o.*, p.probability, {grade} AS recommended FROM o LEFT JOIN p ON p.stage = o.current_stage"""
    grade_params = {**params, **rule_params, "as_of": as_of or date.today(), "stages": list(probability),
                    "probabilities": list(probability.values())}
    n_graded, n_mismatched = store.fetchone(
        f"SELECT count(*), count(*) FILTER (WHERE recommended IS DISTINCT FROM tier) FROM ({graded})", grade_params)
    mismatches = [TierMismatch(deal_id, account, owner, int(stage), None if amount is None else float(amount), tier, recommended,
                               p, float(days) if days is not None else None)
                  for deal_id, account, owner, stage, amount, tier, days, p, recommended in store.fetchall(
                      f"""SELECT * FROM ({graded}) WHERE recommended IS DISTINCT FROM tier
                          ORDER BY amount DESC, deal_id LIMIT $limit""",
                      {**grade_params, "limit": limit if limit is not None else 2**62})]
    return TierMix(cells, perf, mismatches, n_mismatched, n_graded, rule, filters, as_of)


