from datetime import timedelta

import streamlit as st

import ui
from analytics.analyses.funnel import data_as_of
from analytics.analyses.waterfall import BUCKETS, compute_waterfall
from analytics.filters import quarter_bounds
from analytics.forecasting.forecast import quarter_of
from analytics.present.figures import waterfall_figure

filters = ui.filters()
lang = ui.lang()
st.title(ui.T("page_changes"))
as_of = ui.cached(data_as_of)
if not ui.has_data(0 if as_of is None else 1, filters):
    st.stop()
to_day = as_of + timedelta(days=1)  # the pipeline as it stands after the data's last day
quarter = quarter_of(to_day - timedelta(days=1))
periods = {"since_week": to_day - timedelta(days=7), "since_month": to_day - timedelta(days=30),
           "since_quarter": quarter_bounds(quarter)[0], "since_custom": None}
labels = {key: ui.T(key) for key in periods}  # made in the script run, in the chosen language
c1, c2 = st.columns([2, 1])
period = c1.radio(ui.T("changes_period"), list(periods), format_func=labels.get, horizontal=True, key="changes_period")
scope_options = {"all": ui.T("changes_all_open"), quarter: quarter}
scope = c2.selectbox(ui.T("changes_scope"), list(scope_options), format_func=scope_options.get, key="changes_scope")
from_day = periods[period]
if from_day is None:
    d1, d2 = st.columns(2)
    from_day = d1.date_input(ui.T("changes_from"), value=to_day - timedelta(days=30), key="changes_from")
    to_day = d2.date_input(ui.T("changes_to"), value=to_day, key="changes_to")
if from_day >= to_day:
    st.warning(ui.T("changes_bad_range"))
    st.stop()
w = ui.cached(compute_waterfall, from_day, to_day, None if scope == "all" else scope, filters)
if ui.has_data(w.start_deals + w.end_deals, filters):
    st.plotly_chart(waterfall_figure(w, lang), key="waterfall_chart")
    st.caption(ui.T("changes_caption", start=f"{w.start_deals:,}", end=f"{w.end_deals:,}",
                    start_amount=ui.fmt_short(w.start_amount), end_amount=ui.fmt_short(w.end_amount),
                    from_day=from_day.isoformat(), to_day=to_day.isoformat()))
    st.subheader(ui.T("changes_bucket_deals"))
    buckets = w.to_frame()[["bucket", "deals", "amount"]]
    ui.table(buckets.assign(bucket=[ui.T(f"bucket_{b}") for b in buckets["bucket"]]), "waterfall_buckets",
             pinned=("bucket",))
    for name in BUCKETS:
        b = w.bucket(name)
        if b.deals:
            with st.expander(f"{ui.T(f'bucket_{name}')} ({b.deals:,})"):
                st.write(", ".join(b.deal_ids) + (" " + ui.T("changes_more", n=f"{b.more:,}") if b.more else ""))
