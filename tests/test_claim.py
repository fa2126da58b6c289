import pytest
from scipy.stats import binomtest

from analytics.analyses.claim import claim_test
from analytics.analyses.claim import test_claim as run_claim
from analytics.stats import wilson_interval

from .handworked import load_handworked


def test_claim_on_the_handworked_data(store, tmp_path):
    load_handworked(store, tmp_path)
    c = run_claim(store)
    o = c.overall
    # Reached 7: D1 won, D5 won, D6 lost, D7 open.
    assert (o.won, o.resolved, o.open_excluded) == (2, 3, 1)
    assert o.p_hat == pytest.approx(2 / 3)
    assert o.verdict == "insufficient"  # 3 < 20 resolved
    assert c.comparison.stage == 6 and (c.comparison.won, c.comparison.resolved) == (2, 3)
    tiers = {s.value: s.test for s in c.segments if s.dimension == "tier"}
    assert (tiers["A"].won, tiers["A"].resolved, tiers["A"].open_excluded) == (1, 2, 0)  # D1, D6
    assert (tiers["B"].won, tiers["B"].resolved, tiers["B"].open_excluded) == (1, 1, 1)  # D5; D7 open
    years = {s.value for s in c.segments if s.dimension == "close_year"}
    assert years == {"2026"}


@pytest.mark.parametrize("won,resolved,verdict", [
    (0, 0, "insufficient"),
    (19, 19, "insufficient"),  # all won, but too few
    (100, 100, "supported"),  # all won
    (0, 100, "contradicted"),  # all lost
    (90, 100, "supported"),  # Wilson [0.826, 0.945] above 0.75
    (60, 100, "contradicted"),  # [0.502, 0.691] below
    (78, 100, "inconclusive"),  # [0.689, 0.849] straddles
])
def test_verdicts_never_crash(won, resolved, verdict):
    t = claim_test(won, resolved, 5, stage=7, threshold=0.75)
    assert t.verdict == verdict
    assert t.open_excluded == 5
    if resolved:
        assert t.ci == pytest.approx(binomtest(won, resolved).proportion_ci(method="wilson"))
        assert t.p_value == pytest.approx(binomtest(won, resolved, 0.75, alternative="greater").pvalue)
    else:
        assert t.p_hat is None and t.ci is None and t.p_value is None


def test_threshold_and_stage_options(store, tmp_path):
    load_handworked(store, tmp_path)
    c = run_claim(store, stage=5, threshold=0.5, min_resolved=1)
    # Reached 5: D1 won, D5 won, D6 lost, D7 open, D8 lost.
    assert (c.overall.won, c.overall.resolved, c.overall.open_excluded) == (2, 4, 1)
    assert c.overall.ci == pytest.approx(wilson_interval(2, 4))
    assert c.overall.verdict == "inconclusive"


def test_empty_database_is_insufficient(store):
    c = run_claim(store)
    assert c.overall.verdict == "insufficient" and c.overall.resolved == 0 and c.segments == []


def test_segment_p_values_are_adjusted_for_how_many_segments_were_tested():
    """Benjamini–Hochberg by hand: p = 0.01, 0.04, 0.03 (m = 3) sorted 0.01, 0.03, 0.04 → ×3/1, ×3/2, ×3/3 =
    0.03, 0.045, 0.04; each no larger than the next one up: 0.03, 0.04, 0.04. A segment with nothing resolved has
    no p-value and takes no part."""
    from dataclasses import replace

    from analytics.analyses.claim import ClaimSegment, with_adjusted_p_values

    base = claim_test(1, 1, 0, stage=7, threshold=0.75)
    segments = [ClaimSegment("tier", v, replace(base, p_value=p))
                for v, p in (("A", 0.01), ("B", 0.04), ("C", None), ("D", 0.03))]
    adjusted = [s.p_adjusted for s in with_adjusted_p_values(segments)]
    assert adjusted[2] is None and adjusted[:2] + adjusted[3:] == pytest.approx([0.03, 0.04, 0.04])


def test_claim_segments_carry_adjusted_p_values(store, tmp_path):
    load_handworked(store, tmp_path)
    c = run_claim(store)
    tested = [s for s in c.segments if s.test.p_value is not None]
    assert len(tested) == len(c.segments) > 3
    assert all(s.p_adjusted >= s.test.p_value for s in tested)  # adjusting never makes a result stronger
    assert c.to_json()["segments"][0]["p_adjusted"] == tested[0].p_adjusted
