from datetime import date

import duckdb
import pytest

from analytics.exceptions import StoreBusy
from analytics.store.backups import export_database
from analytics.store.connection import Store, resolve_db_path
from analytics.store.schema import MIGRATIONS

from .handworked import load_handworked


def test_migrations_are_named_ordered_and_run_once(tmp_path):
    path = tmp_path / "a.duckdb"
    with Store(path) as s:
        assert s.migrations() == [name for name, _ in MIGRATIONS]
    with Store(path) as s:
        assert s.migrate() == []  # nothing left to apply


def test_db_path_resolution(monkeypatch, tmp_path):
    monkeypatch.delenv("KEYFUNNEL_DB", raising=False)
    assert str(resolve_db_path()) == "data/keyfunnel.duckdb"
    monkeypatch.setenv("KEYFUNNEL_DB", str(tmp_path / "env.duckdb"))
    assert resolve_db_path() == tmp_path / "env.duckdb"
    assert resolve_db_path(tmp_path / "x.duckdb") == tmp_path / "x.duckdb"


def test_deal_facts(store, tmp_path):
    load_handworked(store, tmp_path)
    facts = {r[0]: r[1:] for r in store.fetchall("""
        SELECT deal_id, furthest_stage, current_stage, first_stage, n_events, skipped_stages, moved_backwards,
               reentered, left_truncated, in_order, round(days_stage_5, 3), cycle_days FROM deal_facts""")}
    assert facts["D1"] == (8, 8, 1, 8, [], False, False, False, True, 20.0, 120)
    assert facts["D5"] == (8, 8, 1, 6, [3], False, False, False, False, 9.0, 109)  # implicit stage 8
    assert facts["D6"] == (7, 7, 1, 9, [], True, True, False, False, 14.0, 78)  # 9 + 5 days in stage 5
    assert facts["D7"][:2] == (7, 7) and facts["D7"][-1] is None  # open: no cycle time
    assert facts["D8"][2:9] == (4, 2, [], False, False, True, True)  # left-truncated, not skipped
    assert facts["D9"][2:9] == (2, 1, [1], False, False, False, False)  # skipped stage 1
    assert store.scalar("SELECT current_stage_entered_at FROM deal_facts WHERE deal_id = 'D3'").date() == \
        date(2026, 6, 1)


def test_stage_durations_are_the_closed_deals_durations_in_order(store, tmp_path):
    load_handworked(store, tmp_path)
    rows = store.fetchall("SELECT outcome, measure, deal_id, days FROM stage_durations s "
                          "JOIN deal_facts f USING (tier, owner, region, industry, created_at, closed_at) "
                          "WHERE s.won = (f.outcome = 'won') AND abs(s.days - coalesce(CASE s.measure WHEN 0 THEN f.cycle_days "
                          "ELSE [f.days_stage_1, f.days_stage_2, f.days_stage_3, f.days_stage_4, f.days_stage_5, "
                          "f.days_stage_6, f.days_stage_7][s.measure] END, -1)) < 1e-9 ORDER BY ALL")
    # D1 entered stages 1-8 on Jan 1, Jan 11, Jan 21, Feb 10, Mar 1, Mar 21, Apr 10 and May 1 2026 (February: 28 days)
    by_deal = {}
    for outcome, measure, deal_id, days in rows:
        by_deal.setdefault(deal_id, {})[measure] = days
    assert by_deal["D1"] == {0: 120.0, 1: 10.0, 2: 10.0, 3: 20.0, 4: 19.0, 5: 20.0, 6: 20.0, 7: 21.0}
    assert by_deal["D6"][0] == 78.0 and by_deal["D6"][5] == 14.0
    assert "D7" not in by_deal  # open
    total = store.scalar("SELECT count(*) FROM stage_durations")
    assert total == len(rows) == store.scalar(
        "SELECT sum(count(cycle_days) + count(days_stage_1) + count(days_stage_2) + count(days_stage_3) "
        "+ count(days_stage_4) + count(days_stage_5) + count(days_stage_6) + count(days_stage_7)) OVER () "
        "FROM deal_facts WHERE outcome <> 'open' LIMIT 1")
    stored = [r[0] for r in store.fetchall("SELECT days FROM stage_durations WHERE NOT won AND measure = 0")]
    assert stored == sorted(stored)  # kept in order: quantiles select from sorted values


