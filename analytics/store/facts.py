"""The derived tables every analysis reads: deal_facts (one row per deal) and stage_durations (one row per closed deal
and measure), built in SQL from deals and stage_events.

Both are rebuilt whole, or for the deals an import or undo changed (Store.refresh_deal_facts), and as of any date
in temp tables (Store.as_of). The statements are built by functions whose arguments say which deals they cover."""

from __future__ import annotations

from analytics.domain import LAST_STAGE, STAGE_NUMBERS
from analytics.filters import FILTERED_COLUMNS
from analytics.store.schema import DEAL_COLUMNS, STAGE_DAY_COLUMNS

# A history whose first recorded event comes this long after the deal was created started mid-way.
LEFT_TRUNCATION_DAYS = 30


def left_truncated_sql(first_stage: str, first_at: str) -> str:
    """SQL: whether deal d's recorded history starts mid-way (its earlier stages unobserved, not skipped): flagged
    by the importer, or its first event, after stage 1, long after the deal was created. `first_stage` and
    `first_at` are the expressions of its first recorded stage and when it was entered (fixed names, not input)."""
    return (f"coalesce({first_stage} > 1 AND (d.history_truncated OR {first_at} > CAST(d.created_at AS TIMESTAMP) "
            f"+ to_days({int(LEFT_TRUNCATION_DAYS)})), false)")


# A partial refresh appends the recomputed rows; past this share of deal_facts, both tables are rebuilt in order.
FACTS_RESORT_SHARE = 0.1


# A deal without a creation date (real exports leave it blank) is dated by its first stage event, when it has one;
# with neither it stays unknown: out of cohort and created-between filters and of cycle time, never dated today.
_CREATED = "coalesce(d.created_at, CAST(p.first_stage_at AS DATE))"
_deal_cols = ", ".join(f"{_CREATED} AS created_at" if c == "created_at" else f"d.{c}"
                       for c in DEAL_COLUMNS if c != "deal_id")
# Days in each stage: each stay lasts until the next recorded entry; stage 8 is the end, not a stage.
_days_cols = ",\n    ".join(
    f"sum(date_diff('second', e.entered_at, e.next_at) / 86400.0) FILTER (WHERE e.stage = {n}) AS days_{n}"
    for n in STAGE_NUMBERS if n < LAST_STAGE)
_last_stay = ",\n       ".join(
    f"""CASE WHEN p.last_stage = {n} AND d.outcome <> 'open' AND d.closed_at IS NOT NULL
            THEN coalesce(p.days_{n}, 0) + greatest(0, date_diff('second', p.last_stage_at,
                 CAST(d.closed_at AS TIMESTAMP)) / 86400.0) ELSE p.days_{n} END AS days_stage_{n}"""
    if n < LAST_STAGE else f"CAST(NULL AS DOUBLE) AS days_stage_{n}" for n in STAGE_NUMBERS)

