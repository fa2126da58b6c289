from datetime import timedelta

import streamlit as st

import ui
from analytics.analyses.claim import test_claim
from analytics.analyses.funnel import estimability
from analytics.analyses.overview import pipeline_summary
from analytics.analyses.waterfall import compute_waterfall
from analytics.forecasting.attainment import attainment
from analytics.forecasting.attention import deals_needing_attention
from analytics.forecasting.forecast import forecast_quarter
from analytics.present.figures import waterfall_figure
from analytics.present.forecast_figures import attainment_figure, target_figure
from analytics.store.plans import teams

filters = ui.filters()
lang = ui.lang()
title = st.empty()  # the quarter joins it once known
title.title(ui.T("page_overview"))
summary = ui.cached(pipeline_summary, filters)
if ui.has_data(summary.deals, filters):
    forecast = ui.cached(forecast_quarter, filters=filters)  # unfiltered: the one refresh_results kept
    by = "team" if ui.cached(teams) else "owner"
    plan = ui.cached(attainment, by=by)  # the team's: targets are set for units, not for a filtered slice
    whole = plan.whole
    target = whole.target
    ui.say_what_cannot_be_estimated(ui.cached(estimability))

    top = st.columns([2.4, 1.2, 1, 1])
    title.title(f"{ui.T('page_overview')} · {forecast.quarter}")
    with top[0]:
        st.plotly_chart(target_figure(forecast.quarter, forecast.won_to_date, forecast.p10, forecast.p50,
                                      forecast.p90, target if filters.is_empty() else None, lang, height=135),
                        key="overview_target", config={"displayModeBar": False})
    top[1].metric(f"{forecast.quarter} P50", ui.fmt_short(forecast.p50),
                  help=f"P10–P90: {ui.fmt_money(forecast.p10)} – {ui.fmt_money(forecast.p90)}")
    if target and filters.is_empty():
        top[2].metric(ui.T("attainment"), ui.fmt_pct(whole.attainment),
                      help=f"{ui.fmt_money(whole.won)} / {ui.fmt_money(target)}")
        top[3].metric(ui.T("p_reach_target"), ui.fmt_pct(whole.p_reach_target),
                      help=ui.T("attainment_caption", formula=plan.coverage_formula))
    else:
        top[2].metric(ui.T("won_to_date"), ui.fmt_short(forecast.won_to_date))
        top[3].metric(ui.T("open_pipeline"), ui.fmt_short(summary.open_amount),
                      help=ui.amount_coverage(summary.open_amount_known, summary.open_deals) or None)
    top[0].page_link("pages/forecast.py", label=ui.T("go_forecast"), icon=":material/arrow_forward:")
    if not target:
        top[0].caption(ui.T("overview_no_target", quarter=forecast.quarter))

    left, middle, right = st.columns([1, 1, 1.4])
    with left:
        st.markdown(f"**{ui.T('attainment_by', by=ui.T('by_team' if by == 'team' else 'by_owner_word'))}**")
        if target:
            st.plotly_chart(attainment_figure(plan, lang, height=205), key="overview_attainment",
                            config={"displayModeBar": False})
        else:
            st.caption(ui.T("overview_no_target", quarter=forecast.quarter))
        st.page_link("pages/calls.py", label=ui.T("go_calls"), icon=":material/arrow_forward:")
    with middle:
        to_day = summary.as_of + timedelta(days=1)
        week = ui.cached(compute_waterfall, to_day - timedelta(days=7), to_day, forecast.quarter, filters)
        st.markdown(f"**{ui.T('week_changes', from_day=f'{week.from_date:%m-%d}', to_day=f'{week.to_date:%m-%d}')}**")
        figure = waterfall_figure(week, lang)
        figure.update_layout(height=205, xaxis=dict(tickangle=-30, tickfont=dict(size=10)))
        st.plotly_chart(figure, key="overview_week", config={"displayModeBar": False})
        st.page_link("pages/changes.py", label=ui.T("go_changes"), icon=":material/arrow_forward:")
    with right:
        attention = ui.cached(deals_needing_attention, filters=filters)
        st.markdown(f"**{ui.T('attention')}**")
        frame = attention.to_frame()
        frame = frame.assign(p_win_change=frame["p_win"] - frame["p_win_week_ago"])[
            ["deal_id", "reasons", "p_win", "p_win_change", "amount", "owner"]]
        frame["reasons"] = [" · ".join(ui.T(f"reason_{r}") for r in reasons) for reasons in frame["reasons"]]
        ui.table(frame, "overview_attention", height=205, pinned=("deal_id",))
        st.page_link("pages/deals.py", label=ui.T("go_deals"), icon=":material/arrow_forward:")

    claim = ui.cached(test_claim, filters, segments=False).overall
    lo, hi = claim.ci if claim.ci else (None, None)
    c1, c2 = st.columns([5, 1])
    c1.markdown(ui.T("claim_tile", p=ui.fmt_pct(claim.p_hat), lo=ui.fmt_pct(lo), hi=ui.fmt_pct(hi),
                     threshold=ui.fmt_pct(claim.threshold), verdict=f"**{ui.T(f'verdict_{claim.verdict}')}**")
                + f" ({claim.won:,}/{claim.resolved:,})", help=ui.T(f"verdict_help_{claim.verdict}"))
    c2.page_link("pages/claim.py", label=ui.T("go_claim"), icon=":material/arrow_forward:")
    st.caption(ui.T("attention_counts", **{k: f"{v:,}" for k, v in attention.counts.items()}) + " · "
               + f"{ui.T('as_of')} {summary.as_of}")
