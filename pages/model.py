import pandas as pd
import plotly.graph_objects as go
import streamlit as st

import ui
from analytics.analyses.overview import count_deals
from analytics.domain import FACTORS
from analytics.forecasting.validation import evaluate

filters = ui.filters()
lang = ui.lang()
st.title(ui.T("page_model"))
if ui.has_data(ui.cached(count_deals, filters), filters):
    report = ui.cached(evaluate, filters)
    verdict, figures = ui.model_verdict(report)
    st.info(verdict)
    if report.mode == "small-data":
        st.warning(ui.T("small_data_note"))
    if not filters.is_empty():  # (evaluate's docstring): a segment's view of the team model's accuracy
        st.caption(ui.T("model_filtered_note"))
    st.subheader(ui.T("reliability"))
    bins = [b for b in report.pooled_reliability if b.n]  # all stages' test deals: per stage they are few
    fig = go.Figure([
        go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line_dash="dot", name=ui.T("ideal")),
        go.Scatter(x=[b.mean_predicted for b in bins], y=[b.observed for b in bins], mode="lines+markers+text",
                   text=[str(b.n) for b in bins], textposition="top left", name="keyfunnel", cliponaxis=False,
                   marker=dict(size=[6 + 14 * (b.n / max(x.n for x in bins)) ** 0.5 for b in bins]))])
    # a little room past 0 and 1: a bin observed at 100% was drawn half outside the plot, its count cut off
    fig.update_layout(height=420, xaxis_title=ui.T("predicted"), yaxis_title=ui.T("observed"), margin=dict(t=30),
                      xaxis_range=[-0.03, 1.03], yaxis_range=[-0.03, 1.08], xaxis_tickformat=".0%",
                      yaxis_tickformat=".0%")
    st.plotly_chart(fig, key="reliability_chart")

    st.subheader(ui.T("model_vs_baselines"))
    # the sentence above leads; AUC, Brier scores and ECE are one click away, for whoever checks them
    with st.expander(ui.T("statistics_behind")):
        if figures:
            st.caption(figures)
        if report.pooled_ece is not None:
            st.caption(ui.T("model_caption", cutoff=f"{report.cutoff:%Y-%m-%d}", ece=f"{report.pooled_ece:.3f}"))
        ui.table(ui.with_stage_labels(pd.DataFrame([{
            "stage": s.stage, "n_train": s.n_train, "n_test": s.n_test, "mode": ui.T(f"mode_{s.mode}"),
            "auc": s.auc, "brier": s.brier, "brier_stage_rate": s.baseline_stage_rate.brier,
            "brier_crm_default": s.baseline_crm_default.brier, "ece": s.ece} for s in report.stages])),
            "model_table")

    st.subheader(ui.T("factor_scorecard"))
    names = {f.key: f.name(lang) for f in FACTORS}
    effects = [f for f in report.factors if f.odds_ratio is not None]
    if effects:
        fig = go.Figure(go.Scatter(
            x=[f.odds_ratio for f in effects], y=[names[f.factor] for f in effects], mode="markers",
            error_x=dict(type="data", array=[f.ci[1] - f.odds_ratio for f in effects],
                         arrayminus=[f.odds_ratio - f.ci[0] for f in effects])))
        fig.add_vline(x=1, line_dash="dash")
        fig.update_layout(height=360, xaxis_type="log", margin=dict(t=10), xaxis_title=ui.T("odds_ratio"))
        st.plotly_chart(fig, key="factor_chart")
