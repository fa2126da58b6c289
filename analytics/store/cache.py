"""Results kept in the database until the data changes: fitted models, forecasts, backtests.

Fitting the win model and backtesting take seconds to minutes at a million deals. Their results are pickled into
`result_cache` with the data version they were computed from (analytics.store bumps it whenever deal_facts is
recomputed: every import, undo and demo removal), so every later session, page and process reads them instead.
Which functions are kept is marked on them (`persistable`); after an import, analytics.refresh computes the default
ones ahead of the first viewer. The database is the user's own file: unpickling from it trusts nothing that was not
already trusted.
"""

from __future__ import annotations

import hashlib
import inspect
import pickle
from collections.abc import Callable
from typing import TypeVar

from analytics.exceptions import StoreError
from analytics.store.connection import Store

T = TypeVar("T")

# Part of every key: changed whenever what a persisted function computes changes, so that a database keeps no result
# (or pickled object) an older keyfunnel computed.
RESULTS_VERSION = "2026-12-01 the review's waterfall"


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
    if not store.read_only:
        try:
            store.execute("INSERT OR REPLACE INTO result_cache VALUES (?, ?, now(), ?)",
                          [key, version, pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)])
        except StoreError:  # another writer got there first, or the file is busy: the result is still right
            pass
    return value
