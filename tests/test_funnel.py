from datetime import date

import pytest

from analytics.analyses.funnel import compute_funnel, funnel_at, win_rates_by_stage
from analytics.filters import DealFilter
from analytics.stats import wilson_interval

from .handworked import load_handworked

# Furthest stage: D1 8, D2 3, D3 2 (open), D4 1, D5 8, D6 7, D7 7 (open), D8 5, D9 2.
REACHED = {1: 9, 2: 8, 3: 6, 4: 5, 5: 5, 6: 4, 7: 4, 8: 2}
LOST_HERE = {1: 1, 2: 1, 3: 1, 4: 0, 5: 1, 6: 0, 7: 1, 8: 0}
OPEN_HERE = {1: 0, 2: 1, 3: 0, 4: 0, 5: 0, 6: 0, 7: 1, 8: 0}
# Conversion at s = went on / (went on + lost at s), among deals observed at s: open deals at s are neither, and D8,
# first observed at stage 4 four months after creation, is not at risk at stages 1–3 (left-truncated).
CONVERSION = {1: (7, 8), 2: (5, 6), 3: (4, 5), 4: (5, 5), 5: (4, 5), 6: (4, 4), 7: (2, 3)}


@pytest.fixture
def funnel(store, tmp_path):
    load_handworked(store, tmp_path)
    return compute_funnel(store)


def test_reached_lost_and_open_per_stage(funnel):
    assert {s.stage: s.reached for s in funnel.stages} == REACHED
    assert {s.stage: s.lost_here for s in funnel.stages} == LOST_HERE
    assert {s.stage: s.open_here for s in funnel.stages} == OPEN_HERE
    assert funnel.stage(7).amount == 100 + 400 + 500 + 600  # D1, D5, D6, D7
    assert funnel.stage(8).advanced is None
    assert funnel.deals == 9
    assert funnel.as_of == date(2026, 6, 1)  # D3's and D7's last events


def test_conversion_leaves_open_deals_out(funnel):
    for s, (passed, at_risk) in CONVERSION.items():
        assert funnel.stage(s).conversion == pytest.approx(passed / at_risk)
        assert funnel.stage(s).conversion_ci == pytest.approx(wilson_interval(passed, at_risk))
    # the classic bias would count D3 as a failure at stage 2 (5/7), and D8 as passing stages it was never seen in
    assert funnel.stage(2).conversion != pytest.approx(5 / 7)
    assert funnel.stage(1).advanced == 7 and funnel.stage(1).reached == 9


def test_cumulative_conversion_and_win_rate_are_products(funnel):
    assert funnel.stage(1).cumulative_conversion == 1.0
    assert funnel.stage(3).cumulative_conversion == pytest.approx(7 / 8 * 5 / 6)
    assert funnel.stage(8).cumulative_conversion == pytest.approx(14 / 45)  # 7/8 · 5/6 · 4/5 · 1 · 4/5 · 1 · 2/3
    assert funnel.stage(7).win_rate == pytest.approx(2 / 3)
    assert funnel.stage(5).win_rate == pytest.approx(4 / 5 * 2 / 3)
    assert funnel.stage(1).win_rate == pytest.approx(14 / 45)
    lo, hi = funnel.stage(1).win_rate_ci
    assert lo < 14 / 45 < hi


def test_lost_reasons_per_stage(funnel):
    assert funnel.stage(3).lost_reasons == {"price": 1}
    assert funnel.stage(7).lost_reasons == {"competitor": 1}
    assert funnel.stage(2).lost_reasons == {"budget cut": 1}


def test_win_rates_by_stage_sit_beside_crm_defaults(funnel):
    rows = win_rates_by_stage(funnel)
    assert [r.stage for r in rows] == [1, 2, 3, 4, 5, 6, 7]
    assert rows[6].won_after == 2 and rows[6].closed_after == 3 and rows[6].open_after == 1
    assert rows[0].salesforce_default == 0.10 and rows[6].hubspot_default == 0.90


def test_filters_change_the_numbers(store, tmp_path):
    load_handworked(store, tmp_path)
    east = compute_funnel(store, DealFilter(region=("East",)))  # D1, D2, D6, D7, D9
    assert east.deals == 5
    assert east.stage(7).reached == 3 and east.stage(7).conversion == pytest.approx(1 / 2)
    cohort = compute_funnel(store, DealFilter(cohort="2025Q4"))  # only D8
    assert cohort.deals == 1 and cohort.stage(5).lost_here == 1
    nothing = compute_funnel(store, DealFilter(owner=("Nobody",)))
    assert nothing.deals == 0 and nothing.stage(1).conversion is None and nothing.stage(1).win_rate is None


