"""Results kept until the data changes: fitted models, forecasts, backtests.

Fitting the win model and backtesting take seconds to minutes at a million deals. Their results are pickled, with
the data version they were computed from (analytics.store bumps it whenever deal_facts is recomputed: every import,
undo and demo removal), so every later session, page and process reads them instead. Which functions are kept is
marked on them (`persistable`); after an import, analytics.refresh computes the default ones ahead of the first
viewer. The database is the user's own file: unpickling from it trusts nothing that was not already trusted.

They are kept beside the database, in `<db>.results.sqlite`, not in it: a reader computes them, and readers never
write the database (analytics.store.turns). SQLite, in write-ahead-log mode, lets many processes read it and one
write it at a time, each write a few milliseconds; a result that cannot be written (a read-only folder, a
writer holding the file past the timeout) is computed again next time, never wrong. A writer that replaces the
database keeps the results of the version before it, which pages show, said to be earlier, while the new version's
refresh runs (`earlier_while_refreshing`); that refresh, finished, removes them (`forget_other_versions`).

A few results depend on far less than the whole data: a past quarter's win model on the training rows known at its
start, which a weekly re-export rarely changes. Those are kept by what they were computed from (`kept_by_content`),
across data versions, the KEPT_BY_CONTENT most recently used of them.
"""

from __future__ import annotations

import hashlib
import inspect
import os
import pickle
import socket
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from analytics.store.connection import Store

T = TypeVar("T")

# The data_version of the results kept by what they were computed from, not by the data (kept_by_content): a new
# data version keeps them.
CONTENT_VERSION = "content"

# Part of every key: changed whenever what a persisted function computes changes, so that a database keeps no result
# (or pickled object) an older keyfunnel computed.
RESULTS_VERSION = "2026-12-04 BLAS on one thread: the fits side by side"


def persistable(compute: Callable[..., T]) -> Callable[..., T]:
    """Mark an analysis whose results are kept in the database: the app's cache (ui.cached), the CLI and
    analytics.refresh read this mark on the function itself, so that no list of names can fall out of step with a
    rename."""
    compute.persistable = True
    return compute


def is_persistable(compute: Callable) -> bool:
    return getattr(compute, "persistable", False) is True


def result_key(compute: Callable, args: tuple, kwargs: dict) -> str:
    """The same key however the call spelled its arguments: bound to the signature, defaults applied."""
    bound = inspect.signature(compute).bind(None, *args, **kwargs)
    bound.apply_defaults()
    named = sorted((k, v) for k, v in bound.arguments.items() if k != next(iter(bound.arguments)))
    return hashlib.sha256(repr((RESULTS_VERSION, compute.__module__, compute.__qualname__, named)).encode()).hexdigest()


def results_path(db_path: str | os.PathLike) -> Path:
    db_path = Path(db_path)
    return db_path.with_name(db_path.name + ".results.sqlite")


_RESULTS_SCHEMA = """
CREATE TABLE IF NOT EXISTS results (key TEXT NOT NULL, data_version TEXT NOT NULL, used_at TEXT NOT NULL,
                                    value BLOB NOT NULL, PRIMARY KEY (key, data_version));
CREATE TABLE IF NOT EXISTS refreshes (data_version TEXT PRIMARY KEY, pid INTEGER NOT NULL, host TEXT NOT NULL,
                                      started_at TEXT NOT NULL, finished_at TEXT);
"""
_READY: set[Path] = set()  # results files this process has given their schema


@contextmanager
def results_file(db_path: str | os.PathLike) -> Iterator[sqlite3.Connection]:
    """A connection to the database's results file, in autocommit; closed on leaving. One per use: SQLite
    connections belong to the thread that opened them, and Streamlit's sessions are threads."""
    path = results_path(db_path)
    con = sqlite3.connect(path, timeout=20, isolation_level=None)
    try:
        if path not in _READY:
            con.execute("PRAGMA journal_mode=WAL")
            con.executescript(_RESULTS_SCHEMA)
            _READY.add(path)
        yield con
    finally:
        con.close()


def _read(store: Store, key: str, version: str) -> bytes | None:
    try:
        with results_file(store.path) as con:
            row = con.execute("SELECT value FROM results WHERE key = ? AND data_version = ?", [key, version]).fetchone()
    except sqlite3.Error:
        return None
    return None if row is None else row[0]


def _quietly(store: Store, sql: str, params) -> None:
    """A write to the results file; a failed one is let go (a read-only folder, a file busy past the timeout): the
    result is still right, and is computed again next time."""
    try:
        with results_file(store.path) as con:
            con.execute(sql, params)
    except sqlite3.Error:
        pass


def _keep(store: Store, key: str, version: str, value: object) -> None:
    _quietly(store, "INSERT OR REPLACE INTO results VALUES (?, ?, ?, ?)",
             [key, version, _now(), pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)])


