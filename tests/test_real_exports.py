"""Files shaped as real CRMs and people write them: blank amounts, missing columns, stray NUL bytes.

Every file here is written by the test itself, in the layout the vendor's export uses; no customer data.
"""

from __future__ import annotations

import csv
import io

import pytest

from analytics.analyses.funnel import compute_funnel
from analytics.analyses.overview import pipeline_summary
from analytics.filters import DealFilter
from analytics.ingest.canonical import import_files
from analytics.messages import say

from .conftest import write_csv
from .handworked import DEAL_HEADER, DEALS, HISTORY

EARLY = {"D2", "D3", "D4", "D9"}  # the hand-worked deals whose furthest stage is 1–3


def _handworked(tmp_path, *, blank_early_amounts: bool):
    header = DEAL_HEADER[:1] + ["account"] + DEAL_HEADER[1:]
    amount = DEAL_HEADER.index("amount") + 1
    rows = []
    for r in DEALS:
        row = [r[0], f"Account {r[0]}", *r[1:]]
        if blank_early_amounts and r[0] in EARLY:
            row[amount] = ""
        rows.append(row)
    suffix = "blank" if blank_early_amounts else "full"
    return (write_csv(tmp_path / f"deals-{suffix}.csv", header, rows),
            write_csv(tmp_path / f"history-{suffix}.csv", ["deal_id", "stage", "entered_at"], HISTORY))


def test_a_funnel_whose_early_deals_lack_amounts_converts_as_the_same_deals_with_amounts(tmp_path):
    from analytics.store.connection import Store

    full, blank = Store(tmp_path / "full.duckdb"), Store(tmp_path / "blank.duckdb")
    assert import_files(full, *_handworked(tmp_path, blank_early_amounts=False)).status == "imported"
    r = import_files(blank, *_handworked(tmp_path, blank_early_amounts=True))
    assert r.status == "imported" and r.errors == []
    # one warning for the file, counting the deals: not a rejection, not one warning per row
    assert [(w.row, w.column, w.reason.split(":")[0]) for w in r.warnings
            if w.reason.startswith("amount missing")] == [(None, "amount", "amount missing for 4 of 9 deals")]
    assert blank.fetchall("SELECT deal_id FROM deals WHERE amount IS NULL ORDER BY 1") == [
        ("D2",), ("D3",), ("D4",), ("D9",)]  # NULL, never 0
    f_full, f_blank = compute_funnel(full), compute_funnel(blank)
    for a, b in zip(f_full.stages, f_blank.stages):
        assert (a.reached, a.advanced, a.lost_here, a.open_here) == (b.reached, b.advanced, b.lost_here, b.open_here)
        assert (a.conversion, a.conversion_ci, a.win_rate, a.win_rate_ci) == (
            b.conversion, b.conversion_ci, b.win_rate, b.win_rate_ci)
    # Stage 1: all nine reached it; D1 100 + D5 400 + D6 500 + D7 600 + D8 700 have amounts, D2/3/4/9 have none
    assert (f_blank.stage(1).amount, f_blank.stage(1).amount_known, f_blank.stage(1).reached) == (2300, 5, 9)
    assert (f_full.stage(1).amount, f_full.stage(1).amount_known) == (2930, 9)
    # Stage 4: D1, D5, D6, D7 and D8 (first seen there) reached it, every one with an amount
    assert (f_blank.stage(4).amount, f_blank.stage(4).amount_known, f_blank.stage(4).reached) == (2300, 5, 5)
    # The open pipeline: D3 (no amount) and D7 (600)
    summary = pipeline_summary(blank)
    assert (summary.open_deals, summary.open_amount, summary.open_amount_known) == (2, 600, 1)
    full.close()
    blank.close()


