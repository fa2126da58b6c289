import streamlit as st

import ui
from analytics.analyses.funnel import data_as_of
from analytics.analyses.slippage import open_deal_pushes, with_slippage
from analytics.forecasting.scoring import score_open_deals

filters = ui.filters()
lang = ui.lang()
st.title(ui.T("page_deals"))
as_of = ui.cached(data_as_of)  # an explicit date: the key analytics.refresh keeps the scores under
deals = with_slippage(ui.cached(score_open_deals, as_of, filters=filters, lang=lang),
                      ui.cached(open_deal_pushes, filters))
if ui.has_data(len(deals), filters):
    query = st.text_input(ui.T("search"), key="deal_search")
    if query:
        hay = (deals["deal_id"] + " " + deals["name"].fillna("") + " " + deals["account"].fillna("") + " "
               + deals["owner"].fillna(""))
        deals = deals[hay.str.contains(query, case=False, regex=False)]
    # the figures right after the deal, before the long names, so that none is off-screen at 1400 px
    shown = deals[["deal_id", "name", "amount", "p_win", "expected_value", "predicted_close", "stage", "account",
                   "owner", "tier", "recommended_tier", "days_in_stage", "push_count", "days_pushed",
                   "first_expected_close", "exit_criterion"]]
    if shown["name"].isna().all():  # an export without deal names: no empty column
        shown = shown.drop(columns="name")
    shown = ui.with_stage_labels(shown)
    ui.table(shown, "deals_table", rows=25, pinned=("deal_id",))  # the page's one table: tall enough to work through
    ui.download_csv(shown, "open_deals.csv", key="dl_deals")
