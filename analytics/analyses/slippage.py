"""Slippage: close dates that moved later (docs/metrics.md, "Slippage").

From deal_changes: a deal's first expected close is the earliest one recorded (else its current one); a push is a
recorded expected close later than the one before it, and days pushed add up those moves. For closed deals:
the share that closed after their first expected close, by outcome, owner and furthest stage, each with its Wilson
interval; the mean days late; the push count distribution; the win rate by push count, which says whether pushes
predict losing; and the open deals pushed PUSHES_AT_RISK times or more.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date

from analytics.filters import DealFilter
from analytics.stats import Interval, wilson_interval
from analytics.store.connection import Store
from analytics.tables import records_frame

PUSHES_AT_RISK = 3
PUSH_COUNT_GROUPS = ("0", "1", "2", "3+")

# One row per deal under the filter: its first expected close, pushes and days pushed, which deal_facts holds
# (analytics.store.facts: computed with the facts at import, so that no analysis aggregates every change per call).
_PER_DEAL_SQL = """
SELECT f.deal_id, f.outcome, f.owner, f.furthest_stage, f.closed_at, f.amount, f.expected_close,
       f.first_expected_close, f.push_count, f.days_pushed
FROM deal_facts f WHERE {where}
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
    """Each deal's pushes under `filters` (the tables of open deals read open_deal_pushes, a frame)."""
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

    def to_frame(self):
        """Every share, one row each: table (late_won, late_lost, late_by_owner, late_by_stage,
        win_rate_by_pushes), group, k, n, share, ci as _low and _high."""
        tables = [("late_won", [self.late_won]), ("late_lost", [self.late_lost]),
                  ("late_by_owner", self.late_by_owner), ("late_by_stage", self.late_by_stage),
                  ("win_rate_by_pushes", self.win_rate_by_pushes)]
        rows = [(name, s) for name, shares in tables for s in shares]
        frame = records_frame([s for _, s in rows], ("group", "k", "n", "share"), ("ci",))
        frame.insert(0, "table", [name for name, _ in rows])
        return frame

    def to_json(self) -> dict:
        out = asdict(self)
        out["filters"] = self.filters.to_json()
        return out


def compute_slippage(store: Store, filters: DealFilter = DealFilter()) -> Slippage:
    """Aggregated in SQL over deal_facts' per-deal pushes (100,000 deals' worth of dataclasses took 0.9 s in
    Python; aggregating every change per call, 0.96 s at 1M deals)."""
    where, params = filters.where("f")
    per_deal = _PER_DEAL_SQL.format(where=where).replace("ORDER BY f.deal_id", "")
    closed = f"""WITH d AS ({per_deal}), c AS (
        SELECT *, closed_at > first_expected_close AS late, least(push_count, 3) AS pushes FROM d
        WHERE outcome <> 'open' AND closed_at IS NOT NULL AND first_expected_close IS NOT NULL)"""

    def shares(group: str) -> list[tuple]:
        return store.fetchall(f"{closed} SELECT CAST({group} AS VARCHAR), count(*) FILTER (WHERE late), count(*) "
                              f"FROM c GROUP BY 1 ORDER BY 1", params)

    late_won, won, late_lost, lost, mean_late = store.fetchone(
        f"""{closed} SELECT count(*) FILTER (WHERE late AND outcome = 'won'), count(*) FILTER (WHERE outcome = 'won'),
                   count(*) FILTER (WHERE late AND outcome = 'lost'), count(*) FILTER (WHERE outcome = 'lost'),
                   avg(date_diff('day', first_expected_close, closed_at)) FILTER (WHERE late) FROM c""", params)
    by_pushes = {str(g): (int(w), int(n)) for g, w, n in store.fetchall(
        f"{closed} SELECT pushes, count(*) FILTER (WHERE outcome = 'won'), count(*) FROM c GROUP BY 1", params)}
    groups = [by_pushes.get(str(i), (0, 0)) for i in range(len(PUSH_COUNT_GROUPS))]
    at_risk = [DealSlippage(*row) for row in store.fetchall(
        f"WITH d AS ({per_deal}) SELECT * FROM d WHERE outcome = 'open' AND push_count >= $at_risk "
        f"ORDER BY push_count DESC, deal_id", {**params, "at_risk": PUSHES_AT_RISK})]
    return Slippage(
        late_won=Share.of("won", int(late_won), int(won)), late_lost=Share.of("lost", int(late_lost), int(lost)),
        mean_days_late=None if mean_late is None else float(mean_late),
        push_counts={g: n for g, (_, n) in zip(PUSH_COUNT_GROUPS, groups)},
        late_by_owner=[Share.of(owner if owner is not None else "", int(k), int(n)) for owner, k, n in shares("owner")],
        late_by_stage=[Share.of(stage, int(k), int(n)) for stage, k, n in shares("furthest_stage")],
        win_rate_by_pushes=[Share.of(g, w, n) for g, (w, n) in zip(PUSH_COUNT_GROUPS, groups)],
        at_risk=at_risk, filters=filters)


def open_deal_pushes(store: Store, filters: DealFilter = DealFilter()):
    """The open deals' push_count, days_pushed and first_expected_close under `filters`, one row per deal_id: the
    columns with_slippage adds to a table of open deals (a frame, not DealSlippage rows: at 1M deals, building
    87,000 of those and looking each one up took the Deals page 1 s)."""
    where, params = filters.where()
    return store.fetch_df(f"""SELECT deal_id, push_count, CAST(days_pushed AS BIGINT) AS days_pushed,
                                     first_expected_close
                              FROM deal_facts WHERE {where} AND outcome = 'open'""", params)


def with_slippage(deals, pushes):
    """A table of deals (a deal_id column: the scored open deals) with each one's push_count, days_pushed and
    first_expected_close (a date, or None), from open_deal_pushes; a deal it does not list was never pushed."""
    if not len(deals):
        return deals.assign(push_count=[], days_pushed=[], first_expected_close=[])
    found = pushes.set_index("deal_id").reindex(deals["deal_id"])  # one lookup of every deal
    first = found["first_expected_close"]
    return deals.assign(push_count=found["push_count"].fillna(0).astype(int).to_numpy(),
                        days_pushed=found["days_pushed"].fillna(0).astype(int).to_numpy(),
                        first_expected_close=first.dt.date.astype(object).where(first.notna(), None).to_numpy())
