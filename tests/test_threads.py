"""Fits and simulations side by side (analytics.forecasting.threads): in order, a few items at a time, the same
results as one after another; and BLAS on one thread in any process that imports keyfunnel (analytics/__init__)."""

import os
import subprocess
import sys
import threading
from datetime import date

import numpy as np
import pytest

from analytics import BLAS_THREAD_VARIABLES
from analytics.forecasting.threads import in_threads, work_threads

from .conftest import ROOT
from .test_model import generated_store


def test_results_come_in_the_items_order_and_items_are_taken_as_threads_come_free():
    taken, finish = [], {i: threading.Event() for i in range(6)}

    def items():
        for i in range(6):
            taken.append(i)
            yield i

    def work(i):
        finish[i].wait(5)
        return i * 10

    finish[1].set()  # the second item finishes first; the first is still waited for
    results = in_threads(work, items(), threads=2)
    assert taken == []  # nothing taken before the first result is asked for
    finish[0].set()
    assert next(results) == 0
    assert taken == [0, 1]  # two at a time: the third is not taken before the first result came
    for e in finish.values():
        e.set()
    assert list(results) == [10, 20, 30, 40, 50]
    assert taken == list(range(6))


def test_a_failed_item_raises_in_the_caller():
    def work(i):
        if i == 2:
            raise ValueError("item 2")
        return i

    with pytest.raises(ValueError, match="item 2"):
        list(in_threads(work, range(5), threads=2))
    assert list(in_threads(lambda i: -i, range(3), threads=1)) == [0, -1, -2]


def test_keyfunnel_threads_sets_how_many_run_at_once(monkeypatch):
    monkeypatch.setenv("KEYFUNNEL_THREADS", "3")
    assert work_threads() == 3
    monkeypatch.setenv("KEYFUNNEL_THREADS", "none")  # not a count: the cores, at most four
    assert 1 <= work_threads() <= 4


def _blas_threads_in_a_process(code: str, **env) -> str:
    return subprocess.run([sys.executable, "-c", code + "\nfrom threadpoolctl import threadpool_info\n"
                           "print(sorted({l['num_threads'] for l in threadpool_info() if l['user_api'] == 'blas'}))"],
                          capture_output=True, text=True, check=True, cwd=ROOT,
                          env={k: v for k, v in {**os.environ, **env}.items()
                               if not (k in BLAS_THREAD_VARIABLES and k not in env)}
                          ).stdout.strip()


def test_blas_runs_on_one_thread_once_keyfunnel_is_imported_before_numpy_or_after():
    alone = _blas_threads_in_a_process("import numpy")  # numpy by itself takes every core
    assert alone == "[1]" if os.cpu_count() == 1 else alone != "[1]"
    assert _blas_threads_in_a_process("import analytics, numpy") == "[1]"
    assert _blas_threads_in_a_process("import numpy, analytics") == "[1]"  # streamlit run app.py imports numpy first
    assert _blas_threads_in_a_process("import analytics, numpy", OPENBLAS_NUM_THREADS="2") == "[2]"  # the user's


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    store = generated_store(tmp_path_factory, "threads", deals=6000, seed=4)
    yield store
    store.close()


def test_fits_and_simulations_side_by_side_equal_one_after_another(generated, monkeypatch):
    """The same win models, the same backtest weeks and the same owners' draws, bit for bit, whether they ran on one
    thread or on two: each has its own random stream, and none shares a buffer with another."""
    from analytics.forecasting.backtest import (
        backtest_from,
        backtest_of,
        scored_weeks_of,
        simulated_quarters,
        week_simulations,
    )
    from analytics.forecasting.calls import model_points_of
    from analytics.forecasting.winmodel import StageWinModel
    from analytics.store.training import weighted_training_rows

    days = [date(2025, 10, 1), date(2026, 1, 1), date(2026, 4, 1)]
    rows = [weighted_training_rows(generated, day) for day in days]
    one, two = (list(in_threads(lambda r: StageWinModel().fit(r), rows, threads=n)) for n in (1, 2))
    for r, a, b in zip(rows, one, two):
        assert np.array_equal(a.predict_proba(r), b.predict_proba(r))
    weeks = [w for _, w in scored_weeks_of(generated, ["2026Q1", "2026Q2"])]
    outputs = {}
    for n in ("1", "2"):
        monkeypatch.setenv("KEYFUNNEL_THREADS", n)
        outputs[n] = ([backtest_of(w, draws=500) for w in weeks],
                      [model_points_of(generated, w, draws=500) for w in weeks])
        # the quarters simulated while the next is read, as the backtest and the refresh run them
        outputs[n] += ([backtest_from(w, totals) for _, w, totals in
                        simulated_quarters(((w.quarter, w) for w in weeks), lambda w: week_simulations(w, 500))],)
    (bt1, points1, overlapped1), (bt2, points2, overlapped2) = outputs["1"], outputs["2"]
    assert overlapped1 == overlapped2 == bt1
    import analytics.forecasting.backtest as backtest_module

    monkeypatch.setattr(backtest_module, "OVERLAP_ROWS", 0)  # every quarter finished before the next is read
    assert [backtest_from(w, totals) for _, w, totals in
            simulated_quarters(((w.quarter, w) for w in weeks), lambda w: week_simulations(w, 500))] == bt1
    assert bt1 == bt2 and [q.quarter for q in bt1] == ["2026Q1", "2026Q2"]
    assert [list(p) for p in points1] == [list(p) for p in points2]
    for p1, p2 in zip(points1, points2):
        for key in p1:
            assert p1[key].units == p2[key].units and np.array_equal(p1[key].draws, p2[key].draws)
