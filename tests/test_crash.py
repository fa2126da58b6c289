"""Killed imports and a second writer: the database survives, holds a whole batch or none of it, and the user gets a
clear message rather than a traceback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from analytics.sample import SampleParameters, write_sample
from analytics.store.connection import Store
from analytics.store.schema import MIGRATIONS


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    folder = tmp_path_factory.mktemp("crash")
    truth = write_sample(folder, SampleParameters(deals=60_000, seed=4, as_of="2026-11-27"))
    return folder, truth["counts"]


def _import(db, folder):
    return subprocess.Popen([sys.executable, "-m", "analytics.cli", "--db", str(db), "import",
                             str(folder / "deals.csv"), "--history", str(folder / "stage_history.csv")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dict(os.environ, PYTHONUNBUFFERED="1"))


@pytest.mark.parametrize("delay", [0.3, 0.8, 1.5, 2.5, 4.0])
def test_a_killed_import_leaves_all_or_nothing(sample, tmp_path, delay):
    folder, counts = sample
    db = tmp_path / "kf.duckdb"
    proc = _import(db, folder)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with Store(db) as store:  # opens, replays or discards the write-ahead log, migrates if it never got that far
        deals = store.scalar("SELECT count(*) FROM deals")
        events = store.scalar("SELECT count(*) FROM stage_events")
        batches = store.fetchall("SELECT status, deals_inserted FROM import_batches")
        facts = store.scalar("SELECT count(*) FROM deal_facts")
        # integrity: the file checkpoints cleanly, ids are unique, no event lacks its deal, facts match deals
        store.execute("CHECKPOINT")
        assert store.scalar("SELECT count(*) - count(DISTINCT deal_id) FROM deals") == 0
        assert store.scalar("SELECT count(*) FROM stage_events e ANTI JOIN deals d USING (deal_id)") == 0
        assert store.scalar("SELECT count(*) FROM deal_facts f ANTI JOIN deals d USING (deal_id)") == 0
        assert store.migrations() == [name for name, _ in MIGRATIONS]
    if batches:
        assert batches == [("imported", counts["deals"])]
        assert (deals, events, facts) == (counts["deals"], counts["stage_events"], counts["deals"])
    else:
        assert (deals, events, facts) == (0, 0, 0)


def test_a_second_writer_is_told_to_try_again(sample, tmp_path):
    folder, _ = sample
    db = tmp_path / "kf.duckdb"
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from analytics.store.connection import Store; "
                               f"s = Store({str(db)!r}); print('open', flush=True); time.sleep(30)"],
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "open"
    try:
        proc = _import(db, folder)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 1
        assert b"database busy, try again" in err and b"Traceback" not in err
    finally:
        holder.kill()
        holder.wait()
