import pytest

from analytics.analyses.conformance import Transition, compute_conformance
from analytics.stats import wilson_interval

from .handworked import load_handworked


@pytest.fixture
def flow(store, tmp_path):
    load_handworked(store, tmp_path)
    return compute_conformance(store)


def test_shares(flow):
    assert flow.with_history == 9
    # in order: D1, D2, D3, D4, D7, and D8 (its history starts mid-way: unobserved, not skipped)
    assert flow.in_order == 6
    assert flow.skipped == 2  # D5 skipped 3; D9 started at 2 on its creation day, skipping 1
    assert flow.skipped_by_stage == {1: 1, 2: 0, 3: 1, 4: 0, 5: 0, 6: 0, 7: 0, 8: 0}
    assert flow.moved_backwards == 1 and flow.reentered == 1  # D6
    assert flow.left_truncated == 1  # D8
    assert flow.share(flow.in_order) == pytest.approx(6 / 9)


def test_win_rate_of_conforming_and_not(flow):
    # resolved in order: D1 won; D2, D4, D8 lost.  Not in order: D5 won; D6, D9 lost.
    assert (flow.conforming.won, flow.conforming.resolved) == (1, 4)
    assert (flow.non_conforming.won, flow.non_conforming.resolved) == (1, 3)
    assert flow.non_conforming.ci == pytest.approx(wilson_interval(1, 3))


def test_transitions(flow):
    t = {(x.source, x.target): x.deals for x in flow.transitions}
    assert t[(1, 2)] == 6  # D1, D2, D3, D5, D6, D7
    assert t[(5, 6)] == 5  # D1, D5, D6 twice, D7
    assert t[(6, 5)] == 1 and t[(2, 4)] == 1
    assert t[(7, "lost")] == 1 and t[(7, "open")] == 1 and t[(2, "open")] == 1
    assert t[(1, "lost")] == 1 and t[(2, "lost")] == 1  # D4, D9
    assert Transition(7, 8, 1) in flow.transitions  # D1 only: D5 has no stage-8 event
