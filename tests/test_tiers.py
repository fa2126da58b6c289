from datetime import date

import pytest

from analytics.analyses.tiers import TierRule, compute_tiers

from .handworked import load_handworked


@pytest.fixture
def tiers(store, tmp_path):
    load_handworked(store, tmp_path)
    return compute_tiers(store, as_of=date(2026, 6, 30))


def test_open_pipeline_by_tier_and_stage(tiers):
    assert [(c.tier, c.stage, c.open_deals, c.open_amount) for c in tiers.open_by_tier_stage] == [
        ("A", 2, 1, 300.0), ("B", 7, 1, 600.0)]


def test_win_rate_and_cycle_by_tier(tiers):
    perf = {p.tier: p for p in tiers.performance}
    assert (perf["A"].won, perf["A"].resolved) == (1, 2)  # D1 won, D6 lost
    assert (perf["B"].won, perf["B"].resolved) == (1, 2)  # D5 won, D2 lost
    assert (perf["C"].won, perf["C"].resolved) == (0, 2)
    assert (perf["D"].won, perf["D"].resolved) == (0, 1)
    assert perf["A"].median_cycle_days == pytest.approx((120 + 78) / 2)  # D1 120 days, D6 Jan 1 → Mar 20


def test_recommended_tier_differs(tiers):
    got = {(m.deal_id, m.assigned_tier, m.recommended_tier) for m in tiers.mismatches}
    # D7 at stage 7: P(win) 2/3, closing in 15 days → A (assigned B).
    # D3 at stage 2: P(win) 5/6·4/5·1·4/5·1·2/3 = 16/45 ≈ 0.36, closing in 154 days → B (assigned A).
    assert got == {("D7", "B", "A"), ("D3", "A", "B")}
    d3 = next(m for m in tiers.mismatches if m.deal_id == "D3")
    assert d3.win_probability == pytest.approx(16 / 45) and d3.days_to_close == 154


@pytest.mark.parametrize("p,days,tier", [
    (0.6, 30, "A"), (0.6, 120, "B"), (0.4, 30, "B"), (0.2, 30, "C"), (0.2, 400, "D"), (0.1, 10, "D"),
    (0.6, -20, "A"),  # overdue: due now
    (0.6, None, "D"), (None, 10, "D"),
])
def test_rule(p, days, tier):
    assert TierRule().grade(p, days) == tier


def test_rule_in_sql_grades_as_the_rule_does(store):
    """compute_tiers grades in SQL (TierRule.sql): it must agree with TierRule.grade everywhere, edges included."""
    rule = TierRule(a_min_probability=0.55, b_max_days=200)
    grid = [(p, d) for p in (None, 0.0, 0.15, 0.3, 0.5, 0.55, 0.9)
            for d in (None, -5, 0, 90, 91, 180, 200, 201, 365, 366)]
    case, params = rule.sql("p", "d")
    got = store.fetchall(f"SELECT {case} FROM (SELECT unnest($p) AS p, unnest($d) AS d)",
                         {**params, "p": [g[0] for g in grid], "d": [g[1] for g in grid]})
    assert [g[0] for g in got] == [rule.grade(p, d) for p, d in grid]


def test_thresholds_are_configurable(store, tmp_path):
    load_handworked(store, tmp_path)
    strict = compute_tiers(store, rule=TierRule(a_min_probability=0.9), as_of=date(2026, 6, 30))
    # P(win) 2/3 no longer makes D7 an A: the rule now says B, which is what it was assigned.
    assert {m.deal_id for m in strict.mismatches} == {"D3"}
