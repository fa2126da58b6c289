import streamlit as st

import ui
from analytics.model import score_open_deals

filters = ui.filters()
lang = ui.lang()
st.title(ui.T("page_deals"))
deals = ui.cached(score_open_deals, filters=filters, lang=lang)
if ui.has_data(len(deals), filters):
    query = st.text_input(ui.T("search"), key="deal_search")
    if query:
        hay = (deals["deal_id"] + " " + deals["name"].fillna("") + " " + deals["account"].fillna("") + " "
               + deals["owner"].fillna(""))
        deals = deals[hay.str.contains(query, case=False, regex=False)]
    shown = deals[["deal_id", "name", "account", "owner", "tier", "stage", "amount", "p_win", "expected_value",
                   "predicted_close", "recommended_tier", "days_in_stage", "exit_criterion"]]
    shown = ui.with_stage_labels(shown)
    ui.table(shown, "deals_table", rows=25)  # the page's one table: tall enough to work through
    ui.download_csv(shown, "open_deals.csv", key="dl_deals")
