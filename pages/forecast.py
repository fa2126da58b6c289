import pandas as pd
import streamlit as st

import ui
from analytics.analyses.funnel import data_as_of
from analytics.analyses.overview import count_deals
from analytics.forecasting.backtest import backtest
from analytics.forecasting.forecast import forecast_quarter, quarter_of, shift_quarter
from analytics.forecasting.path import forecast_path
from analytics.i18n.labels import value_label
from analytics.present.forecast_figures import (
    backtest_figure,
    distribution_figure,
    path_figure,
)

filters = ui.filters()
st.title(ui.T("page_forecast"))
as_of = ui.cached(data_as_of)
if ui.has_data(ui.cached(count_deals, filters), filters):
    current = quarter_of(as_of)
    quarters = [shift_quarter(current, k) for k in range(0, 4)]
    c1, c2 = st.columns(2)
    quarter = c1.selectbox(ui.T("quarter"), quarters, key="forecast_quarter")
    target = ui.money_input(c2, ui.T("target"), key="forecast_target")
    f = ui.cached(forecast_quarter, quarter, target=target or None, filters=filters)
    if f.mode == "small-data":
        st.warning(ui.T("small_data_note"))
    if f.amount_imputed:
        st.caption(ui.T("forecast_imputed", n=f.amount_imputed))
    refuted = st.empty()  # filled once the backtest below is known: a refuted range is said above it
    cols = st.columns([1, 1, 2, 1])  # the range is two figures: in Chinese "2,503万 – 3,311万" needs the room
    ui.forecast_tiles(f, cols)
    if f.target:
        cols[3].metric(ui.T("p_reach_target"), ui.fmt_pct(f.p_reach_target),
                       help=f"{ui.T('coverage')}: {f.coverage:.2f}×" if f.coverage else None)
    st.plotly_chart(distribution_figure(f, ui.lang()), key="forecast_chart")
    tabs = st.tabs([ui.T("category"), ui.T("by_owner"), ui.T("by_tier"), ui.T("by_region")])
    with tabs[0]:
        categories = f.to_frame("category").rename(columns={"key": "category"})
        ui.table(categories.assign(category=[ui.T("cat_" + k) for k in categories["category"]])[
            ["category", "expected", "p10", "p90"]], "forecast_categories")
    for tab, by in zip(tabs[1:], ("owner", "tier", "region")):
        with tab:
            frame = f.to_frame(by).drop(columns=["p10", "p90"]).rename(columns={"key": by})
            frame[by] = frame[by].map(lambda v: value_label(v, ui.lang()))  # "(not set)", not "(none)"
            ui.table(frame, f"forecast_by_{by}")

    st.subheader(ui.T("forecast_path"))
    weeks = ui.cached(forecast_path, f.quarter, filters=filters)
    if weeks:
        st.plotly_chart(path_figure(weeks, f.target, ui.lang()), key="path_chart")
        st.caption(ui.T("forecast_path_note"))

    st.subheader(ui.T("backtest"))
    # Unfiltered, it is the one refresh_results kept; filtered, it is computed once per filter (5–8 s at 1M deals)
    with st.spinner(ui.T("backtesting"), show_time=True):
        bt = ui.cached(backtest, 8, filters=filters)
    if bt.refutes_range:
        s = bt.summary
        refuted.error(ui.T("backtest_refutes", n=len(bt.quarters), coverage=ui.fmt_pct(s.coverage),
                           mape=ui.fmt_pct(s.mape)))
    if bt.quarters:
        st.plotly_chart(backtest_figure(bt, ui.lang()), key="backtest_chart")
        s, c = bt.summary, bt.baseline_crm_default
        ui.table(pd.DataFrame([
            {"method": "keyfunnel", "mape": s.mape, "mase": s.mase, "bias": s.bias, "coverage": s.coverage},
            {"method": ui.T("crm_default_baseline"), "mape": c.mape, "mase": c.mase, "bias": c.bias}]),
            "accuracy_table")
        if bt.by_week:
            st.caption(ui.T("backtest_by_week"))
            ui.table(bt.by_week_frame(), "accuracy_by_week_table")
