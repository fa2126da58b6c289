"""The pipeline as it stood on any date, rebuilt from the stage history, and what was known then.

Forecasts stand on the as-of date; backtests stand on the first day of past quarters. Both read the same two
functions, so a backtest cannot see what the forecast would not have seen: a deal's outcome counts only if it closed
before the date, and a stage only if it was entered before it.
"""

from __future__ import annotations

from datetime import date, datetime

from analytics.domain import FACTOR_KEYS, LAST_STAGE, STAGE_NUMBERS
from analytics.filters import DealFilter
from analytics.store.connection import Store
from analytics.store.facts import SPAN_FIELDS, left_truncated_sql

MODEL_STAGES = tuple(s for s in STAGE_NUMBERS if s < LAST_STAGE)
OWNER_PRIOR_DEALS = 10  # the owner's past win rate is shrunk toward the team's by this many pseudo-deals
# The owner-win-rate feature, one rule for training rows and for open deals alike: the owner's wins and closed deals
# before the moment, plus OWNER_PRIOR_DEALS pseudo-deals at the team's rate; with no deal resolved yet, the team's
# rate is an even chance (docs/metrics.md). `resolved` names the resolved deals' CTE.
TEAM_RATE_SQL = "SELECT coalesce(avg(CASE WHEN outcome = 'won' THEN 1.0 ELSE 0.0 END), 0.5) AS rate FROM resolved"


def owner_win_rate_sql(won: str, closed: str) -> str:
    """The shrunk owner win rate from the owner's `won` and `closed` counts (SQL expressions; NULL: none)."""
    return (f"(coalesce({won}, 0) + {OWNER_PRIOR_DEALS} * team.rate) / (coalesce({closed}, 0) + {OWNER_PRIOR_DEALS})")

# Each push of a deal's expected close (a change to a later date) recorded before $t: its moment. Two changes recorded
# at one moment are taken in date order (as deal_facts takes them), so that a count never depends on how the engine
# happened to order a tie: it did, and two reads of the same rows disagreed. The model's
# push_count feature counts those before the moment a row stands on (docs/metrics.md).
def pushes_sql(deals: str = "") -> str:
    """PUSHES_SQL, of the deals `deals` selects (a query of deal_ids; default: every deal)."""
    only = f"AND deal_id IN ({deals})" if deals else ""
    return f"""
    SELECT deal_id, changed_at FROM (
        SELECT deal_id, changed_at, expected_close,
               lag(expected_close) OVER (PARTITION BY deal_id ORDER BY changed_at, expected_close) AS before
        FROM deal_changes WHERE field = 'expected_close' AND changed_at < $t {only})
    WHERE expected_close > before"""


PUSHES_SQL = pushes_sql()

_FACTORS = ", ".join(f"d.{f}" for f in FACTOR_KEYS)
_ENTRY = ",\n           ".join(f"min(entered_at) FILTER (WHERE stage >= {s}) AS entered_{s}" for s in STAGE_NUMBERS)


def _ts(value: date | datetime) -> datetime:
    return value if isinstance(value, datetime) else datetime(value.year, value.month, value.day)