# Events are ordered by time, then stage. A won deal with no stage-8 event counts as signed at closed_at: it has
# reached 8, its last recorded stay ends at the close, and stages between its last one and 8 were skipped. That is
# applied per deal after aggregating, not by adding events: the 4M-row event table is read once, in one window.
# The aggregate avoids what makes a hash aggregate slow over 4M rows (an ordered list, a DISTINCT, nested lists):
# stage sets are bit masks (bit s = stage s), and each move carries its position, seq * 100 + from * 10 + to, so
# that an unordered list() can be sorted afterwards, and only for the deals whose moves are kept.
def deal_facts_query(affected: str | None = None) -> str:
    """The query of every deal's facts, or (`affected`: a temp table with a deal_id column) of those deals only."""
    only = f"deal_id IN (SELECT deal_id FROM {affected})" if affected else None
    events_where = f"WHERE e.{only}" if only else ""
    deals_where = f"WHERE d.{only}" if only else ""
    changes_where = f"AND c.{only}" if only else ""
    return f"""
WITH moves AS (  -- each expected-close change beside the one before it: a later date is a push
    SELECT c.deal_id, c.changed_at, c.expected_close,
           -- two changes recorded at one moment in date order: the engine orders a tie as it happens to
           lag(c.expected_close) OVER (PARTITION BY c.deal_id ORDER BY c.changed_at, c.expected_close) AS before
    FROM deal_changes c WHERE c.field = 'expected_close' {changes_where}
),
pushes AS (
    SELECT deal_id, arg_min(expected_close, changed_at) AS first_expected_close,
           count(*) FILTER (WHERE expected_close > before) AS push_count,
           coalesce(sum(date_diff('day', before, expected_close)) FILTER (WHERE expected_close > before), 0)
               AS days_pushed
    FROM moves GROUP BY deal_id
),
ordered AS (
    SELECT e.deal_id, e.stage, e.entered_at,
           lag(e.stage) OVER w AS prev_stage,
           lead(e.entered_at) OVER w AS next_at,
           row_number() OVER w AS seq
    FROM stage_events e {events_where}
    WINDOW w AS (PARTITION BY e.deal_id ORDER BY e.entered_at, e.stage)
),
per_deal AS (
    SELECT e.deal_id,
           count(*) AS n_events,
           -- consecutive recorded moves with their position, for conformance's transitions (sorted below)
           list(CAST(e.seq * 100 + e.prev_stage * 10 + e.stage AS INTEGER))
               FILTER (WHERE e.prev_stage IS NOT NULL) AS positioned_moves,
           max(e.stage) AS max_stage,
           max(e.stage) = {LAST_STAGE} AS has_last_stage,
           -- the first and last stage in order: seq * 16 + stage packs position and stage into one integer,
           -- whose min and max cost a fraction of arg_min(stage, seq) and arg_max (1.45 s -> 0.72 s at 1M deals)
           CAST(min(e.seq * 16 + e.stage) % 16 AS TINYINT) AS first_stage,
           min(e.entered_at) AS first_stage_at,
           max(e.entered_at) AS last_stage_at,  -- also the last entry's time: events are ordered by time first
           CAST(max(e.seq * 16 + e.stage) % 16 AS TINYINT) AS last_stage,
           bool_or(e.stage < e.prev_stage) AS moved_backwards,
           count(*) > bit_count(bit_or(CAST(1 AS INTEGER) << e.stage)) AS reentered,
           -- the stages strictly between two consecutive ones, as a mask
           coalesce(bit_or(CASE WHEN e.stage > e.prev_stage + 1
                                THEN (CAST(1 AS INTEGER) << e.stage) - (CAST(2 AS INTEGER) << e.prev_stage) END), 0)
               AS gap_mask,
    {_days_cols}
    FROM ordered e
    GROUP BY e.deal_id
),
facts AS (
SELECT d.deal_id, {_deal_cols}, d.history_truncated, d.created_at IS NOT NULL AS created_known,
       coalesce(p.n_events, 0) AS n_events,
       p.first_stage, p.first_stage_at,
       CASE WHEN d.outcome = 'won' AND NOT coalesce(p.has_last_stage, false) AND d.closed_at IS NOT NULL
            THEN greatest(p.last_stage_at, CAST(d.closed_at AS TIMESTAMP)) ELSE p.last_stage_at END AS last_stage_at,
       -- stage 8 is signed and kept: a lost deal whose history reaches 8 (a contract that fell through, Salesforce's
       -- Closed Won → Closed Lost) was lost at 7, in the funnel, the claim, the model and the forecast alike
       CASE WHEN d.outcome = 'won' THEN {LAST_STAGE} WHEN d.outcome = 'lost' THEN least(coalesce(p.last_stage, 1), {LAST_STAGE - 1})
            ELSE coalesce(p.last_stage, 1) END AS current_stage,
       CASE WHEN d.outcome = 'won' AND NOT coalesce(p.has_last_stage, false) THEN CAST(d.closed_at AS TIMESTAMP)
            ELSE p.last_stage_at END AS current_stage_entered_at,
       CASE WHEN d.outcome = 'won' THEN {LAST_STAGE} WHEN d.outcome = 'lost' THEN least(coalesce(p.max_stage, 1), {LAST_STAGE - 1})
            ELSE coalesce(p.max_stage, 1) END AS furthest_stage,
       coalesce(p.moved_backwards, false) AS moved_backwards,
       coalesce(p.reentered, false) AS reentered,
       p.positioned_moves,
       p.last_stage AS last_recorded_stage,
       -- history begins mid-way: flagged by the importer, or the first event long after the deal was created
       {left_truncated_sql("p.first_stage", "p.first_stage_at")} AS left_truncated,
       -- the last recorded stay of a closed deal ends at its close (a date: a same-day close counts 0)
       {_last_stay},
       -- a deal closed before it was created (seen in real exports) has no cycle time: velocity counts them apart
       CASE WHEN d.closed_at IS NOT NULL AND d.outcome <> 'open' AND d.closed_at >= {_CREATED}
            THEN date_diff('day', {_CREATED}, d.closed_at) END AS cycle_days,
       CASE WHEN d.outcome = 'won' AND NOT coalesce(p.has_last_stage, false) AND p.last_stage < {LAST_STAGE - 1}
            THEN list_concat(coalesce(p.gap_stages, []), range(p.last_stage + 1, {LAST_STAGE}))
            ELSE coalesce(p.gap_stages, []) END AS gap_stages,
       -- slippage: the first expected close recorded (else the current one), and how often and by how many days
       -- it was pushed later (analytics.analyses.slippage)
       coalesce(pu.first_expected_close, d.expected_close) AS first_expected_close,
       coalesce(pu.push_count, 0) AS push_count, coalesce(pu.days_pushed, 0) AS days_pushed
FROM deals d LEFT JOIN (
    SELECT *, CASE WHEN gap_mask = 0 THEN [] ELSE list_filter(range(1, {LAST_STAGE}), lambda s: (gap_mask >> s) & 1 = 1)
              END AS gap_stages
    FROM per_deal) p USING (deal_id)
LEFT JOIN pushes pu USING (deal_id) {deals_where}
),
shaped AS (
SELECT * EXCLUDE (gap_stages),
       -- stages jumped over; a history that starts mid-way has unobserved, not skipped, early stages
       CASE WHEN first_stage > 1 AND NOT left_truncated THEN list_concat(range(1, first_stage), gap_stages)
            ELSE gap_stages END AS skipped_stages,
       NOT moved_backwards AND NOT reentered AND len(gap_stages) = 0
           AND (coalesce(first_stage, 1) = 1 OR left_truncated) AS in_order
FROM facts
)
-- an in-order history's moves follow from its first and last stage: they are kept only for the others.
-- Stored grouped by outcome: most analyses read won, lost or open deals only, and skip the other row groups.
SELECT * EXCLUDE (positioned_moves),
       CASE WHEN NOT in_order THEN list_transform(list_sort(positioned_moves), lambda m: CAST(m % 100 AS TINYINT)) END AS moves
FROM shaped ORDER BY outcome
"""


