import pandas as pd
import streamlit as st

import ui
from analytics.analyses.tiers import compute_tiers
from analytics.domain import TIER_KEYS
from analytics.i18n.labels import tier_policy
from analytics.present.figures import tier_mix_figure

filters = ui.filters()
lang = ui.lang()
st.title(ui.T("page_tiers"))
mix = ui.cached(compute_tiers, filters)
if ui.has_data(sum(p.resolved for p in mix.performance) + mix.open_deals_graded, filters):
    st.dataframe(pd.DataFrame({ui.T("tier"): TIER_KEYS, ui.T("policy"): [tier_policy(k, lang) for k in TIER_KEYS]}),
                 hide_index=True, key="policy_table")
    st.subheader(ui.T("tier_mix"))
    cells = pd.DataFrame([vars(c) for c in mix.open_by_tier_stage])
    if not cells.empty and cells["open_amount_known"].sum() < cells["open_deals"].sum():
        st.caption(ui.amount_coverage(int(cells["open_amount_known"].sum()), int(cells["open_deals"].sum())))
    if not cells.empty:
        st.plotly_chart(tier_mix_figure(mix, lang), key="tier_mix_chart")
    st.subheader(ui.T("tier_performance"))
    st.dataframe(pd.DataFrame({
        ui.T("tier"): [p.tier for p in mix.performance],
        ui.T("win_rate"): [ui.fmt_pct(p.win_rate) for p in mix.performance],
        ui.T("ci_95"): [ui.fmt_ci(p.win_rate_ci) for p in mix.performance],
        "n": [p.resolved for p in mix.performance],
        ui.T("cycle_time"): [p.median_cycle_days for p in mix.performance],
    }), hide_index=True, key="tier_performance_table")
    st.subheader(ui.T("tier_mismatch"))
    r = mix.rule  # the rule in words, from the thresholds the grading used (docs/metrics.md)
    st.caption(ui.T("tier_rule_explained", **{f"{k}_p": ui.fmt_pct(getattr(r, f"{k}_min_probability"), 0)
                                              for k in "abc"},
                    **{f"{k}_d": getattr(r, f"{k}_max_days") for k in "abc"}))
    st.caption(ui.T("mismatch_count_all" if len(mix.mismatches) == mix.mismatches_total else "mismatch_count",
                    total=mix.mismatches_total, graded=mix.open_deals_graded, shown=len(mix.mismatches)))
    mismatches = ui.with_stage_labels(mix.to_frame())
    if not mismatches.empty:
        st.caption(ui.T("stage_rate_note"))  # not the Deals page's P(win): a different quantity, named apart
        ui.table(mismatches, "mismatch_table")
        ui.download_csv(mismatches, "tier_mismatches.csv", key="dl_mismatch")
