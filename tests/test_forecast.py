from datetime import date

import numpy as np
import pytest

from analytics.forecasting.backtest import backtest
from analytics.forecasting.forecast import forecast_quarter, quarter_of, shift_quarter
from analytics.ingest.canonical import import_files
from analytics.sample import SampleParameters, write_sample
from analytics.store.connection import Store

from .test_model import generated_store


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    s = generated_store(tmp_path_factory, "forecast", deals=30_000, seed=8)
    yield s
    s.close()


def test_quarters():
    assert quarter_of(date(2026, 11, 27)) == "2026Q4"
    assert shift_quarter("2026Q1", -1) == "2025Q4" and shift_quarter("2025Q4", 2) == "2026Q2"


def test_forecast_is_consistent(store):
    f = forecast_quarter(store, target=5e8, draws=10_000, seed=1)
    assert f.quarter == "2026Q4" and f.as_of == date(2026, 11, 26)
    won = store.scalar("""SELECT sum(amount) FROM deals WHERE outcome = 'won' AND closed_at >= '2026-10-01'""")
    assert f.won_to_date == pytest.approx(won)
    assert f.won_to_date <= f.p10 <= f.p50 <= f.p90
    assert f.expected == pytest.approx(sum(b.expected for b in f.by_category))
    assert f.expected == pytest.approx(sum(b.expected for b in f.by_owner), rel=1e-9)
    assert abs(f.p50 - f.expected) < (f.p90 - f.p10)  # the centre of the simulation is the expectation
    assert [b.key for b in f.by_category] == ["won", "commit", "best_case", "pipeline", "new_deals"]
    assert 0 <= f.p_reach_target <= 1 and f.coverage > 0
    again = forecast_quarter(store, target=5e8, draws=10_000, seed=1)
    assert (again.p10, again.p90) == (f.p10, f.p90)  # seeded


def test_backtest_beats_the_crm_default_and_does_not_leak(store, tmp_path):
    bt = backtest(store, quarters=4, as_of=date(2026, 11, 26), draws=2000)
    assert [q.quarter for q in bt.quarters] == ["2025Q4", "2026Q1", "2026Q2", "2026Q3"]
    assert bt.summary.mape < bt.baseline_crm_default.mape
    assert bt.summary.coverage >= 0.5
    for q in bt.quarters:
        assert q.error == pytest.approx(q.forecast - q.actual) and q.inside == (q.p10 <= q.actual <= q.p90)
    first = bt.quarters[0]
    # the forecast at weeks 1, 4, 8, 12 of each quarter: week 1's is the quarter's own, and its accuracy the summary's
    assert [[p.week for p in q.weeks] for q in bt.quarters] == [[1, 4, 8, 12]] * 4
    assert all(q.weeks[0].forecast == q.forecast for q in bt.quarters)
    assert [w.week for w in bt.by_week] == [1, 4, 8, 12] and all(w.quarters == 4 for w in bt.by_week)
    assert bt.by_week[0].mape == pytest.approx(bt.summary.mape) and bt.by_week[0].coverage == bt.summary.coverage
    # later in the quarter more of it is booked and known: the forecast is no worse by week 12 than in week 1
    assert bt.by_week[-1].mape <= bt.by_week[0].mape

    # Append deals created after 2025Q4: the 2025Q4 backtest must not change at all.
    extra = tmp_path / "later"
    write_sample(extra, SampleParameters(deals=2000, seed=99, as_of="2026-11-27", years=0.8))
    import pandas as pd

    deals = pd.read_csv(extra / "deals.csv", dtype=str, keep_default_na=False)
    deals["deal_id"] = "LATE-" + deals["deal_id"]
    deals = deals[deals["created_at"] >= "2026-01-01"]
    history = pd.read_csv(extra / "stage_history.csv", dtype=str)
    history["deal_id"] = "LATE-" + history["deal_id"]
    history = history[history.deal_id.isin(deals.deal_id)]
    deals.to_csv(tmp_path / "late_deals.csv", index=False)
    history.to_csv(tmp_path / "late_history.csv", index=False)
    r = import_files(store, tmp_path / "late_deals.csv", tmp_path / "late_history.csv")
    assert r.status == "imported" and r.deals_inserted == len(deals) > 500
    again = backtest(store, quarters=4, as_of=date(2026, 11, 26), draws=2000)
    assert again.quarters[0] == first
    assert again.quarters[-1] != bt.quarters[-1]  # a quarter they did fall in sees them


