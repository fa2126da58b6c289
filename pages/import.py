from dataclasses import replace
from pathlib import Path

import pandas as pd
import streamlit as st

import ui
from analytics.auth import can_import
from analytics.exceptions import KeyfunnelError
from analytics.ingest.canonical import import_files
from analytics.ingest.crm.convert import detected_profile
from analytics.ingest.crm.load import import_export, read_export
from analytics.ingest.crm.profiles import (
    list_profiles,
    load_profile,
    profiles_dir,
    save_profile,
)
from analytics.ingest.csvsource import open_csv, preview
from analytics.ingest.plans import import_plans
from analytics.ingest.router import file_kind, route
from analytics.ingest.templates import (
    calls_template,
    deals_template,
    history_template,
    targets_template,
    teams_template,
)

ui.filters()
st.title(ui.T("page_import"))
if not can_import(ui.role()):
    st.info(ui.T("analyst_only"))
    st.stop()
PROFILES = profiles_dir(ui.store().path)
uploads = ui.file_uploader(ui.T("upload"), key=ui.uploader_key())
uploaded: list[Path] = []
headers: dict[str, list[str]] = {}
if uploads:
    for up in uploads:
        path = ui.upload_path(up.name, up.getvalue())
        try:
            source = open_csv(path)
        except KeyfunnelError as exc:
            st.error(ui.import_text(exc))
            continue
        uploaded.append(path)
        headers[str(path)] = source.header
        kind = file_kind(source.header)
        delimiter = ui.T("delimiter_tab") if source.delimiter == "\t" else source.delimiter
        with st.expander(f"{ui.T('preview')}: {up.name} ({ui.T('file_kind_' + kind)}, {source.encoding}, "
                         f"{delimiter})", expanded=False):
            header, rows = preview(source)
            st.dataframe(pd.DataFrame([r + [""] * (len(header) - len(r)) for r in rows],
                                      columns=pd.Index([f"{i + 1}. {h}" for i, h in enumerate(header)]))
                         if rows else pd.DataFrame(columns=header), hide_index=True)
        source.cleanup()


# option labels are made in the script run: a format_func that read the language later (AppTest does) got English
auto_label = ui.T("profile_auto")
choice = st.selectbox(ui.T("profile"), ["auto", *list_profiles(PROFILES)], key="profile",
                      format_func=lambda c: auto_label if c == "auto" else c) if uploaded else "auto"
skip_invalid = st.checkbox(ui.T("skip_invalid"), key="skip_invalid")
# the user's first own import into the demo database: clear the demo first unless told to keep it
clear_demo = st.checkbox(ui.T("clear_demo_first"), value=True, key="clear_demo_first") if ui.is_demo_database() \
    else False
decimal_comma = st.checkbox(ui.T("decimal_comma"), key="decimal_comma")
routed = route(headers, profile_named=choice != "auto")
crm_paths = [Path(f) for f in routed.crm]
if crm_paths:
    # The mapping step: what was detected, every field's column and every stage name with its rows, to map and save.
    try:
        tables, read_errors = read_export(crm_paths)
        base = detected_profile(tables) if choice == "auto" else load_profile(choice, PROFILES)
        profile, conversion = ui.crm_mapping(tables, base, choice, decimal_comma)
    except KeyfunnelError as exc:
        st.error(ui.import_text(exc))
        conversion = None
    if conversion is not None:
        c1, c2 = st.columns([3, 1])
        name = c1.text_input(ui.T("profile_name"), value="" if choice == "auto" else base.name, key="profile_name")
        if c2.button(ui.T("save_profile"), key="save_profile", disabled=not name.strip()):
            try:
                saved = save_profile(replace(profile, name=name.strip()), PROFILES)
                st.success(ui.T("profile_saved", name=name.strip(), path=saved.name))
            except KeyfunnelError as exc:
                st.error(ui.import_text(exc))
        blocked = bool(conversion.mapping_errors)  # an unmapped stage, a required column, a rate: all reject it
        if blocked:
            st.caption(ui.T("mapping_blocks", n=len(conversion.mapping_errors)))
        if st.button(ui.T("import_button"), key="run_import", disabled=blocked, type="primary"):
            ui.run_import(lambda store, progress: import_export(store, tables, read_errors, profile,
                                                         skip_invalid=skip_invalid, progress=progress,
                                                         conversion=conversion), clear_demo)
elif routed.plans:  # targets, teams and calls: on their own, as one batch
    if st.button(ui.T("import_button"), key="run_import", type="primary",
                 disabled=len(routed.plans) < len(uploaded)):
        ui.run_import(lambda store, progress: import_plans(store, [Path(f) for f in routed.plans],
                                                    names=[Path(f).name for f in routed.plans]))
elif st.button(ui.T("import_button"), key="run_import", disabled=routed.deals is None, type="primary"):
    ui.run_import(lambda store, progress: import_files(store, routed.deals, routed.history,
                                                skip_invalid=skip_invalid, decimal_comma=decimal_comma,
                                                progress=progress), clear_demo)

ui.batch_history()

st.subheader(ui.T("templates"))
c1, c2 = st.columns(2)
history = ui.T("template_history")
c1.download_button(ui.T("template_en"), deals_template("en"), "deals_template.csv", "text/csv", key="tpl_en")
c1.download_button(f"{ui.T('template_en')} · {history}", history_template("en"), "stage_history_template.csv",
                   "text/csv", key="tpl_hist_en")
c2.download_button(ui.T("template_zh"), deals_template("zh"), "商机模板.csv", "text/csv", key="tpl_zh")
c2.download_button(f"{ui.T('template_zh')} · {history}", history_template("zh"), "阶段历史模板.csv", "text/csv",
                   key="tpl_hist_zh")
for name, template, files in (("template_targets", targets_template, ("targets_template.csv", "目标模板.csv")),
                              ("template_teams", teams_template, ("teams_template.csv", "团队模板.csv")),
                              ("template_calls", calls_template, ("calls_template.csv", "预测提报模板.csv"))):
    c1.download_button(f"{ui.T('template_en')} · {ui.T(name)}", template("en"), files[0], "text/csv",
                       key=f"tpl_{name}_en")
    c2.download_button(f"{ui.T('template_zh')} · {ui.T(name)}", template("zh"), files[1], "text/csv",
                       key=f"tpl_{name}_zh")
