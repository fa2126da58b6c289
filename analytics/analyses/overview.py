"""Headline figures, and the deal counts and filter options the app's sidebar and empty states need."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from analytics.analyses.funnel import Funnel, compute_funnel
from analytics.domain import STAGE_NUMBERS
from analytics.filters import TEXT_FILTER_COLUMNS, DealFilter
from analytics.stats import Interval, wilson_interval
from analytics.store.connection import Store


@dataclass(frozen=True)
class PipelineSummary:
    deals: int
    open_deals: int
    open_amount: float  # Σ known amounts of the open deals
    open_amount_known: int  # open deals with an amount (the rest count in open_deals, not in the sums)
    weighted_amount: float  # Σ amount × P(win | reached current stage)
    won: int
    resolved: int
    win_rate: float | None
    win_rate_ci: Interval | None
    as_of: date | None


def count_deals(store: Store, filters: DealFilter = DealFilter()) -> int:
    where, params = filters.where()
    return int(store.scalar(f"SELECT count(*) FROM deal_facts WHERE {where}", params))


def reporting_currency(store: Store) -> str | None:
    """The one currency every deal's amount is in (a CRM import converts to one, docs/crm-exports.md), or None
    when the data names none or several: then figures are shown without a unit."""
    codes = store.fetchall("SELECT DISTINCT currency FROM deals WHERE currency IS NOT NULL AND currency <> '' LIMIT 2")
    return codes[0][0] if len(codes) == 1 else None


FILTER_COLUMNS = TEXT_FILTER_COLUMNS  # the sidebar's choices


def filter_options(store: Store) -> dict[str, list[str]]:
    """The values each sidebar filter can take (column names from FILTER_COLUMNS only)."""
    return {c: [r[0] for r in store.fetchall(f"SELECT DISTINCT {c} FROM deals WHERE {c} IS NOT NULL ORDER BY 1")]
            for c in FILTER_COLUMNS}


def deal_ids(store: Store, filters: DealFilter) -> set[str]:
    where, params = filters.where()
    return {r[0] for r in store.fetchall(f"SELECT deal_id FROM deal_facts WHERE {where}", params)}


def stage_win_probability(funnel: Funnel) -> dict[int, float | None]:
    return {s: funnel.stage(s).win_rate for s in STAGE_NUMBERS}


def pipeline_summary(store: Store, filters: DealFilter = DealFilter()) -> PipelineSummary:
    where, params = filters.where()
    team = compute_funnel(store)  # the team's stage win rates weight the (filtered) pipeline
    probability = {s: p or 0.0 for s, p in stage_win_probability(team).items()}
    rows = store.fetchall(f"""SELECT current_stage, count(*), coalesce(sum(amount), 0), count(amount) FROM deal_facts
                              WHERE {where} AND outcome = 'open' GROUP BY ALL""", params)
    won, resolved, deals = store.fetchone(f"""SELECT count(*) FILTER (WHERE outcome = 'won'),
        count(*) FILTER (WHERE outcome <> 'open'), count(*) FROM deal_facts WHERE {where}""", params)
    return PipelineSummary(
        deals=deals, open_deals=sum(r[1] for r in rows), open_amount=float(sum(r[2] for r in rows)),
        open_amount_known=sum(r[3] for r in rows),
        weighted_amount=float(sum(r[2] * probability[int(r[0])] for r in rows)),
        won=won, resolved=resolved, win_rate=won / resolved if resolved else None,
        win_rate_ci=wilson_interval(won, resolved), as_of=team.as_of)