def test_backtest_narrowed_by_a_filter_compares_the_filtered_forecast_with_the_filtered_bookings(store):
    # The Forecast page showed a filtered forecast above an unfiltered backtest.
    from datetime import timedelta

    from analytics.filters import DealFilter, quarter_bounds

    east = DealFilter(region=("East",))
    narrowed = backtest(store, quarters=2, as_of=date(2026, 11, 26), draws=500, filters=east)
    everyone = backtest(store, quarters=2, as_of=date(2026, 11, 26), draws=500)
    assert [q.quarter for q in narrowed.quarters] == [q.quarter for q in everyone.quarters] == ["2026Q2", "2026Q3"]
    for q, all_q in zip(narrowed.quarters, everyone.quarters):
        start, end = quarter_bounds(q.quarter)
        won_east = store.scalar("""SELECT sum(amount) FROM deals WHERE outcome = 'won' AND region = 'East'
                                   AND closed_at >= $s AND closed_at < $e""", {"s": start, "e": end})
        assert q.actual == pytest.approx(won_east) and 0 < q.actual < all_q.actual
        standing = forecast_quarter(store, q.quarter, start - timedelta(days=1), draws=500, filters=east)
        assert q.forecast == pytest.approx(standing.expected) and 0 < q.forecast < all_q.forecast
        assert 0 < q.crm_default < all_q.crm_default  # East's open deals only


def test_empty_database(tmp_path):
    with Store(tmp_path / "e.duckdb") as s:
        f = forecast_quarter(s, "2026Q4", date(2026, 11, 1))
        assert f.expected == 0 and f.open_deals == 0 and f.mode == "small-data"
        assert backtest(s, 2, date(2026, 11, 1)).quarters == []


def test_normal_approximation_of_small_deals_matches_drawing_every_deal():
    from analytics.forecasting.forecast import simulate_bookings

    rng = np.random.default_rng(3)
    n = 20_000
    amount = rng.lognormal(12, 1.2, n)
    q = rng.beta(1, 4, n)
    stage = rng.integers(1, 8, n)
    every = simulate_bookings(amount, q, stage, 20_000, np.random.default_rng(1), simulated=n)
    hybrid = simulate_bookings(amount, q, stage, 20_000, np.random.default_rng(2), simulated=1_000)
    for a, b in ((every.sum(1), hybrid.sum(1)), (every[:, 0], hybrid[:, 0]), (every[:, 2], hybrid[:, 2])):
        # the exact mean is sum(a q); both agree with it and with each other at P10, P50 and P90
        assert np.percentile(a, [10, 50, 90]) == pytest.approx(np.percentile(b, [10, 50, 90]), rel=0.005)
    assert hybrid.sum(1).mean() == pytest.approx((amount * q).sum(), rel=0.002)


def test_groups_summed_into_shared_columns_are_the_groups_apart_added():
    """The calls sum each owner's four categories into one column: the same draws (one normal a group, the same
    uniforms), added in fewer columns. Six groups into three columns: group g into g % 3."""
    from analytics.forecasting.forecast import simulate_bookings

    rng = np.random.default_rng(4)
    n = 3_000
    amount, q, stage = rng.lognormal(11, 1, n), rng.beta(2, 3, n), rng.integers(1, 8, n)
    p_win, groups = np.clip(q * 1.3, 0, 1), rng.integers(0, 6, n)
    common = dict(p_win=p_win, stage_sd={s: 0.2 for s in range(1, 8)}, groups=groups, n_groups=6, simulated=500)
    apart = simulate_bookings(amount, q, stage, 700, np.random.default_rng(9), **common)
    summed = simulate_bookings(amount, q, stage, 700, np.random.default_rng(9), **common,
                               summed_into=np.arange(6) % 3)
    assert apart.shape == (700, 6) and summed.shape == (700, 3)
    assert summed == pytest.approx(apart[:, :3] + apart[:, 3:], rel=1e-12)
    assert not np.allclose(summed[:, 0], summed[:, 1])  # the columns are not one sum copied


def test_accuracy_by_week_by_hand():
    from analytics.forecasting.backtest import (
        BacktestQuarter,
        WeekForecastPoint,
        week_accuracy,
    )

    def quarter(actual, week4):
        return BacktestQuarter("2025Q1", actual, actual, actual, actual, 0, True, 0,
                               [WeekForecastPoint(1, actual, actual, actual), WeekForecastPoint(4, *week4)])

    # actuals 100 and 200; week 4 forecast 90 [80, 120] and 250 [210, 300]: errors 10% and 25%; 100 inside, 200 not
    weeks = week_accuracy([quarter(100.0, (90.0, 80.0, 120.0)), quarter(200.0, (250.0, 210.0, 300.0))])
    assert [(w.week, w.quarters) for w in weeks] == [(1, 2), (4, 2), (8, 0), (12, 0)]
    assert weeks[1].mape == pytest.approx(0.175) and weeks[1].coverage == 0.5
    assert (weeks[0].mape, weeks[0].coverage) == (0.0, 1.0)
    assert (weeks[2].mape, weeks[2].coverage) == (None, None)