def test_no_account_and_no_creation_date_columns(store, csv_writer):
    """A deal without a creation date is dated by its first stage event; with none, it stays undated: out of
    cohorts, created-date filters and cycle time, never dated today."""
    deals = csv_writer("d.csv", ["deal_id", "amount", "closed_at", "outcome"], [
        ["N1", "100", "2026-03-01", "won"],
        ["N2", "", "2026-02-10", "lost"],
        ["N3", "50", "", "open"],
    ])
    history = csv_writer("h.csv", ["deal_id", "stage", "entered_at"], [
        ["N1", "1", "2026-01-05"], ["N1", "7", "2026-02-01"], ["N1", "8", "2026-03-01"], ["N2", "2", "2026-01-20"]])
    r = import_files(store, deals, history)
    assert r.status == "imported", r.errors
    missing = sorted((w.column, w.reason.split(":")[0]) for w in r.warnings if "missing for" in w.reason)
    assert missing == [("account", "account missing for 3 of 3 deals"), ("amount", "amount missing for 1 of 3 deals"),
                       ("created_at", "created_at missing for 3 of 3 deals")]
    facts = {d: (str(c) if c else None, k, cycle) for d, c, k, cycle in store.fetchall(
        "SELECT deal_id, created_at, created_known, cycle_days FROM deal_facts")}
    assert facts == {"N1": ("2026-01-05", False, 55),   # Jan 5 → Mar 1
                     "N2": ("2026-01-20", False, 21),   # Jan 20 → Feb 10
                     "N3": (None, False, None)}         # no event: unknown
    assert store.scalar("SELECT count(*) FROM deals WHERE created_at IS NOT NULL") == 0  # stored as given
    cohort = compute_funnel(store, DealFilter(cohort="2026Q1"))
    assert cohort.deals == 2  # N1 and N2 by their first events; N3 has no date to fall in a cohort by
    assert compute_funnel(store).deals == 3


def test_a_closed_before_created_deal_has_no_cycle_time(store, csv_writer):
    deals = csv_writer("d.csv", ["deal_id", "created_at", "closed_at", "outcome"], [
        ["C1", "2026-03-01", "2026-01-01", "lost"], ["C2", "2026-01-01", "2026-01-31", "lost"]])
    r = import_files(store, deals)
    assert [(w.row, w.reason) for w in r.warnings if "closed before" in w.reason] == [
        (2, "closed before it was created")]
    assert store.fetchall("SELECT deal_id, cycle_days FROM deal_facts ORDER BY 1") == [("C1", None), ("C2", 30)]


DESCRIPTION_HEADER = ["deal_id", "account", "amount", "created_at", "outcome", "Description"]


def _with_stray_nul(encoding: str) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(DESCRIPTION_HEADER)
    w.writerow(["S1", "Café Müller", "100", "2026-01-01", "open", "plain"])
    w.writerow(["S2", "Bolt", "200", "2026-01-02", "open", "<p>pasted\x00 from Word</p>\x0b"])
    w.writerow(["S3", "Crème", "300", "2026-01-03", "won", "ok"])
    return buf.getvalue().encode(encoding)


@pytest.mark.parametrize("encoding", ["cp1252", "utf-8"])
def test_stray_nul_bytes_inside_a_field_are_removed_with_a_warning(store, tmp_path, encoding):
    path = tmp_path / "opps.csv"
    path.write_bytes(_with_stray_nul(encoding))
    r = import_files(store, path)
    assert r.status == "imported", r.errors
    assert [(w.file, w.row, w.column, w.value, w.reason) for w in r.warnings if w.code == "control_removed"] == [
        ("opps.csv", 3, "Description", "<p>pasted from Word</p>",
         "NUL bytes or control characters removed from the value")]
    assert store.scalar("SELECT extra->>'Description' FROM deals WHERE deal_id = 'S2'") == "<p>pasted from Word</p>"
    assert store.scalar("SELECT account FROM deals WHERE deal_id = 'S1'") == "Café Müller"  # still cp1252-decoded


def test_a_binary_file_is_still_called_binary(store, tmp_path):
    path = tmp_path / "x.csv"
    path.write_bytes(b"deal_id,outcome\n" + bytes(range(256)) * 40)
    r = import_files(store, path)
    assert r.status == "rejected" and "NUL bytes" in r.errors[0].reason
    (tmp_path / "logo.csv").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 100)
    r = import_files(store, tmp_path / "logo.csv")
    assert [e.reason for e in r.errors] == ["a PNG image, not a CSV file"]


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_utf16_without_a_byte_order_mark_is_read(store, tmp_path, codec):
    path = tmp_path / "u.csv"
    path.write_bytes("deal_id,account,amount,created_at,outcome\r\nU1,华东电力,10,2026-01-01,open\r\n".encode(codec))
    r = import_files(store, path)
    assert r.status == "imported", r.errors
    assert store.scalar("SELECT account FROM deals") == "华东电力"