def deal_facts_sql(temp: bool = False) -> str:
    """The statement that (re)builds deal_facts; `temp`: as a temp table of this connection, which shadows the
    stored one (Store.as_of)."""
    return f"CREATE OR REPLACE {'TEMP ' if temp else ''}TABLE deal_facts AS" + deal_facts_query()


DEAL_FACTS_SQL = deal_facts_sql()


# Durations of closed deals, one row per deal and measure (days in stages 1-7; measure 0 is the cycle time), with
# the columns DealFilter reads (filters.FILTERED_COLUMNS), stored sorted. Velocity's exact quantiles select order
# statistics from every value; from values that arrive in order that takes half the time it takes from the wide
# deal_facts columns (47-63 ms instead of 101-115 ms for the 4.1M values of 1M deals, docs/performance-misses.md).
CYCLE_MEASURE = 0
DURATION_MEASURES: dict[int, str] = {CYCLE_MEASURE: "cycle_days",
                                     **{n: STAGE_DAY_COLUMNS[n - 1] for n in STAGE_NUMBERS if n < LAST_STAGE}}


# deal_key, the hash of deal_id (8 bytes: the text itself cost 0.5 s more to store at 1M), finds a deal's rows when
# only some deals' durations are recomputed; a deal whose key collides with one of theirs is recomputed too.
def durations_query(keys: str | None = None) -> str:
    """Every closed deal's durations, or (`keys`: a temp table with a deal_key column) those deals' only."""
    only = f"AND hash(deal_id) IN (SELECT deal_key FROM {keys})" if keys else ""
    return "\nUNION ALL\n".join(
        f"""SELECT outcome = 'won' AS won, CAST({measure} AS TINYINT) AS measure, CAST({column} AS DOUBLE) AS days,
       {', '.join(FILTERED_COLUMNS)}, hash(deal_id) AS deal_key
FROM deal_facts WHERE outcome <> 'open' AND {column} IS NOT NULL {only}"""
        for measure, column in DURATION_MEASURES.items())


