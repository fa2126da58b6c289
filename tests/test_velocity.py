from datetime import date

import pytest

from analytics.analyses.velocity import compute_velocity
from analytics.filters import DealFilter

from .handworked import load_handworked


@pytest.fixture
def velocity(store, tmp_path):
    load_handworked(store, tmp_path)
    return compute_velocity(store, as_of=date(2026, 6, 30))


def test_days_in_stage_by_outcome(velocity):
    s1 = velocity.stages[0]
    assert (s1.won.n, s1.won.median) == (2, pytest.approx(9.5))  # D1 10 days, D5 9 days
    # lost: D2 4 days, D4 14 (until its close), D6 7; D8 and D9 never recorded stage 1
    assert (s1.lost.n, s1.lost.median, s1.lost.p25, s1.lost.p75) == (3, 7, 5.5, 10.5)
    s5 = velocity.stages[4]
    # D6 was in stage 5 twice: 9 days + 5 days after stepping back; D8 14 days until its close
    assert s5.lost.n == 2 and s5.lost.median == pytest.approx((14 + 14) / 2)
    assert len(velocity.stages) == 7  # stage 8 is the signature, not a stage one spends time in


def test_cycle_time(velocity):
    assert velocity.cycle_won.median == pytest.approx((120 + 109) / 2)  # D1 Jan 1 → May 1, D5 Jan 1 → Apr 20
    assert velocity.cycle_lost.n == 5


def test_stalled_open_deals(velocity):
    # p90 of won deals' days: stage 2 [10, 22] → 20.8; stage 7 [21, 19] → 20.8.
    # D7 in stage 7 since Jun 1 and D3 in stage 2 since Jun 1: 29 days each on Jun 30. Largest amount first.
    assert [(d.deal_id, d.stage, round(d.days_in_stage), round(d.threshold_days, 1)) for d in velocity.stalled] == [
        ("D7", 7, 29, 20.8), ("D3", 2, 29, 20.8)]


def test_nothing_stalls_at_the_data_as_of_date(store, tmp_path):
    load_handworked(store, tmp_path)
    v = compute_velocity(store)  # as of Jun 1: both open deals entered their stage that day
    assert v.as_of == date(2026, 6, 1) and v.stalled == []


def test_empty(store):
    v = compute_velocity(store)
    assert v.stalled == [] and v.cycle_won.median is None and v.stages[0].won.n == 0


def test_filtered(store, tmp_path):
    load_handworked(store, tmp_path)
    v = compute_velocity(store, DealFilter(owner=("Bob",)), as_of=date(2026, 6, 30))
    # Bob's closed deals are all lost: D4 14 days in stage 1 (until its close), D6 7; D8 never recorded stage 1
    assert (v.stages[0].lost.n, v.stages[0].lost.median) == (2, pytest.approx(10.5))
    # cycles: D4 Feb 1 → Feb 15, D6 Jan 1 → Mar 20, D8 2025-10-01 → 2026-03-15
    assert (v.cycle_lost.n, v.cycle_lost.median, v.cycle_lost.p25) == (3, 78, pytest.approx((14 + 78) / 2))
    assert v.cycle_won.n == 0 and v.cycle_won.median is None


def test_every_filter_reads_stage_durations(store, tmp_path):
    """stage_durations carries the columns DealFilter reads: a filter on each of them runs over it."""
    load_handworked(store, tmp_path)
    every = DealFilter(tier=("A", "B"), owner=("Ann",), region=("East",), industry=("Energy",),
                       created_from=date(2026, 1, 1), created_to=date(2026, 1, 31), closed_from=date(2026, 2, 1),
                       closed_to=date(2026, 5, 1), cohort="2026Q1")
    v = compute_velocity(store, every)
    assert (v.cycle_won.n, v.cycle_won.median) == (1, 120)  # D1 only: D2 is lost, D5 is in the West
    assert v.cycle_lost.n == 1  # D2


def test_a_stalled_deal_has_been_in_its_stage_as_many_days_as_the_deals_page_says(store, tmp_path):
    # D3 entered stage 2 at 17:00 on Jun 1. On Jun 30 that is 29 days, as one counts them and as the Deals page
    # shows them; 28.3 days from the entry to midnight had the stalled list say 28.
    from analytics.forecasting.scoring import score_open_deals
    from analytics.ingest.canonical import import_files

    from .conftest import write_csv
    from .handworked import DEAL_HEADER, DEALS, HISTORY

    history = [["D3", 2, "2026-06-01 17:00:00"] if r[:2] == ["D3", 2] else r for r in HISTORY]
    deals = write_csv(tmp_path / "deals.csv", ["deal_id", "account", *DEAL_HEADER[1:]],
                      [[r[0], f"Account {r[0]}", *r[1:]] for r in DEALS])
    assert import_files(store, deals, write_csv(tmp_path / "h.csv", ["deal_id", "stage", "entered_at"],
                                                history)).status == "imported"
    stalled = {d.deal_id: d.days_in_stage for d in compute_velocity(store, as_of=date(2026, 6, 30)).stalled}
    scored = score_open_deals(store, as_of=date(2026, 6, 30)).set_index("deal_id")["days_in_stage"]
    assert stalled == {"D7": 29, "D3": 29}
    assert scored.to_dict() == {"D3": 29, "D7": 29}
