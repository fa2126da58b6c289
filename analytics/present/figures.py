"""Every plotly figure of the analyses (funnel, win rates, lost reasons, claim, tiers, velocity, flow, waterfall,
trends), built from their typed results in a language: pages draw them, the review embeds them. The forecast's
figures are in analytics.present.forecast_figures."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import plotly.graph_objects as go

from analytics import formatting
from analytics.analyses.claim import ClaimTest
from analytics.analyses.conformance import Conformance
from analytics.analyses.funnel import Funnel, StageWinRate
from analytics.analyses.tiers import TierMix
from analytics.analyses.trends import Trends
from analytics.analyses.velocity import Velocity
from analytics.analyses.waterfall import ENTERING, LEAVING, Waterfall
from analytics.domain import MISSING_VALUE, stage
from analytics.i18n.labels import lost_reason_label, stage_label
from analytics.i18n.text import t

_MARGIN = dict(l=10, r=10, t=10, b=10)


def funnel_figure(funnel: Funnel, lang: str = "en", currency: str | None = None) -> go.Figure:
    """Deals that reached each stage, with the share of the first; each stage's amount and conversion on hover."""
    hover = [f"{t('amount', lang)}: {formatting.money(s.amount, currency)}<br>"
             f"{t('conversion', lang)}: {formatting.percent(s.conversion)} ({formatting.interval(s.conversion_ci)})"
             f"<br>{t('open_here', lang)}: {s.open_here}" for s in funnel.stages]
    fig = go.Figure(go.Funnel(y=[stage_label(s.stage, lang) for s in funnel.stages],
                              x=[s.reached for s in funnel.stages], textinfo="value+percent initial",
                              hovertext=hover, hoverinfo="text+y"))
    fig.update_layout(title=t("funnel_chart", lang), height=460, margin=dict(l=10, r=10, t=40, b=10))
    return fig


def lost_reasons_figure(funnel: Funnel, lang: str = "en") -> go.Figure | None:
    """Lost deals by the stage they were lost at, stacked by reason; None when no lost deal gives a reason (an
    unlabelled bar of deals with no reason says nothing)."""
    reasons = pd.DataFrame([(stage_label(s.stage, lang), r, n) for s in funnel.stages
                            for r, n in s.lost_reasons.items() if r != MISSING_VALUE],
                           columns=["stage", "reason", "deals"])
    if reasons.empty:
        return None
    fig = go.Figure([go.Bar(name=lost_reason_label(r, lang), x=g["stage"], y=g["deals"])
                     for r, g in reasons.groupby("reason")])
    fig.update_layout(barmode="stack", height=360, margin=_MARGIN)
    return fig


def win_rates_figure(rates: Sequence[StageWinRate], lang: str = "en") -> go.Figure:
    """P(win) from each stage with its 95% interval, beside Salesforce's and HubSpot's default weights."""
    x = [stage_label(r.stage, lang) for r in rates]
    err = [(r.win_rate_ci[1] - r.win_rate) if r.win_rate_ci else 0 for r in rates]
    err_minus = [(r.win_rate - r.win_rate_ci[0]) if r.win_rate_ci else 0 for r in rates]
    fig = go.Figure([
        go.Bar(name=t("empirical", lang), x=x, y=[r.win_rate for r in rates],
               error_y=dict(type="data", array=err, arrayminus=err_minus)),
        go.Bar(name=t("salesforce", lang), x=x, y=[r.salesforce_default for r in rates]),
        go.Bar(name=t("hubspot", lang), x=x, y=[r.hubspot_default for r in rates]),
    ])
    fig.update_layout(barmode="group", yaxis_tickformat=".0%", height=380, margin=_MARGIN)
    return fig


def claim_figure(rows: Sequence[tuple[str, ClaimTest]], threshold: float) -> go.Figure:
    """Each named segment's win rate after the stage with its 95% interval, against the claimed threshold."""
    fig = go.Figure(go.Scatter(
        x=[c.p_hat for _, c in rows], y=[name for name, _ in rows], mode="markers",
        error_x=dict(type="data", array=[c.ci[1] - c.p_hat for _, c in rows],
                     arrayminus=[c.p_hat - c.ci[0] for _, c in rows])))
    fig.add_vline(x=threshold, line_dash="dash")
    fig.update_layout(height=120 + 28 * len(rows), xaxis_tickformat=".0%", yaxis_autorange="reversed",
                      margin=_MARGIN)
    return fig


def tier_mix_figure(mix: TierMix, lang: str = "en") -> go.Figure | None:
    """The open pipeline's amount by stage, stacked by tier (deal counts on hover); None with no open deal."""
    cells = pd.DataFrame([vars(c) for c in mix.open_by_tier_stage])
    if cells.empty:
        return None
    fig = go.Figure([go.Bar(name=tier, x=[stage_label(s, lang) for s in g["stage"]], y=g["open_amount"],
                            customdata=g["open_deals"], hovertemplate="%{y:,.0f} (%{customdata})")
                     for tier, g in cells.groupby("tier")])
    fig.update_layout(barmode="stack", height=380, margin=_MARGIN)
    return fig


