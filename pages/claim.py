import pandas as pd
import streamlit as st

import ui
from analytics.analyses.claim import test_claim
from analytics.analyses.funnel import estimability
from analytics.analyses.overview import count_deals
from analytics.domain import MISSING_VALUE
from analytics.i18n.labels import value_label
from analytics.present.figures import claim_figure

filters = ui.filters()
lang = ui.lang()
st.title(ui.T("page_claim"))
# in whole percent, as the claim's own sentence writes it ("more than 75%")
threshold = st.slider(ui.T("threshold"), 50, 95, 75, 1, format="%d%%", key="claim_threshold") / 100
claim = ui.cached(test_claim, filters, threshold=threshold)
o = claim.overall
st.markdown(f"> {ui.T('claim_statement', threshold=o.threshold)}")
ui.say_what_cannot_be_estimated(ui.cached(estimability))
if o.resolved:
    st.header(ui.T(f"verdict_{o.verdict}"))
    st.write(ui.T("claim_result", won=o.won, resolved=o.resolved, stage=o.stage, p=o.p_hat, lo=o.ci[0], hi=o.ci[1],
                  open=o.open_excluded) + " " + ui.T(f"verdict_help_{o.verdict}"))
    with st.expander(ui.T("statistics_behind")):
        st.caption(ui.T("binomial_test", threshold=o.threshold, p=o.p_value))
    rows = [(ui.T("all_deals"), "", o, None)] + [
        (ui.T(s.dimension), value_label(s.value, lang), s.test, s.p_adjusted) for s in claim.segments
        # a segment of every deal with no value there (MISSING_VALUE) only repeats All deals
        if s.test.resolved and not (s.value == MISSING_VALUE and s.test.resolved == o.resolved)]
    if claim.comparison and claim.comparison.resolved:
        rows.append((ui.T("comparison_stage6"), "", claim.comparison, None))
    names = [f"{d} {v}".strip() for d, v, _, _ in rows]
    st.plotly_chart(claim_figure([(name, r[2]) for name, r in zip(names, rows)], o.threshold), key="claim_chart")
    st.subheader(ui.T("segments"))
    st.caption(ui.T("segments_help", n=sum(1 for s in claim.segments if s.p_adjusted is not None)))
    table = pd.DataFrame({"dimension": [r[0] for r in rows], "value": [r[1] for r in rows],
                          "won": [r[2].won for r in rows], "n": [r[2].resolved for r in rows],
                          "win_rate": [r[2].p_hat for r in rows], "ci_95": [ui.fmt_ci(r[2].ci) for r in rows],
                          "verdict": [ui.T(f"verdict_{r[2].verdict}") for r in rows],
                          "p_adjusted": ["–" if r[3] is None else f"{r[3]:.3g}" for r in rows]})
    ui.table(table, key="claim_table", also_shares=("win_rate",))
    ui.download_csv(table.rename(columns=lambda c: ui.T(c) if c != "n" else c), "claim.csv", key="dl_claim")
elif ui.has_data(ui.cached(count_deals, filters), filters):
    st.info(ui.T("claim_no_data", stage=o.stage))