_EVERY_TYPE = """SELECT * FROM (VALUES
    (1::BIGINT, 2::INTEGER, 3::TINYINT, 7::UBIGINT, 'text', DATE '2026-01-02', TIMESTAMP '2026-01-02 03:04:05', 1.5,
     2.5::FLOAT, 3::HUGEINT, 4.25::DECIMAL(10, 2), true, TIMESTAMPTZ '2026-01-02 03:04:05+00', false),
    (NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, true)
) t(big, i, tiny, ubig, s, d, ts, f, fl, huge, dec, b, tz, never_null)"""


@pytest.mark.parametrize("sql", [
    _EVERY_TYPE,  # every type read through Arrow, each with a NULL (integers and booleans nullable)
    f"SELECT * FROM ({_EVERY_TYPE}) WHERE big IS NOT NULL",  # the same without NULLs: numpy's types
    f"SELECT * FROM ({_EVERY_TYPE}) WHERE big IS NULL",  # only NULLs (text of only NULLs: objects, None)
    f"SELECT * FROM ({_EVERY_TYPE}) WHERE false",  # no rows (their text an object column)
    "SELECT CAST(NULL AS VARCHAR) AS name, 'a' AS s, 1 AS n FROM range(3)",  # a column no deal filled
    "SELECT [1, 2] AS l, INTERVAL 3 DAY AS iv, 'x'::ENUM('x', 'y') AS e, 1 AS n",  # not Arrow's to type: .df()
    "SELECT 1 AS a, 2 AS a",  # two columns of one name
    "SELECT $n::INT AS n, $s AS s",  # bound parameters, one of them unused
])
def test_fetch_df_types_every_result_as_duckdbs_own_df(store, sql):
    import pandas as pd

    params = {"n": 4, "s": "x", "unused": 1}
    expected = store.execute(sql, params).df()
    got = store.fetch_df(sql, params)
    pd.testing.assert_frame_equal(got, expected, check_dtype=True, check_exact=True)
    assert [type(v) for v in got.to_numpy().ravel()] == [type(v) for v in expected.to_numpy().ravel()]  # None ≠ nan


def test_fetch_df_names_the_statement_that_failed(store):
    from analytics.exceptions import StoreError

    with pytest.raises(StoreError, match="no_such_table"):
        store.fetch_df("SELECT * FROM no_such_table")


def test_transaction_rolls_back(store):
    with pytest.raises(RuntimeError):
        with store.transaction():
            store.execute("INSERT INTO settings VALUES ('k', 'v')")
            raise RuntimeError("boom")
    assert store.get_setting("k") is None


def test_a_second_writer_is_told_the_database_is_busy(tmp_path):
    # DuckDB's file lock is per process; a second process would get the lock error that this maps.
    from analytics.store.connection import _map_duckdb_error

    err = _map_duckdb_error(duckdb.IOException('Could not set lock on file "x": Conflicting lock is held'),
                            tmp_path / "x.duckdb")
    assert isinstance(err, StoreBusy) and "database busy, try again" in str(err)


def test_backup_and_restore_round_trip(tmp_path):
    from analytics.cli import main

    db, restored = tmp_path / "a.duckdb", tmp_path / "b.duckdb"
    with Store(db) as s:
        load_handworked(s, tmp_path)
        before = s.table_checksums()
    assert main(["--db", str(db), "export-db", str(tmp_path / "backup")]) == 0
    assert (tmp_path / "backup" / "load.sql").exists()
    assert main(["--db", str(restored), "import-db", str(tmp_path / "backup")]) == 0
    with Store(restored) as s:
        assert s.table_checksums() == before
        assert s.migrations() == [name for name, _ in MIGRATIONS]
    assert main(["--db", str(restored), "import-db", str(tmp_path / "backup")]) == 1  # never over a database
    assert main(["--db", str(tmp_path / "c.duckdb"), "import-db", str(tmp_path / "nothing")]) == 1


