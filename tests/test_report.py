import io

import openpyxl
import pytest

from analytics.cli import main
from analytics.forecasting.review import quarterly_review
from analytics.ingest.canonical import import_files
from analytics.present.export import neutralise_cell, safe_csv_bytes
from analytics.present.report import render_html, write_xlsx, xlsx_bytes

from .conftest import write_csv
from .handworked import load_handworked

HOSTILE_ACCOUNT = "<script>alert('x')</script>"
HOSTILE_OWNER = "=HYPERLINK(\"http://evil\",\"click\")"


@pytest.fixture
def review(store, tmp_path):
    load_handworked(store, tmp_path)
    path = write_csv(tmp_path / "hostile.csv", ["deal_id", "account", "owner", "amount", "created_at", "outcome",
                                                "expected_close"],
                     [["H1", HOSTILE_ACCOUNT, HOSTILE_OWNER, "999", "2026-05-01", "open", "2026-05-15"]])
    assert import_files(store, path).status == "imported"
    return quarterly_review(store, "2026Q2")


def test_html_escapes_every_user_string_and_opens_offline(review):
    page = render_html(review)
    assert HOSTILE_ACCOUNT not in page and "<script>alert" not in page
    assert "&lt;script&gt;alert(" in page  # shown as text, in the slipped-deals table
    assert "plotly.js v" in page or "Plotly" in page  # plotly.js is embedded, not fetched
    assert '<script src=' not in page  # nothing fetched: it opens offline
    assert "<td>H1</td>" in page  # open, and its expected close (May 15) has passed: a slipped deal
    assert render_html(review, "zh").count("季度预测评审") >= 1


def test_html_tables_and_mode_read_in_the_reports_language(review):
    english, chinese = render_html(review), render_html(review, "zh")
    # figures are right-aligned (class num), text is not
    assert "<th>Deal ID</th>" in english and '<th class="num">Expected value</th>' in english
    assert "<th>deal_id</th>" not in english
    assert "<th>商机编号</th>" in chinese and '<th class="num">期望金额</th>' in chinese and "<th>deal_id</th>" not in chinese
    assert review.forecast.mode == "small-data"  # the hand-worked nine deals and H1 are too few for a full model
    # in words, not "· small data" (issue 24: words a director uses)
    assert ". Small-data mode: too few resolved deals for a full model" in english and "小样本模式:" in chinese


def test_html_shows_a_missing_predicted_close_as_a_dash(review):
    from dataclasses import replace

    undated = replace(review, slipped_deals=review.slipped_deals.assign(predicted_close=None))
    page = render_html(undated)
    assert "<td>None</td>" not in page and "<td>–</td>" in page


def test_workbook_reads_in_the_reports_language_and_keeps_figures_as_numbers(review, tmp_path):
    english = openpyxl.load_workbook(write_xlsx(review, tmp_path / "en.xlsx"))
    chinese = openpyxl.load_workbook(write_xlsx(review, tmp_path / "zh.xlsx", "zh"))
    # it opens with what moved since the quarter began: start, each bucket, end (issue 18)
    assert english.sheetnames[:6] == ["what_changed", "forecast", "by_category", "by_owner", "by_tier", "funnel_change"]
    assert chinese.sheetnames[:6] == ["本季变化", "预测", "按类别", "按负责人", "按客户级别", "漏斗变化"]
    moved = [[c.value for c in row] for row in english["what_changed"].iter_rows(min_row=2)]
    w = review.waterfall
    assert (moved[0][1:], moved[-1][1:]) == ([w.start_deals, w.start_amount], [w.end_deals, w.end_amount])
    assert [r[0] for r in moved[1:-1]] == ["Created", "Pulled in", "Reopened", "Pushed out", "Won", "Lost", "Amount up",
                                           "Amount down", "Advanced a stage", "Went back a stage"]
    header = [c.value for c in english["slipped_deals"][1]]
    # the figures right after the deal, the names after them (issue 24: none off-screen at 1400 px)
    assert header[:4] == ["Deal ID", "Amount", "P(win)", "Expected value"] and "Account" in header
    header_zh = [c.value for c in chinese["延期商机"][1]]
    assert header_zh[:4] == ["商机编号", "金额", "赢单概率", "期望金额"] and "客户" in header_zh
    h1 = [c.value for c in next(r for r in chinese["延期商机"].iter_rows(min_row=2) if r[0].value == "H1")]
    assert h1[header_zh.index("金额")] == 999 and h1[header_zh.index("阶段")] == "1. 客户规划与电话邀约"
    funnel = [c.value for c in chinese["漏斗变化"][1]]
    assert funnel == ["阶段", "到达 2026Q1", "到达 现在", "转化率 2026Q1", "转化率 现在"]


