"""Trends worked by hand (issue 18, part 4)."""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pytest

from analytics.analyses.trends import compute_trends
from analytics.filters import DealFilter
from analytics.ingest.canonical import import_files

DEALS = ["deal_id", "account", "outcome", "amount", "created_at", "closed_at"]


def _twelve():
    """Three quarters, four deals each, all closed in the quarter they were created: 1, 2, then 3 of 4 won."""
    rows = []
    for q, (start, won) in enumerate((("2025-01", 1), ("2025-04", 2), ("2025-07", 3))):
        for i in range(4):
            rows.append([f"Q{q}D{i}", "a", "won" if i < won else "lost", "100", f"{start}-05", f"{start}-20"])
    return rows


@pytest.fixture
def twelve(store, csv_writer):
    assert import_files(store, csv_writer("deals.csv", DEALS, _twelve())).status == "imported"
    return store


def test_cochran_armitage_by_hand(twelve):
    """p̄ = 6/12; T = Σ x(k − n p̄) = 0·(1 − 2) + 1·(2 − 2) + 2·(3 − 2) = 2; Var = p̄(1 − p̄)(Σ n x² − (Σ n x)²/N)
    = ¼ (20 − 144/12) = 2; z = 2/√2 = 1.414; p = 2(1 − Φ(1.414)) = 0.157."""
    tr = compute_trends(twelve, "quarter", "closed")
    assert [(p.period, p.won, p.resolved, p.created_deals) for p in tr.periods] == [
        ("2025Q1", 1, 4, 4), ("2025Q2", 2, 4, 4), ("2025Q3", 3, 4, 4)]
    assert [p.win_rate for p in tr.periods] == pytest.approx([0.25, 0.5, 0.75])
    assert tr.trend.test == "Cochran–Armitage" and tr.trend.z == pytest.approx(math.sqrt(2))
    assert tr.trend.p_value == pytest.approx(0.1573, abs=1e-4)


def test_the_creation_cohorts_slope_agrees_with_a_weighted_polyfit(twelve):
    tr = compute_trends(twelve, "quarter", "created")
    assert [p.period for p in tr.periods] == ["2025Q1", "2025Q2", "2025Q3"]
    y = np.array([p.win_rate for p in tr.periods])
    sd = np.array([(p.win_rate_ci[1] - p.win_rate_ci[0]) / (2 * 1.959964) for p in tr.periods])
    slope = np.polyfit([0, 1, 2], y, 1, w=1 / sd)[0]  # numpy weights by 1/σ, i.e. 1/σ² in the squares
    assert tr.trend.test == "weighted least-squares slope" and tr.trend.slope == pytest.approx(slope)
    assert tr.trend.z > 0 and 0 < tr.trend.p_value < 1


def test_months_and_too_few_periods(twelve):
    tr = compute_trends(twelve, "month", "closed")
    assert [p.period for p in tr.periods] == ["2025-01", "2025-04", "2025-07"]  # empty months are left out
    few = compute_trends(twelve, "quarter", "closed", filters=DealFilter(closed_to=date(2025, 6, 30)))
    assert len(few.periods) == 2 and few.trend.p_value is None and "fewer than 3" in few.trend.note


def test_a_cohort_mostly_open_is_drawn_but_not_tested(store, csv_writer):
    """A fourth quarter with 1 lost and 4 open deals: 20% resolved, under 80%, so it reads 0% won on its one quick
    loss and is left out of the test, which then sees the same three quarters as before."""
    rows = _twelve() + [["Q3D0", "a", "lost", "100", "2025-10-05", "2025-10-20"]] + [
        [f"Q3O{i}", "a", "open", "100", "2025-10-06", ""] for i in range(4)]
    assert import_files(store, csv_writer("deals.csv", DEALS, rows)).status == "imported"
    tr = compute_trends(store, "quarter", "created")
    assert [(p.period, p.mature) for p in tr.periods] == [
        ("2025Q1", True), ("2025Q2", True), ("2025Q3", True), ("2025Q4", False)]
    assert tr.trend.periods == 3


@pytest.mark.parametrize("by,cohort", [("quarter", "created"), ("month", "closed")])
def test_each_period_is_the_funnel_of_its_cohort(tmp_path, by, cohort):
    """The periods come from grouped queries; each must equal the funnel of its cohort's deals alone, and count
    the pipeline created in it, on a generated sample with a filter on (1,500 deals)."""
    from dataclasses import replace
    from datetime import timedelta

    from analytics.analyses.funnel import compute_funnel
    from analytics.sample import SampleParameters, write_sample
    from analytics.store.connection import Store

    folder = tmp_path / "s"
    write_sample(folder, SampleParameters(deals=1500, seed=3, as_of="2026-11-27"))
    with Store(tmp_path / "kf.duckdb") as store:
        assert import_files(store, folder / "deals.csv", folder / "stage_history.csv").status == "imported"
        chosen = DealFilter(tier=("A", "B"))
        trends = compute_trends(store, by, cohort, chosen)
        assert len(trends.periods) >= 6
        for p in trends.periods:
            end = date(p.start.year + (p.start.month + (3 if by == "quarter" else 1) - 1) // 12,
                       (p.start.month + (3 if by == "quarter" else 1) - 1) % 12 + 1, 1) - timedelta(days=1)
            bounds = ({"created_from": p.start, "created_to": end} if cohort == "created"
                      else {"closed_from": p.start, "closed_to": end})
            funnel = compute_funnel(store, replace(chosen, **bounds))
            assert p.deals == funnel.deals
            assert p.win_rate == funnel.stage(1).win_rate and p.win_rate_ci == funnel.stage(1).win_rate_ci
            assert p.preferred_supplier == funnel.stage(7).win_rate
            assert p.conversions == {str(s.stage): s.conversion for s in funnel.stages if s.stage < 8}
            where, params = replace(chosen, created_from=p.start, created_to=end).where()
            created, amount = store.fetchone(f"SELECT count(*), coalesce(sum(amount), 0) FROM deal_facts "
                                             f"WHERE {where}", params)
            assert (p.created_deals, p.created_amount) == (created, pytest.approx(amount))
