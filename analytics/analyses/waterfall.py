"""The pipeline waterfall between two dates: the open pipeline as it stood on `from`, what moved, and the pipeline on
`to` (docs/metrics.md, "Pipeline changes").

A deal is in the pipeline on a date D when it was created before D and had not closed before D; with a quarter, only
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

    def to_json(self) -> dict:
        return {"from": self.from_date.isoformat(), "to": self.to_date.isoformat(), "quarter": self.quarter,
                "start": {"deals": self.start_deals, "amount": self.start_amount},
                "end": {"deals": self.end_deals, "amount": self.end_amount},
                "buckets": [asdict(b) for b in self.buckets], "filters": self.filters.to_json()}


# One row per deal in either pipeline, with the bucket it moved by. Each value reaches SQL as a parameter.
_WATERFALL_SQL = """
WITH d AS (
    SELECT deal_id, outcome, closed_at, created_at, amount, expected_close FROM deal_facts WHERE {where}
),
changed AS (
    SELECT deal_id,
           arg_max(amount, changed_at) FILTER (WHERE field = 'amount' AND changed_at < $from_t) AS amount_from,
           arg_max(amount, changed_at) FILTER (WHERE field = 'amount' AND changed_at < $to_t) AS amount_to,
           arg_min(amount, changed_at) FILTER (WHERE field = 'amount') AS amount_first,
           arg_max(expected_close, changed_at) FILTER (WHERE field = 'expected_close' AND changed_at < $from_t)
               AS close_from,
           arg_max(expected_close, changed_at) FILTER (WHERE field = 'expected_close' AND changed_at < $to_t)
               AS close_to,
           arg_min(expected_close, changed_at) FILTER (WHERE field = 'expected_close') AS close_first
    FROM deal_changes WHERE deal_id IN (SELECT deal_id FROM d) GROUP BY deal_id
),
staged AS (
    SELECT deal_id,
           arg_max(stage, entered_at) FILTER (WHERE entered_at < $from_t) AS stage_from,
           arg_max(stage, entered_at) FILTER (WHERE entered_at < $to_t) AS stage_to
    FROM stage_events WHERE deal_id IN (SELECT deal_id FROM d) GROUP BY deal_id
),
state AS (
    SELECT d.deal_id, d.outcome, d.closed_at, d.created_at,
           d.created_at < $from_d AND (d.outcome = 'open' OR d.closed_at >= $from_d) AS open_from,
           d.created_at < $to_d AND (d.outcome = 'open' OR d.closed_at >= $to_d) AS open_to,
           coalesce(c.amount_from, c.amount_first, d.amount) AS amount_from,
           coalesce(c.amount_to, c.amount_first, d.amount) AS amount_to,
           coalesce(c.close_from, c.close_first, d.expected_close) AS close_from,
           coalesce(c.close_to, c.close_first, d.expected_close) AS close_to,
           s.stage_from, s.stage_to
    FROM d LEFT JOIN changed c USING (deal_id) LEFT JOIN staged s USING (deal_id)
),
scoped AS (
    SELECT *,
           open_from AND ($q_start IS NULL OR close_from >= $q_start AND close_from < $q_end) AS in_start,
           open_to AND ($q_start IS NULL OR close_to >= $q_start AND close_to < $q_end) AS in_end
    FROM state
)
SELECT deal_id, in_start, in_end, coalesce(amount_from, 0), coalesce(amount_to, 0),
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


def compute_waterfall(store: Store, from_date: date, to_date: date, quarter: str | None = None,
                      filters: DealFilter = DealFilter()) -> Waterfall:
    """The open pipeline on `from_date` and on `to_date` (each as it stood at the start of that day), and every
    deal's move between them. With `quarter` (2026Q4), the pipeline is the deals expected to close in it."""
    if to_date < from_date:
        raise ValueError(f"--to {to_date} is before --from {from_date}")
    where, params = filters.where()
    q_start, q_end = quarter_bounds(quarter) if quarter else (None, None)
    rows = store.fetchall(_WATERFALL_SQL.format(where=where), {
        **params, "from_d": from_date, "to_d": to_date, "q_start": q_start, "q_end": q_end,
        "from_t": datetime(from_date.year, from_date.month, from_date.day),
        "to_t": datetime(to_date.year, to_date.month, to_date.day)})
    start = [(amount_from, deal) for deal, in_start, _, amount_from, _, _, _ in rows if in_start]
    end = [(amount_to, deal) for deal, _, in_end, _, amount_to, _, _ in rows if in_end]
    members: dict[str, list[tuple[float, str]]] = {name: [] for name in BUCKETS}
    for deal, in_start, in_end, amount_from, amount_to, moved, stage_move in rows:
        if moved in ENTERING:
            members[moved].append((amount_to, deal))
        elif moved in LEAVING:
            members[moved].append((amount_from, deal))
        elif amount_to > amount_from:
            members["amount_up"].append((amount_to - amount_from, deal))
        elif amount_to < amount_from:
            members["amount_down"].append((amount_from - amount_to, deal))
        if stage_move:
            members[stage_move].append((amount_to, deal))
    return Waterfall(from_date, to_date, quarter, len(start), sum(a for a, _ in start), len(end),
                     sum(a for a, _ in end), [_bucket(name, members[name]) for name in BUCKETS], filters)


def _bucket(name: str, deals: list[tuple[float, str]]) -> Bucket:
    ranked = sorted(deals, key=lambda d: (-d[0], d[1]))
    return Bucket(name, len(deals), float(sum(a for a, _ in deals)), [d for _, d in ranked[:LISTED_DEALS]],
                  max(0, len(deals) - LISTED_DEALS))


def identity_holds(w: Waterfall, tolerance: float = 1e-6) -> bool:
    """start + entering − leaving (+ amount_up − amount_down) = end, in deals and in amount."""
    deals = w.start_deals + sum(w.bucket(b).deals for b in ENTERING) - sum(w.bucket(b).deals for b in LEAVING)
    amount = (w.start_amount + sum(w.bucket(b).amount for b in (*ENTERING, "amount_up"))
              - sum(w.bucket(b).amount for b in (*LEAVING, "amount_down")))
    return deals == w.end_deals and abs(amount - w.end_amount) <= tolerance * max(1.0, abs(w.end_amount))
