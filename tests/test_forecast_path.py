"""The forecast through the quarter (issue 18, part 5)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from analytics.forecasting.forecast import forecast_quarter
from analytics.forecasting.path import PATH_DRAWS, forecast_path
from analytics.forecasting.winmodel import team_model
from analytics.ingest.canonical import import_files
from analytics.sample import SampleParameters, write_sample


@pytest.fixture(scope="module")
def sample_store(tmp_path_factory):
    from analytics.store.connection import Store

    folder = tmp_path_factory.mktemp("path")
    write_sample(folder / "s", SampleParameters(deals=1500, seed=9, as_of="2026-11-27"))
    store = Store(folder / "kf.duckdb")
    import_files(store, folder / "s" / "deals.csv", folder / "s" / "stage_history.csv")
    yield store
    store.close()


def test_one_forecast_per_week_begun_each_as_it_stood_then(sample_store):
    weeks = forecast_path(sample_store, "2026Q4", date(2026, 11, 20))
    # Oct 1, 8, …, Nov 19: eight weeks had begun by the end of Nov 20
    assert [w.starts for w in weeks] == [date(2026, 10, 1) + timedelta(days=7 * i) for i in range(8)]
    model = team_model(sample_store, date(2026, 10, 1))
    for w in (weeks[0], weeks[4], weeks[-1]):
        f = forecast_quarter(sample_store, "2026Q4", w.starts - timedelta(days=1), model=model, draws=PATH_DRAWS)
        assert (w.p10, w.p50, w.p90, w.won_to_date) == (f.p10, f.p50, f.p90, f.won_to_date)
        won = sample_store.scalar("SELECT coalesce(sum(amount), 0) FROM deals WHERE outcome = 'won' "
                                  "AND closed_at >= DATE '2026-10-01' AND closed_at < $s", {"s": w.starts})
        assert w.won_to_date == pytest.approx(won)
    assert all(a.won_to_date <= b.won_to_date for a, b in zip(weeks, weeks[1:]))
    assert all(w.p10 <= w.p50 <= w.p90 and w.p10 >= w.won_to_date for w in weeks)