# Workbooks ------------------------------------------------------------------------------------------------------
def _workbook(path, sheets: dict[str, list[list]], *, title_rows: int = 0):
    """Write an .xlsx as Excel would: real date cells (with a date format), numbers as numbers."""
    import datetime

    import xlsxwriter

    book = xlsxwriter.Workbook(str(path))
    date_format = book.add_format({"num_format": "yyyy-mm-dd"})
    for name, rows in sheets.items():
        sheet = book.add_worksheet(name)
        if title_rows:
            sheet.write(0, 0, "Opportunities report, all time")  # a report's title above its table
        for r, row in enumerate(rows, start=title_rows):
            for c, value in enumerate(row):
                if isinstance(value, datetime.date):
                    sheet.write_datetime(r, c, datetime.datetime.combine(value, datetime.time()), date_format)
                elif value is not None:
                    sheet.write(r, c, value)
    book.close()
    return path


def test_canonical_workbooks_import_with_dates_and_excel_row_numbers(store, tmp_path):
    from datetime import date

    header = ["deal_id", "account", "amount", "created_at", "closed_at", "outcome"]
    deals = _workbook(tmp_path / "deals.xlsx", {"Deals": [
        header,
        ["X1", "Acme", 100000, date(2026, 1, 5), date(2026, 3, 1), "won"],
        ["X2", "Bolt", None, date(2026, 2, 1), None, "open"],       # no amount: optional
        ["X3", "Cobalt", "lots", date(2026, 2, 2), None, "open"],   # Excel row 5 (title, blank, header, …)
    ]}, title_rows=2)
    history = _workbook(tmp_path / "history.xlsx", {"History": [
        ["deal_id", "stage", "entered_at"], ["X1", 1, date(2026, 1, 5)], ["X1", 8, date(2026, 3, 1)],
        ["X2", 3, date(2026, 2, 1)]]})
    r = import_files(store, deals, history)
    assert r.status == "rejected"
    assert [(e.file, e.row, e.column, e.value) for e in r.errors] == [("deals.xlsx", 6, "amount", "lots")]
    fixed = _workbook(tmp_path / "deals.xlsx", {"Deals": [
        header, ["X1", "Acme", 100000, date(2026, 1, 5), date(2026, 3, 1), "won"],
        ["X2", "Bolt", None, date(2026, 2, 1), None, "open"]]})
    r = import_files(store, fixed, history)
    assert r.status == "imported", r.errors
    assert store.fetchall("SELECT deal_id, amount, created_at, closed_at FROM deals ORDER BY 1") == [
        ("X1", 100000.0, date(2026, 1, 5), date(2026, 3, 1)), ("X2", None, date(2026, 2, 1), None)]
    assert store.fetchall("SELECT deal_id, stage FROM stage_events ORDER BY 1, 2") == [("X1", 1), ("X1", 8), ("X2", 3)]
    assert import_files(store, fixed, history).status == "unchanged"


def test_a_wide_workbook_and_a_named_sheet(store, tmp_path):
    from datetime import date

    book = _workbook(tmp_path / "wide.xlsx", {"Notes": [["read me first"]], "Pipeline": [
        ["deal_id", "account", "amount", "created_at", "outcome", "stage_1_at", "stage_2_at"],
        ["W1", "Acme", 10, date(2026, 1, 1), "open", date(2026, 1, 1), date(2026, 1, 20)]]})
    r = import_files(store, book)  # the first sheet with data is Notes: one column, no deal_id
    assert r.status == "rejected" and {e.column for e in r.errors} >= {"deal_id"}
    r = import_files(store, book, sheet="Pipeline")
    assert r.status == "imported", r.errors
    assert store.fetchall("SELECT stage, CAST(entered_at AS DATE) FROM stage_events ORDER BY 1") == [
        (1, date(2026, 1, 1)), (2, date(2026, 1, 20))]
    r = import_files(store, book, sheet="Nope")
    assert r.status == "rejected" and "no sheet 'Nope'" in r.errors[0].reason


