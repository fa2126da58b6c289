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

# Each push of a deal's expected close (a change to a later date) recorded before $t: its moment. The model's
# push_count feature counts those before the moment a row stands on (docs/metrics.md).
def pushes_sql(deals: str = "") -> str:
    """PUSHES_SQL, of the deals `deals` selects (a query of deal_ids; default: every deal)."""
    only = f"AND deal_id IN ({deals})" if deals else ""
    return f"""
    SELECT deal_id, changed_at FROM (
        SELECT deal_id, changed_at, expected_close,
               lag(expected_close) OVER (PARTITION BY deal_id ORDER BY changed_at) AS before
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


def training_rows(store: Store, when: date | datetime, *, entered_before: date | datetime | None = None,
                  per_stage: int | None = None):
    """One row per (deal, stage s) for resolved deals observed at s, with what was known on entering s.

    `entered_before` keeps only stage entries before that time; `per_stage` keeps at most that many rows per stage,
    a deterministic sample by a hash of the deal id (so a row set never depends on deals added later).

    Columns: deal_id, stage, won (0/1), closed_at, tier, region, industry, log_amount, the nine scores,
    days_in_process (created → entered s), owner_win_rate (the owner's deals closed before entering s, shrunk
    toward the team's rate by OWNER_PRIOR_DEALS), push_count (the expected close's pushes recorded before entering
    s), entered_stage_at, left_stage_at (entry into a later stage, or the close).
    """
    stage_cases = " ".join(f"WHEN {s} THEN coalesce(entered_{s}, CAST(closed_at AS TIMESTAMP))"
                           for s in MODEL_STAGES)
    left_cases = " ".join(f"WHEN {s} THEN coalesce(entered_{s + 1}, CAST(closed_at AS TIMESTAMP))"
                          for s in MODEL_STAGES)
    return store.fetch_df(f"""
        WITH state AS ({_STATE_SQL}),
        resolved AS (SELECT * FROM state WHERE outcome <> 'open'),
        rows_ AS (
            SELECT r.*, s.stage,
                   CASE s.stage {stage_cases} END AS entered_stage_at,
                   CASE s.stage {left_cases} END AS left_stage_at
            FROM resolved r, (SELECT unnest(range(1, {LAST_STAGE})) AS stage) s
            WHERE r.furthest_stage >= s.stage AND r.entry_stage <= s.stage
        ),
        -- sampled before the owner's record is joined on: the join is the costly part. The sample is chosen on
        -- (stage, deal id) alone and joined back: sorting the whole rows took half the query at 1M deals
        chosen AS (
            SELECT stage, deal_id FROM rows_ WHERE entered_stage_at < $before
            QUALIFY row_number() OVER (PARTITION BY stage ORDER BY hash(deal_id), deal_id) <= $per_stage
        ),
        sampled AS (SELECT r.* FROM rows_ r SEMI JOIN chosen c ON c.stage = r.stage AND c.deal_id = r.deal_id),
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
               {owner_win_rate_sql("o.won_before", "o.closed_before")} AS owner_win_rate,
               coalesce(pu.push_count, 0) AS push_count,
               r.entered_stage_at, r.left_stage_at
        FROM sampled r CROSS JOIN team
        ASOF LEFT JOIN owner_hist o ON r.owner = o.owner AND r.entered_stage_at > o.closed_ts
        LEFT JOIN pushed pu ON pu.deal_id = r.deal_id AND pu.stage = r.stage
        ORDER BY r.stage, r.closed_at, r.deal_id""",
        {"t": _ts(when), "before": _ts(entered_before) if entered_before else datetime(9999, 1, 1),
         "per_stage": per_stage or 2**62})


def open_deal_features(store: Store, when: date | datetime, filters: DealFilter = DealFilter()):
    """The deals open at `when`, with the model's features as they stood then (stage = current stage)."""
    return open_deal_features_at(store, [when], filters)[0]


# a backtest quarter's four weeks, or five of the forecast's weeks through the quarter: at 1M deals, up to 440,000
# rows a result, the process under 1.1 GB at its peak. Nine weeks in two queries, not three, took 0.3–0.4 s off the
# forecast's path (3.5–4.5 s); in one query, 1.4 GB for no more gain.
MOMENTS_PER_QUERY = 5


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
    if len(moments) > MOMENTS_PER_QUERY:  # a million deals' pipelines at nine moments held 1.7 GB in one result
        parts = {}
        for i in range(0, len(moments), MOMENTS_PER_QUERY):
            chunk = moments[i:i + MOMENTS_PER_QUERY]
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


MAX_ROWS_PER_STAGE = 50_000  # beyond this, more rows add time, not precision


def weighted_training_rows(store: Store, when: date | datetime, per_stage: int = MAX_ROWS_PER_STAGE):
    """What the model learns from at `when`: every stage entry resolved by then, at most `per_stage` rows a stage,
    each with the `weight` that undoes the censoring of the entries still open (censoring_weights)."""
    rows = training_rows(store, when, per_stage=per_stage)
    return rows.assign(weight=censoring_weights(store, when, rows))


MAX_CENSORING_WEIGHT = 10.0


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
    import numpy as np

    weights = np.ones(len(rows))
    if not len(rows):
        return weights
    entry_cases = " ".join(f"WHEN {s} THEN entered_{s}" for s in MODEL_STAGES)
    follow_up = store.fetchall(f"""
        WITH state AS ({_STATE_SQL}),
        entries AS (
            SELECT s.stage, CASE s.stage {entry_cases} END AS entered
            FROM state, (SELECT unnest(range(1, {LAST_STAGE})) AS stage) s
            WHERE coalesce(furthest_stage, 1) >= s.stage AND entry_stage <= s.stage)
        SELECT stage, date_diff('day', entered, $t) AS days, count(*) FROM entries
        WHERE entered IS NOT NULL GROUP BY ALL ORDER BY stage, days""", {"t": _ts(when)})
    by_stage: dict[int, tuple[list[int], list[int]]] = {}  # stage → (follow-up days, entries with that many)
    for stage, days, n in follow_up:
        stage_days, stage_counts = by_stage.setdefault(int(stage), ([], []))
        stage_days.append(int(days))
        stage_counts.append(int(n))
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

