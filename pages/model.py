import streamlit as st

import ui
from analytics.analyses.overview import count_deals
from analytics.domain import FACTORS
from analytics.forecasting.validation import evaluate
from analytics.present.forecast_figures import factor_figure, reliability_figure

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
    # all stages' test deals pooled: per stage they are few
    st.plotly_chart(reliability_figure(report.pooled_reliability, lang), key="reliability_chart")

    st.subheader(ui.T("model_vs_baselines"))
    # the sentence above leads; AUC, Brier scores and ECE are one click away, for whoever checks them
    with st.expander(ui.T("statistics_behind")):
        if figures:
            st.caption(figures)
        if report.pooled_ece is not None:
            st.caption(ui.T("model_caption", cutoff=f"{report.cutoff:%Y-%m-%d}", ece=f"{report.pooled_ece:.3f}"))
        stages = report.to_frame()
        stages["mode"] = [ui.T(f"mode_{m}") for m in stages["mode"]]
        ui.table(ui.with_stage_labels(stages[["stage", "n_train", "n_test", "mode", "auc", "brier", "brier_stage_rate",
                                              "brier_crm_default", "ece"]]), "model_table")

    st.subheader(ui.T("factor_scorecard"))
    names = {f.key: f.name(lang) for f in FACTORS}
    effects = [f for f in report.factors if f.odds_ratio is not None]
    if effects:
        st.plotly_chart(factor_figure(effects, names, lang), key="factor_chart")
