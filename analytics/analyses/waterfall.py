"""The pipeline waterfall between two dates: the open pipeline as it stood on `from`, what moved, and the pipeline on
`to` (docs/metrics.md, "Pipeline changes").

A deal is in the pipeline on a date D when it was created before D and had not closed before D (by its outcome as the
history records it, where it does: a deal lost, then reopened, is open again, and counts as `reopened`); with a quarter, only
while its expected close on D (from deal_changes, docs/data-format.md) falls in that quarter, which is the
forecast's scope. Its amount on D is the last amount recorded before D, else the first recorded after (a value the
history holds before any change), else the deal's current amount; a deal with no amount counts in the deals and adds
nothing to the amounts.

Every deal in either pipeline is in exactly one bucket, so the identity holds exactly, in deals and in amount:

    start + created + pulled_in + reopened − pushed_out − won − lost (+ amount_up − amount_down) = end

Entering deals count at their amount on `to`, leaving ones at their amount on `from`, and those in both by how much
their amount moved. `advanced` and `regressed` count the deals in both whose stage moved; they leave the total alone.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, datetime

from analytics.filters import DealFilter, quarter_bounds
from analytics.store.connection import Store
from analytics.store.facts import SPAN_FIELDS
from analytics.tables import records_frame

# in the order a waterfall draws them; the last two do not change the total
ENTERING = ("created", "pulled_in", "reopened")
LEAVING = ("pushed_out", "won", "lost")
MOVING = ("amount_up", "amount_down")
STAGE_MOVES = ("advanced", "regressed")
BUCKETS = (*ENTERING, *LEAVING, *MOVING, *STAGE_MOVES)
LISTED_DEALS = 50  # the ids each bucket lists; `more` counts the rest


@dataclass(frozen=True)
class Bucket:
    bucket: str
    deals: int
    amount: float
    deal_ids: list[str] = field(default_factory=list)  # the largest first, at most LISTED_DEALS
    more: int = 0  # deals in the bucket beyond those listed


@dataclass(frozen=True)
class Waterfall:
    from_date: date
    to_date: date
    quarter: str | None
    start_deals: int
    start_amount: float
    end_deals: int
    end_amount: float
    buckets: list[Bucket]
    filters: DealFilter = DealFilter()

    def bucket(self, name: str) -> Bucket:
        return next(b for b in self.buckets if b.bucket == name)

    def to_frame(self):
        """One row per bucket, in the order a waterfall draws them: bucket, deals, amount, more (deals beyond the
        listed ids), deal_ids (comma-separated, the largest first)."""
        return records_frame(self.buckets, ("bucket", "deals", "amount", "more"),
                             deal_ids=[", ".join(b.deal_ids) for b in self.buckets])

    def to_json(self) -> dict:
        return {"from": self.from_date.isoformat(), "to": self.to_date.isoformat(), "quarter": self.quarter,
                "start": {"deals": self.start_deals, "amount": self.start_amount},
                "end": {"deals": self.end_deals, "amount": self.end_amount},
                "buckets": [asdict(b) for b in self.buckets], "filters": self.filters.to_json()}


# One row per deal in either pipeline, with the bucket it moved by. Each value reaches SQL as a parameter.
_WATERFALL_SQL = """
WITH d AS (  -- only a deal open at some moment between the dates can be in either pipeline
    SELECT deal_id, outcome, closed_at, created_at, amount, expected_close FROM deal_facts
    WHERE {where} AND created_at < $to_d AND (outcome = 'open' OR closed_at >= $from_d)
),
-- each deal's recorded values as of either date (docs/data-format.md, deal_spans: the span of time each held)
at_ AS (
    SELECT deal_id,
           max(amount) FILTER (WHERE field = {amount} AND valid_from < $from_t AND $from_t <= valid_to) AS amount_from,
           max(amount) FILTER (WHERE field = {amount} AND valid_from < $to_t AND $to_t <= valid_to) AS amount_to,
           max(expected_close) FILTER (WHERE field = {close} AND valid_from < $from_t AND $from_t <= valid_to)
               AS close_from,
           max(expected_close) FILTER (WHERE field = {close} AND valid_from < $to_t AND $to_t <= valid_to) AS close_to,
           -- the outcome as it changed (a deal lost, then reopened): where recorded, it says whether a deal was
           -- open on each date; else its latest outcome and close date do
           max(outcome) FILTER (WHERE field = {outcome} AND valid_from < $from_t AND $from_t <= valid_to)
               AS outcome_from,
           max(outcome) FILTER (WHERE field = {outcome} AND valid_from < $to_t AND $to_t <= valid_to) AS outcome_to,
           max(stage) FILTER (WHERE field = {stage} AND valid_from < $from_t AND $from_t <= valid_to) AS stage_from,
           max(stage) FILTER (WHERE field = {stage} AND valid_from < $to_t AND $to_t <= valid_to) AS stage_to
    FROM deal_spans
    -- the spans running at either date: stored sorted by valid_to, those that ended before the first are skipped
    WHERE valid_to >= $from_t AND valid_from < $to_t
      AND (valid_from < $from_t AND $from_t <= valid_to OR $to_t <= valid_to) AND deal_id IN (SELECT deal_id FROM d)
    GROUP BY deal_id
),
state AS (
    SELECT d.deal_id, coalesce(c.outcome_to, d.outcome) AS outcome, d.closed_at, d.created_at,
           d.created_at < $from_d AND coalesce(c.outcome_from = 'open', d.outcome = 'open' OR d.closed_at >= $from_d)
               AS open_from,
           d.created_at < $to_d AND coalesce(c.outcome_to = 'open', d.outcome = 'open' OR d.closed_at >= $to_d)
               AS open_to,
           coalesce(c.amount_from, d.amount) AS amount_from, coalesce(c.amount_to, d.amount) AS amount_to,
           coalesce(c.close_from, d.expected_close) AS close_from, coalesce(c.close_to, d.expected_close) AS close_to,
           c.stage_from, c.stage_to
    FROM d LEFT JOIN at_ c USING (deal_id)
),
scoped AS (
    SELECT *,
           open_from AND ($q_start IS NULL OR close_from >= $q_start AND close_from < $q_end) AS in_start,
           open_to AND ($q_start IS NULL OR close_to >= $q_start AND close_to < $q_end) AS in_end
    FROM state
)
SELECT deal_id, in_start, in_end, coalesce(amount_from, 0) AS amount_from, coalesce(amount_to, 0) AS amount_to,
       CASE WHEN in_start AND in_end THEN NULL
            WHEN in_end AND created_at >= $from_d THEN 'created'
            WHEN in_end AND open_from THEN 'pulled_in'
            WHEN in_end THEN 'reopened'
            WHEN NOT open_to AND outcome = 'won' THEN 'won'
            WHEN NOT open_to AND outcome = 'lost' THEN 'lost'
            ELSE 'pushed_out' END AS moved,
       CASE WHEN in_start AND in_end AND stage_to > stage_from THEN 'advanced'
            WHEN in_start AND in_end AND stage_to < stage_from THEN 'regressed' END AS stage_move
