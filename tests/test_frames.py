"""Every result type's to_frame(): the table pages, CSV downloads and `keyfunnel … --csv` read. Its rows are the
result's own rows, its intervals two columns each, and its numbers those of the result, on the hand-worked data."""

import pytest

from analytics.analyses.claim import test_claim as claim_of
from analytics.analyses.conformance import compute_conformance
from analytics.analyses.slippage import compute_slippage
from analytics.analyses.tiers import compute_tiers
from analytics.analyses.trends import compute_trends
from analytics.analyses.velocity import compute_velocity
from analytics.forecasting.forecast import forecast_quarter

from .handworked import load_handworked


@pytest.fixture
def store9(store, tmp_path):
    load_handworked(store, tmp_path)
    return store


def test_velocity_and_its_stalled_deals(store9):
    v = compute_velocity(store9)
    frame = v.to_frame()
    assert list(frame["stage"]) == [s.stage for s in v.stages]
    assert list(frame["won_n"]) == [s.won.n for s in v.stages]
    assert frame["lost_median"].tolist() == pytest.approx([s.lost.median for s in v.stages], nan_ok=True)
    assert list(v.stalled_frame()["deal_id"]) == [d.deal_id for d in v.stalled]


def test_conformance_moves(store9):
    flow = compute_conformance(store9)
    frame = flow.to_frame()
    assert frame["deals"].sum() == sum(t.deals for t in flow.transitions)
    assert list(frame.columns) == ["source", "target", "deals"]


def test_tiers_and_their_performance(store9):
    mix = compute_tiers(store9)
    assert list(mix.to_frame()["deal_id"]) == [m.deal_id for m in mix.mismatches]
    perf = mix.performance_frame()
    assert list(perf["tier"]) == [p.tier for p in mix.performance]
    for row, p in zip(perf.itertuples(), mix.performance):
        assert (row.won, row.resolved) == (p.won, p.resolved)
        if p.win_rate_ci:
            assert (row.win_rate_ci_low, row.win_rate_ci_high) == pytest.approx(p.win_rate_ci)


def test_the_claim_all_deals_first(store9):
    claim = claim_of(store9)
    frame = claim.to_frame()
    first = frame.iloc[0]
    o = claim.overall
    assert (first["dimension"], first["won"], first["resolved"], first["verdict"]) == ("all", o.won, o.resolved,
                                                                                      o.verdict)
    assert len(frame) == 1 + len(claim.segments) + (claim.comparison is not None)


def test_slippage_every_share(store9):
    s = compute_slippage(store9)
    frame = s.to_frame()
    assert frame.iloc[0][["table", "k", "n"]].tolist() == ["late_won", s.late_won.k, s.late_won.n]
    assert (frame["table"] == "late_by_owner").sum() == len(s.late_by_owner)


def test_trends_period_by_period(store9):
    tr = compute_trends(store9, "quarter", "created")
    frame = tr.to_frame()
    assert list(frame["period"]) == [p.period for p in tr.periods]
    assert frame["deals"].sum() == 9  # every hand-worked deal in its creation quarter


def test_the_forecast_by_category_and_by_owner(store9):
    f = forecast_quarter(store9, draws=500)
    by_category = f.to_frame()
    assert list(by_category["key"]) == [b.key for b in f.by_category]
    assert by_category["expected"].sum() == pytest.approx(sum(b.expected for b in f.by_category))
    assert list(f.to_frame("owner")["key"]) == [b.key for b in f.by_owner]
