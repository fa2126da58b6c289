"""Results kept in the database until the data changes: fitted models, forecasts, backtests.

Fitting the win model and backtesting take seconds to minutes at a million deals. Their results are pickled into
`result_cache` with the data version they were computed from (analytics.store bumps it whenever deal_facts is
recomputed: every import, undo and demo removal), so every later session, page and process reads them instead.
After an import, `refresh_results` computes the default ones ahead of the first viewer. The database is the user's
own file: unpickling from it trusts nothing that was not already trusted.
"""

from __future__ import annotations

import hashlib
import inspect
import pickle
from collections.abc import Callable
from typing import TypeVar

from .exceptions import StoreError
from .store import Store

T = TypeVar("T")

# Part of every key: changed whenever what a persisted function computes changes, so that a database keeps no result
# (or pickled object) an older keyfunnel computed.
RESULTS_VERSION = "2026-12-01 censoring-weighted win model"


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


def refresh_results(store: Store) -> None:
    """Compute what the pages show by default, for the current data: the win model and its validation, this
    quarter's forecast and review, the backtest, the scored open deals."""
    from .forecast import backtest, forecast_quarter, quarter_of
    from .funnel import data_as_of
    from .model import evaluate, score_open_deals
    from .review import quarterly_review

    as_of = data_as_of(store)
    if as_of is None:
        return
    persisted(store, forecast_quarter)  # the Overview's
    persisted(store, forecast_quarter, quarter_of(as_of))  # the Forecast page's, for the current quarter
    persisted(store, score_open_deals)
    persisted(store, quarterly_review, quarter_of(as_of))
    persisted(store, evaluate)
    persisted(store, backtest, 8)
