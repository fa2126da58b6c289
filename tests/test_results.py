"""Slow results are kept beside the database for the data version they were computed from, and only for it."""

from analytics.forecasting.forecast import forecast_quarter
from analytics.ingest.batches import undo_batch
from analytics.ingest.canonical import import_files
from analytics.store.cache import persisted, result_key, results_file
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
    with results_file(db) as con:  # the writer's publish removed the earlier version's result
        assert con.execute("SELECT count(*) FROM results").fetchone()[0] == 1


def test_key_binds_arguments_to_the_signature():
    assert result_key(forecast_quarter, (), {}) == result_key(forecast_quarter, (None, None), {"draws": 10_000})
    assert result_key(forecast_quarter, ("2026Q1",), {}) != result_key(forecast_quarter, ("2026Q2",), {})
