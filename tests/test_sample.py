import json
import math

import pytest

from analytics.analyses.claim import test_claim as run_claim
from analytics.analyses.funnel import compute_funnel
from analytics.ingest.canonical import import_files
from analytics.sample import (
    BASE_CONVERSION,
    SampleParameters,
    generate,
    population_truth,
    write_sample,
)


def test_truth_without_effects_is_the_base_conversion():
    truth = population_truth(SampleParameters(factor_effect=0.0, tier_effect=(0.0, 0.0, 0.0, 0.0)))
    for s in range(1, 8):
        assert truth["conversion"][str(s)] == pytest.approx(BASE_CONVERSION[s - 1], abs=1e-12)
    assert truth["preferred_supplier_win_rate"] == pytest.approx(BASE_CONVERSION[6])
    assert truth["win_given_reached"]["1"] == pytest.approx(math.prod(BASE_CONVERSION))


def test_the_factors_and_tier_move_the_odds():
    deals, _ = generate(SampleParameters(deals=40_000, seed=5))
    closed = deals[deals.outcome != "open"]
    won = closed.outcome == "won"
    assert won[closed.tier == "A"].mean() > won[closed.tier == "D"].mean() + 0.1
    assert won[closed.relationship == 5].mean() > won[closed.relationship == 1].mean() + 0.1
    flat, _ = generate(SampleParameters(deals=40_000, seed=5, factor_effect=0.0))
    fc = flat[flat.outcome != "open"]
    gap = (fc.outcome == "won")[fc.relationship == 5].mean() - (fc.outcome == "won")[fc.relationship == 1].mean()
    assert abs(gap) < 0.05


def test_sample_is_reproducible(tmp_path):
    a = write_sample(tmp_path / "a", SampleParameters(deals=500, seed=9))
    b = write_sample(tmp_path / "b", SampleParameters(deals=500, seed=9))
    assert (tmp_path / "a" / "deals.csv").read_bytes() == (tmp_path / "b" / "deals.csv").read_bytes()
    assert a == b == json.loads((tmp_path / "a" / "truth.json").read_text())


def test_100k_deals_agree_with_truth_within_sampling_error(store, tmp_path):
    truth = write_sample(tmp_path, SampleParameters(deals=100_000, seed=11))
    r = import_files(store, tmp_path / "deals.csv", tmp_path / "stage_history.csv")
    assert r.status == "imported" and r.deals_inserted == 100_000 == truth["counts"]["deals"]
    assert r.stage_events == truth["counts"]["stage_events"]
    funnel = compute_funnel(store)
    pop = truth["population"]
    for s in range(1, 8):
        st = funnel.stage(s)
        n = st.advanced + st.lost_here
        se = math.sqrt(pop["conversion"][str(s)] * (1 - pop["conversion"][str(s)]) / n)
        assert abs(st.conversion - pop["conversion"][str(s)]) < 4 * se, s  # fails by chance 1 in 16,000
    claim = run_claim(store, segments=False).overall
    p = pop["preferred_supplier_win_rate"]
    assert abs(claim.p_hat - p) < 4 * math.sqrt(p * (1 - p) / claim.resolved)
    for s in range(1, 8):
        lo, hi = funnel.stage(s).win_rate_ci
        assert lo - 0.01 < pop["win_given_reached"][str(s)] < hi + 0.01
