import streamlit as st

import ui
from analytics.analyses.conformance import compute_conformance
from analytics.analyses.velocity import compute_velocity
from analytics.present.figures import (
    days_in_stage_figure,
    flow_figure,
    forward_transitions,
)

filters = ui.filters()
lang = ui.lang()
st.title(ui.T("page_velocity"))
velocity = ui.cached(compute_velocity, filters)
flow = ui.cached(compute_conformance, filters)
if ui.has_data(flow.deals, filters):
    st.subheader(ui.T("days_in_stage"))
    st.plotly_chart(days_in_stage_figure(velocity, lang), key="days_chart")
    c1, c2 = st.columns(2)
    c1.metric(ui.T("cycle_time") + " · " + ui.T("won"), "–" if velocity.cycle_won.median is None
              else f"{velocity.cycle_won.median:.0f}")
    c2.metric(ui.T("cycle_time") + " · " + ui.T("lost"), "–" if velocity.cycle_lost.median is None
              else f"{velocity.cycle_lost.median:.0f}")
    if velocity.closed_before_created:
        st.caption(ui.T("closed_before_created", n=velocity.closed_before_created))

    st.subheader(ui.T("stalled"))
    st.caption(ui.T("stalled_help"))
    stalled = ui.with_stage_labels(velocity.stalled_frame())
    if not stalled.empty:
        ui.table(stalled, "stalled_table")
        ui.download_csv(stalled, "stalled.csv", key="dl_stalled")

    st.subheader(ui.T("conformance"))
    cols = st.columns(5)
    for col, key in zip(cols, ("in_order", "skipped", "moved_backwards", "reentered", "left_truncated")):
        col.metric(f"{ui.T(key)} ({getattr(flow, key)})", ui.fmt_pct(flow.share(getattr(flow, key))))
    st.caption(ui.T("win_rate_by_order", in_order=ui.fmt_pct(flow.conforming.win_rate),
                    in_order_ci=ui.fmt_ci(flow.conforming.ci), other=ui.fmt_pct(flow.non_conforming.win_rate),
                    other_ci=ui.fmt_ci(flow.non_conforming.ci)))

    st.subheader(ui.T("flow"))
    forward = forward_transitions(flow)  # a Sankey draws forward flow: backward moves are counted below
    st.plotly_chart(flow_figure(flow, lang), key="sankey_chart")
    st.caption(ui.T("backward_note", n=sum(t.deals for t in flow.transitions if t not in forward)))