_STATE_SQL = f"""
WITH ev AS (
    SELECT deal_id, stage, entered_at FROM stage_events WHERE entered_at < $t
),
per AS (
    SELECT deal_id, max(stage) AS max_stage, arg_max(stage, entered_at) AS cur_stage,
           max(entered_at) AS cur_entered, arg_min(stage, entered_at) AS first_stage, min(entered_at) AS first_at,
           {_ENTRY}
    FROM ev GROUP BY deal_id
),
state AS (
    SELECT d.deal_id, d.name, d.account, d.tier, d.owner, d.region, d.industry, d.amount,
           coalesce(d.created_at, CAST(p.first_at AS DATE)) AS created_at, d.expected_close,
           {_FACTORS},
           CASE WHEN d.outcome <> 'open' AND d.closed_at < CAST($t AS DATE) THEN d.outcome ELSE 'open' END
               AS outcome,
           CASE WHEN d.outcome <> 'open' AND d.closed_at < CAST($t AS DATE) THEN d.closed_at END AS closed_at,
           p.*  EXCLUDE (deal_id),
           {left_truncated_sql("p.first_stage", "p.first_at")} AS left_truncated
    FROM deals d LEFT JOIN per p USING (deal_id)
    WHERE coalesce(d.created_at, CAST(p.first_at AS DATE)) < CAST($t AS DATE)  -- as deal_facts dates it
)
SELECT *,
       -- as deal_facts: stage 8 is signed and kept, so a deal lost after reaching it was lost at 7
       CASE WHEN outcome = 'won' THEN {LAST_STAGE} WHEN outcome = 'lost' THEN least(coalesce(max_stage, 1), {LAST_STAGE - 1})
            ELSE coalesce(max_stage, 1) END AS furthest_stage,
       CASE WHEN outcome = 'won' THEN {LAST_STAGE} WHEN outcome = 'lost' THEN least(coalesce(cur_stage, 1), {LAST_STAGE - 1})
            ELSE coalesce(cur_stage, 1) END AS current_stage,
       coalesce(cur_entered, CAST(created_at AS TIMESTAMP)) AS current_stage_entered_at,
       CASE WHEN left_truncated THEN first_stage ELSE 1 END AS entry_stage
FROM state
"""


# The state query's columns: the deal's attributes and nine scores; outcome and closed_at as of the date;
# furthest_stage, current_stage, current_stage_entered_at, entry_stage (1, or the first observed stage of a
# left-truncated history); entered_1 … entered_8 (first entry into that stage or a later one).
def stage_counts_at(store: Store, when: date | datetime,
                    filters: DealFilter = DealFilter()) -> dict[tuple[int, int, str], tuple[int, float, int]]:
    """The pipeline at the start of `when`, counted: (entry_stage, furthest_stage, outcome) → (deals, amount,
    deals with an amount), as analytics.funnel.stage_counts counts the present.
    `filters` select deals by their attributes, and by their close as it stood then."""
    where, params = filters.where()
    rows = store.fetchall(f"""SELECT entry_stage, furthest_stage, outcome, count(*), coalesce(sum(amount), 0),
                                     count(amount)
                              FROM ({_STATE_SQL}) WHERE {where} GROUP BY ALL""", {**params, "t": _ts(when)})
    return {(int(e), int(f), o): (int(n), float(a), int(k)) for e, f, o, n, a, k in rows}


def open_stages_at(store: Store, when: date | datetime):
    """The deals open at the start of `when` and the stage each was in then: columns deal_id, current_stage.
    (Counted and selected in SQL: a million deals' full state as a DataFrame took ~0.5 GB.)"""
    return store.fetch_df(f"SELECT deal_id, current_stage FROM ({_STATE_SQL}) WHERE outcome = 'open'",
                          {"t": _ts(when)})


def open_deal_features(store: Store, when: date | datetime, filters: DealFilter = DealFilter()):
    """The deals open at `when`, with the model's features as they stood then (stage = current stage)."""
    return open_deal_features_at(store, [when], filters)[0]


# a backtest quarter's four weeks, or five of the forecast's weeks through the quarter: at 1M deals, up to 440,000
# rows a result, the process under 1.1 GB at its peak. Nine weeks in two queries, not three, took 0.3–0.4 s off the
# forecast's path (3.5–4.5 s); in one query, 1.4 GB for no more gain.
MOMENTS_PER_QUERY = 5


MAX_MOMENTS_PER_QUERY = 40  # a filtered backtest's 32 moments and the path's 9 in one query


def moments_per_query(store: Store, filters: DealFilter = DealFilter()) -> int:
    """How many moments' pipelines one query of open_deal_features_at reads: MOMENTS_PER_QUERY of every deal, more
    under filters that keep a share of them (by that share, up to MAX_MOMENTS_PER_QUERY), so that a result holds
    about as many rows. At 1M deals a filtered backtest read its 8 quarters in 8 queries of 0.4 s each, most of it
    the same scan of every deal."""
    if filters.is_empty():
        return MOMENTS_PER_QUERY
    where, params = filters.where()
    kept, every = store.fetchone(f"SELECT count(*) FILTER (WHERE {where}), count(*) FROM deal_facts", params)
    return min(MAX_MOMENTS_PER_QUERY, max(MOMENTS_PER_QUERY, int(MOMENTS_PER_QUERY * every / max(kept, 1))))


