"""The win model's fits and the forecasts' simulations side by side on the machine's cores.

BLAS runs on one thread in keyfunnel (analytics/__init__.py: its thread count changed the last bits of a fit), so
the cores are used here instead, by whole pieces of work: on two cores four fits took 0.86 s side by side against
1.26–1.41 s one after another, where BLAS on both cores had gained nothing. A simulation's array work lets go of
Python's lock too (a backtest quarter's four weeks: 1.0 s → 0.68 s). One fit's seven stages side by side gained
nothing: their table work holds the lock. KEYFUNNEL_THREADS sets how many run at once (1: one after another); the
results are the same either way (tests/test_threads.py).
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

MAX_THREADS = 4  # each fit holds its own rows and design matrices


def work_threads() -> int:
    """How many fits or simulations run side by side: KEYFUNNEL_THREADS, or the cores this process may use, at
    most MAX_THREADS."""
    chosen = os.environ.get("KEYFUNNEL_THREADS", "").strip()
    if chosen.isdigit() and int(chosen) > 0:
        return int(chosen)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(MAX_THREADS, cores))


def in_threads(work: Callable[[T], R], items: Iterable[T], threads: int | None = None) -> Iterator[R]:
    """work(item) for each of `items`, in their order, `threads` at a time. Items are taken as threads come free,
    not all at once: a generator of large frames holds only a few of them. `work` must not query the database (a
    store's DuckDB cursor belongs to the thread that made it): the caller reads what it needs first, as
    analytics.forecasting.calls reads the units' shares. The results file is fine: a SQLite connection per use."""
    threads = threads or work_threads()
    if threads == 1:
        yield from map(work, items)
        return
    with ThreadPoolExecutor(threads, thread_name_prefix="keyfunnel-work") as pool:
        pending: deque = deque()
        for item in items:
            pending.append(pool.submit(work, item))
            if len(pending) >= threads:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def run_all(tasks: Iterable[Callable[[], R]], threads: int | None = None) -> list[R]:
    """Each of `tasks` (functions of no arguments) run, side by side, their results in order (in_threads)."""
    return list(in_threads(lambda task: task(), tasks, threads))
