"""Plotly figures that pages and the review share (the rest still live in pages/: they move here as they are
shared)."""

from __future__ import annotations

import plotly.graph_objects as go

from analytics import formatting
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