def test_backup_paths_cannot_break_out_of_the_statement(tmp_path):
    from analytics.exceptions import StoreError

    with Store(tmp_path / "a.duckdb") as s:
        with pytest.raises(StoreError, match="may not contain quotes"):
            export_database(s, tmp_path / "x'; DROP TABLE deals; --")
        assert s.scalar("SELECT count(*) FROM deals") == 0  # still there


def test_a_later_import_recomputes_only_its_deals_facts_and_they_equal_a_full_rebuild(store, tmp_path):
    import pandas as pd

    from analytics.ingest.batches import undo_batch
    from analytics.ingest.canonical import import_files

    _import_sample(store, tmp_path, deals=2_000, seed=5)
    assert store.get_setting("facts_appended") == "0"  # the first import builds the table whole
    tables = ("deal_facts", "stage_durations", "deal_spans")
    first = store.table_checksums(tables)

    deals = pd.read_csv(tmp_path / "deals.csv", dtype=str, keep_default_na=False)
    open_ = deals[deals["outcome"] == "open"].head(10).assign(outcome="won", closed_at="2026-11-26")
    lost = deals[deals["outcome"] == "lost"].head(10)
    lost = lost.assign(amount=(lost["amount"].astype(float) + 1).astype(str))
    new = deals.head(5).assign(deal_id=[f"N{i}" for i in range(5)], outcome="open", closed_at="")
    later = pd.concat([open_, lost, new])
    later_history = pd.concat([
        pd.DataFrame({"deal_id": open_["deal_id"], "stage": "8", "entered_at": "2026-11-26 10:00:00"}),
        # close-date and amount changes: each deal's spans of its values are recomputed too
        pd.DataFrame({"deal_id": open_["deal_id"].head(3), "stage": "", "entered_at": "2026-11-25 10:00:00",
                      "expected_close": "2026-11-26", "amount": "12345"}),
        pd.DataFrame({"deal_id": [f"N{i}" for i in range(5)] * 2, "stage": ["1"] * 5 + ["2"] * 5,
                      "entered_at": ["2026-11-01 09:00:00"] * 5 + ["2026-11-20 09:00:00"] * 5})])
    later.to_csv(tmp_path / "later.csv", index=False)
    later_history.to_csv(tmp_path / "later_history.csv", index=False)
    result = import_files(store, tmp_path / "later.csv", tmp_path / "later_history.csv")
    assert (result.status, result.deals_inserted, result.deals_updated) == ("imported", 5, 20)
    assert store.get_setting("facts_appended") == "25"  # 25 deals recomputed, not 2,005
    incremental = store.table_checksums(tables)
    assert store.scalar("SELECT count(*) FROM deal_facts WHERE deal_id LIKE 'N%' AND current_stage = 2") == 5
    store.refresh_deal_facts()
    assert store.table_checksums(tables) == incremental  # row for row what a full rebuild computes

    undo_batch(store, result.batch_id)
    assert store.get_setting("facts_appended") == "25"  # the full rebuild above reset it; undo recomputed 25
    assert store.table_checksums(tables) == first  # the earlier state, exactly

    everything = deals.assign(amount=(deals["amount"].astype(float) + 2).astype(str))
    everything.to_csv(tmp_path / "all.csv", index=False)
    assert import_files(store, tmp_path / "all.csv").deals_updated == 2_000
    assert store.get_setting("facts_appended") == "0"  # past 10% of the table: rebuilt whole, grouped by outcome


