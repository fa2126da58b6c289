"""What the win model learns from: one row per (resolved deal, stage it reached), with what was known on entering
the stage, as it could have been read at any date (the state of analytics.store.asof).

A backtest fits a model at the start of each of eight past quarters. Their rows are read together
(training_rows_at): a resolved deal's rows are the same at every date after it closed, so the deals are read once,
as they stand today, and each date keeps those resolved before it. That holds unless a deal has a stage entry
after its close or was created after it (exports do both): a date that could see such a deal reads its rows on its
own, as training_rows does.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, time

import numpy as np

from analytics.domain import FACTOR_KEYS, LAST_STAGE
from analytics.store.asof import (
    _STATE_SQL,
    MODEL_STAGES,
    OWNER_PRIOR_DEALS,
    PUSHES_SQL,
    TEAM_RATE_SQL,
    _ts,
    owner_win_rate_sql,
)
from analytics.store.connection import Store, memory_capped

MAX_ROWS_PER_STAGE = 50_000  # beyond this, more rows add time, not precision
_TODAY = datetime(9999, 1, 1)  # as $t: after every record, so the state is every deal's as it stands today


_STAGE_ENTERED = " ".join(f"WHEN {s} THEN coalesce(entered_{s}, CAST(closed_at AS TIMESTAMP))" for s in MODEL_STAGES)
_STAGE_LEFT = " ".join(f"WHEN {s} THEN coalesce(entered_{s + 1}, CAST(closed_at AS TIMESTAMP))" for s in MODEL_STAGES)
# the day from which a date sees a resolved deal (the day after both its close and its creation), of a deal r
_SEEN_AFTER = "greatest(r.closed_at, CAST(r.created_at AS DATE))"
# What a training row reads of its deal, beside the stage entries
_RESOLVED_COLUMNS = ", ".join(("deal_id", "owner", "outcome", "closed_at", "created_at", "tier", "region", "industry",
                               "amount", *FACTOR_KEYS))


def _rows_sql(state: str = _STATE_SQL) -> str:
    """The CTEs state (`state`: _STATE_SQL at $t, or today_state's table), resolved (the resolved deals) and keys:
    each resolved deal once per stage
    it was observed at, as (deal_id, stage, entered_stage_at, seen_after). A query samples the keys it wants, then
    takes their rows with _sampled_sql: carrying every deal's columns through all its stages' rows (3.7 million at
    a million deals) made DuckDB keep half a gigabyte of them, and spill a gigabyte to disk."""
    return f"""
        state AS ({state}),
        resolved AS (SELECT {_RESOLVED_COLUMNS}, {", ".join(f"entered_{s}" for s in range(1, LAST_STAGE + 1))},
                            furthest_stage, entry_stage
                     FROM state WHERE outcome <> 'open'),
        keys AS (
            SELECT r.deal_id, s.stage, CASE s.stage {_STAGE_ENTERED} END AS entered_stage_at,
                   {_SEEN_AFTER} AS seen_after
            FROM resolved r, (SELECT unnest(range(1, {LAST_STAGE})) AS stage) s
            WHERE r.furthest_stage >= s.stage AND r.entry_stage <= s.stage)"""


def _sampled_sql(chosen: str) -> str:
    """The CTE sampled: the training rows of the (stage, deal_id) pairs the CTE `chosen` (a fixed name) holds, each
    its deal's columns and when it entered and left the stage."""
    return f"""
        sampled AS (
            SELECT r.*, c.stage, CASE c.stage {_STAGE_ENTERED} END AS entered_stage_at,
                   CASE c.stage {_STAGE_LEFT} END AS left_stage_at
            FROM {chosen} c JOIN resolved r ON r.deal_id = c.deal_id)"""


def _features_sql(owner_rate: str, extra: str = "") -> str:
    """The CTEs and the SELECT that add, to the rows `sampled` holds, the owner's record and the pushes before each
    stage entry. `owner_rate`: the owner_win_rate column's expression (of o.won_before, o.closed_before and
    team.rate); `extra`: more columns, each after a comma (fixed text, not input)."""
    return f"""
        -- the owner's record at the end of each day they closed deals: one row per (owner, day), so the as-of join
        -- below has no ties to choose between
        owner_hist AS (
            SELECT owner, closed_ts, sum(won_that_day) OVER w AS won_before, sum(closed_that_day) OVER w AS closed_before
            FROM (SELECT owner, CAST(closed_at AS TIMESTAMP) AS closed_ts,
                         count(*) FILTER (WHERE outcome = 'won') AS won_that_day, count(*) AS closed_that_day
                  FROM resolved WHERE owner IS NOT NULL GROUP BY ALL)
            WINDOW w AS (PARTITION BY owner ORDER BY closed_ts ROWS UNBOUNDED PRECEDING)
        ),
        team AS ({TEAM_RATE_SQL}),
        pushes AS ({PUSHES_SQL}),
        pushed AS (
            SELECT r.deal_id, r.stage, count(p.deal_id) AS push_count
            FROM sampled r JOIN pushes p ON p.deal_id = r.deal_id AND p.changed_at < r.entered_stage_at GROUP BY ALL)
        SELECT r.deal_id, r.stage, CASE WHEN r.outcome = 'won' THEN 1 ELSE 0 END AS won, r.closed_at,
               r.tier, r.region, r.industry, ln(1 + greatest(r.amount, 0)) AS log_amount,
               {', '.join(f'r.{f}' for f in FACTOR_KEYS)},
               date_diff('day', CAST(r.created_at AS TIMESTAMP), r.entered_stage_at) AS days_in_process,
               {owner_rate} AS owner_win_rate,
               coalesce(pu.push_count, 0) AS push_count,
               r.entered_stage_at, r.left_stage_at{extra}
        FROM sampled r CROSS JOIN team
        ASOF LEFT JOIN owner_hist o ON r.owner = o.owner AND r.entered_stage_at > o.closed_ts
        LEFT JOIN pushed pu ON pu.deal_id = r.deal_id AND pu.stage = r.stage
        ORDER BY r.stage, r.closed_at, r.deal_id"""


def training_rows(store: Store, when: date | datetime, *, entered_before: date | datetime | None = None,
                  per_stage: int | None = None):
    """One row per (deal, stage s) for resolved deals observed at s, with what was known on entering s.

    `entered_before` keeps only stage entries before that time; `per_stage` keeps at most that many rows per stage,
    a deterministic sample by a hash of the deal id (so a row set never depends on deals added later).

    Columns: deal_id, stage, won (0/1), closed_at, tier, region, industry, log_amount, the nine scores,
    days_in_process (created → entered s), owner_win_rate (the owner's deals closed before entering s, shrunk
    toward the team's rate by OWNER_PRIOR_DEALS), push_count (the expected close's pushes recorded before entering
    s), entered_stage_at, left_stage_at (entry into a later stage, or the close).

    Read under memory_capped: at 1M deals the validation's 700,000 rows peaked at 1.24–1.30 GB with DuckDB's
    1 GB, 0.95 GB capped, 5% slower.
    """
    with memory_capped(store):
        return _fetch_rows(store, when, entered_before, per_stage)


def _fetch_rows(store: Store, when, entered_before, per_stage):
    return store.fetch_df(f"""
        WITH {_rows_sql()},
        -- sampled before the owner's record is joined on: the join is the costly part. The sample is chosen on
        -- (stage, deal id) alone and joined back: sorting the whole rows took half the query at 1M deals
        chosen AS (
            SELECT stage, deal_id FROM keys WHERE entered_stage_at < $before
            QUALIFY row_number() OVER (PARTITION BY stage ORDER BY hash(deal_id), deal_id) <= $per_stage
        ),
        {_sampled_sql("chosen")},
        {_features_sql(owner_win_rate_sql("o.won_before", "o.closed_before"))}""",
        {"t": _ts(when), "before": _ts(entered_before) if entered_before else _TODAY,
         "per_stage": per_stage or 2**62})


_SHARED_COLUMNS = ["won_before", "closed_before", "seen_after", "deal_hash"]  # what each date's rows are cut from


def training_rows_at(store: Store, whens: list, per_stage: int = MAX_ROWS_PER_STAGE) -> Iterator:
    """training_rows(store, when, per_stage=per_stage) for each of `whens`, in their order and frame for frame
    equal, from three queries for them all (module docstring): at a million deals, one date's took 2–3 s.

    1. For each date, the team's rate then, and whether a deal it sees resolved was created or moved after it.
    2. The keys of every resolved deal's rows as they stand today: stage, the day from which a date sees them,
       and the hash training_rows samples by. From them, for each date and stage, the largest hash of the first
       `per_stage` the date sees.
    3. Every row some date samples, with the owner's record before its entry as counts (the team's rate the record
       is shrunk toward is each date's). Each date keeps the rows it sees, the first `per_stage` by hash a stage.

    The queries run when it is called; each date's frame is cut when the iterator reaches it."""
    moments = [_ts(w) for w in whens]
    with today_state(store, moments) as state:
        shared = _shared_rows(store, moments, per_stage, state)
    return _each_date(store, moments, per_stage, shared)


@contextmanager
def today_state(store: Store, moments: list) -> Iterator[str | None]:
    """The state as it stands today (_STATE_SQL at _TODAY), computed once into a temp table of this thread's cursor
    (a reader's too) while the block runs, when there are two moments or more to read at: yields the SQL that
    reads it, else None. Each query of training_rows_at and follow_ups_at computed it again from every stage event
    and deal: at a million deals 1 s a query, four times for the backtest's dates."""
    if len(set(moments)) < 2:
        yield None
        return
    store.execute(f"CREATE OR REPLACE TEMP TABLE {_TODAY_STATE} AS SELECT {_TODAY_STATE_COLUMNS} FROM ({_STATE_SQL})",
                  {"t": _TODAY})
    try:
        yield f"SELECT * FROM {_TODAY_STATE}"
    finally:
        store.execute(f"DROP TABLE IF EXISTS {_TODAY_STATE}")


_TODAY_STATE = "kf_today_state"
# what the queries reading today_state read of it: a training row's deal, its stage entries, and the checks' moves
_TODAY_STATE_COLUMNS = ", ".join((_RESOLVED_COLUMNS, *(f"entered_{s}" for s in range(1, LAST_STAGE + 1)),
                                  "furthest_stage", "entry_stage", "cur_entered"))


def _shared_rows(store: Store, moments: list, per_stage: int, state: str | None):
    """training_rows_at's queries (its steps 1–3) over today's `state`: (the checks by moment, the day of each
    moment whose rows are cut from the shared ones, the cutter); None when fewer than two moments."""
    if state is None:
        return None
    distinct = sorted(set(moments))
    checks = dict(store.fetchall(f"""
        WITH state AS ({state}), times AS (SELECT unnest($moments) AS t)
        SELECT x.t, {{'rate': coalesce(avg(CASE WHEN s.outcome = 'won' THEN 1.0 ELSE 0.0 END)
                                           FILTER (WHERE s.created_at < CAST(x.t AS DATE)), 0.5),
                     'moved': count(s.deal_id) FILTER (WHERE s.cur_entered >= x.t
                                                        OR s.created_at >= CAST(x.t AS DATE))}}
        FROM times x LEFT JOIN state s ON s.outcome <> 'open' AND s.closed_at < CAST(x.t AS DATE)
        GROUP BY x.t""", {"moments": distinct}))
    shared = [m for m in distinct if checks[m]["moved"] == 0 and _at_midnight(m)]
    days = {m: np.datetime64(m.date(), "us") for m in shared}
    rows = _rows_sampled_at(store, days, per_stage, state) if len(shared) > 1 else None
    return checks, days, (None if rows is None else _date_cutter(rows, per_stage))


def _each_date(store: Store, moments: list, per_stage: int, shared) -> Iterator:
    """Each moment's training rows: cut from the shared ones, or read on its own (not shared, or nothing is: fewer
    than two dates, or none sees a resolved deal)."""
    checks, days, cut = shared if shared is not None else ({}, {}, None)
    for m in moments:
        yield cut(days[m], checks[m]["rate"]) if cut is not None and m in days else \
            training_rows(store, m, per_stage=per_stage)


def _at_midnight(moment: datetime) -> bool:
    """Whether a moment is a day's start: its "closed before it" is then "closed before its day", as the state query
    reads it, and a follow-up in days is counted from the entry's day."""
    return moment == datetime.combine(moment.date(), time())


def _date_cutter(rows, per_stage: int):
    """From _rows_sampled_at's rows, the function (day, team rate) → that date's training rows: those it sees, the
    first `per_stage` by hash a stage, with the owner's record shrunk toward the date's team rate."""
    stage, seen_after = rows["stage"].to_numpy(), rows["seen_after"].to_numpy()
    by_hash = _sampling_order(stage, rows["deal_hash"].to_numpy(), rows["deal_id"].to_numpy())
    stage_start = np.r_[True, stage[by_hash][1:] != stage[by_hash][:-1]]

    out = rows.drop(columns=_SHARED_COLUMNS)  # once: each date takes its rows of it
    won_before, closed_before = rows["won_before"].to_numpy(), rows["closed_before"].to_numpy()

    def cut(day, rate: float):
        seen = seen_after[by_hash] < day
        taken = np.cumsum(seen)
        before_stage = np.maximum.accumulate(np.where(stage_start, taken - seen, 0))  # seen in the stages before
        keep = np.zeros(len(rows), bool)
        keep[by_hash] = seen & (taken - before_stage <= per_stage)
        at = np.flatnonzero(keep)
        part = out.take(at).reset_index(drop=True)
        # as owner_win_rate_sql computes it, in the same order
        part["owner_win_rate"] = (won_before[at] + OWNER_PRIOR_DEALS * rate) / (closed_before[at] + OWNER_PRIOR_DEALS)
        return part

    return cut


def _sampling_order(stage: np.ndarray, deal_hash: np.ndarray, deal_id: np.ndarray) -> np.ndarray:
    """The rows' positions, each stage's in the order training_rows samples them: by the hash of the deal id, a tie
    by the id (row_number() OVER (PARTITION BY stage ORDER BY hash(deal_id), deal_id)). Sorted here, not by that
    window in the query (0.55 s of its operators at a million deals)."""
    order = np.lexsort((deal_hash, stage))
    s, h = stage[order], deal_hash[order]
    tied = np.flatnonzero((s[1:] == s[:-1]) & (h[1:] == h[:-1]))  # two deals, one 64-bit hash: rare, not never
    for start in tied[np.r_[True, np.diff(tied) > 1]] if len(tied) else []:
        end = start + 1
        while end + 1 < len(order) and s[end + 1] == s[start] and h[end + 1] == h[start]:
            end += 1
        run = order[start:end + 1]
        order[start:end + 1] = run[np.argsort(deal_id[run].astype(str), kind="stable")]
    return order


def _rows_sampled_at(store: Store, days: dict, per_stage: int, state: str):
    """Every row that the date of some of `days` samples (training_rows_at, steps 2 and 3), with _SHARED_COLUMNS;
    None when no date sees a resolved deal."""
    keys = store.fetch_df(f"""
        WITH {_rows_sql(state)}
        SELECT stage, seen_after, hash(deal_id) AS h FROM keys ORDER BY stage, h""")
    stage, seen_after, h = (keys[c].to_numpy() for c in ("stage", "seen_after", "h"))
    cuts = []  # (day, stage, the largest hash that day samples at the stage)
    for s in np.unique(stage):
        lo, hi = np.searchsorted(stage, [s, s + 1])
        for day in days.values():
            seen = np.flatnonzero(seen_after[lo:hi] < day)
            if len(seen):
                cuts.append((day.astype(datetime).date(), int(s), str(h[lo + seen[min(per_stage, len(seen)) - 1]])))
    del keys, stage, seen_after, h
    if not cuts:
        return None
    with memory_capped(store):
        return _fetch_sampled(store, cuts, state)


def _fetch_sampled(store: Store, cuts: list[tuple], state: str):
    return store.fetch_df(f"""
        WITH {_rows_sql(state)},
        cuts AS (SELECT unnest($days) AS day, unnest($stages) AS stage, CAST(unnest($hashes) AS UBIGINT) AS h),
        chosen AS (
            SELECT k.stage, k.deal_id FROM keys k WHERE EXISTS (
                SELECT 1 FROM cuts c WHERE c.stage = k.stage AND hash(k.deal_id) <= c.h AND k.seen_after < c.day)),
        {_sampled_sql("chosen")},
        {_features_sql("NULL::DOUBLE", extra=f''',
               coalesce(o.won_before, 0)::DOUBLE AS won_before, coalesce(o.closed_before, 0)::DOUBLE AS closed_before,
               {_SEEN_AFTER} AS seen_after,
               hash(r.deal_id) AS deal_hash''')}""",
        {"t": _TODAY, "days": [c[0] for c in cuts], "stages": [c[1] for c in cuts], "hashes": [c[2] for c in cuts]})


def weighted_training_rows(store: Store, when: date | datetime, per_stage: int = MAX_ROWS_PER_STAGE):
    """What the model learns from at `when`: every stage entry resolved by then, at most `per_stage` rows a stage,
    each with the `weight` that undoes the censoring of the entries still open (censoring_weights)."""
    rows = training_rows(store, when, per_stage=per_stage)
    return rows.assign(weight=censoring_weights(store, when, rows))


def weighted_training_rows_at(store: Store, whens: list, per_stage: int = MAX_ROWS_PER_STAGE) -> Iterator:
    """weighted_training_rows at each of `whens`, their rows and their entries' follow-ups read together
    (training_rows_at, follow_ups_at), from one today_state."""
    moments = [_ts(w) for w in whens]
    with today_state(store, moments) as state:
        follow_ups = follow_ups_at(store, whens, state)
        shared = _shared_rows(store, moments, per_stage, state)
    return (rows.assign(weight=_weights(rows, follow_ups[m]))
            for m, rows in zip(moments, _each_date(store, moments, per_stage, shared)))


MAX_CENSORING_WEIGHT = 10.0
_ENTRIES_SQL = f"""
    entries AS (
        SELECT s.stage, CASE s.stage {" ".join(f"WHEN {s} THEN entered_{s}" for s in MODEL_STAGES)} END AS entered,
               created_at
        FROM state, (SELECT unnest(range(1, {LAST_STAGE})) AS stage) s
        WHERE coalesce(furthest_stage, 1) >= s.stage AND entry_stage <= s.stage)"""


def censoring_weights(store: Store, when: date | datetime, rows):
    """Inverse-probability-of-censoring weights for training rows (Robins & Rotnitzky; Vock et al. 2016).

    A deal that entered stage s c days before `when` is in the training rows only if it closed within those c
    days. Lost deals close sooner than won ones (a loss can come at any stage, a win only after all of them), so
    among recent entries the losses are over-represented, and P(win) learnt from them is biased low. The
    follow-up c of every entry is known (open deals too), so the chance that a deal resolving T days after
    entering s is seen resolved is K_s(T) = the share of entries into s with c > T, and a row weighted by
    1 / K_s(T) stands for the deals like it still open. Weights are capped at MAX_CENSORING_WEIGHT (an outcome
    slower than all but a tenth of the follow-ups is too rare to stand for many) and scaled to mean 1 per stage.
    """
    return _weights(rows, _follow_ups_at_one(store, _ts(when))) if len(rows) else np.ones(0)


def _follow_ups_at_one(store: Store, t: datetime) -> dict[int, tuple[list[int], list[int]]]:
    return _follow_ups(store.fetchall(f"""
        WITH state AS ({_STATE_SQL}), {_ENTRIES_SQL}
        SELECT stage, date_diff('day', entered, $t) AS days, count(*) FROM entries
        WHERE entered IS NOT NULL GROUP BY ALL ORDER BY stage, days""", {"t": t}))


def follow_ups_at(store: Store, whens: list,
                  state: str | None = None) -> dict[datetime, dict[int, tuple[list[int], list[int]]]]:
    """censoring_weights' follow-ups at each of `whens` (moment → stage → (days, entries followed up that many)),
    from one query at midnights. A stage entry before a date is the same entry in the state as it stands today
    (the first into that stage or a later one, of a deal created before the date), and its follow-up in days is the
    number of days from the day it was entered. `state`: today_state's, when the caller has it."""
    moments = sorted({_ts(w) for w in whens})
    midnights = [m for m in moments if _at_midnight(m)]
    out = {m: _follow_ups_at_one(store, m) for m in moments if m not in midnights}
    rows = store.fetchall(f"""
        WITH state AS ({state or _STATE_SQL}), {_ENTRIES_SQL},
        days_ AS (SELECT stage, CAST(entered AS DATE) AS day, greatest(CAST(entered AS DATE), created_at) AS seen_after,
                         count(*) AS n
                  FROM entries WHERE entered IS NOT NULL GROUP BY ALL),
        times AS (SELECT unnest($moments) AS t)
        SELECT x.t, e.stage, date_diff('day', e.day, CAST(x.t AS DATE)) AS days, sum(e.n)
        FROM days_ e JOIN times x ON e.seen_after < CAST(x.t AS DATE)
        GROUP BY ALL ORDER BY x.t, e.stage, days""", {"moments": midnights, **({} if state else {"t": _TODAY})}) \
        if midnights else []
    by_moment: dict[datetime, list] = {m: [] for m in midnights}
    for t, stage, days, n in rows:
        by_moment[t].append((stage, days, n))
    return {**out, **{m: _follow_ups(follow) for m, follow in by_moment.items()}}


def _follow_ups(rows) -> dict[int, tuple[list[int], list[int]]]:
    """stage → (follow-up days, entries with that many), from (stage, days, entries) rows ordered by stage, days."""
    by_stage: dict[int, tuple[list[int], list[int]]] = {}
    for stage, days, n in rows:
        stage_days, stage_counts = by_stage.setdefault(int(stage), ([], []))
        stage_days.append(int(days))
        stage_counts.append(int(n))
    return by_stage


def _weights(rows, by_stage: dict[int, tuple[list[int], list[int]]]) -> np.ndarray:
    """censoring_weights of `rows` from their date's follow-ups."""
    weights = np.ones(len(rows))
    if not len(rows):
        return weights
    stage = rows["stage"].to_numpy()
    resolved = ((rows["closed_at"].astype("datetime64[s]") - rows["entered_stage_at"].astype("datetime64[s]"))
                / np.timedelta64(1, "D")).to_numpy()
    for s, (days, counts) in by_stage.items():
        mask = stage == s
        if not mask.any():
            continue
        days_, counts_ = np.asarray(days), np.asarray(counts, dtype=float)
        longer = counts_[::-1].cumsum()[::-1]  # longer[i]: entries followed up for days_[i] days or more
        i = np.searchsorted(days_, np.floor(resolved[mask]), side="right")  # entries followed up longer than T
        k = np.where(i < len(days_), longer[np.minimum(i, len(days_) - 1)], 0.0) / counts_.sum()
        w = 1.0 / np.maximum(k, 1.0 / MAX_CENSORING_WEIGHT)
        weights[mask] = w / w.mean()
    return weights
