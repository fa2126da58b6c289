"""keyfunnel's Streamlit app: a router. Run with `keyfunnel serve` (binds 127.0.0.1, usage statistics off)."""

import streamlit as st

import ui
from analytics.exceptions import KeyfunnelError
from analytics.i18n.text import t

st.set_page_config(page_title="keyfunnel", page_icon=":material/filter_alt:", layout="wide")
lang = ui.lang()
pages = [
    st.Page("pages/overview.py", title=t("page_overview", lang), icon=":material/home:", url_path="home", default=True),
    st.Page("pages/import.py", title=t("page_import", lang), icon=":material/upload_file:", url_path="import"),
    st.Page("pages/funnel.py", title=t("page_funnel", lang), icon=":material/filter_alt:", url_path="funnel"),
    st.Page("pages/velocity.py", title=t("page_velocity", lang), icon=":material/timer:", url_path="velocity"),
    st.Page("pages/tiers.py", title=t("page_tiers", lang), icon=":material/military_tech:", url_path="tiers"),
    st.Page("pages/claim.py", title=t("page_claim", lang), icon=":material/balance:", url_path="claim"),
    st.Page("pages/model.py", title=t("page_model", lang), icon=":material/insights:", url_path="model"),
    st.Page("pages/forecast.py", title=t("page_forecast", lang), icon=":material/trending_up:", url_path="forecast"),
    st.Page("pages/changes.py", title=t("page_changes", lang), icon=":material/waterfall_chart:", url_path="changes"),
    st.Page("pages/calls.py", title=t("page_calls", lang), icon=":material/flag:", url_path="calls"),
    st.Page("pages/review.py", title=t("page_review", lang), icon=":material/summarize:", url_path="review"),
    st.Page("pages/deals.py", title=t("page_deals", lang), icon=":material/table_rows:", url_path="deals"),
    # the default page lives at "/" (reserving "home"); its own address, /overview, opened "Page not found". It is
    # served by this twin, hidden so that the menu lists the page once
    st.Page("pages/overview.py", title=t("page_overview", lang), url_path="overview", visibility="hidden"),
]
try:
    if ui.authenticate() is None:
        st.stop()
    ui.begin_run()  # this run reads the database as it stands now, and only that (ui.store)
    navigation = st.navigation(pages)
    ui.sidebar()
    ui.page_not_found_text()
    navigation.run()
except KeyfunnelError as exc:  # ours carry a message a user can act on (a database busy with an import, say)
    st.error(ui.import_text(exc))
