import pandas as pd
import plotly.graph_objects as go
import streamlit as st

import ui
from analytics.analyses.funnel import compute_funnel, win_rates_by_stage
from analytics.analyses.trends import compute_trends
from analytics.domain import MISSING_VALUE
from analytics.i18n.labels import lost_reason_label, stage_label
from analytics.present.figures import trends_figure

filters = ui.filters()
lang = ui.lang()
st.title(ui.T("page_funnel"))
funnel = ui.cached(compute_funnel, filters)
if ui.has_data(funnel.deals, filters):
    labels = [stage_label(s.stage, lang) for s in funnel.stages]
    hover = [f"{ui.T('amount')}: {ui.fmt_money(s.amount)}<br>{ui.T('conversion')}: {ui.fmt_pct(s.conversion)} "
             f"({ui.fmt_ci(s.conversion_ci)})<br>{ui.T('open_here')}: {s.open_here}" for s in funnel.stages]
    fig = go.Figure(go.Funnel(y=labels, x=[s.reached for s in funnel.stages], textinfo="value+percent initial",
                              hovertext=hover, hoverinfo="text+y"))
    fig.update_layout(title=ui.T("funnel_chart"), height=460, margin=dict(l=10, r=10, t=40, b=10))
    st.plotly_chart(fig, key="funnel_chart")
    st.caption(ui.T("censoring_note"))
    # where histories start mid-way, a stage's reached exceeds its exits: say why rather than leave it to docs/
    uneven = [s.stage for s in funnel.stages if s.advanced is not None
              and s.reached > s.advanced + s.lost_here + s.open_here]
    if uneven:
        st.caption(ui.T("funnel_truncation_note", stages=", ".join(map(str, uneven))))
    ui.say_what_cannot_be_estimated(funnel.estimability)
    # not estimable (current stage only): no stage's conversion is evidence; unobserved stages: none is observed
    unobserved = (set(funnel.estimability.unobserved_stages) if funnel.estimability.estimable
                  else {s.stage for s in funnel.stages})
    # the figures a director reads first (reached, P(win), conversion) before the counts that explain them, so
    # that none is off-screen at 1400 px; the stage stays pinned while the table scrolls
    table = pd.DataFrame({
        "stage": labels, "reached": [s.reached for s in funnel.stages],
        "p_win": [s.win_rate for s in funnel.stages],
        # a stage no deal was recorded entering has no observed conversion (not the 100% its pass-through gives)
        "conversion": [None if s.stage in unobserved else s.conversion for s in funnel.stages],
        "ci_95": [ui.fmt_ci(None if s.stage in unobserved else s.conversion_ci) for s in funnel.stages],
        "cumulative": [s.cumulative_conversion for s in funnel.stages],
        # stage 8 has no next stage: its "went on" is empty (shown "–")
        "advanced": pd.array([s.advanced for s in funnel.stages], dtype="Int64"),
        "lost_here": [s.lost_here for s in funnel.stages], "open_here": [s.open_here for s in funnel.stages],
        "amount": [s.amount for s in funnel.stages],
    })
    if funnel.stages[0].amount_known < funnel.deals:
        table["amount_known"] = [s.amount_known for s in funnel.stages]
        st.caption(ui.amount_coverage(funnel.stages[0].amount_known, funnel.deals))
    ui.table(table, key="funnel_table", pinned=("stage",), also_shares=("conversion", "cumulative"))
    ui.download_csv(table.rename(columns=lambda c: ui.T(c)), "funnel.csv", key="dl_funnel")

    st.subheader(ui.T("lost_reasons"))
    reasons = pd.DataFrame([(stage_label(s.stage, lang), r, n) for s in funnel.stages
                            for r, n in s.lost_reasons.items() if r != MISSING_VALUE], columns=["stage", "reason", "deals"])
    if reasons.empty:  # an unlabelled bar of deals with no reason said nothing
        st.caption(ui.T("no_lost_reasons"))
    else:
        fig = go.Figure([go.Bar(name=lost_reason_label(r, lang), x=g["stage"], y=g["deals"])
                         for r, g in reasons.groupby("reason")])
        fig.update_layout(barmode="stack", height=360, margin=dict(l=10, r=10, t=10, b=10))
        st.plotly_chart(fig, key="lost_reasons_chart")

    st.subheader(ui.T("win_by_stage"))
    rates = win_rates_by_stage(funnel)
    x = [stage_label(r.stage, lang) for r in rates]
    err = [(r.win_rate_ci[1] - r.win_rate) if r.win_rate_ci else 0 for r in rates]
    err_minus = [(r.win_rate - r.win_rate_ci[0]) if r.win_rate_ci else 0 for r in rates]
    fig = go.Figure([
        go.Bar(name=ui.T("empirical"), x=x, y=[r.win_rate for r in rates],
               error_y=dict(type="data", array=err, arrayminus=err_minus)),
        go.Bar(name=ui.T("salesforce"), x=x, y=[r.salesforce_default for r in rates]),
        go.Bar(name=ui.T("hubspot"), x=x, y=[r.hubspot_default for r in rates]),
    ])
    fig.update_layout(barmode="group", yaxis_tickformat=".0%", height=380, margin=dict(l=10, r=10, t=10, b=10))
    st.plotly_chart(fig, key="win_rate_chart")

    st.subheader(ui.T("trends_title"))
    trends = ui.cached(compute_trends, "quarter", "created", filters)
    st.plotly_chart(trends_figure(trends, lang), key="trends_chart")
    test = trends.trend
    st.caption(ui.T("trends_note") + " " + (ui.T("trends_untested") if test.p_value is None else
                                            ui.T("trends_test", z=f"{test.z:.2f}", p=f"{test.p_value:.3g}",
                                                 n=test.periods)))
