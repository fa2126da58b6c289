import pandas as pd
import plotly.graph_objects as go
import streamlit as st

import ui
from analytics.analyses.conformance import compute_conformance
from analytics.analyses.velocity import compute_velocity
from analytics.domain import stage
from analytics.i18n.labels import stage_label

filters = ui.filters()
lang = ui.lang()
st.title(ui.T("page_velocity"))
velocity = ui.cached(compute_velocity, filters)
flow = ui.cached(compute_conformance, filters)
if ui.has_data(flow.deals, filters):
    st.subheader(ui.T("days_in_stage"))
    fig = go.Figure()
    for outcome in ("won", "lost"):
        rows = [(stage_label(s.stage, lang), getattr(s, outcome)) for s in velocity.stages if getattr(s, outcome).n]
        if rows:  # boxes drawn from the quartiles; whiskers reach p25 and p90
            fig.add_trace(go.Box(name=ui.T(outcome), x=[r[0] for r in rows], q1=[r[1].p25 for r in rows],
                                 median=[r[1].median for r in rows], q3=[r[1].p75 for r in rows],
                                 lowerfence=[r[1].p25 for r in rows], upperfence=[r[1].p90 for r in rows]))
    fig.update_layout(boxmode="group", height=380, margin=dict(l=10, r=10, t=10, b=10))
    st.plotly_chart(fig, key="days_chart")
    c1, c2 = st.columns(2)
    c1.metric(ui.T("cycle_time") + " · " + ui.T("won"), "–" if velocity.cycle_won.median is None
              else f"{velocity.cycle_won.median:.0f}")
    c2.metric(ui.T("cycle_time") + " · " + ui.T("lost"), "–" if velocity.cycle_lost.median is None
              else f"{velocity.cycle_lost.median:.0f}")
    if velocity.closed_before_created:
        st.caption(ui.T("closed_before_created", n=velocity.closed_before_created))

    st.subheader(ui.T("stalled"))
    st.caption(ui.T("stalled_help"))
    stalled = ui.with_stage_labels(pd.DataFrame([vars(d) for d in velocity.stalled]))
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
    # Nodes are labelled by number and short name (the full names, drawn beside narrow columns, covered one another and
    # the flows) and named in full on hover. Flows take the colour of where they lead: on, signed, lost, still open.
    names = [stage_label(s, lang) for s in range(1, 9)] + [ui.T("lost"), ui.T("open_deals")]
    index = {**{s: s - 1 for s in range(1, 9)}, "lost": 8, "open": 9}
    # A Sankey draws forward flow; backward moves would loop, so they are counted in a caption instead.
    forward = [t for t in flow.transitions if not isinstance(t.target, int) or t.target > t.source]
    colours = {"on": "rgba(33, 113, 181, 0.25)", 8: "rgba(44, 160, 44, 0.35)", "lost": "rgba(214, 39, 40, 0.22)",
               "open": "rgba(130, 130, 130, 0.3)"}
    fig = go.Figure(go.Sankey(
        node=dict(label=[f"{s}. {stage(s).short_name(lang)}" for s in range(1, 9)] + names[8:], customdata=names,
                  pad=12,
                  color=["#2171b5"] * 7 + ["#2ca02c", "#d62728", "#9e9e9e"],
                  hovertemplate="%{customdata}: %{value:,}<extra></extra>"),
        link=dict(source=[index[t.source] for t in forward], target=[index[t.target] for t in forward],
                  value=[t.deals for t in forward], color=[colours.get(t.target, colours["on"]) for t in forward],
                  customdata=[f"{names[index[t.source]]} → {names[index[t.target]]}" for t in forward],
                  hovertemplate="%{customdata}: %{value:,}<extra></extra>")))
    fig.update_layout(height=480, margin=dict(l=10, r=10, t=10, b=10), font_size=13)
    st.plotly_chart(fig, key="sankey_chart")
    st.caption(ui.T("backward_note", n=sum(t.deals for t in flow.transitions if t not in forward)))
