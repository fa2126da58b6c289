"""Slippage: close dates that moved later (docs/metrics.md, "Slippage").

From deal_changes: a deal's first expected close is the earliest one recorded (else its current one); a push is a
recorded expected close later than the one before it, and days pushed add up those moves. For closed deals:
the share that closed after their first expected close, by outcome, owner and furthest stage, each with its Wilson
interval; the mean days late; the push count distribution; the win rate by push count, which says whether pushes
predict losing; and the open deals pushed PUSHES_AT_RISK times or more.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import date

from analytics.filters import DealFilter
from analytics.stats import Interval, wilson_interval
from analytics.store.connection import Store

PUSHES_AT_RISK = 3
PUSH_COUNT_GROUPS = ("0", "1", "2", "3+")

# One row per deal under the filter: its first expected close, pushes and days pushed.
_PER_DEAL_SQL = """
WITH moves AS (
    SELECT deal_id, changed_at, expected_close,
           lag(expected_close) OVER (PARTITION BY deal_id ORDER BY changed_at) AS before
    FROM deal_changes WHERE field = 'expected_close'
),
per AS (
    SELECT deal_id, arg_min(expected_close, changed_at) AS first_close,
           count(*) FILTER (WHERE expected_close > before) AS pushes,
           coalesce(sum(date_diff('day', before, expected_close)) FILTER (WHERE expected_close > before), 0)
               AS days_pushed
    FROM moves GROUP BY deal_id
)
SELECT f.deal_id, f.outcome, f.owner, f.furthest_stage, f.closed_at, f.amount, f.expected_close,
       coalesce(p.first_close, f.expected_close) AS first_expected_close,
       coalesce(p.pushes, 0) AS push_count, coalesce(p.days_pushed, 0) AS days_pushed
FROM deal_facts f LEFT JOIN per p USING (deal_id) WHERE {where}
ORDER BY f.deal_id
"""


@dataclass(frozen=True)
class DealSlippage:
    deal_id: str
    outcome: str
    owner: str | None
    furthest_stage: int
    closed_at: date | None
    amount: float | None
    expected_close: date | None
    first_expected_close: date | None
    push_count: int
    days_pushed: int

    @property
    def closed_late(self) -> bool | None:
        """Closed after its first expected close (None: open, or no expected close known)."""
        if self.closed_at is None or self.first_expected_close is None or self.outcome == "open":
            return None
        return self.closed_at > self.first_expected_close


def deal_slippage(store: Store, filters: DealFilter = DealFilter()) -> list[DealSlippage]:
    where, params = filters.where("f")
    return [DealSlippage(*row) for row in store.fetchall(_PER_DEAL_SQL.format(where=where), params)]


@dataclass(frozen=True)
class Share:
    """Of `n` deals, `k` had the property: the share and its 95% Wilson interval."""

    group: str
    k: int
    n: int
    share: float | None
    ci: Interval | None

    @classmethod
    def of(cls, group: str, k: int, n: int) -> Share:
        return cls(group, k, n, k / n if n else None, wilson_interval(k, n) if n else None)


@dataclass(frozen=True)
class Slippage:
    late_won: Share  # won deals that closed after their first expected close
    late_lost: Share
    mean_days_late: float | None  # over the closed deals that closed late
    push_counts: dict[str, int]  # closed deals by push count (0, 1, 2, 3+)
    late_by_owner: list[Share]  # closed deals that closed late, per owner
    late_by_stage: list[Share]  # per furthest stage reached
    win_rate_by_pushes: list[Share]  # won of closed, per push count
    at_risk: list[DealSlippage] = field(default_factory=list)  # open deals pushed PUSHES_AT_RISK times or more
    filters: DealFilter = DealFilter()

    def to_json(self) -> dict:
        out = asdict(self)
        out["filters"] = self.filters.to_json()
        return out


def _group(pushes: int) -> str:
    return PUSH_COUNT_GROUPS[min(pushes, len(PUSH_COUNT_GROUPS) - 1)]


def compute_slippage(store: Store, filters: DealFilter = DealFilter()) -> Slippage:
    deals = deal_slippage(store, filters)
    closed = [d for d in deals if d.closed_late is not None]
    late = [d for d in closed if d.closed_late]
    by_owner, by_stage, by_pushes = defaultdict(list), defaultdict(list), defaultdict(list)
    for d in closed:
        by_owner[d.owner or ""].append(d.closed_late)
        by_stage[str(d.furthest_stage)].append(d.closed_late)
        by_pushes[_group(d.push_count)].append(d.outcome == "won")
    return Slippage(
        late_won=Share.of("won", sum(d.closed_late for d in closed if d.outcome == "won"),
                          sum(d.outcome == "won" for d in closed)),
        late_lost=Share.of("lost", sum(d.closed_late for d in closed if d.outcome == "lost"),
                           sum(d.outcome == "lost" for d in closed)),
        mean_days_late=(sum((d.closed_at - d.first_expected_close).days for d in late) / len(late)) if late else None,
        push_counts={g: len(by_pushes[g]) for g in PUSH_COUNT_GROUPS},
        late_by_owner=[Share.of(owner, sum(v), len(v)) for owner, v in sorted(by_owner.items())],
        late_by_stage=[Share.of(stage, sum(v), len(v)) for stage, v in sorted(by_stage.items())],
        win_rate_by_pushes=[Share.of(g, sum(by_pushes[g]), len(by_pushes[g])) for g in PUSH_COUNT_GROUPS],
        at_risk=sorted((d for d in deals if d.outcome == "open" and d.push_count >= PUSHES_AT_RISK),
                       key=lambda d: (-d.push_count, d.deal_id)),
        filters=filters)


def with_slippage(deals, per_deal: list[DealSlippage]):
    """A table of deals (a deal_id column: the scored open deals) with each one's push_count, days_pushed and
    first_expected_close, from deal_slippage."""
    if not len(deals):
        return deals.assign(push_count=[], days_pushed=[], first_expected_close=[])
    rows = {d.deal_id: d for d in per_deal}
    found = [rows.get(deal_id) for deal_id in deals["deal_id"]]
    return deals.assign(push_count=[d.push_count if d else 0 for d in found],
                        days_pushed=[d.days_pushed if d else 0 for d in found],
                        first_expected_close=[d.first_expected_close if d else None for d in found])