def stage_durations_sql(temp: bool = False) -> str:
    """The statement that (re)builds stage_durations from deal_facts; `temp` as deal_facts_sql's."""
    return f"""
CREATE OR REPLACE {'TEMP ' if temp else ''}TABLE stage_durations AS
{durations_query()}
ORDER BY won, measure, days
"""


STAGE_DURATIONS_SQL = stage_durations_sql()


# Each recorded value with the span of time it held, for the values "as of any date" that the waterfall reads at two
# dates (analytics.analyses.waterfall): one row per stage event (field 0) and per change of a deal's amount (1),
# expected close (2) or outcome (3). The value at the start of t is the one whose span has valid_from < t <=
# valid_to: the last recorded before t. An amount's or close's first value also stands before it was recorded (the
# value the history holds before any change); a stage has none before the first event. A deal whose outcome never
# changed is in no pipeline after the day it closed, so its spans end then (those of a closed deal without a close
# date, never begin); a deal whose outcome changed keeps its last values' spans open. Stored sorted by valid_to: a
# waterfall between two recent dates reads the row groups whose spans end after the first (at 1M deals 0.64M of
# the 7.1M rows for a quarter), where aggregating every change and event of the deals took 0.4-0.9 s.
SPAN_FIELDS = {"stage": 0, "amount": 1, "expected_close": 2, "outcome": 3}


def deal_spans_query(affected: str | None = None) -> str:
    """The spans of every deal's recorded values, or (`affected`: a temp table with a deal_id column) of those
    deals only."""
    only = f"AND deal_id IN (SELECT deal_id FROM {affected})" if affected else ""
    return f"""
WITH ends AS (
    SELECT deal_id, CASE WHEN outcome = 'open' OR deal_id IN (SELECT deal_id FROM deal_changes WHERE field = 'outcome')
                         THEN TIMESTAMP 'infinity'
                         WHEN closed_at IS NULL THEN TIMESTAMP '-infinity'
                         ELSE CAST(closed_at AS TIMESTAMP) + INTERVAL 1 DAY END AS until
    FROM deals WHERE true {only}
),
recorded AS (
    SELECT deal_id, {SPAN_FIELDS['stage']} AS field, entered_at AS moment, stage, CAST(NULL AS DOUBLE) AS amount,
           CAST(NULL AS DATE) AS expected_close, CAST(NULL AS VARCHAR) AS outcome
    FROM stage_events WHERE true {only}
    UNION ALL
    SELECT deal_id, CASE field WHEN 'amount' THEN {SPAN_FIELDS['amount']}
                               WHEN 'expected_close' THEN {SPAN_FIELDS['expected_close']}
                               ELSE {SPAN_FIELDS['outcome']} END,
           changed_at, NULL, amount, expected_close, outcome
    FROM deal_changes WHERE true {only}
),
spans AS (
    SELECT deal_id, field,
           CASE WHEN field IN ({SPAN_FIELDS['amount']}, {SPAN_FIELDS['expected_close']}) AND row_number() OVER w = 1
                THEN TIMESTAMP '-infinity' ELSE moment END AS valid_from,
           coalesce(lead(moment) OVER w, TIMESTAMP 'infinity') AS valid_to, stage, amount, expected_close, outcome
    FROM recorded WINDOW w AS (PARTITION BY deal_id, field ORDER BY moment, stage, amount, expected_close, outcome)
)
SELECT s.deal_id, CAST(s.field AS TINYINT) AS field, s.valid_from, least(s.valid_to, e.until) AS valid_to,
       s.stage, s.amount, s.expected_close, s.outcome
FROM spans s JOIN ends e USING (deal_id)
WHERE s.valid_from < least(s.valid_to, e.until)
"""


def deal_spans_sql(temp: bool = False) -> str:
    """The statement that (re)builds deal_spans; `temp` as deal_facts_sql's."""
    return f"CREATE OR REPLACE {'TEMP ' if temp else ''}TABLE deal_spans AS {deal_spans_query()} ORDER BY valid_to"


DEAL_SPANS_SQL = deal_spans_sql()
