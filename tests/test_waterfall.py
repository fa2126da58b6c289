"""The pipeline waterfall between two dates, worked by hand on ten deals (issue 18, part 2)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from datetime import date, timedelta

import pandas as pd
import pytest

from analytics.analyses.waterfall import BUCKETS, compute_waterfall, identity_holds
from analytics.filters import DealFilter
from analytics.ingest.canonical import import_files

from .conftest import ROOT

DEALS = ["deal_id", "account", "outcome", "amount", "created_at", "closed_at", "expected_close", "tier"]
HISTORY = ["deal_id", "stage", "entered_at", "expected_close", "amount"]
# deal: created, outcome, closed, amount now, expected close now, tier
TEN = {
    "A": ("2026-01-10", "open", "", "100", "2026-05-15", "A"),  # amount 80 → 100 on 04-01
    "B": ("2026-01-05", "won", "2026-04-20", "50", "2026-04-30", "B"),  # won inside the window
    "C": ("2026-02-01", "lost", "2026-05-01", "30", "2026-05-31", "B"),  # lost inside the window
    "D": ("2026-03-15", "open", "", "70", "2026-06-20", "A"),  # created inside the window
    "E": ("2026-01-20", "open", "", "40", "2026-06-10", "C"),  # amount 60 → 40 on 05-01
    "F": ("2025-12-01", "lost", "2026-02-15", "10", "2026-03-01", "C"),  # closed before the window: in neither
    "G": ("2026-06-05", "open", "", "15", "2026-09-01", "C"),  # created after it: in neither
    "H": ("2026-02-10", "open", "", "90", "2026-08-15", "A"),  # close 05-30, pushed to 08-15 on 04-10
    "I": ("2026-02-20", "open", "", "25", "2026-06-15", "B"),  # close 07-10, pulled in to 06-15 on 05-05
    "J": ("2026-01-15", "open", "", "", "2026-05-31", "D"),  # no amount; moved from stage 2 to 3 on 04-15
}
EVENTS = [
    ["A", "1", "2026-01-10", "2026-05-15", "80"], ["A", "", "2026-04-01", "", "100"],
    ["B", "1", "2026-01-05", "2026-04-30", "50"], ["B", "7", "2026-03-20", "", ""],
    ["C", "1", "2026-02-01", "2026-05-31", "30"],
    ["D", "1", "2026-03-15", "", ""],
    ["E", "1", "2026-01-20", "2026-06-10", "60"], ["E", "", "2026-05-01", "", "40"],
    ["F", "1", "2025-12-01", "", ""],
    ["G", "1", "2026-06-05", "", ""],
    ["H", "1", "2026-02-10", "2026-05-30", "90"], ["H", "", "2026-04-10", "2026-08-15", ""],
    ["I", "1", "2026-02-20", "2026-07-10", "25"], ["I", "", "2026-05-05", "2026-06-15", ""],
    ["J", "1", "2026-01-15", "2026-05-31", ""], ["J", "2", "2026-02-01", "", ""], ["J", "3", "2026-04-15", "", ""],
]
FROM, TO = date(2026, 3, 1), date(2026, 6, 1)


@pytest.fixture
def ten(store, csv_writer):
    rows = [[deal, "acct " + deal, outcome, amount, created, closed, close, tier]
            for deal, (created, outcome, closed, amount, close, tier) in TEN.items()]
    r = import_files(store, csv_writer("deals.csv", DEALS, rows), csv_writer("history.csv", HISTORY, EVENTS))
    assert r.status == "imported", r.errors
    return store


def _buckets(w):
    return {b.bucket: (b.deals, b.amount, sorted(b.deal_ids)) for b in w.buckets if b.deals}


def test_every_open_deal_by_hand(ten):
    """Open on 03-01: A B C E H I J, at 80 + 50 + 30 + 60 + 90 + 25 + 0 = 335 (J has no amount). Open on 06-01:
    A D E H I J, at 100 + 70 + 40 + 90 + 25 + 0 = 325. 7 + 1 − 1 − 1 = 6; 335 + 70 − 50 − 30 + 20 − 20 = 325."""
    w = compute_waterfall(ten, FROM, TO)
    assert (w.start_deals, w.start_amount, w.end_deals, w.end_amount) == (7, 335.0, 6, 325.0)
    assert _buckets(w) == {"created": (1, 70.0, ["D"]), "won": (1, 50.0, ["B"]), "lost": (1, 30.0, ["C"]),
                           "amount_up": (1, 20.0, ["A"]), "amount_down": (1, 20.0, ["E"]),
                           "advanced": (1, 0.0, ["J"])}
    assert identity_holds(w)


def test_the_quarter_pulls_in_and_pushes_out_by_hand(ten):
    """Expected to close in 2026Q2 as of 03-01: A B C E H J (I's close was 07-10), 310. As of 06-01: A D E I J
    (H was pushed to 08-15), 235. 6 + 1 + 1 − 1 − 1 − 1 = 5; 310 + 70 + 25 − 50 − 30 − 90 + 20 − 20 = 235."""
    w = compute_waterfall(ten, FROM, TO, "2026Q2")
    assert (w.start_deals, w.start_amount, w.end_deals, w.end_amount) == (6, 310.0, 5, 235.0)
    assert _buckets(w) == {"created": (1, 70.0, ["D"]), "pulled_in": (1, 25.0, ["I"]), "pushed_out": (1, 90.0, ["H"]),
                           "won": (1, 50.0, ["B"]), "lost": (1, 30.0, ["C"]), "amount_up": (1, 20.0, ["A"]),
                           "amount_down": (1, 20.0, ["E"]), "advanced": (1, 0.0, ["J"])}
    assert identity_holds(w)


def test_as_the_data_stood_on_a_date_what_came_after_it_did_not_happen(ten):
    """As the data stood on 04-05 (Store.as_of: the sidebar's as-of view), B and C were still open, E's cut (05-01),
    H's push (04-10), I's pull-in (05-05) and J's move (04-15) not yet recorded; A's raise (04-01) was. Open on 06-01
    as then known: A B C D E H I J, 100 + 50 + 30 + 70 + 60 + 90 + 25 + 0 = 425 = 335 + 70 (D) + 20 (A); B, not
    yet won, counts as advanced (stage 1 → 7 on 03-20), where the stored data counts it won."""
    with ten.as_of(date(2026, 4, 5)):
        w = compute_waterfall(ten, FROM, TO)
        assert ten.scalar("SELECT count(*) FROM deal_spans WHERE valid_from >= TIMESTAMP '2026-04-05'") == 0
    assert (w.start_deals, w.start_amount, w.end_deals, w.end_amount) == (7, 335.0, 8, 425.0)
    assert _buckets(w) == {"created": (1, 70.0, ["D"]), "amount_up": (1, 20.0, ["A"]), "advanced": (1, 50.0, ["B"])}
    assert identity_holds(w)
    assert _buckets(compute_waterfall(ten, FROM, TO))["amount_down"] == (1, 20.0, ["E"])  # the stored data, after


def test_filters_and_the_command_line(ten):
    w = compute_waterfall(ten, FROM, TO, "2026Q2", DealFilter(tier=("A",)))  # A, D, H
    assert (w.start_deals, w.end_deals, _buckets(w)) == (2, 2, {
        "created": (1, 70.0, ["D"]), "pushed_out": (1, 90.0, ["H"]), "amount_up": (1, 20.0, ["A"])})
    ten.close()  # one writer or reader process at a time
    out = subprocess.run([sys.executable, "-m", "analytics.cli", "--db", str(ten.path), "waterfall", "--from",
                          "2026-03-01", "--to", "2026-06-01", "--quarter", "2026Q2", "--json"],
                         capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    assert (got["start"], got["end"]) == ({"deals": 6, "amount": 310.0}, {"deals": 5, "amount": 235.0})
    assert [b["bucket"] for b in got["buckets"]] == list(BUCKETS)
    csv_out = subprocess.run([sys.executable, "-m", "analytics.cli", "--db", str(ten.path), "waterfall", "--from",
                              "2026-03-01", "--to", "2026-06-01", "--quarter", "2026Q2", "--csv"],
                             capture_output=True, text=True, cwd=ROOT)
    table = pd.read_csv(io.StringIO(csv_out.stdout), keep_default_na=False)
    assert list(table.columns) == ["bucket", "deals", "amount", "more", "deal_ids"]
    assert table.set_index("bucket").loc["pushed_out"].tolist() == [1, 90.0, 0, "H"]


def test_the_waterfall_as_a_table(ten):
    frame = compute_waterfall(ten, FROM, TO, "2026Q2").to_frame()
    assert list(frame["bucket"]) == list(BUCKETS)
    assert frame.set_index("bucket").loc["pulled_in", ["deals", "amount", "deal_ids"]].tolist() == [1, 25.0, "I"]
    assert frame["deals"].sum() == 8  # the hand-worked buckets above: one deal each


def test_the_review_opens_with_the_deals_pushed_out_and_carries_the_path_and_trends(ten, tmp_path):
    """H was expected to close on 05-30 and was pushed to 08-15 on 04-10: the 2026Q2 review names it among the deals
    pushed out, with its one push; its HTML and workbook carry the path week by week and the trends."""
    from dataclasses import replace

    import openpyxl

    from analytics.analyses.trends import compute_trends
    from analytics.forecasting.path import forecast_path
    from analytics.forecasting.review import quarterly_review
    from analytics.present.report import render_html, write_xlsx

    review = quarterly_review(ten, "2026Q2", TO - timedelta(days=1))
    assert list(review.pushed_out["deal_id"]) == ["H"]
    assert review.pushed_out.iloc[0][["push_count", "days_pushed"]].tolist() == [1, 77]  # 05-30 → 08-15
    weeks = forecast_path(ten, "2026Q2", TO - timedelta(days=1), draws=300)
    assert len(weeks) == 9  # the weeks beginning 04-01 … 05-27, each before the as-of date 05-31
    review = replace(review, path=weeks, trends=compute_trends(ten, "quarter", "created"))
    page = render_html(review)
    assert "Pushed out of 2026Q2" in page and "Through the quarter" in page
    assert "By the quarter deals were created in" in page
    book = openpyxl.load_workbook(write_xlsx(review, tmp_path / "review.xlsx"))
    assert book.sheetnames[:3] == ["what_changed", "pushed_out", "forecast"]
    assert {"forecast_path", "trends"} <= set(book.sheetnames)
    assert book["forecast_path"].max_row == 1 + len(weeks)


def test_a_deal_lost_then_reopened_counts_as_reopened(store, csv_writer):
    """K was lost on 02-15 and reopened on 04-01 (the history's outcome column); L was lost on 02-20 and stays
    lost. Between 03-01 and 06-01: K re-enters the pipeline (reopened, 60); L is in neither; M, open throughout,
    is in both. 1 + 1 (reopened) = 2 deals; 30 + 60 = 90."""
    deals = csv_writer("deals.csv", ["deal_id", "account", "outcome", "amount", "created_at", "closed_at"], [
        ["K", "k", "open", "60", "2026-01-10", ""], ["L", "l", "lost", "40", "2026-01-11", "2026-02-20"],
        ["M", "m", "open", "30", "2026-01-12", ""]])
    history = csv_writer("history.csv", ["deal_id", "stage", "entered_at", "outcome"], [
        ["K", "1", "2026-01-10", ""], ["K", "", "2026-02-15", "lost"], ["K", "", "2026-04-01", "open"],
        ["L", "1", "2026-01-11", ""], ["M", "1", "2026-01-12", ""]])
    r = import_files(store, deals, history)
    assert (r.status, r.field_changes) == ("imported", 2), r.errors
    w = compute_waterfall(store, FROM, TO)
    assert (w.start_deals, w.start_amount, w.end_deals, w.end_amount) == (1, 30.0, 2, 90.0)
    assert _buckets(w) == {"reopened": (1, 60.0, ["K"])} and identity_holds(w)
    # on 03-01 and 03-31 K was lost: between them it is in neither pipeline
    assert _buckets(compute_waterfall(store, FROM, date(2026, 3, 31))) == {}
    # re-importing the same history adds no change; undoing the batch removes them
    assert import_files(store, deals, history).status == "unchanged"
    from analytics.ingest.batches import undo_batch

    undo_batch(store, r.batch_id)
    assert store.scalar("SELECT count(*) FROM deal_changes") == 0


def test_a_bad_outcome_in_the_history_is_named(store, csv_writer):
    deals = csv_writer("deals.csv", ["deal_id", "account", "outcome"], [["K", "k", "open"]])
    history = csv_writer("history.csv", ["deal_id", "stage", "entered_at", "outcome"], [
        ["K", "1", "2026-01-10", ""], ["K", "", "2026-02-15", "maybe"]])
    r = import_files(store, deals, history)
    assert r.status == "rejected"
    assert [(e.file, e.row, e.column, e.value, e.code) for e in r.errors] == [
        ("history.csv", 3, "outcome", "maybe", "bad_outcome")]