def _now() -> str:
    return datetime.now().isoformat(timespec="microseconds")


def persisted(store: Store, compute: Callable[..., T], *args, **kwargs) -> T:
    """compute(store, *args, **kwargs), read from the results file when this data version already computed it
    (within `earlier_while_refreshing`, perhaps the version before's)."""
    key, version = result_key(compute, args, kwargs), store.data_version()
    kept = _kept(store, key, version)
    if kept is not None:
        return pickle.loads(kept)
    value = compute(store, *args, **kwargs)
    _keep(store, key, version, value)
    return value


def is_kept(store: Store, compute: Callable, *args, **kwargs) -> bool:
    """Whether persisted(store, compute, *args, **kwargs) would read its result rather than compute it."""
    return _kept(store, result_key(compute, args, kwargs), store.data_version()) is not None


def keep(store: Store, compute: Callable[..., T], value: T, *args, **kwargs) -> None:
    """Keep `value` as persisted(store, compute, *args, **kwargs)'s result for this data version: for a result
    computed beside another from the same reads (the backtest's quarter and the calls' points of it)."""
    _keep(store, result_key(compute, args, kwargs), store.data_version(), value)


def persisted_together(store: Store, compute: Callable[..., T], calls: list[tuple],
                       compute_missing: Callable[[list[tuple]], Iterable[T]]) -> list[T]:
    """persisted(store, compute, *args) for each `args` of `calls`, the ones not kept yet computed together:
    compute_missing(their args) yields their results in that order (the backtest's eight win models from one read
    of their training rows), each kept as it comes."""
    version = store.data_version()
    keys = [result_key(compute, args, {}) for args in calls]
    kept = [_kept(store, key, version) for key in keys]
    computed = iter(compute_missing([args for args, value in zip(calls, kept) if value is None]))
    out = []
    for key, value in zip(keys, kept):
        if value is None:
            out.append(next(computed))
            _keep(store, key, version, out[-1])
        else:
            out.append(pickle.loads(value))
    return out


def _kept(store: Store, key: str, version: str) -> bytes | None:
    """The result kept for this data version, or (within earlier_while_refreshing) an earlier one's."""
    kept = _read(store, key, version)
    used = _EARLIER.get()
    if kept is None and used is not None:
        earlier = _earlier(store, key, version)
        if earlier is not None:
            used.append(earlier[1])
            return earlier[0]
    return kept


_EARLIER: ContextVar[list[str] | None] = ContextVar("earlier_results", default=None)


@contextmanager
def earlier_while_refreshing() -> Iterator[list[str]]:
    """Within it, while another process refreshes this data version, a result it has not reached yet is the one an
    earlier version computed (the last fully refreshed one first), and the time each was computed is added to the
    list yielded: the app shows earlier figures, said to be earlier, instead of each page computing what the refresh
    is computing. The refresh itself, and the CLI, compute."""
    used: list[str] = []
    token = _EARLIER.set(used)
    try:
        yield used
    finally:
        _EARLIER.reset(token)


def _earlier(store: Store, key: str, version: str) -> tuple[bytes, str] | None:
    try:
        with results_file(store.path) as con:
            claim = _claim(con, version)
            if _claim_state(claim) != "running" or claim[0] == os.getpid():
                return None  # no refresh running elsewhere: this process computes
            return con.execute(f"""
                SELECT value, used_at FROM results WHERE key = ? AND data_version NOT IN (?, ?)
                ORDER BY data_version = ({_LAST_REFRESHED_SQL}) DESC, used_at DESC
                LIMIT 1""", [key, version, CONTENT_VERSION]).fetchone()  # a fixed statement formatted in
    except sqlite3.Error:
        return None


_LAST_REFRESHED_SQL = ("SELECT data_version FROM refreshes WHERE finished_at IS NOT NULL "
                       "ORDER BY finished_at DESC LIMIT 1")


def last_refreshed_version(db_path: str | os.PathLike) -> str | None:
    """The data version whose refresh finished last (a writer keeps its results: pages show them meanwhile)."""
    try:
        with results_file(db_path) as con:
            row = con.execute(_LAST_REFRESHED_SQL).fetchone()
    except sqlite3.Error:
        return None
    return None if row is None else row[0]


KEPT_BY_CONTENT = 64  # results kept by content, the most recently used: a refresh uses nine win models