def test_a_database_of_an_older_keyfunnel_is_migrated_before_a_read_only_command(tmp_path, capsys):
    """Schema 007 adds deals.name, which the analyses read: a read-only CLI command on a database written before it
    would fail on the missing column. It migrates once, as a writer, first."""
    from analytics.cli import main

    db = tmp_path / "old.duckdb"
    with Store(db) as s:
        s.execute("DELETE FROM schema_migrations WHERE name = '008_deal_facts_inferred_creation'")
        s.set_setting("derived_version", "an older one")
        assert s.needs_migration()
    assert main(["--db", str(db), "funnel", "--json"]) == 0
    with Store(db, read_only=True) as s:
        assert not s.needs_migration()


def test_running_out_of_memory_says_what_to_set(tmp_path, monkeypatch):
    """At 2M generated deals the first import's per-deal facts ran out of DuckDB's 1 GB (benchmarks/scale.py): the
    message names the limit in force and the setting that raises it, not DuckDB's line alone."""
    import duckdb

    from analytics.exceptions import StoreError
    from analytics.store.connection import _map_duckdb_error

    monkeypatch.setenv("KEYFUNNEL_MEMORY_LIMIT", "1GB")
    error = _map_duckdb_error(duckdb.OutOfMemoryException(
        "Out of Memory Error: failed to allocate data of size 32.0 KiB (953.8 MiB/953.6 MiB used)"), tmp_path / "x")
    assert isinstance(error, StoreError)
    assert "(1GB; DuckDB: Out of Memory Error: failed to allocate" in str(error)
    assert "KEYFUNNEL_MEMORY_LIMIT=4GB" in str(error) and "Nothing of this step was written" in str(error)


def test_the_pipeline_at_a_moment_has_each_open_deals_stage_then_by_hand(store, tmp_path):
    """The nine hand-worked deals and D10, lost with no close date (kept open by the pipelines, with no stage spans):
    each deal open at the start of the day, with the stage it was in then and when it entered it."""
    from datetime import datetime

    from analytics.ingest.canonical import import_files
    from analytics.store.asof import open_deal_features_at

    from .conftest import write_csv
    from .handworked import DEAL_HEADER, DEALS, HISTORY

    undated = ["D10", "B", "Ann", "East", "Energy", 90, "2026-01-01", "2026-03-01", "", "lost", "price"]
    deals = write_csv(tmp_path / "deals.csv", DEAL_HEADER, [*DEALS, undated])
    history = write_csv(tmp_path / "history.csv", ["deal_id", "stage", "entered_at"],
                        [*HISTORY, ["D10", 2, "2026-01-05"], ["D10", 5, "2026-03-01"]])
    assert import_files(store, deals, history).status == "imported"
    feb12, mar5 = open_deal_features_at(store, [date(2026, 2, 12), date(2026, 3, 5)], with_names=False)

    def stages(frame):
        return {r.deal_id: (r.stage, r.current_stage_entered_at.to_pydatetime()) for r in frame.itertuples()}

    def on(month, day):
        return datetime(2026, month, day)

    # D2 and D9 closed before Feb 12, D3 was not created yet; D4 closes on Feb 15. D10's stage 5 came after the
    # moment, so its stage then is read from its events.
    assert stages(feb12) == {"D1": (4, on(2, 10)), "D4": (1, on(2, 1)), "D5": (4, on(2, 1)), "D6": (6, on(2, 10)),
                             "D7": (3, on(2, 1)), "D8": (4, on(2, 1)), "D10": (2, on(1, 5))}
    # by Mar 5 D4 has closed; every other deal entered its stage then on Mar 1 (D6 its 7, after stepping back)
    assert stages(mar5) == {d: (s, on(3, 1)) for d, s in
                            {"D1": 5, "D5": 5, "D6": 7, "D7": 5, "D8": 5, "D10": 5}.items()}


