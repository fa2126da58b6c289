"""Plotly figures that pages and the review share (the rest still live in pages/: they move here as they are
shared)."""

from __future__ import annotations

import plotly.graph_objects as go

from analytics import formatting
from analytics.analyses.trends import Trends
from analytics.analyses.waterfall import ENTERING, LEAVING, Waterfall
from analytics.i18n.text import t


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


def path_figure(weeks, target: float | None = None, lang: str = "en") -> go.Figure:
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
