from datetime import date

import streamlit as st

import ui
from analytics.analyses.funnel import data_as_of
from analytics.analyses.overview import filter_options
from analytics.auth import can_import
from analytics.exceptions import KeyfunnelError
from analytics.forecasting.attainment import attainment
from analytics.forecasting.calls import call_accuracy
from analytics.forecasting.forecast import quarter_of, shift_quarter
from analytics.ingest.plans import add_call
from analytics.store.plans import forecast_calls, teams

filters = ui.filters()
st.title(ui.T("page_calls"))
as_of = ui.cached(data_as_of)
if ui.has_data(0 if as_of is None else 1, filters):
    if not filters.is_empty():
        st.caption(ui.T("calls_unfiltered"))
    current = quarter_of(as_of)
    c1, c2 = st.columns(2)
    quarter = c1.selectbox(ui.T("quarter"), [shift_quarter(current, k) for k in (0, -1, -2, -3, 1)], key="calls_quarter")
    members = ui.cached(teams)
    kinds = ["team", "owner", "region"] if members else ["owner", "region"]
    words = {"team": ui.T("by_team"), "owner": ui.T("by_owner_word"), "region": ui.T("by_region_word")}
    by = c2.radio(ui.T("attainment"), kinds, format_func=words.get, horizontal=True, key="calls_by")
    plan = ui.cached(attainment, quarter, by=by)
    st.subheader(ui.T("attainment_by", by=words[by]))
    frame = plan.to_frame().drop(columns=["rollup"]).rename(columns={"coverage": "pipeline_coverage"})
    if by != "owner":
        frame = frame.drop(columns=["team"])
    whole = ui.T("unit_kind_all")
    frame = frame.assign(kind=[ui.T(f"unit_kind_{k}") for k in frame["kind"]],
                         unit=[whole if k == "all" else u for k, u in zip(plan.to_frame()["kind"], frame["unit"])])
    ui.table(frame, "attainment_table", pinned=("unit",), column_config={"pipeline_coverage": st.column_config.NumberColumn(
        ui.column("pipeline_coverage"), format="%.2f×")})
    st.caption(ui.T("attainment_caption", formula=plan.coverage_formula))
    ui.download_csv(frame, f"attainment_{quarter}.csv", key="dl_attainment")

    st.subheader(ui.T("calls_title"))
    calls = ui.cached(forecast_calls, quarter)
    if calls:
        import pandas as pd

        ui.table(pd.DataFrame([{"called_at": c.called_at.date(), **{k: getattr(c, k) for k in (
            "unit", "commit", "best_case", "note", "entered_by", "superseded")}} for c in reversed(calls)]),
                 "calls_table", rows=8)
    else:
        st.caption(ui.T("calls_none"))
    if can_import(ui.role()):
        with st.form("call_form", clear_on_submit=True):
            st.markdown(f"**{ui.T('call_form')}** · {quarter}")
            units = [("owner", o) for o in ui.cached(filter_options)["owner"]] + [
                ("team", t) for t in sorted({t for t, _ in members.values()})]
            f1, f2, f3 = st.columns([2, 1, 1])
            unit = f1.selectbox(ui.T("call_unit"), units, format_func=lambda u: u[1] if u[0] == "owner"
                                else f"{u[1]} ({words['team']})", key="call_unit")
            commit = f2.number_input(ui.T("call_commit"), min_value=0.0, step=10_000.0, key="call_commit")
            best = f3.number_input(ui.T("call_best_case"), min_value=0.0, step=10_000.0, key="call_best_case")
            g1, g2 = st.columns([3, 1])
            note = g1.text_input(ui.T("call_note"), key="call_note")
            day = g2.date_input(ui.T("as_of"), value=date.today(), key="call_day", format="YYYY-MM-DD")
            if st.form_submit_button(ui.T("call_submit"), type="primary"):
                try:
                    with ui.writing("Targets & calls page") as draft:
                        call_id = add_call(draft, quarter, unit[0], unit[1], commit, best, note=note,
                                           entered_by=st.session_state.get("user") or ui.role(), called_at=day)
                    st.success(ui.T("call_recorded", call_id=call_id))
                except KeyfunnelError as exc:
                    st.error(ui.import_text(exc))
    else:
        st.caption(ui.T("calls_viewer"))

    st.subheader(ui.T("calls_accuracy"))
    accuracy = ui.cached(call_accuracy)
    if accuracy.by_unit:
        table = accuracy.to_frame()
        table["bias_verdict"] = [ui.T(f"verdict_{v}") for v in table["bias_verdict"]]
        table["unit"] = [ui.T("unit_kind_all") if k == "all" else u for k, u in zip(table["unit_kind"], table["unit"])]
        ui.table(table.drop(columns=["unit_kind", "call_bias_ci", "in_range_ci"]), "accuracy_table",
                 pinned=("unit",))
        st.caption(ui.T("calls_accuracy_note"))
        with st.expander(ui.T("calls_title")):
            ui.table(accuracy.to_frame("points").drop(columns=["unit_kind"]), "accuracy_points", rows=12)
    else:
        st.caption(ui.T("calls_no_closed"))
