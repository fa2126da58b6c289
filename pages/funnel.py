import pandas as pd
import streamlit as st

import ui
from analytics.analyses.funnel import compute_funnel, win_rates_by_stage
from analytics.analyses.overview import reporting_currency
from analytics.analyses.trends import compute_trends
from analytics.i18n.labels import stage_label
from analytics.present.figures import (
    funnel_figure,
    lost_reasons_figure,
    trends_figure,
    win_rates_figure,
)

filters = ui.filters()
lang = ui.lang()
st.title(ui.T("page_funnel"))
funnel = ui.cached(compute_funnel, filters)
if ui.has_data(funnel.deals, filters):
    labels = [stage_label(s.stage, lang) for s in funnel.stages]
    st.plotly_chart(funnel_figure(funnel, lang, ui.cached(reporting_currency)), key="funnel_chart")
    st.caption(ui.T("censoring_note"))
    # where histories start mid-way, a stage's reached exceeds its exits: say why rather than leave it to docs/
    uneven = [s.stage for s in funnel.stages if s.advanced is not None
              and s.reached > s.advanced + s.lost_here + s.open_here]
    if uneven:
        st.caption(ui.T("funnel_truncation_note", stages=", ".join(map(str, uneven))))
    ui.say_what_cannot_be_estimated(funnel.estimability)
    # the figures a director reads first (reached, P(win), conversion) before the counts that explain them, so
    # that none is off-screen at 1400 px; the stage stays pinned while the table scrolls
    frame = funnel.to_frame()
    observed = frame["observed"]  # False where the stage's conversion is no evidence (Funnel.to_frame)
    table = pd.DataFrame({
        "stage": labels, "reached": frame["reached"], "p_win": frame["win_rate"],
        # a stage no deal was recorded entering has no observed conversion (not the 100% its pass-through gives)
        "conversion": frame["conversion"].where(observed),
        "ci_95": [ui.fmt_ci((lo, hi) if seen and pd.notna(lo) else None) for lo, hi, seen
                  in zip(frame["conversion_ci_low"], frame["conversion_ci_high"], observed)],
        "cumulative": frame["cumulative_conversion"],
        "advanced": frame["advanced"],  # stage 8 has no next stage: its "went on" is empty (shown "–")
        "lost_here": frame["lost_here"], "open_here": frame["open_here"], "amount": frame["amount"],
    })
    if funnel.stages[0].amount_known < funnel.deals:
        table["amount_known"] = frame["amount_known"]
        st.caption(ui.amount_coverage(funnel.stages[0].amount_known, funnel.deals))
    ui.table(table, key="funnel_table", pinned=("stage",), also_shares=("conversion", "cumulative"))
    ui.download_csv(table.rename(columns=lambda c: ui.T(c)), "funnel.csv", key="dl_funnel")

    st.subheader(ui.T("lost_reasons"))
    reasons = lost_reasons_figure(funnel, lang)
    if reasons is None:  # an unlabelled bar of deals with no reason said nothing
        st.caption(ui.T("no_lost_reasons"))
    else:
        st.plotly_chart(reasons, key="lost_reasons_chart")

    st.subheader(ui.T("win_by_stage"))
    st.plotly_chart(win_rates_figure(win_rates_by_stage(funnel), lang), key="win_rate_chart")

    st.subheader(ui.T("trends_title"))
    trends = ui.cached(compute_trends, "quarter", "created", filters)
    st.plotly_chart(trends_figure(trends, lang), key="trends_chart")
    test = trends.trend
    st.caption(ui.T("trends_note") + " " + (ui.T("trends_untested") if test.p_value is None else
                                            ui.T("trends_test", z=f"{test.z:.2f}", p=f"{test.p_value:.3g}",
                                                 n=test.periods)))