def _import_sample(store: Store, folder, *, deals: int, seed: int) -> None:
    """A generated sample written to `folder` and imported into `store`."""
    from analytics.ingest.canonical import import_files
    from analytics.sample import SampleParameters, write_sample

    write_sample(folder, SampleParameters(deals=deals, seed=seed, as_of="2026-11-27"))
    assert import_files(store, folder / "deals.csv", folder / "stage_history.csv").status == "imported"


def test_training_rows_at_many_dates_equal_each_dates_own(tmp_path):
    """The backtest's dates read together: every date's frame equals training_rows' of that date alone, with the
    per-stage sample binding (40 rows a stage), dates out of order and one twice."""
    from datetime import datetime

    import pandas as pd

    from analytics.store.training import (
        training_rows,
        training_rows_at,
        weighted_training_rows,
        weighted_training_rows_at,
    )

    with Store(tmp_path / "kf.duckdb") as store:
        _import_sample(store, tmp_path, deals=1500, seed=5)
        whens = [date(2026, 7, 1), date(2025, 1, 1), date(2025, 10, 1), date(2026, 1, 1), date(2025, 1, 1)]
        together = list(training_rows_at(store, whens, per_stage=40))
        for when, rows in zip(whens, together):
            alone = training_rows(store, when, per_stage=40)
            assert (alone.groupby("stage").size() <= 40).all() and len(alone) > 100
            pd.testing.assert_frame_equal(rows, alone, check_exact=True)
        # each date sees only the deals closed before it, and a later one samples some closed since
        assert (together[1]["closed_at"] < "2025-01-01").all() and (together[0]["closed_at"] >= "2025-01-01").any()
        # and with their censoring weights, whose follow-ups are read together too (one date not at midnight)
        whens.append(datetime(2025, 6, 1, 15, 30))
        for when, rows in zip(whens, weighted_training_rows_at(store, whens, per_stage=40)):
            pd.testing.assert_frame_equal(rows, weighted_training_rows(store, when, per_stage=40), check_exact=True)
            assert rows["weight"].max() > 1.01  # the censoring is undone: recent wins weigh more than one row


def test_the_sampling_order_breaks_a_tie_of_two_deals_hashes_by_their_ids():
    """training_rows samples each stage's rows by hash(deal_id), then deal_id: the shared rows are put in that order
    in numpy. Two deals with one 64-bit hash are next to never seen, so the tie is made here by hand."""
    import numpy as np

    from analytics.store.training import _sampling_order

    stage = np.array([2, 1, 1, 1, 2, 1])
    deal_hash = np.array([5, 9, 3, 9, 1, 9], dtype=np.uint64)
    deal_id = np.array(["b", "z", "q", "a", "c", "m"], dtype=object)
    # stage 1: hash 3 (q), then the three deals hashed 9 by id: a, m, z; stage 2: hash 1 (c), then 5 (b)
    assert _sampling_order(stage, deal_hash, deal_id).tolist() == [2, 3, 5, 1, 4, 0]


def test_today_state_is_a_readers_own_table_while_its_dates_are_read(tmp_path):
    """The backtest's dates read today's state once, into a temp table of the reading thread's cursor: a read-only
    store (the app's) can make one, another thread does not see it, and it is gone once the reads are done."""
    import threading

    import pandas as pd

    from analytics.store.training import (
        today_state,
        weighted_training_rows,
        weighted_training_rows_at,
    )

    with Store(tmp_path / "kf.duckdb") as store:
        _import_sample(store, tmp_path, deals=600, seed=3)
    whens = [date(2026, 1, 1), date(2026, 7, 1)]

    def tables(s: Store) -> set:
        return {name for (name,) in s.fetchall("SELECT table_name FROM duckdb_tables() WHERE temporary")}

    with Store(tmp_path / "kf.duckdb", read_only=True) as reader:
        seen_elsewhere = []
        with today_state(reader, whens) as state:
            assert tables(reader) == {"kf_today_state"} and state == "SELECT * FROM kf_today_state"
            other = threading.Thread(target=lambda: seen_elsewhere.append(tables(reader)))
            other.start()
            other.join()
        assert seen_elsewhere == [set()] and tables(reader) == set()
        with today_state(reader, [whens[0], whens[0]]) as state:  # one moment: nothing to share
            assert state is None and tables(reader) == set()
        for when, rows in zip(whens, weighted_training_rows_at(reader, whens)):
            pd.testing.assert_frame_equal(rows, weighted_training_rows(reader, when), check_exact=True)
        assert tables(reader) == set()