def test_a_dynamics_export_to_excel(store, tmp_path):
    """Dynamics 365 writes only .xlsx; the preset reads it as it reads the CSV."""
    from datetime import date

    from analytics.ingest.crm.load import import_export, read_export

    book = _workbook(tmp_path / "Opportunities.xlsx", {"Opportunities": [
        ["(Do Not Modify) Opportunity", "Topic", "Potential Customer", "Status", "Sales Stage", "Est. Revenue",
         "Created On", "Actual Close Date"],
        ["a1", "Turbines", "Contoso", "Won", "Close", 5000, date(2025, 1, 2), date(2025, 3, 1)],
        ["a2", "Pumps", "Fabrikam", "Open", "Develop", None, date(2025, 2, 2), None],
        ["a3", "Valves", "Litware", "Lost", "Propose", 700, date(2025, 2, 3), date(2025, 4, 1)]]})
    tables, read_errors = read_export([book])
    r = import_export(store, tables, read_errors)
    assert r.status == "imported", r.errors
    assert store.fetchall("SELECT deal_id, name, outcome, amount FROM deals ORDER BY 1") == [
        ("a1", "Turbines", "won", 5000.0), ("a2", "Pumps", "open", None), ("a3", "Valves", "lost", 700.0)]


# Generic exports, no ID, disagreeing columns ------------------------------------------------------------------------
PIPELINE = ["opportunity_id", "sales_agent", "product", "account", "deal_stage", "engage_date", "close_date",
            "close_value"]
PIPELINE_ROWS = [
    ["1C1I7A6R", "Moses Frase", "GTX Plus Basic", "Cancity", "Won", "2016-10-20", "2017-03-01", "1054"],
    ["Z063OYW0", "Darcel Schlecht", "GTXPro", "Isdom", "Won", "2016-10-25", "2017-03-11", "4514"],
    ["EC4QE1BX", "Darcel Schlecht", "MG Special", "Cancity", "Lost", "2016-10-25", "2017-03-07", "0"],
    ["MV1LWRNH", "Moses Frase", "GTX Basic", "Codehow", "Engaging", "2016-10-25", "", ""],
    ["PE84CX4O", "Zane Levy", "GTX Basic", "Hatfan", "Prospecting", "", "", ""],
]


def _crm_import(store, paths, profile=None):
    from analytics.ingest.crm.load import import_export, read_export

    tables, read_errors = read_export(paths)
    return import_export(store, tables, read_errors, profile)


def test_a_generic_english_export_with_the_outcome_in_its_stage_column(store, csv_writer, tmp_path):
    from analytics.ingest.crm.profiles import load_profile

    path = csv_writer("pipeline.csv", PIPELINE, PIPELINE_ROWS)
    r = _crm_import(store, [path])  # no profile: the generic preset, with Engaging unmapped
    assert r.status == "rejected" and "'Engaging' (1 row)" in r.message
    (tmp_path / "p.toml").write_text('preset = "generic"\n[stages]\n"Engaging" = 3\n', encoding="utf-8")
    r = _crm_import(store, [path], load_profile(str(tmp_path / "p.toml"), tmp_path))
    assert r.status == "imported", r.errors
    assert store.fetchall("SELECT deal_id, outcome, amount, account FROM deals ORDER BY 1") == [
        ("1C1I7A6R", "won", 1054.0, "Cancity"), ("EC4QE1BX", "lost", 0.0, "Cancity"),
        ("MV1LWRNH", "open", None, "Codehow"), ("PE84CX4O", "open", None, "Hatfan"), ("Z063OYW0", "won", 4514.0, "Isdom")]
    # `product` holds product names, not a 1–5 score: kept as extra data, with a warning, not 5 rejected rows
    assert store.scalar("SELECT extra->>'product (source)' FROM deals WHERE deal_id = 'MV1LWRNH'") == "GTX Basic"
    assert any("named like the evaluation score 'product'" in w.reason for w in r.warnings)
    assert store.fetchall("SELECT deal_id, furthest_stage FROM deal_facts WHERE outcome = 'open' ORDER BY 1") == [
        ("MV1LWRNH", 3), ("PE84CX4O", 1)]


