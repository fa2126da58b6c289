import streamlit as st

import ui
from analytics.i18n import stage_label
from analytics.model import score_open_deals

filters = ui.filters()
lang = ui.lang()
st.title(ui.T("page_deals"))
deals = ui.cached(score_open_deals, filters=filters, lang=lang)
if ui.has_data(len(deals), filters):
    query = st.text_input(ui.T("search"), key="deal_search")
    if query:
        hay = deals["deal_id"] + " " + deals["account"].fillna("") + " " + deals["owner"].fillna("")
        deals = deals[hay.str.contains(query, case=False, regex=False)]
    shown = deals[["deal_id", "account", "owner", "tier", "stage", "amount", "p_win", "expected_value",
                   "predicted_close", "recommended_tier", "days_in_stage", "exit_criterion"]]
    shown = shown.assign(stage=shown["stage"].map(lambda s: stage_label(int(s), lang)))
    ui.table(shown, "deals_table", column_config={
        "p_win": st.column_config.NumberColumn(ui.column("p_win"), format="percent"),
        "amount": st.column_config.NumberColumn(ui.column("amount"), format="localized"),
        "expected_value": st.column_config.NumberColumn(ui.column("expected_value"), format="localized"),
        "predicted_close": st.column_config.DateColumn(ui.column("predicted_close")),
        "days_in_stage": st.column_config.NumberColumn(ui.column("days_in_stage"), format="%.0f"),
    })
    ui.download_csv(shown, "open_deals.csv", key="dl_deals")