def days_in_stage_figure(velocity: Velocity, lang: str = "en") -> go.Figure:
    """Days spent in each stage by won and by lost deals: boxes from the quartiles, whiskers to p25 and p90."""
    fig = go.Figure()
    for outcome in ("won", "lost"):
        rows = [(stage_label(s.stage, lang), getattr(s, outcome)) for s in velocity.stages if getattr(s, outcome).n]
        if rows:
            fig.add_trace(go.Box(name=t(outcome, lang), x=[r[0] for r in rows], q1=[r[1].p25 for r in rows],
                                 median=[r[1].median for r in rows], q3=[r[1].p75 for r in rows],
                                 lowerfence=[r[1].p25 for r in rows], upperfence=[r[1].p90 for r in rows]))
    fig.update_layout(boxmode="group", height=380, margin=_MARGIN)
    return fig


def forward_transitions(flow: Conformance) -> list:
    """The moves a Sankey can draw: forward ones (a backward move would loop; the page counts those apart)."""
    return [tr for tr in flow.transitions if not isinstance(tr.target, int) or tr.target > tr.source]


def flow_figure(flow: Conformance, lang: str = "en") -> go.Figure:
    """Stage-to-stage moves as a Sankey. Nodes are labelled by number and short name (full names, drawn beside
    narrow columns, covered one another and the flows) and named in full on hover; flows take the colour of
    where they lead: on, signed, lost, still open."""
    names = [stage_label(s, lang) for s in range(1, 9)] + [t("lost", lang), t("open_deals", lang)]
    index = {**{s: s - 1 for s in range(1, 9)}, "lost": 8, "open": 9}
    forward = forward_transitions(flow)
    colours = {"on": "rgba(33, 113, 181, 0.25)", 8: "rgba(44, 160, 44, 0.35)", "lost": "rgba(214, 39, 40, 0.22)",
               "open": "rgba(130, 130, 130, 0.3)"}
    fig = go.Figure(go.Sankey(
        node=dict(label=[f"{s}. {stage(s).short_name(lang)}" for s in range(1, 9)] + names[8:], customdata=names,
                  pad=12, color=["#2171b5"] * 7 + ["#2ca02c", "#d62728", "#9e9e9e"],
                  hovertemplate="%{customdata}: %{value:,}<extra></extra>"),
        link=dict(source=[index[tr.source] for tr in forward], target=[index[tr.target] for tr in forward],
                  value=[tr.deals for tr in forward], color=[colours.get(tr.target, colours["on"]) for tr in forward],
                  customdata=[f"{names[index[tr.source]]} → {names[index[tr.target]]}" for tr in forward],
                  hovertemplate="%{customdata}: %{value:,}<extra></extra>")))
    fig.update_layout(height=480, margin=_MARGIN, font_size=13)
    return fig


def waterfall_figure(w: Waterfall, lang: str = "en") -> go.Figure:
    """The pipeline amount on `from`, each bucket that moved it (up green, down red), and the amount on `to`."""
    start_label = t("pipeline_on", lang, day=w.from_date.isoformat())
    end_label = t("pipeline_on", lang, day=w.to_date.isoformat())
    steps = [(name, w.bucket(name).amount) for name in (*ENTERING, "amount_up")] + \
            [(name, -w.bucket(name).amount) for name in (*LEAVING, "amount_down")]
    steps = [(name, amount) for name, amount in steps if w.bucket(name).deals]
    labels = [start_label, *(t(f"bucket_{name}", lang) for name, _ in steps), end_label]
    values = [w.start_amount, *(amount for _, amount in steps), w.end_amount]
    text = [formatting.money_short(v, lang) for v in values]
    fig = go.Figure(go.Waterfall(x=labels, y=values, measure=["absolute", *["relative"] * len(steps), "total"],
                                 text=text, textposition="outside", connector={"line": {"color": "#bbb"}},
                                 increasing={"marker": {"color": "#2e7d32"}},
                                 decreasing={"marker": {"color": "#c62828"}},
                                 totals={"marker": {"color": "#1565c0"}}))
    high = max(w.start_amount, w.end_amount, 1.0) * 1.25
    ticks, tick_text = formatting.money_ticks(0, high, lang)
    fig.update_layout(height=420, margin=dict(l=10, r=10, t=20, b=10), showlegend=False,
                      yaxis=dict(tickvals=ticks, ticktext=tick_text, range=[0, high]))
    return fig


def trends_figure(tr: Trends, lang: str = "en") -> go.Figure:
    """The win rate and the preferred-supplier estimate, period by period, each with its 95% interval; a period
    with fewer than 80% of its deals resolved is a gap (its estimate rests on its quick losses)."""
    x = [p.period for p in tr.periods]
    fig = go.Figure()
    for name, value, ci in (("win_rate", "win_rate", "win_rate_ci"),
                            ("preferred_supplier_rate", "preferred_supplier", "preferred_supplier_ci")):
        y = [getattr(p, value) if p.mature else None for p in tr.periods]  # an unresolved cohort is a gap
        bounds = [getattr(p, ci) for p in tr.periods]
        fig.add_trace(go.Scatter(
            name=t(name, lang), x=x, y=y, mode="lines+markers",
            error_y=dict(type="data", array=[(b[1] - v) if b and v is not None else 0 for b, v in zip(bounds, y)],
                         arrayminus=[(v - b[0]) if b and v is not None else 0 for b, v in zip(bounds, y)])))
    fig.update_layout(height=360, margin=dict(l=10, r=10, t=10, b=10), yaxis=dict(tickformat=".0%", range=[0, 1.05]),
                      legend=dict(orientation="h", y=1.1))
    return fig