def test_a_generic_chinese_export_in_gbk(store, tmp_path):
    from analytics.ingest.crm.profiles import edited_profile, preset

    path = write_csv(tmp_path / "商机.csv", ["商机编号", "商机名称", "客户名称", "商机阶段", "预估金额", "创建时间", "负责人"], [
        ["S001", "华东电力扩容", "华东电力", "赢单", "1200000", "2025/3/1", "张三"],
        ["S002", "西南钢铁", "西南钢铁", "输单", "800000", "2025/4/1", "李四"],
        ["S003", "北方化工", "北方化工", "商务谈判", "500000", "2025/5/1", "张三"],
        ["S004", "南方电网", "南方电网", "初步接洽", "", "2025/6/1", "李四"]], encoding="gbk")
    r = _crm_import(store, [path])
    assert r.status == "rejected" and "'初步接洽' (1 row)" in r.message
    r = _crm_import(store, [path], edited_profile(preset("generic"), stages={"初步接洽": 1}))
    assert r.status == "imported", r.errors
    assert store.fetchall("SELECT deal_id, name, outcome, owner FROM deals ORDER BY 1") == [
        ("S001", "华东电力扩容", "won", "张三"), ("S002", "西南钢铁", "lost", "李四"), ("S003", "北方化工", "open", "张三"),
        ("S004", "南方电网", "open", "李四")]
    assert store.fetchall("SELECT deal_id, current_stage FROM deal_facts WHERE outcome = 'open' ORDER BY 1") == [
        ("S003", 7), ("S004", 1)]


HUBSPOT_NO_ID = ["Deal Name", "Deal Stage", "Pipeline", "Amount", "Create Date", "Close Date"]


def test_an_export_without_an_id_column_gets_stable_keys_and_collisions_are_numbered(store, csv_writer):
    rows = [["Alpha", "Closed Won", "Sales Pipeline", "100", "2025-01-05", "2025-03-01"],
            ["Beta", "Contract Sent", "Sales Pipeline", "", "2025-02-01", "2025-06-30"],
            ["Beta", "Appointment Scheduled", "Sales Pipeline", "50", "2025-02-01", "2025-07-30"]]  # same name, date
    path = csv_writer("deals.csv", HUBSPOT_NO_ID, rows)
    r = _crm_import(store, [path])
    assert r.status == "imported", r.errors
    keys = [k for (k,) in store.fetchall("SELECT deal_id FROM deals ORDER BY created_at, deal_id")]
    assert len(keys) == 3 and keys[1] + "-2" == keys[2] and all(k.startswith("K") for k in keys)
    notes = [w.reason for w in r.warnings]
    assert any(n.startswith("no ID column: each deal's key is derived from Deal Name, Create Date") for n in notes)
    assert [(w.row, w.reason) for w in r.warnings if "have the same" in w.reason] == [
        (4, "rows 3, 4 have the same Deal Name, Create Date: kept as 2 deals, numbered in file order")]
    assert _crm_import(store, [path]).status == "unchanged"  # the same export: the same keys
    rows[1][3] = "75"  # a later export: Beta's amount filled in
    later = _crm_import(store, [csv_writer("deals-later.csv", HUBSPOT_NO_ID, rows)])
    assert (later.status, later.deals_inserted, later.deals_updated) == ("imported", 0, 1)
    assert store.scalar("SELECT amount FROM deals WHERE deal_id = $k", {"k": keys[1]}) == 75


