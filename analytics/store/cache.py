"""Results kept in the database until the data changes: fitted models, forecasts, backtests.

Fitting the win model and backtesting take seconds to minutes at a million deals. Their results are pickled into
`result_cache` with the data version they were computed from (analytics.store bumps it whenever deal_facts is
recomputed: every import, undo and demo removal), so every later session, page and process reads them instead.
Which functions are kept is marked on them (`persistable`); after an import, analytics.refresh computes the default
ones ahead of the first viewer. The database is the user's own file: unpickling from it trusts nothing that was not
already trusted.

A few results depend on far less than the whole data: a past quarter's win model on the training rows known at its
start, which a weekly re-export rarely changes. Those are kept by what they were computed from (`kept_by_content`),
across data versions, the KEPT_BY_CONTENT most recently used of them.
"""

from __future__ import annotations

import hashlib
import inspect
import pickle
from collections.abc import Callable
from typing import TypeVar

from analytics.exceptions import StoreError
from analytics.store.connection import CONTENT_VERSION, Store

T = TypeVar("T")

# Part of every key: changed whenever what a persisted function computes changes, so that a database keeps no result
# (or pickled object) an older keyfunnel computed.
RESULTS_VERSION = "2026-12-02 Platt scaling below 10,000 rows a stage; the backtest kept per quarter"


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


def persisted(store: Store, compute: Callable[..., T], *args, **kwargs) -> T:
    """compute(store, *args, **kwargs), read from result_cache when this data version already computed it."""
    key, version = result_key(compute, args, kwargs), store.data_version()
    row = store.fetchone("SELECT value FROM result_cache WHERE key = ? AND data_version = ?", [key, version])
    if row is not None:
        return pickle.loads(row[0])
    value = compute(store, *args, **kwargs)
    _keep(store, key, version, value)
    return value


def _keep(store: Store, key: str, version: str, value: object) -> None:
    _quietly(store, "INSERT OR REPLACE INTO result_cache VALUES (?, ?, now(), ?)",
             [key, version, pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)])


def _quietly(store: Store, sql: str, params) -> None:
    """A write to result_cache, unless the store is read-only; a failed one is let go: another writer got there
    first, or the file is busy, and the result is still right."""
    if store.read_only:
        return
    try:
        store.execute(sql, params)
    except StoreError:
        pass


KEPT_BY_CONTENT = 64  # results kept by content, the most recently used: a refresh uses nine win models


def kept_by_content(store: Store, name: str, content: bytes, compute: Callable[[], T]) -> T:
    """compute(), read from result_cache when `name` was computed from the same `content` (a fingerprint of its
    inputs, which must determine the result), whatever the data version: Store.refresh_deal_facts keeps these."""
    key = hashlib.sha256(repr((RESULTS_VERSION, name)).encode() + content).hexdigest()
    row = store.fetchone("SELECT value FROM result_cache WHERE key = ? AND data_version = ?", [key, CONTENT_VERSION])
    if row is None:
        value = compute()
        _keep(store, key, CONTENT_VERSION, value)
        _quietly(store, """DELETE FROM result_cache WHERE data_version = $c AND key NOT IN (
                               SELECT key FROM result_cache WHERE data_version = $c
                               ORDER BY created_at DESC LIMIT $n)""", {"c": CONTENT_VERSION, "n": KEPT_BY_CONTENT})
        return value
    _quietly(store, "UPDATE result_cache SET created_at = now() WHERE key = ?", [key])  # used: the last pruned
    return pickle.loads(row[0])


def frame_fingerprint(frame) -> bytes:
    """A digest of a DataFrame's columns, types and every value, in order."""
    import pandas as pd

    head = repr((list(frame.columns), [str(t) for t in frame.dtypes])).encode()
    return hashlib.sha256(head + pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes()).digest()