def test_training_rows_at_a_date_that_sees_a_deal_move_after_its_close_are_read_on_their_own(store, tmp_path):
    """D11 lost on Feb 1 and has a stage entry, 5, on Feb 20 (exports record such moves). On Feb 10 it is resolved
    with only its entries before then (1 and 3: rows at stages 1 to 3); by Mar 1, at 1 to 5. A date between its close
    and that entry cannot take its rows from the deals as they stand today; both dates still equal their own."""
    import pandas as pd

    from analytics.ingest.canonical import import_files
    from analytics.store.training import (
        training_rows,
        training_rows_at,
        weighted_training_rows,
        weighted_training_rows_at,
    )

    from .conftest import write_csv
    from .handworked import DEAL_HEADER, DEALS, HISTORY

    moved = ["D11", "B", "Ann", "East", "Energy", 90, "2026-01-02", "2026-02-01", "2026-02-01", "lost", "price"]
    deals = write_csv(tmp_path / "deals.csv", DEAL_HEADER, [*DEALS, moved])
    history = write_csv(tmp_path / "history.csv", ["deal_id", "stage", "entered_at"],
                        [*HISTORY, ["D11", 1, "2026-01-02"], ["D11", 3, "2026-01-20"], ["D11", 5, "2026-02-20"]])
    assert import_files(store, deals, history).status == "imported"
    whens = [date(2026, 2, 10), date(2026, 3, 1), date(2026, 6, 1)]
    together = list(training_rows_at(store, whens))
    for when, rows in zip(whens, together):
        pd.testing.assert_frame_equal(rows, training_rows(store, when), check_exact=True)
    for when, rows in zip(whens, weighted_training_rows_at(store, whens)):
        pd.testing.assert_frame_equal(rows, weighted_training_rows(store, when), check_exact=True)
    d11 = [sorted(rows.loc[rows["deal_id"] == "D11", "stage"]) for rows in together]
    assert d11 == [[1, 2, 3], [1, 2, 3, 4, 5], [1, 2, 3, 4, 5]]


def test_memory_capped_lowers_duckdbs_limit_within_it_and_restores_it_after_the_last_block(store):
    from analytics.store.connection import memory_capped

    def limit():
        return store.scalar("SELECT current_setting('memory_limit')")

    configured = limit()  # KEYFUNNEL_MEMORY_LIMIT's 1GB reads back as 953.6 MiB
    with memory_capped(store, "640MB"):
        assert limit() == "610.3 MiB"  # 640 MB in MiB
        with memory_capped(store, "640MB"):
            assert limit() == "610.3 MiB"
        assert limit() == "610.3 MiB"  # an inner block leaving keeps the outer one's cap
    assert limit() == configured


def test_a_filter_that_keeps_a_share_of_the_deals_reads_proportionally_more_moments_a_query(store, tmp_path):
    from analytics.filters import DealFilter
    from analytics.store.asof import (
        MAX_MOMENTS_PER_QUERY,
        MOMENTS_PER_QUERY,
        moments_per_query,
    )

    from .handworked import load_handworked

    load_handworked(store, tmp_path)
    assert moments_per_query(store) == MOMENTS_PER_QUERY == 5
    assert moments_per_query(store, DealFilter(tier=("A",))) == 15  # D1, D3, D6: a third of the nine deals
    assert moments_per_query(store, DealFilter(owner=("Ann",))) == 9  # five of nine: 5 × 9 / 5
    assert moments_per_query(store, DealFilter(owner=("Nobody",))) == MAX_MOMENTS_PER_QUERY == 40