FROM scoped WHERE in_start OR in_end
"""

# Each deal of either pipeline counted in its bucket, with the amount it moved the total by: an entering deal at its
# amount on `to`, a leaving one at its amount on `from`; a deal in both by how much its amount moved; a stage move
# (which moves no total) at its amount on `to`. The largest `listed` of each bucket are named.
_BUCKETS_SQL = """
WITH counted AS (
    SELECT moved AS bucket, deal_id, CASE WHEN in_end THEN amount_to ELSE amount_from END AS amount
    FROM kf_waterfall WHERE moved IS NOT NULL
    UNION ALL
    SELECT CASE WHEN amount_to > amount_from THEN 'amount_up' ELSE 'amount_down' END, deal_id,
           abs(amount_to - amount_from)
    FROM kf_waterfall WHERE moved IS NULL AND amount_to <> amount_from
    UNION ALL
    SELECT stage_move, deal_id, amount_to FROM kf_waterfall WHERE stage_move IS NOT NULL
)
SELECT bucket, count(*), sum(amount), list(deal_id ORDER BY amount DESC, deal_id)[1:$listed]
FROM counted GROUP BY bucket
"""


def compute_waterfall(store: Store, from_date: date, to_date: date, quarter: str | None = None,
                      filters: DealFilter = DealFilter()) -> Waterfall:
    """The open pipeline on `from_date` and on `to_date` (each as it stood at the start of that day), and every
    deal's move between them. With `quarter` (2026Q4), the pipeline is the deals expected to close in it."""
    if to_date < from_date:
        raise ValueError(f"--to {to_date} is before --from {from_date}")
    where, params = filters.where()
    q_start, q_end = quarter_bounds(quarter) if quarter else (None, None)
    sql = _WATERFALL_SQL.format(where=where, stage=SPAN_FIELDS["stage"], amount=SPAN_FIELDS["amount"],
                                close=SPAN_FIELDS["expected_close"], outcome=SPAN_FIELDS["outcome"])
    store.execute("CREATE OR REPLACE TEMP TABLE kf_waterfall AS " + sql, {
        **params, "from_d": from_date, "to_d": to_date, "q_start": q_start, "q_end": q_end,
        "from_t": datetime(from_date.year, from_date.month, from_date.day),
        "to_t": datetime(to_date.year, to_date.month, to_date.day)})
    try:
        start_deals, start_amount, end_deals, end_amount = store.fetchone(
            "SELECT count(*) FILTER (WHERE in_start), coalesce(sum(amount_from) FILTER (WHERE in_start), 0), "
            "count(*) FILTER (WHERE in_end), coalesce(sum(amount_to) FILTER (WHERE in_end), 0) FROM kf_waterfall")
        found = {name: (int(n), float(total), list(ids), int(n) - len(ids))
                 for name, n, total, ids in store.fetchall(_BUCKETS_SQL, {"listed": LISTED_DEALS})}
    finally:
        store.execute("DROP TABLE IF EXISTS temp.kf_waterfall")
    buckets = [Bucket(name, *found[name]) if name in found else Bucket(name, 0, 0.0) for name in BUCKETS]
    return Waterfall(from_date, to_date, quarter, int(start_deals), float(start_amount), int(end_deals),
                     float(end_amount), buckets, filters)


def identity_holds(w: Waterfall, tolerance: float = 1e-6) -> bool:
    """start + entering − leaving (+ amount_up − amount_down) = end, in deals and in amount."""
    deals = w.start_deals + sum(w.bucket(b).deals for b in ENTERING) - sum(w.bucket(b).deals for b in LEAVING)
    amount = (w.start_amount + sum(w.bucket(b).amount for b in (*ENTERING, "amount_up"))
              - sum(w.bucket(b).amount for b in (*LEAVING, "amount_down")))
    return deals == w.end_deals and abs(amount - w.end_amount) <= tolerance * max(1.0, abs(w.end_amount))