def test_stagename_that_disagrees_with_iswon_is_counted_and_the_flags_decide(store, csv_writer):
    header = ["Id", "Name", "Account Name", "StageName", "Amount", "CloseDate", "CreatedDate", "IsClosed", "IsWon"]
    path = csv_writer("Opportunity.csv", header, [
        ["006A", "A", "Acme", "Closed Won", "10", "2025-03-01", "2025-01-01", "true", "true"],
        ["006B", "B", "Bolt", "Closed Won", "20", "2025-03-02", "2025-01-02", "true", "false"],   # disagrees
        ["006C", "C", "Cobalt", "Closed Won", "30", "2025-06-30", "2025-01-03", "false", "false"],  # disagrees
        ["006D", "D", "Dyna", "Negotiation/Review", "40", "2025-06-30", "2025-01-04", "false", "false"]])
    r = _crm_import(store, [path])
    assert r.status == "imported", r.errors
    assert [(w.row, w.column, w.value, w.reason) for w in r.warnings if "disagrees" in w.reason] == [
        (3, "StageName", "Closed Won",
         "StageName disagrees with IsClosed and IsWon on 2 rows (rows 3, 4): IsClosed and IsWon decide the outcome")]
    facts = store.fetchall("SELECT deal_id, outcome, furthest_stage FROM deal_facts ORDER BY 1")
    # 006C is open by its flags: no stage 8 for an open deal (it was "open pipeline at stage 8, P(win) 100%")
    assert facts == [("006A", "won", 8), ("006B", "lost", 1), ("006C", "open", 1), ("006D", "open", 7)]
    assert store.fetchall("SELECT deal_id, name FROM deals ORDER BY 1")[0] == ("006A", "A")  # names are kept


@pytest.mark.parametrize("message", [
    say("not_scores", factor="product"), say("derived_key", columns="Deal Name, Create Date"),
    say("same_key", rows="3, 4", columns="Deal Name, Create Date", n=2),
    say("outcome_disagrees", header="StageName", decided_by="IsClosed and IsWon", n=2, rows="3, 4"),
    say("amount_missing", n=4, total=9), say("account_missing", n=1, total=1), say("created_at_missing", n=3, total=3),
    say("control_removed"), say("not_csv_kind", kind="PNG"),
    say("no_such_sheet", sheet="Nope", sheets="'Notes', 'Pipeline'"), say("workbook_empty"), say("history_needs_id"),
], ids=lambda m: m.code)
def test_the_new_import_messages_read_in_chinese(message):
    from analytics.i18n.issues import message_text

    translated = message_text(message, "zh")
    assert translated != str(message) and any("\u4e00" <= ch <= "\u9fff" for ch in translated)


def test_a_generic_export_with_a_stage_history_file(store, csv_writer):
    deals = csv_writer("opps.csv", ["Deal ID", "Deal Name", "Stage", "Amount", "Created Date", "Close Date"], [
        ["G1", "One", "Closed Won", "10", "2025-01-01", "2025-03-01"],
        ["G2", "Two", "Closed Lost", "20", "2025-01-02", "2025-02-20"],
        ["G3", "Three", "Qualification", "", "2025-01-03", "2025-09-30"]])
    history = csv_writer("changes.csv", ["Deal ID", "Stage", "Changed At"], [
        ["G1", "Prospecting", "2025-01-01"], ["G1", "Negotiation/Review", "2025-02-01"],
        ["G1", "Closed Won", "2025-03-01"], ["G2", "Prospecting", "2025-01-02"], ["G2", "Needs Analysis", "2025-02-01"],
        ["G2", "Closed Lost", "2025-02-20"]])
    r = _crm_import(store, [deals, history])
    assert (r.status, r.format) == ("imported", "generic"), r.errors
    # G2 was lost at stage 3, as its history says; G3 has no history rows: its current stage (2) stands
    assert store.fetchall("SELECT deal_id, outcome, furthest_stage, cycle_days FROM deal_facts ORDER BY 1") == [
        ("G1", "won", 8, 59), ("G2", "lost", 3, 49), ("G3", "open", 2, None)]


def test_the_review_says_what_its_amounts_leave_out(tmp_path):
    from analytics.forecasting.review import quarterly_review
    from analytics.present.report import coverage_notes, render_html
    from analytics.store.connection import Store

    store = Store(tmp_path / "r.duckdb")
    assert import_files(store, *_handworked(tmp_path, blank_early_amounts=True)).status == "imported"
    review = quarterly_review(store, "2026Q2")
    notes = coverage_notes(review)
    # nine deals, five with an amount; of the open ones D3 (stage 2, the only one there) has none and D7 has 600
    # 5/9 = 55.6%: one precision for shares, in the review as on the pages
    assert notes[0] == "Amount known for 5 of 9 deals (55.6%): amount figures leave the rest out"
    assert review.forecast.amount_imputed == 1 and "1 open deals have no amount" in notes[1]
    assert notes[0] in render_html(review)
    assert coverage_notes(review, "zh")[0].startswith("9 个商机中有 5 个有金额")
    store.close()


