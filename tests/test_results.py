"""Slow results are kept beside the database for the data version they were computed from, and only for it."""

from analytics.forecasting.forecast import forecast_quarter
from analytics.ingest.batches import undo_batch
from analytics.ingest.canonical import import_files
from analytics.store.cache import finish_refresh, persisted, result_key, results_file
from analytics.store.connection import Store
from analytics.store.turns import reading, writing

from .handworked import write_handworked

calls = []


def counted(store, quarter=None, *, scale=1):
    calls.append(quarter)
    return store.scalar("SELECT count(*) FROM deals") * scale


def test_kept_across_processes_until_the_data_changes(tmp_path):
    deals, history = write_handworked(tmp_path)
    db = tmp_path / "r.duckdb"
    calls.clear()
    with Store(db) as s:
        batch = import_files(s, deals, history).batch_id
        assert persisted(s, counted, "2026Q1") == 9 and persisted(s, counted, quarter="2026Q1", scale=1) == 9
        assert calls == ["2026Q1"]  # the second call, spelled differently, read the stored result
    with Store(db, read_only=True) as s:  # another process, read-only: it reads what the first stored
        assert persisted(s, counted, "2026Q1") == 9 and calls == ["2026Q1"]
    with writing(db, what="test") as s:
        undo_batch(s, batch)  # the data changed: the stored result no longer applies
    with reading(db) as s:
        assert persisted(s, counted, "2026Q1") == 0 and calls == ["2026Q1", "2026Q1"]
    with results_file(db) as con:  # the earlier version's result stays until the new version's refresh is done
        assert con.execute("SELECT count(*) FROM results").fetchone()[0] == 2
    with reading(db) as s:
        finish_refresh(s)
    with results_file(db) as con:
        assert con.execute("SELECT count(*) FROM results").fetchone()[0] == 1


def test_key_binds_arguments_to_the_signature():
    assert result_key(forecast_quarter, (), {}) == result_key(forecast_quarter, (None, None), {"draws": 10_000})
    assert result_key(forecast_quarter, ("2026Q1",), {}) != result_key(forecast_quarter, ("2026Q2",), {})


def test_while_another_process_refreshes_the_app_reads_the_earlier_versions_result(tmp_path):
    """Within earlier_while_refreshing, a result the running refresh has not reached yet is the last refreshed
    version's, and its time is reported; outside it (the refresh itself, the CLI), it is computed."""
    import subprocess
    import sys

    from analytics.store.cache import claim_refresh, earlier_while_refreshing

    deals, history = write_handworked(tmp_path)
    db = tmp_path / "r.duckdb"
    calls.clear()
    with writing(db, what="test") as s:
        batch = import_files(s, deals, history).batch_id
    with reading(db) as s:
        assert persisted(s, counted, "2026Q2") == 9
        finish_refresh(s)  # the nine-deal version is fully refreshed
    with writing(db, what="test") as s:
        undo_batch(s, batch)
    refresher = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        with reading(db) as s:
            assert claim_refresh(s, refresher.pid)  # a live process refreshes the new, empty version
            with earlier_while_refreshing() as earlier:
                assert persisted(s, counted, "2026Q2") == 9 and len(earlier) == 1  # the earlier version's count
            assert calls == ["2026Q2"]
            assert persisted(s, counted, "2026Q2") == 0 and calls == ["2026Q2", "2026Q2"]  # computed
            with earlier_while_refreshing() as earlier:  # now this version has its own
                assert persisted(s, counted, "2026Q2") == 0 and earlier == []
    finally:
        refresher.kill()
        refresher.wait()
    with reading(db) as s, earlier_while_refreshing() as earlier:  # the refresher is gone: nothing earlier is read
        assert persisted(s, counted, "2026Q3") == 0 and earlier == []


def test_the_review_reads_the_forecast_and_scores_kept_for_now_and_computes_its_own_in_a_view(tmp_path):
    """The refresh computes this quarter's forecast once and keeps it for the Overview (quarter left to its default)
    and for the Forecast page (quarter named); the review, standing now, reads that forecast and the Deals page's
    scored deals instead of computing them again. A view of the data as of a day shares today's data version, so
    the review computes its own forecast there (its key leaves the date to its default), while the scores, keyed by
    their date, are read as the deals needing attention read them: a marked result kept in their place shows which
    was read."""
    from dataclasses import replace
    from datetime import timedelta

    from analytics.analyses.funnel import data_as_of
    from analytics.forecasting.forecast import quarter_of
    from analytics.forecasting.review import quarterly_review
    from analytics.forecasting.scoring import score_open_deals
    from analytics.refresh import current_forecast
    from analytics.store.cache import is_kept, keep
    from analytics.store.connection import viewing_as_of

    deals, history = write_handworked(tmp_path)
    with Store(tmp_path / "r.duckdb") as s:
        import_files(s, deals, history)
        as_of = data_as_of(s)
        quarter = quarter_of(as_of)
        forecast = current_forecast(s, quarter)
        assert is_kept(s, forecast_quarter) and is_kept(s, forecast_quarter, quarter)
        assert persisted(s, forecast_quarter, quarter) == forecast == forecast_quarter(s, quarter)
        keep(s, forecast_quarter, replace(forecast, p50=-1.0), quarter)
        scored = persisted(s, score_open_deals, as_of)
        assert sorted(scored["deal_id"]) == ["D3", "D7"]  # the hand-worked deals still open
        keep(s, score_open_deals, scored.assign(expected_value=-7.0), as_of)

        now = quarterly_review(s, quarter)
        assert now.forecast.p50 == -1.0 and (now.top_deals["expected_value"] == -7.0).all()
        with s.as_of(as_of + timedelta(days=1)) as then:  # the same data, seen through a view
            viewed = quarterly_review(then, quarter)
        assert viewed.forecast == forecast and (viewed.top_deals["expected_value"] == -7.0).all()
        assert not viewing_as_of(s)  # the view left with its block
