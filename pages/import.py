import hashlib
from dataclasses import replace
from pathlib import Path

import pandas as pd
import streamlit as st

import ui
from analytics.auth import can_import
from analytics.csvsource import open_csv, preview
from analytics.exceptions import KeyfunnelError
from analytics.crm import convert_export, import_export, other_problems, read_export
from analytics.crmsource import is_canonical
from analytics.importer import classify_header, import_files
from analytics.profiles import DATE_ORDERS, list_profiles, load_profile, mapping_with, preset, profiles_dir, save_profile
from analytics.templates import deals_template, history_template

ui.filters()
st.title(ui.T("page_import"))
if not can_import(ui.role()):
    st.info(ui.T("analyst_only"))
    st.stop()
PROFILES = profiles_dir(ui.store().path)
uploads = st.file_uploader(ui.T("upload"), type=["csv", "txt", "tsv"], accept_multiple_files=True, key="uploads")
canonical: dict[str, Path] = {}
crm_files: list[Path] = []
uploaded: list[Path] = []
if uploads:
    for up in uploads:
        path = ui.upload_path(up.name, up.getvalue())
        try:
            source = open_csv(path)
        except KeyfunnelError as exc:
            st.error(ui.import_text(str(exc)))
            continue
        uploaded.append(path)
        kind = classify_header(source.header) if is_canonical(source.header) else "crm"
        if kind == "crm":
            crm_files.append(path)
        else:
            canonical.setdefault(kind if kind != "wide" else "deals", path)
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
decimal_comma = st.checkbox(ui.T("decimal_comma"), key="decimal_comma")
crm_paths = crm_files if choice == "auto" else uploaded
if crm_paths:
    # The mapping step: what was detected, the columns used, and every stage name with its rows, to map and save.
    try:
        chosen_profile = None if choice == "auto" else load_profile(choice, PROFILES)
        tables, read_errors = read_export(crm_paths)
        conversion = convert_export(tables, chosen_profile)
    except KeyfunnelError as exc:
        st.error(ui.import_text(str(exc)))
        conversion = None
    if conversion is not None:
        base = chosen_profile or preset(conversion.preset)
        st.info(ui.T("crm_detected", preset=conversion.preset) + " — " + ", ".join(
            f"{name}: {ui.T('file_kind_' + role)}" for name, role in conversion.roles.items()))
        with st.expander(ui.T("columns_used"), expanded=False):
            st.dataframe(pd.DataFrame([(ui.column(f), h) for f, h in conversion.columns.items()],
                                      columns=[ui.T("field"), ui.T("header")]),
                         hide_index=True)
        st.subheader(ui.T("stage_mapping"))
        targets = [None, *range(1, 9), "won", "lost"]
        target_labels = {target: ui.stage_target_label(target) for target in targets}
        mapped = {}
        grid = st.columns(3)
        for i, census in enumerate(conversion.stages):
            # keyed by profile too: choosing another profile starts from its mapping, not the last one's widgets
            key = "map_" + hashlib.sha1(f"{choice}\0{census.label}".encode()).hexdigest()[:12]
            mapped[census.label] = grid[i % 3].selectbox(
                f"{census.label} · {ui.T('rows_count', n=census.rows) if census.rows != 1 else ui.T('one_row')}",
                targets, key=key,
                index=targets.index(census.target), format_func=target_labels.get)
        profile = mapping_with(base, mapped)
        order_labels = {order: ui.T(f"date_order_{order}") for order in DATE_ORDERS}
        profile = replace(profile, date_order=st.selectbox(ui.T("date_order"), DATE_ORDERS, key="date_order",
                                                           index=DATE_ORDERS.index(base.date_order),
                                                           format_func=order_labels.get),
                          decimal_mark="," if decimal_comma else base.decimal_mark)
        if len(conversion.currencies) > 1:
            codes = sorted(conversion.currencies)
            reporting = st.selectbox(ui.T("reporting_currency"), codes, key="reporting_currency",
                                     index=codes.index(base.currency) if base.currency in codes else 0)
            rates = {code: st.number_input(ui.T("rate_for", code=code, reporting=reporting), min_value=0.0,
                                           value=float(base.rates.get(code, 0.0)), format="%.6f", key=f"rate_{code}")
                     for code in codes if code != reporting}
            profile = replace(profile, currency=reporting, rates={c: r for c, r in rates.items() if r > 0})
        for field, headers in conversion.missing_columns(tables).items():
            header = st.selectbox(ui.T("map_column", field=ui.column(field)), [None, *headers], key=f"col_{field}",
                                  format_func=lambda h: "—" if h is None else h)
            if header:
                profile = replace(profile, columns={**profile.columns, field: (header,)})
        for issue in other_problems(tables, profile):  # what the edited mapping leaves
            st.error(f"{issue.file}: {issue.column or ''} {issue.value or ''} — {ui.import_text(issue.reason)}")
        unmapped = sum(1 for v in mapped.values() if v is None)
        if unmapped:
            st.warning(ui.T("unmapped_left", n=unmapped))
        c1, c2 = st.columns([3, 1])
        name = c1.text_input(ui.T("profile_name"), value="" if choice == "auto" else base.name, key="profile_name")
        if c2.button(ui.T("save_profile"), key="save_profile", disabled=not name.strip()):
            try:
                saved = save_profile(replace(profile, name=name.strip()), PROFILES)
                st.success(ui.T("profile_saved", name=name.strip(), path=saved.name))
            except KeyfunnelError as exc:
                st.error(ui.import_text(str(exc)))
        if st.button(ui.T("import_button"), key="run_import", disabled=bool(unmapped), type="primary"):
            ui.run_import(lambda progress: import_export(ui.store(), tables, read_errors, profile,
                                                         skip_invalid=skip_invalid, progress=progress))
elif st.button(ui.T("import_button"), key="run_import", disabled="deals" not in canonical, type="primary"):
    ui.run_import(lambda progress: import_files(ui.store(), canonical["deals"], canonical.get("history"),
                                                skip_invalid=skip_invalid, decimal_comma=decimal_comma,
                                                progress=progress))

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