def test_workbook_neutralises_formulas(review, tmp_path):
    path = write_xlsx(review, tmp_path / "review.xlsx")
    wb = openpyxl.load_workbook(path)
    assert {"forecast", "by_category", "by_owner", "funnel_change", "top_deals", "slipped_deals"} <= set(wb.sheetnames)
    owners = [c.value for row in wb["slipped_deals"].iter_rows() for c in row]
    assert "'" + HOSTILE_OWNER in owners and HOSTILE_OWNER not in owners
    assert not any(isinstance(v, str) and v.startswith("=") for ws in wb for row in ws.iter_rows()
                   for v in (c.value for c in row))
    # the app's download: the same workbook, as bytes
    downloaded = openpyxl.load_workbook(io.BytesIO(xlsx_bytes(review)))
    assert downloaded.sheetnames == wb.sheetnames
    assert [c.value for row in downloaded["slipped_deals"].iter_rows() for c in row] == owners


@pytest.mark.parametrize("value,expected", [("=1+1", "'=1+1"), ("+1", "'+1"), ("-1", "'-1"), ("@SUM(A1)", "'@SUM(A1)"),
                                            ("\tx", "'\tx"), ("\rx", "'\rx"), ("safe", "safe"), (-5, -5), (None, None)])
def test_neutralise_cell(value, expected):
    assert neutralise_cell(value) == expected


def test_safe_csv(tmp_path):
    import pandas as pd

    data = safe_csv_bytes(pd.DataFrame({"name": ["=cmd|' /C calc'!A0", "ok"], "n": [-1, 2]}))
    assert data.decode("utf-8-sig").splitlines() == ["name,n", "'=cmd|' /C calc'!A0,-1", "ok,2"]


def test_report_command(capsys, tmp_path):
    db = str(tmp_path / "r.duckdb")
    from .handworked import write_handworked

    deals, history = write_handworked(tmp_path)
    assert main(["--db", db, "import", str(deals), "--history", str(history)]) == 0
    assert main(["--db", db, "report", "--quarter", "2026Q2", "--out", str(tmp_path / "r.html")]) == 0
    assert (tmp_path / "r.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert main(["--db", db, "report", "--out", str(tmp_path / "r.xlsx"), "--lang", "zh"]) == 0
    summary = openpyxl.load_workbook(tmp_path / "r.xlsx")["预测"]
    assert [c.value for c in summary[1]] == ["项目", "值"] and summary["A2"].value == "季度"
    capsys.readouterr()
    assert main(["--db", db, "report", "--out", str(tmp_path / "r.pdf")]) == 1
    assert "written as .html or .xlsx" in capsys.readouterr().err


def test_a_filtered_review_compares_the_filtered_funnel_with_the_filtered_funnel_then(store, tmp_path):
    """The review's funnel then (the start of last quarter) and last quarter's forecast against actual were the
    whole team's under a filtered review."""
    from datetime import date

    from analytics.analyses.funnel import funnel_at
    from analytics.filters import DealFilter
    from analytics.forecasting.backtest import backtest

    load_handworked(store, tmp_path)
    bob = DealFilter(owner=("Bob",))
    review = quarterly_review(store, "2026Q3", date(2026, 7, 1), filters=bob)
    # now: D3, D4, D6, D8; at the start of 2026Q2 (Apr 1), D3 was not created yet. Everyone's then: 8 deals.
    assert review.funnel_now.deals == 4 and review.funnel_last_quarter.deals == 3
    assert review.funnel_last_quarter == funnel_at(store, date(2026, 4, 1), bob)
    assert review.last_quarter == backtest(store, 1, date(2026, 7, 1), filters=bob).quarters[0]
    assert review.last_quarter.quarter == "2026Q2" and review.last_quarter.actual == 0  # everyone's: D1 + D5, 500


def test_a_blank_owner_reads_as_not_set_in_the_readers_language(store, review, tmp_path):
    path = write_csv(tmp_path / "ownerless.csv", ["deal_id", "amount", "created_at", "outcome", "expected_close"],
                     [["N1", "500", "2026-04-02", "open", "2026-05-20"]])
    assert import_files(store, path).status == "imported"
    review = quarterly_review(store, "2026Q2")
    assert "(none)" in {b.key for b in review.forecast.by_owner}  # a deal that names no owner
    english, chinese = render_html(review), render_html(review, "zh")
    assert "<td>(not set)</td>" in english and "<td>(未填写)</td>" in chinese and "(none)" not in english + chinese
    book = openpyxl.load_workbook(write_xlsx(review, tmp_path / "zh.xlsx", "zh"))
    assert "(未填写)" in [c.value for c in book["按负责人"]["A"]]
