"""Slippage worked by hand on five deals (issue 18, part 3)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date

import pytest

from analytics.analyses.slippage import compute_slippage, deal_slippage
from analytics.ingest.canonical import import_files

from .conftest import ROOT

DEALS = ["deal_id", "account", "outcome", "amount", "created_at", "closed_at", "expected_close", "owner"]
FIVE = [["K", "k", "won", "10", "2026-01-05", "2026-06-10", "2026-06-15", "Ann"],  # first close 05-31, one push
        ["L", "l", "lost", "20", "2026-01-06", "2026-04-01", "2026-04-30", "Bo"],  # 03-15, pushed twice
        ["M", "m", "won", "30", "2026-01-07", "2026-03-01", "2026-03-31", "Ann"],  # on time
        ["N", "n", "open", "40", "2026-01-08", "", "2026-07-31", "Bo"],  # pushed three times: at risk
        ["O", "o", "lost", "50", "2026-01-09", "2026-02-01", "2026-03-31", "Bo"]]  # no close-date history
HISTORY = ["deal_id", "stage", "entered_at", "expected_close", "amount"]
EVENTS = [["K", "1", "2026-01-05", "2026-05-31", ""], ["K", "", "2026-05-01", "2026-06-15", ""],
          ["L", "1", "2026-01-06", "2026-03-15", ""], ["L", "", "2026-02-01", "2026-03-31", ""],
          ["L", "", "2026-03-10", "2026-04-30", ""],
          ["M", "1", "2026-01-07", "2026-03-31", ""],
          ["N", "1", "2026-01-08", "2026-04-30", ""], ["N", "", "2026-02-01", "2026-05-31", ""],
          ["N", "", "2026-03-01", "2026-06-30", ""], ["N", "2", "2026-04-01", "2026-07-31", ""],
          ["O", "1", "2026-01-09", "", ""]]
HALF = (0.0945, 0.9055)  # Wilson, 1 of 2: centre 0.5, half-width 1.96·√(1/8 + 1.96²/16) / (1 + 1.96²/2) = 0.4055


@pytest.fixture
def five(store, csv_writer):
    r = import_files(store, csv_writer("deals.csv", DEALS, FIVE), csv_writer("history.csv", HISTORY, EVENTS))
    assert r.status == "imported", r.errors
    return store


def test_pushes_and_days_pushed_per_deal(five):
    per = {d.deal_id: (d.first_expected_close, d.push_count, d.days_pushed, d.closed_late) for d in deal_slippage(five)}
    assert per == {"K": (date(2026, 5, 31), 1, 15, True), "L": (date(2026, 3, 15), 2, 16 + 30, True),
                   "M": (date(2026, 3, 31), 0, 0, False), "N": (date(2026, 4, 30), 3, 31 + 30 + 31, None),
                   "O": (date(2026, 3, 31), 0, 0, False)}


def test_slippage_shares_by_hand(five):
    s = compute_slippage(five)
    assert (s.late_won.k, s.late_won.n, s.late_lost.k, s.late_lost.n) == (1, 2, 1, 2)
    assert s.late_won.ci == pytest.approx(HALF, abs=1e-4)
    assert s.mean_days_late == (10 + 17) / 2  # K closed 06-10 against 05-31, L 04-01 against 03-15
    assert s.push_counts == {"0": 2, "1": 1, "2": 1, "3+": 0}
    assert [(w.group, w.k, w.n) for w in s.win_rate_by_pushes] == [("0", 1, 2), ("1", 1, 1), ("2", 0, 1), ("3+", 0, 0)]
    assert s.win_rate_by_pushes[-1].share is None
    assert [(o.group, o.k, o.n) for o in s.late_by_owner] == [("Ann", 1, 2), ("Bo", 1, 2)]
    assert [d.deal_id for d in s.at_risk] == ["N"]


def test_the_deals_command_shows_each_open_deals_pushes(five):
    five.close()
    out = subprocess.run([sys.executable, "-m", "analytics.cli", "--db", str(five.path), "deals", "--json"],
                         capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    (n,) = json.loads(out.stdout)["deals"]
    assert (n["deal_id"], n["push_count"], n["days_pushed"], n["first_expected_close"]) == ("N", 3, 92, "2026-04-30")


def test_as_of_a_date_the_pushes_made_after_it_are_not_counted(five):
    """N was pushed on Feb 1, Mar 1 and Apr 1: as the data stood on Mar 15, twice."""
    with five.as_of(date(2026, 3, 15)):
        per = {d.deal_id: d.push_count for d in deal_slippage(five)}
    assert per["N"] == 2 and five.scalar("SELECT count(*) FROM deal_changes WHERE deal_id = 'N'") == 4


def test_a_later_history_with_one_more_push_updates_the_deal_and_undo_restores_it(five, csv_writer):
    """A second export that adds only a change (M's close pushed from 03-31 to 04-15 on 02-01): the batch refreshes
    M's pushes alone, and undoing it restores them."""
    from analytics.ingest.batches import undo_batch

    def pushes():
        return {d.deal_id: (d.push_count, d.days_pushed) for d in deal_slippage(five)}

    before = pushes()
    assert before["M"] == (0, 0)
    later = import_files(five, csv_writer("deals2.csv", DEALS, FIVE), csv_writer("history2.csv", HISTORY, [
        *EVENTS, ["M", "", "2026-02-01", "2026-04-15", ""]]))
    assert (later.status, later.deals, later.stage_events, later.field_changes) == ("imported", 0, 0, 1)
    assert pushes() == {**before, "M": (1, 15)}
    undo_batch(five, later.batch_id)
    assert pushes() == before
