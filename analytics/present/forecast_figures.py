"""Every plotly figure of the forecast and the model: the simulated quarter, the forecast week by week, the
backtest against what happened, the model's reliability and factor effects, and the review's funnel against last
quarter. Pages draw them; the review's HTML embeds them."""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go

from analytics import formatting
from analytics.forecasting.attainment import Attainment
from analytics.forecasting.backtest import Backtest
from analytics.forecasting.forecast import QuarterForecast
from analytics.forecasting.path import WeekForecast
from analytics.forecasting.review import QuarterlyReview, funnel_change_rows
from analytics.forecasting.validation import FactorEffect, ReliabilityBin
from analytics.i18n.labels import stage_label
from analytics.i18n.text import t

THEN_COLOUR, NOW_COLOUR = "#9aa5b1", "#1f6feb"  # last quarter in grey, now in blue


def distribution_figure(f: QuarterForecast, lang: str = "en") -> go.Figure:
    """The simulated quarter's bookings as a histogram, with P10, P50, P90 and the target (the Forecast page and
    the review)."""
    edges, counts = f.histogram.get("edges", []), f.histogram.get("counts", [])
    dist = go.Figure(go.Bar(x=[(a + b) / 2 for a, b in zip(edges[:-1], edges[1:])], y=counts, name="draws"))
    for name, x in (("P10", f.p10), ("P50", f.p50), ("P90", f.p90)):
        dist.add_vline(x=x, line_dash="dash", annotation_text=name)
    if f.target:
        dist.add_vline(x=f.target, line_color="red", annotation_text=t("target", lang))
    dist.update_layout(title=f"{f.quarter}: {t('forecast_distribution', lang)}", height=360, showlegend=False,
                       xaxis_title=t("bookings_in_quarter", lang), yaxis_title=t("simulated_quarters", lang))
    if edges:  # money ticks as the language counts them (2,500万, not 25M)
        values, labels = formatting.money_ticks(edges[0], edges[-1], lang)
        dist.update_xaxes(tickvals=values, ticktext=labels)
    return dist


def review_figures(review: QuarterlyReview, lang: str = "en") -> tuple[go.Figure, go.Figure]:
    """The review's plotly figures: the forecast distribution and the funnel now against last quarter."""
    dist = distribution_figure(review.forecast, lang)
    rows = funnel_change_rows(review)
    labels = [stage_label(r["stage"], lang) for r in rows]
    # colours of their own: the offline HTML has no theme to tell the two quarters apart (both bars read black)
    change = go.Figure([
        go.Bar(name=review.last_quarter_name, x=labels, y=[r["reached_then"] for r in rows], marker_color=THEN_COLOUR),
        go.Bar(name=t("now", lang), x=labels, y=[r["reached_now"] for r in rows], marker_color=NOW_COLOUR)])
    # untitled: the page and the offline review head it with the same words; long stage names wrap below the bars
    change.update_layout(barmode="group", height=420, margin=dict(t=20, b=10))
    change.update_xaxes(tickangle=-30, automargin=True)
    return dist, change


def path_figure(weeks: Sequence[WeekForecast], target: float | None = None, lang: str = "en") -> go.Figure:
    """The forecast through the quarter: each week's P10–P90 band and P50, the bookings won by then, and the
    target when one is set."""
    x = [w.starts.isoformat() for w in weeks]
    fig = go.Figure([
        go.Scatter(x=x, y=[w.p90 for w in weeks], mode="lines", line=dict(width=0), showlegend=False,
                   hoverinfo="skip"),
        go.Scatter(x=x, y=[w.p10 for w in weeks], mode="lines", line=dict(width=0), fill="tonexty",
                   fillcolor="rgba(21,101,192,0.15)", name="P10 – P90"),
        go.Scatter(x=x, y=[w.p50 for w in weeks], mode="lines+markers", name="P50", line=dict(color="#1565c0")),
        go.Scatter(x=x, y=[w.won_to_date for w in weeks], mode="lines+markers", name=t("won_to_date", lang),
                   line=dict(color="#2e7d32"))])
    if target:
        fig.add_hline(y=target, line_dash="dash", line_color="#c62828", annotation_text=t("target", lang))
    high = max([w.p90 for w in weeks] + [target or 0, 1.0]) * 1.1
    ticks, tick_text = formatting.money_ticks(0, high, lang)
    fig.update_layout(height=360, margin=dict(l=10, r=10, t=10, b=10), legend=dict(orientation="h", y=1.12),
                      yaxis=dict(tickvals=ticks, ticktext=tick_text, range=[0, high]))
    return fig


def backtest_figure(bt: Backtest, lang: str = "en") -> go.Figure:
    """Each past quarter's forecast with its P10–P90, what was booked, and the CRM's default-weight forecast."""
    q = bt.quarters
    x = [b.quarter for b in q]
    fig = go.Figure([
        go.Scatter(x=x, y=[b.forecast for b in q], mode="markers", name=t("forecast", lang),
                   error_y=dict(type="data", array=[b.p90 - b.forecast for b in q],
                                arrayminus=[b.forecast - b.p10 for b in q])),
        go.Scatter(x=x, y=[b.actual for b in q], mode="lines+markers", name=t("actual", lang)),
        go.Scatter(x=x, y=[b.crm_default for b in q], mode="lines", line_dash="dot",
                   name=t("crm_default_baseline", lang))])
    fig.update_layout(height=360, margin=dict(t=10))
    return fig


