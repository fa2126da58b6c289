from dataclasses import replace

import streamlit as st

import ui
from analytics.analyses.funnel import data_as_of
from analytics.analyses.overview import count_deals
from analytics.analyses.trends import compute_trends
from analytics.forecasting.backtest import backtest
from analytics.forecasting.forecast import quarter_of
from analytics.forecasting.path import forecast_path
from analytics.forecasting.review import quarterly_review
from analytics.present.figures import trends_figure, waterfall_figure
from analytics.present.forecast_figures import path_figure, review_figures
from analytics.present.report import (
    coverage_notes,
    refutation_note,
    render_html,
    xlsx_bytes,
)

filters = ui.filters()
lang = ui.lang()
st.title(ui.T("page_review"))
if ui.has_data(ui.cached(count_deals, filters), filters):
    quarter = quarter_of(ui.cached(data_as_of))
    # the Forecast page's backtest and path, and the Funnel page's trends: already computed, or kept by refresh
    review = replace(ui.cached(quarterly_review, quarter, filters=filters),
                     backtest=ui.cached(backtest, 8, filters=filters),
                     path=ui.cached(forecast_path, quarter, filters=filters),
                     trends=ui.cached(compute_trends, "quarter", "created", filters))
    f, last = review.forecast, review.last_quarter
    if review.waterfall is not None:  # the review opens with what moved since the quarter began
        st.subheader(ui.T("what_changed", quarter=review.quarter))
        st.plotly_chart(waterfall_figure(review.waterfall, lang), key="review_waterfall_chart")
        if len(review.pushed_out):
            st.caption(ui.T("pushed_out_deals", quarter=review.quarter))
            ui.table(ui.with_stage_labels(review.pushed_out), "pushed_out_deals", pinned=("deal_id",))
    st.subheader(f"{ui.T('this_quarter')}: {review.quarter}")
    if refutation_note(review, lang):
        st.error(refutation_note(review, lang))
    cols = st.columns(3)
    ui.forecast_tiles(f, cols)
    for note in coverage_notes(review, lang)[1 if refutation_note(review, lang) else 0:]:
        st.caption(note)
    dist, change = review_figures(review, lang)
    if review.path:
        st.subheader(ui.T("forecast_path"))
        st.plotly_chart(path_figure(review.path, f.target, lang), key="review_path_chart")
    st.plotly_chart(dist, key="review_forecast_chart")
    if last:
        st.subheader(f"{ui.T('last_quarter')}: {last.quarter}")
        cols = st.columns(2)
        cols[0].metric(ui.T("forecast"), ui.fmt_short(last.forecast),
                       help=f"P10–P90 {ui.fmt_money(last.p10)} – {ui.fmt_money(last.p90)}")
        miss = last.actual - last.forecast
        cols[1].metric(ui.T("actual"), ui.fmt_short(last.actual), ("+" if miss >= 0 else "") + ui.fmt_short(miss))
    st.subheader(ui.T("funnel_change"))
    st.plotly_chart(change, key="review_funnel_chart")
    if review.trends.periods:
        st.subheader(ui.T("trends_title"))
        st.plotly_chart(trends_figure(review.trends, lang), key="review_trends_chart")
    st.subheader(ui.T("top_deals"))
    ui.table(ui.with_stage_labels(review.top_deals), "top_deals", pinned=("deal_id",))
    st.subheader(ui.T("slipped_deals"))
    ui.table(ui.with_stage_labels(review.slipped_deals), "slipped_deals", pinned=("deal_id",))
    # Rendered when clicked (Streamlit runs the callable then), not on every rerun: at 1M deals the offline HTML
    # and the workbook took 1.9 s of each 2 s page run. A click must not rerun the page: the rerun would replace
    # the callable the browser is about to ask for, and the download would never come.
    st.download_button(ui.T("download_html"), lambda: render_html(review, lang).encode("utf-8"),
                       f"review-{review.quarter}.html", "text/html", key="dl_review_html", on_click="ignore")
    st.download_button(ui.T("download_xlsx"), lambda: xlsx_bytes(review, lang), f"review-{review.quarter}.xlsx",
                       "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", key="dl_review_xlsx",
                       on_click="ignore")