def test_a_salesforce_report_export_with_its_footer(store, tmp_path):
    """A Salesforce report's CSV ends with a blank line and lines of one value: title, copyright, who made it."""
    body = ('"Opportunity Name","Account Name","Stage","Amount","Close Date","Created Date"\n'
            '"Alpha","Acme","Closed Won","100","3/1/2025","1/5/2025"\n'
            '"Beta","Bolt","Prospecting","","6/30/2025","2/1/2025"\n'
            '\n"Opportunities Report"\n"Copyright (c) 2000-2026 salesforce.com, inc. All rights reserved."\n'
            '"Confidential Information - Do Not Distribute"\n"Generated By:  Ann Example  11/30/2026 9:00 AM"\n')
    (tmp_path / "report.csv").write_text(body, encoding="utf-8")
    r = _crm_import(store, [tmp_path / "report.csv"])
    assert (r.status, r.format, r.deals_inserted) == ("imported", "salesforce", 2), r.errors
    assert [(w.row, w.reason) for w in r.warnings if "footer" in w.reason] == [
        (5, "the last 5 lines are a report's footer (title, totals, copyright), not deals: skipped")]
    assert store.fetchall("SELECT name, outcome FROM deals ORDER BY name") == [("Alpha", "won"), ("Beta", "open")]


def test_a_short_row_inside_the_table_is_still_an_error(store, csv_writer):
    from analytics.ingest.crm.source import report_footer

    assert report_footer([["a", "b", "c"], ["x"], ["a", "b", "c"]], 3) == 0
    assert report_footer([["a", "b", "c"], ["x"]], 3) == 0  # not set off by a blank line: a broken row
    assert report_footer([["a", "b", "c"], [""], ["Title"], ["(c)"], [""]], 3) == 4


def test_names_are_shown_and_ids_kept_when_an_export_has_both(store, csv_writer):
    """A Salesforce API export carries AccountId beside Account.Name, OwnerId beside Owner.Name, Id beside Name."""
    header = ["Id", "Name", "AccountId", "Account.Name", "OwnerId", "Owner.Name", "StageName", "Amount", "CloseDate",
              "CreatedDate", "IsClosed", "IsWon"]
    path = csv_writer("Opportunity.csv", header, [
        ["0061", "Alpha", "0011", "Acme", "0051", "Ann Lee", "Closed Won", "100", "2025-03-01", "2025-01-01", "true",
         "true"],
        ["0062", "Beta", "0012", "Bolt", "0052", "Bob Ray", "Prospecting", "", "2025-06-30", "2025-02-01", "false",
         "false"]])
    assert _crm_import(store, [path]).status == "imported"
    assert store.fetchall("SELECT deal_id, name, account, owner, extra->>'AccountId', extra->>'OwnerId' FROM deals "
                          "ORDER BY 1") == [("0061", "Alpha", "Acme", "Ann Lee", "0011", "0051"),
                                            ("0062", "Beta", "Bolt", "Bob Ray", "0012", "0052")]


def test_the_reporting_currency_is_the_one_the_data_names(store, csv_writer):
    from analytics.analyses.overview import reporting_currency

    header = ["deal_id", "created_at", "outcome", "amount", "currency"]
    import_files(store, csv_writer("d.csv", header, [["U1", "2026-01-01", "open", "100", "USD"],
                                                    ["U2", "2026-01-01", "open", "200", ""]]))
    assert reporting_currency(store) == "USD"  # a blank is not a second currency
    import_files(store, csv_writer("e.csv", header, [["E1", "2026-01-01", "open", "300", "EUR"]]))
    assert reporting_currency(store) is None  # two: figures are shown without a unit