def reliability_figure(bins: Sequence[ReliabilityBin], lang: str = "en") -> go.Figure:
    """Predicted against observed win rates of the held-out deals, bin by bin (marker size: deals in the bin),
    beside the diagonal of a perfectly calibrated model."""
    bins = [b for b in bins if b.n]
    largest = max((b.n for b in bins), default=1)
    fig = go.Figure([
        go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line_dash="dot", name=t("ideal", lang)),
        go.Scatter(x=[b.mean_predicted for b in bins], y=[b.observed for b in bins], mode="lines+markers+text",
                   text=[str(b.n) for b in bins], textposition="top left", name="keyfunnel", cliponaxis=False,
                   marker=dict(size=[6 + 14 * (b.n / largest) ** 0.5 for b in bins]))])
    # a little room past 0 and 1: a bin observed at 100% was drawn half outside the plot, its count cut off
    fig.update_layout(height=420, xaxis_title=t("predicted", lang), yaxis_title=t("observed", lang),
                      margin=dict(t=30), xaxis_range=[-0.03, 1.03], yaxis_range=[-0.03, 1.08], xaxis_tickformat=".0%",
                      yaxis_tickformat=".0%")
    return fig


def factor_figure(effects: Sequence[FactorEffect], names: dict[str, str], lang: str = "en") -> go.Figure:
    """Each evaluation factor's odds ratio with its 95% interval, on a log axis, against no effect (1)."""
    fig = go.Figure(go.Scatter(
        x=[f.odds_ratio for f in effects], y=[names[f.factor] for f in effects], mode="markers",
        error_x=dict(type="data", array=[f.ci[1] - f.odds_ratio for f in effects],
                     arrayminus=[f.odds_ratio - f.ci[0] for f in effects])))
    fig.add_vline(x=1, line_dash="dash")
    fig.update_layout(height=360, xaxis_type="log", margin=dict(t=10), xaxis_title=t("odds_ratio", lang))
    return fig


def target_figure(quarter: str, won: float, p10: float, p50: float, p90: float, target: float | None,
                  lang: str = "en", height: int = 150) -> go.Figure:
    """A bullet chart of the quarter: won to date (dark), the forecast's P10–P90 (light) with its P50, and the
    target (red)."""
    fig = go.Figure()
    fig.add_trace(go.Bar(y=[quarter], x=[p90 - p10], base=[p10], orientation="h", marker_color="#c6dbf7",
                         name="P10–P90", hovertemplate="P10–P90<extra></extra>", width=0.6))
    fig.add_trace(go.Bar(y=[quarter], x=[won], orientation="h", marker_color=NOW_COLOUR, width=0.3,
                         name=t("won_to_date", lang), hovertemplate=t("won_to_date", lang) + "<extra></extra>"))
    fig.add_trace(go.Scatter(y=[quarter], x=[p50], mode="markers", marker=dict(symbol="line-ns", size=28,
                             line=dict(width=3, color="#0b3d91")), name="P50", hoverinfo="skip"))
    high = max(p90, target or 0.0, won, 1.0) * 1.08
    if target:
        fig.add_vline(x=target, line_color="red", line_width=3, annotation_text=t("target", lang),
                      annotation_position="bottom right")
    values, labels = formatting.money_ticks(0, high, lang)
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=30, b=10), barmode="overlay", showlegend=True,
                      legend=dict(orientation="h", y=1.02, yanchor="bottom", x=0), xaxis=dict(range=[0, high], tickvals=values,
                                                                              ticktext=labels))
    return fig


def attainment_figure(result: Attainment, lang: str = "en", height: int = 260) -> go.Figure:
    """Each unit's attainment so far (won ÷ target) and where its P50 would take it, against 100%."""
    rows = [r for r in result.rows if not r.rollup and r.target]
    names = [r.unit for r in rows][::-1]
    fig = go.Figure()
    fig.add_trace(go.Bar(y=names, x=[r.p50 / r.target for r in rows][::-1], orientation="h",
                         marker_color="#c6dbf7", name=t("attainment_p50", lang),
                         text=[f"{t('p_reach_short', lang)} {formatting.percent(r.p_reach_target)}" for r in rows][::-1],
                         textposition="outside", cliponaxis=False, hovertemplate="%{x:.0%}<extra></extra>"))
    fig.add_trace(go.Bar(y=names, x=[r.attainment for r in rows][::-1], orientation="h", marker_color=NOW_COLOUR,
                         width=0.4, name=t("attainment_won", lang), hovertemplate="%{x:.0%}<extra></extra>"))
    fig.add_vline(x=1.0, line_color="red", line_width=2)
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=10, b=10), barmode="overlay",
                      legend=dict(orientation="h", y=-0.2, x=0, font=dict(size=10)),
                      xaxis=dict(tickformat=".0%", range=[0, max([1.0, *(r.p50 / r.target for r in rows)]) * 1.75]))
    return fig
