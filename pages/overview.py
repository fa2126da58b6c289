import streamlit as st

import ui
from analytics import formatting
from analytics.analyses.claim import test_claim
from analytics.analyses.funnel import estimability
from analytics.analyses.overview import pipeline_summary
from analytics.forecasting.forecast import forecast_quarter
from analytics.ingest.batches import list_batches

filters = ui.filters()
st.title(ui.T("page_overview"))
summary = ui.cached(pipeline_summary, filters)
if ui.has_data(summary.deals, filters):
    claim = ui.cached(test_claim, filters, segments=False).overall
    forecast = ui.cached(forecast_quarter, filters=filters)  # unfiltered: the one refresh_results kept
    cols = st.columns(3) + st.columns(3)  # two rows of three: a verdict word needs the width
    cols[0].metric(f"{ui.T('open_pipeline')} ({summary.open_deals})", ui.fmt_short(summary.open_amount),
                   help=ui.amount_coverage(summary.open_amount_known, summary.open_deals) or None)
    cols[1].metric(ui.T("weighted_pipeline"), ui.fmt_short(summary.weighted_amount),
                   help=f"{ui.fmt_money(summary.weighted_amount)} · {ui.T('weighted_pipeline_help')}")
    cols[2].metric(ui.T("win_rate"), ui.fmt_pct(summary.win_rate),  # won of the closed deals, and its interval
                   help=f"{summary.won:,} / {summary.resolved:,} · {ui.T('ci_95')}: {ui.fmt_ci(summary.win_rate_ci)}")
    ui.say_what_cannot_be_estimated(ui.cached(estimability))
    cols[3].metric(ui.T("verdict"), ui.T(f"verdict_{claim.verdict}"),
                   help=ui.fmt_pct(claim.p_hat) + f" ({claim.won:,}/{claim.resolved:,})")
    cols[5].metric(f"{forecast.quarter} P50", ui.fmt_short(forecast.p50),
                   help=f"P10–P90: {ui.fmt_money(forecast.p10)} – {ui.fmt_money(forecast.p90)}")
    batches = [b for b in list_batches(ui.store()) if b.status == "imported"]
    if batches:
        last = batches[-1]
        cols[4].metric(ui.T("since_last_import"), f"+{formatting.count(last.deals_inserted)}",
                       help=f"{last.finished_at:%Y-%m-%d %H:%M} · {', '.join(last.files)} · "
                            + ui.T("last_import_help", updated=last.deals_updated, events=last.stage_events_added))
    st.caption(ui.T("claim_statement", threshold=claim.threshold) + " — " + ui.T(f"verdict_help_{claim.verdict}"))
    if summary.open_amount_known < summary.open_deals:
        st.caption(ui.T("open_pipeline") + ": " + ui.amount_coverage(summary.open_amount_known, summary.open_deals))
    st.caption(f"{ui.T('as_of')} {summary.as_of}")