def kept_by_content(store: Store, name: str, content: bytes, compute: Callable[[], T]) -> T:
    """compute(), read from the results file when `name` was computed from the same `content` (a fingerprint of its
    inputs, which must determine the result), whatever the data version: forget_other_versions keeps these."""
    key = hashlib.sha256(repr((RESULTS_VERSION, name)).encode() + content).hexdigest()
    kept = _read(store, key, CONTENT_VERSION)
    if kept is None:
        value = compute()
        _keep(store, key, CONTENT_VERSION, value)
        _quietly(store, """DELETE FROM results WHERE data_version = :c AND key NOT IN (
                               SELECT key FROM results WHERE data_version = :c ORDER BY used_at DESC LIMIT :n)""",
                 {"c": CONTENT_VERSION, "n": KEPT_BY_CONTENT})
        return value
    _quietly(store, "UPDATE results SET used_at = ? WHERE key = ? AND data_version = ?",
             [_now(), key, CONTENT_VERSION])  # used: the last pruned
    return pickle.loads(kept)


def forget_other_versions(db_path: str | os.PathLike, *keep: str) -> None:
    """The results (and refresh records) of every data version but `keep` go, but for those kept by content. A
    writer that publishes a new version keeps the one before and the last fully refreshed one, whose results pages
    show while the new version's refresh runs (earlier_while_refreshing); that refresh, once finished, keeps its own
    alone. A reader still on an earlier file computes its own again."""
    versions = [*keep, CONTENT_VERSION]
    marks = ", ".join("?" * len(versions))
    try:
        with results_file(db_path) as con:
            con.execute(f"DELETE FROM results WHERE data_version NOT IN ({marks})", versions)  # marks: ?, ?, …
            con.execute(f"DELETE FROM refreshes WHERE data_version NOT IN ({marks})", versions)
    except sqlite3.Error:
        pass


# The refresh of each data version (analytics.refresh): claimed by one process at a time, and marked finished, so
# that a process started after one was killed mid-way finishes it, and no two processes compute it side by side.

def claim_refresh(store: Store, pid: int | None = None) -> bool:
    """Claim this data version's refresh for process `pid` (this one by default; the app claims for the process it
    starts, so that pages wait for none of its start-up): False when it is finished, or claimed by another live
    process (on this host; a claim from another host stands)."""
    version, host, pid = store.data_version(), socket.gethostname(), pid or os.getpid()
    try:
        with results_file(store.path) as con:
            con.execute("BEGIN IMMEDIATE")
            row = _claim(con, version)
            free = _claim_state(row) == "due" or (_claim_state(row) == "running" and (row[0], row[1]) == (pid, host))
            if free:
                con.execute("INSERT OR REPLACE INTO refreshes VALUES (?, ?, ?, ?, NULL)", [version, pid, host, _now()])
            con.execute("COMMIT")
    except sqlite3.Error:
        return False
    return free


def finish_refresh(store: Store) -> None:
    """This data version's refresh has finished (claimed or not: `keyfunnel refresh` computes without a claim):
    the results of earlier versions, shown while it ran, go."""
    _quietly(store, """INSERT INTO refreshes VALUES (?, ?, ?, ?, ?)
                       ON CONFLICT (data_version) DO UPDATE SET finished_at = excluded.finished_at""",
             [store.data_version(), os.getpid(), socket.gethostname(), _now(), _now()])
    forget_other_versions(store.path, store.data_version())


def release_refresh(store: Store) -> None:
    """A refresh that stopped before it finished (its data replaced meanwhile): the claim goes."""
    _quietly(store, "DELETE FROM refreshes WHERE data_version = ? AND pid = ? AND finished_at IS NULL",
             [store.data_version(), os.getpid()])


def refresh_state(store: Store) -> str:
    """'finished', 'running' (claimed by a live process), or 'due'."""
    try:
        with results_file(store.path) as con:
            return _claim_state(_claim(con, store.data_version()))
    except sqlite3.Error:
        return "due"


def _claim(con: sqlite3.Connection, version: str) -> tuple | None:
    return con.execute("SELECT pid, host, finished_at FROM refreshes WHERE data_version = ?", [version]).fetchone()


def _claim_state(claim: tuple | None) -> str:
    """A refresh claim (pid, host, finished_at), or None: 'finished', 'running' or 'due'."""
    if claim is None:
        return "due"
    if claim[2] is not None:
        return "finished"
    return "running" if process_holds(claim[0], claim[1]) else "due"


def process_holds(pid: int, host: str) -> bool:
    """Whether what process `pid` on `host` claimed (a refresh, the turn to write) still stands: its process runs,
    or it runs on another host, which this one cannot tell."""
    return host != socket.gethostname() or process_alive(pid)


def process_alive(pid: int) -> bool:
    """Whether process `pid` runs on this host (a zombie, killed and not yet reaped, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):  # no /proc (macOS): os.kill said it exists
        return True


def frame_fingerprint(frame) -> bytes:
    """A digest of a DataFrame's columns, types and every value, in order."""
    import pandas as pd

    head = repr((list(frame.columns), [str(t) for t in frame.dtypes])).encode()
    return hashlib.sha256(head + pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes()).digest()