def open_deal_features_at(store: Store, whens: list, filters: DealFilter = DealFilter(), *,
                          with_names: bool = True) -> list:
    """open_deal_features at each of `whens`, from one query: the deals open at each moment, their stage then, and
    the owner's record then. The state of _STATE_SQL, restricted to what an open deal needs, so that a backtest's
    32 standing moments read the history once (docs/performance-misses.md): a deal is open at t when it was created
    before t's date and had not closed before it; its stage is its last entered before t; its owner's record counts
    the deals known resolved before t's date (closed, and created, before it). `with_names` False leaves out each
    deal's name and account, which a forecast that only adds up and scores does not read (at 1M deals, 9 moments'
    names cost 0.8 s of 3 s to read)."""
    import numpy as np

    if not whens:
        return []
    moments = sorted({_ts(w) for w in whens})
    per_query = moments_per_query(store, filters)
    if len(moments) > per_query:  # a million deals' pipelines at nine moments held 1.7 GB in one result
        parts = {}
        for i in range(0, len(moments), per_query):
            chunk = moments[i:i + per_query]
            parts.update(zip(chunk, open_deal_features_at(store, chunk, filters, with_names=with_names)))
        return [parts[_ts(w)] for w in whens]
    where, params = filters.where()
    frame = store.fetch_df(f"""
        WITH times AS (SELECT unnest($moments) AS t),
        -- deal_facts dates a deal as the importer does: created_at, else its first stage entry's day
        deals_ AS (SELECT *, created_at AS created_eff FROM deal_facts),
        pairs AS (
            SELECT x.t, d.deal_id, d.name, d.account, d.owner, d.tier, d.region, d.industry, d.amount,
                   d.expected_close, {_FACTORS}, d.created_eff AS created_at, CAST(NULL AS DATE) AS closed_at,
                   d.last_recorded_stage, d.last_stage_at, d.push_count AS pushes_ever,
                   d.outcome <> 'open' AND d.closed_at IS NULL AS undated
            FROM deals_ d JOIN times x ON d.created_eff < CAST(x.t AS DATE)
            WHERE NOT coalesce(d.outcome <> 'open' AND d.closed_at < CAST(x.t AS DATE), false)),
        open_ AS (SELECT * FROM pairs WHERE {where}),
        -- a deal whose last stage entry came before t was in that stage at t (deal_facts has it); the others' stage
        -- then is the stage span running at t (deal_spans, sorted by its end: only the spans that end after the
        -- first moment are read). A closed deal without a close date has no spans: its stage then is read from its
        -- events. (A won deal's last_stage_at may be its close, which is after t.)
        stage_then AS (
            SELECT o.deal_id, o.t, s.stage AS cur_stage, s.valid_from AS cur_entered
            FROM open_ o JOIN deal_spans s ON s.deal_id = o.deal_id AND s.field = {SPAN_FIELDS['stage']}
                 AND s.valid_from < o.t AND s.valid_to >= o.t
            WHERE o.last_stage_at >= o.t AND NOT o.undated
            UNION ALL
            SELECT o.deal_id, o.t, arg_max(e.stage, e.entered_at), max(e.entered_at)
            FROM (SELECT * FROM open_ WHERE undated AND last_stage_at >= t) o
            JOIN stage_events e ON e.deal_id = o.deal_id AND e.entered_at < o.t GROUP BY ALL),
        cur AS (
            SELECT o.* EXCLUDE (last_recorded_stage, last_stage_at, undated),
                   CASE WHEN o.last_stage_at >= o.t THEN coalesce(s.cur_stage, 1)
                        ELSE coalesce(o.last_recorded_stage, 1) END AS stage,
                   coalesce(CASE WHEN o.last_stage_at >= o.t THEN s.cur_entered ELSE o.last_stage_at END,
                            CAST(o.created_at AS TIMESTAMP)) AS current_stage_entered_at
            FROM open_ o LEFT JOIN stage_then s ON s.deal_id = o.deal_id AND s.t = o.t),
        -- a resolved deal is known resolved from the day after both its close and its creation
        resolved AS (
            SELECT owner, outcome, greatest(closed_at, created_eff) AS known_on FROM deals_
            WHERE outcome <> 'open' AND closed_at IS NOT NULL AND created_eff IS NOT NULL),
        owner_days AS (
            SELECT owner, known_on, count(*) FILTER (WHERE outcome = 'won') AS won_, count(*) AS closed_
            FROM resolved WHERE owner IS NOT NULL GROUP BY ALL),
        owner_hist AS (
            SELECT owner, known_on, sum(won_) OVER w AS won_before, sum(closed_) OVER w AS closed_before
            FROM owner_days WINDOW w AS (PARTITION BY owner ORDER BY known_on ROWS UNBOUNDED PRECEDING)),
        team_days AS (
            SELECT known_on, count(*) FILTER (WHERE outcome = 'won') AS won_, count(*) AS closed_
            FROM resolved GROUP BY ALL),
        team_hist AS (
            SELECT known_on, sum(won_) OVER w AS won_before, sum(closed_) OVER w AS closed_before
            FROM team_days WINDOW w AS (ORDER BY known_on ROWS UNBOUNDED PRECEDING)),
        team AS (  -- TEAM_RATE_SQL at each moment
            SELECT x.t, coalesce(CAST(h.won_before AS DOUBLE) / h.closed_before, 0.5) AS rate
            FROM times x ASOF LEFT JOIN team_hist h ON CAST(x.t AS DATE) > h.known_on),
        -- each owner's record at each moment: moments × owners rows, joined to the deals by (owner, moment)
        owner_then AS (
            SELECT x.t, o.owner, h.won_before, h.closed_before
            FROM times x CROSS JOIN (SELECT DISTINCT owner FROM owner_days) o
            ASOF LEFT JOIN owner_hist h ON h.owner = o.owner AND CAST(x.t AS DATE) > h.known_on),
        -- pushes before the deal entered its current stage, as a training row counts them at its stage's entry:
        -- counting those made since would score a deal long in its stage on a feature the model never saw so
        pushed AS (
            SELECT o.deal_id, o.t, count(*) AS push_count
            FROM cur o JOIN ({pushes_sql("SELECT deal_id FROM open_ WHERE pushes_ever > 0")}) p
            ON p.deal_id = o.deal_id AND p.changed_at < o.current_stage_entered_at GROUP BY ALL)
        SELECT o.t, o.deal_id, {"o.name, o.account," if with_names else ""}
               o.owner, o.tier, o.region, o.industry, o.amount, o.expected_close,
               o.stage, o.current_stage_entered_at, ln(1 + greatest(o.amount, 0)) AS log_amount,
               {', '.join(f'o.{f}' for f in FACTOR_KEYS)},
               date_diff('day', CAST(o.created_at AS TIMESTAMP), o.current_stage_entered_at) AS days_in_process,
               {owner_win_rate_sql("r.won_before", "r.closed_before")} AS owner_win_rate,
               coalesce(pu.push_count, 0) AS push_count
        FROM cur o JOIN team ON team.t = o.t
        LEFT JOIN owner_then r ON r.owner = o.owner AND r.t = o.t
        LEFT JOIN pushed pu ON pu.deal_id = o.deal_id AND pu.t = o.t
        ORDER BY o.t, o.amount DESC NULLS LAST, o.deal_id""",
        {**params, "moments": moments, "t": moments[-1]})
    at = frame.pop("t").to_numpy().astype("datetime64[us]")
    bounds = np.searchsorted(at, np.array(moments, dtype="datetime64[us]"))
    parts = {m: frame.iloc[lo:hi].reset_index(drop=True)
             for m, lo, hi in zip(moments, bounds, [*bounds[1:], len(frame)])}
    return [parts[_ts(w)] for w in whens]