def test_empty_database(store):
    f = compute_funnel(store)
    assert f.deals == 0 and f.as_of is None
    assert all(s.conversion is None and s.conversion_ci is None for s in f.stages)


def test_funnel_as_it_stood_at_an_earlier_date(store, tmp_path):
    """At the start of 2026-03-01 (entries and closes on that day not yet seen): D3 is not created yet; D2, D4 and
    D9 have closed lost (at 3, 1, 2); D1, D5 and D7 are open at 4 (their stage 5 is entered that day); D6 is open at
    6 after stepping back; D8 is open at 4, its first observed stage (left-truncated)."""
    load_handworked(store, tmp_path)
    then = funnel_at(store, date(2026, 3, 1))
    assert then.deals == 8
    assert {s.stage: s.reached for s in then.stages} == {1: 8, 2: 7, 3: 6, 4: 5, 5: 1, 6: 1, 7: 0, 8: 0}
    assert {s.stage: s.lost_here for s in then.stages} == {1: 1, 2: 1, 3: 1, 4: 0, 5: 0, 6: 0, 7: 0, 8: 0}
    assert {s.stage: s.open_here for s in then.stages} == {1: 0, 2: 0, 3: 0, 4: 4, 5: 0, 6: 1, 7: 0, 8: 0}
    # went on / (went on + lost there), D8 not at risk before stage 4
    assert [(s.advanced, s.advanced + s.lost_here) for s in then.stages[:5]] == [(6, 7), (5, 6), (4, 5), (1, 1),
                                                                                 (1, 1)]
    assert then.stage(6).conversion is None  # D6 is still open there
    assert then.stage(1).amount == 100 + 200 + 50 + 400 + 500 + 600 + 700 + 80


def test_funnel_as_it_stood_narrowed_by_a_filter(store, tmp_path):
    """Bob's deals at the start of 2026-03-01: D3 not created yet; D4 lost at 1; D6 open at 6 (its stage 7 and its
    close come later); D8 open at 4, its first observed stage. The quarterly review compares this with the
    filtered funnel now, and compared it with everyone's."""
    from analytics.filters import DealFilter

    load_handworked(store, tmp_path)
    then = funnel_at(store, date(2026, 3, 1), DealFilter(owner=("Bob",)))
    assert then.deals == 3
    assert {s.stage: s.reached for s in then.stages} == {1: 3, 2: 2, 3: 2, 4: 2, 5: 1, 6: 1, 7: 0, 8: 0}
    assert {s.stage: s.lost_here for s in then.stages} == {1: 1, 2: 0, 3: 0, 4: 0, 5: 0, 6: 0, 7: 0, 8: 0}
    assert {s.stage: s.open_here for s in then.stages} == {1: 0, 2: 0, 3: 0, 4: 1, 5: 0, 6: 1, 7: 0, 8: 0}
    assert then.stage(1).amount == 50 + 500 + 700


def test_the_cli_and_the_app_build_one_filter_from_what_was_chosen():
    import argparse
    from datetime import date

    from analytics.cli.common import add_filter_options, filters_from_args

    parser = argparse.ArgumentParser()
    add_filter_options(parser)
    args = parser.parse_args(["--tier", "a", "--tier", "B", "--owner", "Li Wei", "--created-from", "2025-01-01",
                              "--cohort", "2025q3"])
    expected = DealFilter(tier=("A", "B"), owner=("Li Wei",), created_from=date(2025, 1, 1), cohort="2025Q3")
    assert filters_from_args(args) == expected
    # the sidebar's choices: lists from the multiselects, None from an empty date input, keys of its own
    sidebar = {"tier": ["A", "B"], "owner": ["Li Wei"], "region": [], "industry": [], "created_from": date(2025, 1, 1),
               "created_to": None, "cohort": "2025Q3", "as_of": date(2026, 1, 1)}
    assert DealFilter.from_choices(sidebar) == expected
    assert DealFilter.from_choices({}).is_empty()


def test_the_funnel_as_a_table_carries_the_hand_worked_figures(funnel):
    frame = funnel.to_frame()
    assert list(frame["stage"]) == list(range(1, 9))
    assert dict(zip(frame["stage"], frame["reached"])) == REACHED
    assert dict(zip(frame["stage"], frame["lost_here"])) == LOST_HERE
    assert frame["advanced"].isna().tolist() == [False] * 7 + [True]  # stage 8 has no next stage
    for s, (passed, at_risk) in CONVERSION.items():
        row = frame.iloc[s - 1]
        assert row["conversion"] == pytest.approx(passed / at_risk)
        assert (row["conversion_ci_low"], row["conversion_ci_high"]) == pytest.approx(wilson_interval(passed, at_risk))
    assert frame["observed"].all()
    assert frame.loc[6, "amount"] == 100 + 400 + 500 + 600  # stage 7: D1, D5, D6, D7
