import tempfile
from pathlib import Path

import pandas as pd
import streamlit as st

import ui
from analytics.auth import can_import
from analytics.csvsource import open_csv, preview
from analytics.exceptions import KeyfunnelError
from analytics.importer import classify_header, import_files, list_batches, undo_batch
from analytics.templates import deals_template, history_template

ui.filters()
st.title(ui.T("page_import"))
if not can_import(ui.role()):
    st.info(ui.T("analyst_only"))
    st.stop()
uploads = st.file_uploader(ui.T("upload"), type=["csv", "txt", "tsv"], accept_multiple_files=True, key="uploads")
files: dict[str, Path] = {}
if uploads:
    folder = Path(tempfile.mkdtemp(prefix="keyfunnel-upload-"))
    for up in uploads:
        path = folder / Path(up.name).name
        path.write_bytes(up.getvalue())
        try:
            source = open_csv(path)
        except KeyfunnelError as exc:
            st.error(str(exc))
            continue
        kind = classify_header(source.header)
        files.setdefault(kind if kind != "wide" else "deals", path)
        with st.expander(f"{ui.T('preview')}: {up.name} ({kind}, {source.encoding}, "
                         f"{'tab' if source.delimiter == chr(9) else source.delimiter})", expanded=False):
            header, rows = preview(source)
            st.dataframe(pd.DataFrame([r + [""] * (len(header) - len(r)) for r in rows],
                                      columns=pd.Index([f"{i + 1}. {h}" for i, h in enumerate(header)]))
                         if rows else pd.DataFrame(columns=header), hide_index=True)
        source.cleanup()

skip_invalid = st.checkbox(ui.T("skip_invalid"), key="skip_invalid")
decimal_comma = st.checkbox(ui.T("decimal_comma"), key="decimal_comma")
if st.button(ui.T("import_button"), key="run_import", disabled="deals" not in files, type="primary"):
    bar = st.progress(0.0)
    result = import_files(ui.store(), files["deals"], files.get("history"), skip_invalid=skip_invalid,
                          decimal_comma=decimal_comma, progress=lambda f, m: bar.progress(min(f, 1.0), text=m))
    ui.data_changed()
    {"imported": st.success, "unchanged": st.info, "rejected": st.error}[result.status](
        f"{ui.T('status_' + result.status)} — {result.message}")
    for title, issues, key in ((ui.T("validation_report"), result.errors, "errors"),
                               (ui.T("warnings"), result.warnings, "warnings")):
        if issues:
            report = pd.DataFrame([vars(i) for i in issues])
            st.subheader(f"{title} ({len(issues)})")
            ui.table(report, f"{key}_table")
            ui.download_csv(report, f"{key}.csv", key=f"dl_{key}", label_key="download_report")

st.subheader(ui.T("batches"))
batches = list_batches(ui.store())
if batches:
    ui.table(pd.DataFrame([b.to_json() for b in batches]), "batches_table")
    active = [b.batch_id for b in batches if b.status == "imported"]
    if active:
        chosen = st.selectbox(ui.T("undo"), active, index=len(active) - 1, key="undo_batch")
        if st.button(ui.T("undo"), key="undo"):
            try:
                undo_batch(ui.store(), chosen)
                ui.data_changed()
                st.rerun()
            except KeyfunnelError as exc:
                st.error(str(exc))

st.subheader(ui.T("templates"))
c1, c2 = st.columns(2)
c1.download_button(ui.T("template_en"), deals_template("en"), "deals_template.csv", "text/csv", key="tpl_en")
c1.download_button(ui.T("template_en") + " · history", history_template("en"), "stage_history_template.csv",
                   "text/csv", key="tpl_hist_en")
c2.download_button(ui.T("template_zh"), deals_template("zh"), "商机模板.csv", "text/csv", key="tpl_zh")
c2.download_button(ui.T("template_zh") + " · 阶段历史", history_template("zh"), "阶段历史模板.csv", "text/csv",
                   key="tpl_hist_zh")
